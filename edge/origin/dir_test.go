package origin

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// statInfo is a file's metadata without a file.
type statInfo struct {
	size  int64
	mtime time.Time
	sys   any
}

func (s statInfo) Name() string       { return "a.jpg" }
func (s statInfo) Size() int64        { return s.size }
func (s statInfo) Mode() fs.FileMode  { return 0o644 }
func (s statInfo) ModTime() time.Time { return s.mtime }
func (s statInfo) IsDir() bool        { return false }
func (s statInfo) Sys() any           { return s.sys }

// TestFileValidatorEquality: the folder validator is the same exactly when
// size, modification time to the nanosecond, device, inode and change time
// all are; any one of them moving, in either direction, is a new version
// (no I/O: TestDirSeesEveryReplacement does it with files).
func TestFileValidatorEquality(t *testing.T) {
	mtime := time.Date(2026, 1, 1, 10, 0, 0, 500, time.UTC)
	ctime := mtime.Add(time.Minute)
	base := func() (statInfo, *syscall.Stat_t) {
		st := &syscall.Stat_t{Dev: 7, Ino: 42, Ctim: syscall.NsecToTimespec(ctime.UnixNano())}
		return statInfo{size: 1000, mtime: mtime, sys: st}, st
	}
	for _, tt := range []struct {
		name   string
		change func(fi *statInfo, st *syscall.Stat_t)
		same   bool
	}{
		{"untouched", func(*statInfo, *syscall.Stat_t) {}, true},
		{"another size", func(fi *statInfo, _ *syscall.Stat_t) { fi.size++ }, false},
		{"a nanosecond later, the same second", func(fi *statInfo, _ *syscall.Stat_t) { fi.mtime = fi.mtime.Add(1) }, false},
		{"an older modification time (cp -p)", func(fi *statInfo, _ *syscall.Stat_t) { fi.mtime = fi.mtime.Add(-time.Hour) }, false},
		{"another inode (a rename over it)", func(_ *statInfo, st *syscall.Stat_t) { st.Ino++ }, false},
		{"another device", func(_ *statInfo, st *syscall.Stat_t) { st.Dev++ }, false},
		{"only the change time, a nanosecond", func(_ *statInfo, st *syscall.Stat_t) {
			st.Ctim = syscall.NsecToTimespec(ctime.UnixNano() + 1)
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := base()
			after, st := base()
			tt.change(&after, st)
			if same := fileValidator(before) == fileValidator(after); same != tt.same {
				t.Fatalf("%s and %s: equal %v, want %v", fileValidator(before), fileValidator(after), same, tt.same)
			}
		})
	}
}

// TestRacyFilesAreComparedByContent: a file that changed within RacyAge of
// its read gets a validator with a hash of its bytes, so that its
// revalidation reads it again: on a filesystem keeping times to the second,
// an overwrite in the same second at the same size leaves its metadata as
// it was, and only the bytes tell.
func TestRacyFilesAreComparedByContent(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "a.jpg")
	must(t, os.WriteFile(path, hopper(t), 0o644))
	d, err := New("file:"+root, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	first, err := d.Fetch(context.Background(), Request{Path: "/a.jpg", MaxBytes: 1 << 20})
	if err != nil || !strings.Contains(first.ETag, "-r") {
		t.Fatalf("a file just written: ETag %q (%v), want one with its bytes' hash", first.ETag, err)
	}
	again, err := d.Fetch(context.Background(), Request{Path: "/a.jpg", MaxBytes: 1 << 20, ETag: first.ETag})
	if err != nil || !again.NotModified {
		t.Fatalf("revalidating an unchanged racy file: %+v, %v; want not modified", again, err)
	}
	// Same metadata, other bytes: what a coarse filesystem shows.
	base := `"f-1-2-3-4-5"`
	one, two := racyValidator(base, []byte("one")), racyValidator(base, []byte("two"))
	if one == two || one == base || two == base {
		t.Fatalf("racy validators %q and %q over %q do not tell the bytes apart", one, two, base)
	}
}

// TestDirFollowsASwitchedSymlink: a folder origin named through a symlink
// serves the release the symlink points to now, after a deploy switches it
// atomically. Before, it kept the directory it opened at start: old bytes
// for good, and 404 for files new in the release.
func TestDirFollowsASwitchedSymlink(t *testing.T) {
	base := t.TempDir()
	for rel, body := range map[string]string{"rel1": "\xff\xd8\xff one", "rel2": "\xff\xd8\xff two"} {
		must(t, os.MkdirAll(filepath.Join(base, rel), 0o755))
		must(t, os.WriteFile(filepath.Join(base, rel, "a.jpg"), []byte(body), 0o644))
	}
	must(t, os.WriteFile(filepath.Join(base, "rel2", "new.jpg"), []byte("\xff\xd8\xff new"), 0o644))
	current := filepath.Join(base, "current")
	must(t, os.Symlink("rel1", current))
	d, err := New("file:"+current, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	get := func(p string) (string, error) {
		o, err := d.Fetch(context.Background(), Request{Path: p, MaxBytes: 1 << 20})
		return string(o.Body), err
	}
	if b, err := get("/a.jpg"); b != "\xff\xd8\xff one" || err != nil {
		t.Fatalf("before the deploy: %q %v", b, err)
	}
	must(t, os.Symlink("rel2", current+".tmp"))
	must(t, os.Rename(current+".tmp", current)) // mv -T: atomic
	if b, err := get("/a.jpg"); b != "\xff\xd8\xff two" || err != nil {
		t.Fatalf("after the deploy: %q %v, want the new release's", b, err)
	}
	if b, err := get("/new.jpg"); b != "\xff\xd8\xff new" || err != nil {
		t.Fatalf("a file new in the release: %q %v", b, err)
	}
}
