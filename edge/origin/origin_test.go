package origin

import (
	"bytes"
	"context"
	"errors"
	"imgedge/edge/origin/origintest"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func testConfig() Config {
	return Config{Timeout: 500 * time.Millisecond, ConnectTimeout: 500 * time.Millisecond, MaxConns: 8}
}

func TestDirServesFilesInsideRootOnly(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	must(t, os.MkdirAll(filepath.Join(root, "sub"), 0o755))
	whole := hopper(t)
	must(t, os.WriteFile(filepath.Join(root, "sub", "a.jpg"), whole, 0o644))
	must(t, os.WriteFile(filepath.Join(parent, "secret.txt"), []byte("secret"), 0o644))
	must(t, os.Symlink(filepath.Join(parent, "secret.txt"), filepath.Join(root, "link.jpg")))
	must(t, os.Symlink(parent, filepath.Join(root, "updir")))
	must(t, os.WriteFile(filepath.Join(root, "big.jpg"), make([]byte, 2<<20), 0o644))

	f, err := New("file:"+root, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	obj, err := f.Fetch(context.Background(), Request{Path: "/sub/a.jpg", MaxBytes: 1 << 20})
	if err != nil || !bytes.Equal(obj.Body, whole) || obj.LastModified.IsZero() {
		t.Fatalf("Fetch(/sub/a.jpg) = %d bytes %v, %v", len(obj.Body), obj.LastModified, err)
	}
	for _, p := range []string{
		"/../secret.txt", "/sub/../../secret.txt", "/link.jpg", "/updir/secret.txt",
		"/sub", "/sub/", "/", "", "/missing.jpg", "/sub/a.jpg\x00.png", "/..",
	} {
		if _, err := f.Fetch(context.Background(), Request{Path: p, MaxBytes: 1 << 20}); !errors.Is(err, ErrNotFound) {
			t.Errorf("Fetch(%q) err = %v, want ErrNotFound", p, err)
		}
	}
	if _, err := f.Fetch(context.Background(), Request{Path: "/big.jpg", MaxBytes: 1 << 20}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Fetch(/big.jpg) err = %v, want ErrTooLarge", err)
	}
	if _, err := New("file:"+filepath.Join(parent, "nope"), testConfig()); err == nil {
		t.Error("a missing folder was accepted as an origin")
	}
}

func TestHTTPFetch(t *testing.T) {
	var mu sync.Mutex // the server's goroutines append, the test reads
	var gotPaths []string
	var gotHeaders []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotPaths = append(gotPaths, r.URL.EscapedPath())
		gotHeaders = append(gotHeaders, r.Header.Clone())
		mu.Unlock()
		switch r.URL.Path {
		case "/img/a b.jpg":
			w.Header().Set("Content-Type", "image/jpeg")
			w.Header().Set("ETag", `"abc"`)
			w.Header().Set("Last-Modified", "Tue, 03 Jun 2025 10:00:00 GMT")
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Set-Cookie", "session=1")
			w.Header().Set("Connection", "keep-alive")
			_, _ = w.Write([]byte("jpegdata"))
		case "/img/gone.jpg":
			w.WriteHeader(http.StatusGone)
		case "/img/boom.jpg":
			w.WriteHeader(http.StatusInternalServerError)
		case "/img/big.jpg":
			_, _ = w.Write(bytes.Repeat([]byte("x"), 2<<20))
		case "/img/slow.jpg":
			time.Sleep(time.Second)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	f, err := New(srv.URL+"/img/", testConfig())
	if err != nil {
		t.Fatal(err)
	}
	obj, err := f.Fetch(context.Background(), Request{Path: "/a b.jpg", MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	want := Object{Body: []byte("jpegdata"), ETag: `"abc"`, CacheControl: "max-age=60",
		LastModified: time.Date(2025, 6, 3, 10, 0, 0, 0, time.UTC)}
	if !bytes.Equal(obj.Body, want.Body) || obj.ETag != want.ETag ||
		obj.CacheControl != want.CacheControl || !obj.LastModified.Equal(want.LastModified) {
		t.Fatalf("Fetch = %+v, want %+v", obj, want)
	}
	mu.Lock()
	if gotPaths[0] != "/img/a%20b.jpg" {
		t.Errorf("origin saw path %q, want the prefix and an escaped path", gotPaths[0])
	}
	if gotHeaders[0].Get("Cookie") != "" || gotHeaders[0].Get("Authorization") != "" {
		t.Errorf("the origin request carried client headers: %v", gotHeaders[0])
	}
	mu.Unlock()

	for path, check := range map[string]func(error) bool{
		"/missing.jpg": func(err error) bool { return errors.Is(err, ErrNotFound) },
		"/gone.jpg":    func(err error) bool { return errors.Is(err, ErrNotFound) },
		"/boom.jpg": func(err error) bool {
			var se *StatusError
			return errors.As(err, &se) && se.Code == 500
		},
		"/big.jpg":  func(err error) bool { return errors.Is(err, ErrTooLarge) },
		"/slow.jpg": func(err error) bool { return errors.Is(err, ErrTimeout) },
	} {
		// /slow.jpg answers 200 after 1 s: ErrTimeout shows the fetch ended
		// at fetch.timeout (500 ms) instead of waiting for it.
		_, err := f.Fetch(context.Background(), Request{Path: path, MaxBytes: 1 << 20})
		if !check(err) {
			t.Errorf("Fetch(%s) err = %v", path, err)
		}
	}
}

func TestHTTPRefusedConnectionIsTransportError(t *testing.T) {
	addr := origintest.RefusedAddr(t)
	f, err := New("http://"+addr, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Fetch(context.Background(), Request{Path: "/a.jpg", MaxBytes: 1 << 20})
	var se *StatusError
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrTimeout) || errors.As(err, &se) {
		t.Fatalf("err = %v, want a transport error", err)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q does not name the origin", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// hopper is a whole JPEG from the benchmark images: a folder origin reads a
// file changed within RacyAge only once it is a whole image.
func hopper(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "bench", "images", "hopper.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDirTornWriteIsBeingWritten: an in-place write grows its file a page
// at a time, so a reader beside a preempted writer can read a prefix with
// the same size and times before and after its read. A file that recent
// and not a whole image is still being written: a fault, for which a stale
// copy stands in. The freshness checker once saw such a prefix served as
// the original. The same file past RacyAge is the user's: its bytes are
// read, and the renderer refuses them as truncated.
func TestDirTornWriteIsBeingWritten(t *testing.T) {
	root := t.TempDir()
	whole := hopper(t)
	for _, tc := range []struct {
		name  string
		body  []byte
		later time.Duration // how long after the write it is read
		want  error         // nil: the bytes come back
	}{
		{"a prefix, just written", whole[:len(whole)/2], 0, ErrWriting},
		{"a prefix of one page, just written", whole[:4096], 0, ErrWriting},
		{"whole, just written", whole, 0, nil},
		{"a prefix, left so past RacyAge", whole[:len(whole)/2], RacyAge, nil},
		{"empty, just written", nil, 0, ErrWriting},
		// Truncated, with the times it had before (what a read between a
		// truncate and its time update sees): read again, and an empty
		// file that stays so with old times is the user's.
		{"empty, dated before", nil, RacyAge, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			must(t, os.WriteFile(filepath.Join(root, "a.jpg"), tc.body, 0o644))
			d, err := NewDir(root, nil)
			if err != nil {
				t.Fatal(err)
			}
			d.now = func() time.Time { return time.Now().Add(tc.later) }
			o, err := d.Fetch(context.Background(), Request{Path: "/a.jpg", MaxBytes: 1 << 20})
			switch {
			case tc.want != nil && (!errors.Is(err, tc.want) || o.Body != nil):
				t.Fatalf("Fetch: %d bytes, %v; want %v", len(o.Body), err, tc.want)
			case tc.want == nil && (err != nil || !bytes.Equal(o.Body, tc.body)):
				t.Fatalf("Fetch: %d bytes, %v; want the %d bytes written", len(o.Body), err, len(tc.body))
			}
		})
	}
}

// TestDirEmptyFileIsBeingWritten: a file just emptied is what an in-place
// write shows between its truncate and its write: a fault of the origin,
// for which a stale copy stands in, never "not an image". Before, the edge
// answered 415 for the instant of every in-place overwrite. (One empty for
// longer is the user's: the corpus' zero-byte file answers 422.)
func TestDirEmptyFileIsBeingWritten(t *testing.T) {
	root := t.TempDir()
	must(t, os.WriteFile(filepath.Join(root, "a.jpg"), nil, 0o644))
	f, err := New("file:"+root, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Fetch(context.Background(), Request{Path: "/a.jpg", MaxBytes: 1 << 20})
	if !errors.Is(err, ErrWriting) || errors.Is(err, ErrNotFound) {
		t.Fatalf("Fetch of an empty file: %v, want the file being written", err)
	}
}
