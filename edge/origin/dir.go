package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// Dir serves objects from a folder. It opens every path through os.Root, so no
// path (.., encoded or not) and no symlink can reach outside the folder.
type Dir struct {
	root     *os.Root
	maxBytes int64
}

// NewDir opens dir as an origin.
func NewDir(dir string, maxBytes int64) (*Dir, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("origin file:%s: %w", dir, err)
	}
	return &Dir{root: root, maxBytes: maxBytes}, nil
}

// Fetch reads the file at path. Anything that does not name a regular file
// inside the root is ErrNotFound: saying more would map the host's disk.
func (d *Dir) Fetch(_ context.Context, path string, v Validators) (Object, error) {
	name, ok := cleanName(path)
	if !ok {
		return Object{}, ErrNotFound
	}
	f, err := d.root.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || isEscape(err) {
			return Object{}, ErrNotFound
		}
		return Object{}, fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Object{}, fmt.Errorf("stat %s: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		return Object{}, ErrNotFound
	}
	mtime := st.ModTime().UTC().Truncate(time.Second)
	if !v.LastModified.IsZero() && !mtime.After(v.LastModified) {
		return Object{NotModified: true, LastModified: mtime}, nil
	}
	if st.Size() > d.maxBytes {
		return Object{}, fmt.Errorf("%w: %s is %d bytes, the limit is %d", ErrTooLarge, name, st.Size(), d.maxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(f, d.maxBytes+1))
	if err != nil {
		return Object{}, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(body)) > d.maxBytes {
		return Object{}, fmt.Errorf("%w: %s grew past %d bytes", ErrTooLarge, name, d.maxBytes)
	}
	return Object{
		Body:         body,
		LastModified: mtime,
	}, nil
}

// isEscape reports os.Root's refusal of a path leaving the root. The error is
// unexported in the standard library, so match on its text.
func isEscape(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Err != nil && pe.Err.Error() == "path escapes from parent"
}
