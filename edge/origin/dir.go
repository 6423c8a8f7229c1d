package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cespare/xxhash/v2"

	"imgedge/transform"
)

// Dir serves objects from a folder. It opens every path through os.Root, so no
// path (.., encoded or not) and no symlink can reach outside the folder.
type Dir struct {
	path   string
	root   atomic.Pointer[dirRoot]
	budget *Budget          // nil: unbounded
	now    func() time.Time // what racy reads against; tests move it on
}

// dirRoot is the folder as opened, and which directory that was.
type dirRoot struct {
	root     *os.Root
	dev, ino uint64
}

// NewDir opens dir as an origin whose reads take their bytes from budget
// (nil: unbounded).
func NewDir(dir string, budget *Budget) (*Dir, error) {
	d := &Dir{path: dir, budget: budget, now: time.Now}
	r, err := openRoot(dir)
	if err != nil {
		return nil, err
	}
	d.root.Store(r)
	return d, nil
}

func openRoot(dir string) (*dirRoot, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is said once, below
		}
		return nil, fmt.Errorf("file:%s: the folder cannot be opened: %w", dir, err)
	}
	r := &dirRoot{root: root}
	if st, err := root.Stat("."); err == nil {
		r.dev, r.ino = identity(st)
	}
	return r, nil
}

func identity(st fs.FileInfo) (dev, ino uint64) {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return uint64(sys.Dev), sys.Ino
	}
	return 0, 0
}

// current is the folder the origin's path names now: a deploy that switches
// a symlink (ln -sfn rel2 current.tmp && mv -T current.tmp current) points
// it at another directory, which is opened then. The root it replaces is
// left to the collector: a fetch may still be reading through it.
func (d *Dir) current() *dirRoot {
	r := d.root.Load()
	st, err := os.Stat(d.path)
	if err != nil {
		return r
	}
	if dev, ino := identity(st); dev == r.dev && ino == r.ino {
		return r
	}
	next, err := openRoot(d.path)
	if err != nil {
		return r
	}
	if d.root.CompareAndSwap(r, next) {
		return next
	}
	_ = next.root.Close() // another fetch opened it first
	return d.root.Load()
}

// Fetch reads the file at r.Path. Anything that does not name a regular file
// inside the root is ErrNotFound: saying more would map the host's disk.
func (d *Dir) Fetch(ctx context.Context, r Request) (Object, error) {
	name, ok := cleanName(r.Path)
	if !ok {
		return Object{}, ErrNotFound
	}
	// A file written in place (truncated, then written) can be caught
	// between its versions: read again, after a pause that lets the writer
	// go on, while it is mid-write.
	for i := range writingReads {
		o, writing, err := d.read(ctx, name, r, i == 0)
		if err != nil || !writing {
			return o, err
		}
		if i+1 < writingReads {
			if err := pause(ctx, writingPause<<(2*i)); err != nil {
				return Object{}, fmt.Errorf("read %s: %w", name, err)
			}
		}
	}
	return Object{}, fmt.Errorf("read %s: mid-write in %d reads in a row: %w", name, writingReads, ErrWriting)
}

// writingReads and writingPause bound the wait for an in-place write: reads
// 5 and 20 ms apart, 25 ms in all, before the stale copy stands in.
const (
	writingReads = 3
	writingPause = 5 * time.Millisecond
)

func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ErrWriting is a file caught mid-write in place, read after read: a fault
// of the origin (a stale copy stands in), never an answer about the image.
var ErrWriting = errors.New("origin: the file is being written")

// read reads the file once; writing says that it was caught mid-write: its
// validator moved during the read, so that the bytes may mix two versions,
// or it changed within RacyAge and is not (yet) a whole image.
func (d *Dir) read(ctx context.Context, name string, r Request, first bool) (o Object, writing bool, err error) {
	f, err := d.current().root.Open(name)
	if err != nil {
		if pathChose(err) {
			return Object{}, false, fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return Object{}, false, fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Object{}, false, fmt.Errorf("stat %s: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		return Object{}, false, ErrNotFound
	}
	if st.Size() == 0 && (first || racy(st, d.now())) {
		// What an in-place write shows between its truncate and its write;
		// an empty file that stays so is the user's, refused as no image.
		// The first look is not trusted even with old times: truncate makes
		// the size visible before it updates them, and a read in between
		// saw an empty file dated before the write.
		return Object{}, true, nil
	}
	mtime := st.ModTime().UTC().Truncate(time.Second)
	tag := fileValidator(st)
	if r.ETag == tag {
		return Object{NotModified: true, ETag: tag, LastModified: mtime}, false, nil
	}
	if st.Size() > r.MaxBytes {
		return Object{}, false, fmt.Errorf("%w: the file is %d bytes, the limit is %d (limits.max_source_bytes)", ErrTooLarge, st.Size(), r.MaxBytes)
	}
	body, err := readBody(ctx, d.budget, f, st.Size(), r.MaxBytes)
	if err != nil {
		return Object{}, false, fmt.Errorf("read %s: %w", name, err)
	}
	after, err := f.Stat()
	if err != nil {
		return Object{}, false, fmt.Errorf("stat %s: %w", name, err)
	}
	if fileValidator(after) != tag || int64(len(body)) != st.Size() {
		return Object{}, true, nil
	}
	if racy(st, d.now()) {
		if transform.CheckIntegrity(body) != nil || !transform.Complete(body) {
			// An in-place write grows the file a page at a time, and a
			// reader scheduled beside a preempted writer sees the same
			// prefix before and after its read (the freshness checker
			// caught one served as the original). A file this recent
			// that is not a whole image is still being written; one that
			// stays so past RacyAge is the user's, refused as corrupt.
			return Object{}, true, nil
		}
		tag = racyValidator(tag, body)
		if r.ETag == tag {
			return Object{NotModified: true, ETag: tag, LastModified: mtime}, false, nil
		}
	}
	return Object{Body: body, ETag: tag, LastModified: mtime}, false, nil
}

// RacyAge is how recently a file may have changed for its times not to be
// trusted: filesystems that keep times to the second (ext4 with 128-byte
// inodes, NFSv3, HFS+, FAT) give a file overwritten in place within the
// same second, at the same size, the validator it had. git calls such an
// index entry racy and compares the contents. A file changed this recently
// that is not a whole image is taken as still being written.
const RacyAge = 2 * time.Second

// racy says whether st changed too recently before now for its times to
// tell a later write from it.
func racy(st fs.FileInfo, now time.Time) bool {
	changed := st.ModTime()
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		if c := time.Unix(sys.Ctim.Unix()); c.After(changed) {
			changed = c
		}
	}
	return now.Sub(changed) < RacyAge
}

// racyValidator is tag with a hash of the bytes read: it never equals a
// validator from the file's metadata alone, so that its revalidation reads
// the file and compares the bytes.
func racyValidator(tag string, body []byte) string {
	return strings.TrimSuffix(tag, `"`) + fmt.Sprintf("-r%x", xxhash.Sum64(body)) + `"`
}

// fileValidator is a file's identity and version: its size, modification
// time to the nanosecond, inode and change time. Every way of replacing a
// file changes one of them: an overwrite (size, times), a rename over it as
// atomic deploys do (inode), cp -p, rsync -t, tar x or a restore that sets
// an older modification time (the change time, which no call can set
// back), and a write within the same second (nanoseconds). So it is
// compared for equality, never for "newer", and the Last-Modified it comes
// with (to the second, as HTTP dates are) is never used to revalidate.
func fileValidator(st fs.FileInfo) string {
	v := fmt.Sprintf(`"f-%x-%x`, st.Size(), st.ModTime().UnixNano())
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		v += fmt.Sprintf("-%x-%x-%x", sys.Dev, sys.Ino, time.Unix(sys.Ctim.Unix()).UnixNano())
	}
	return v + `"`
}

// pathChose reports an open that failed because of the name asked for, not
// because of the disk: the name does not exist or may not be read, a file
// stands where a directory should (/a.jpg/x.jpg), the name is too long, it
// loops through symlinks, or it leaves the root. These are answers about the
// path; an I/O error or a full file table is a fault of the origin.
func pathChose(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || isEscape(err) ||
		errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ENAMETOOLONG) || errors.Is(err, syscall.ELOOP) ||
		errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.EINVAL)
}

// isEscape reports os.Root's refusal of a path leaving the root. The error is
// unexported in the standard library, so match on its text.
func isEscape(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Err != nil && pe.Err.Error() == "path escapes from parent"
}

// readBody reads r whole into one buffer of the announced size (when known and
// within max), so that a body is never copied through growing buffers. An
// unannounced body grows by doubling, never past max+1 bytes of capacity.
// More than max bytes, whatever was announced, is ErrTooLarge. Every byte of
// capacity is reserved from budget first and given back on return: the body
// then belongs to the caller, and the budget bounds only reads in progress.
func readBody(ctx context.Context, budget *Budget, r io.Reader, announced, maxBytes int64) ([]byte, error) {
	size := int64(64 << 10)
	if announced >= 0 && announced <= maxBytes {
		size = announced + 1 // +1: reading past the end is how EOF shows
	}
	size = min(size, maxBytes+1)
	if err := budget.reserve(ctx, size); err != nil {
		return nil, err
	}
	reserved := size
	defer func() { budget.release(reserved) }()
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			next := min(2*int64(cap(buf)), maxBytes+1)
			if err := budget.reserve(ctx, next-reserved); err != nil {
				return nil, err
			}
			reserved = next
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > maxBytes {
			return nil, fmt.Errorf("%w: more than %d bytes (limits.max_source_bytes)", ErrTooLarge, maxBytes)
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
