package origin

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestConditionalFetch(t *testing.T) {
	lastMod := time.Date(2025, 6, 3, 10, 0, 0, 0, time.UTC)
	var conditional atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Cache-Control", "max-age=30")
		if r.Header.Get("If-None-Match") == `"v1"` {
			conditional.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		http.ServeContent(w, r, "a.jpg", lastMod, bytesReader("imagebytes"))
	}))
	defer srv.Close()
	f, _ := New(srv.URL, testConfig())
	obj, err := f.Fetch(context.Background(), Request{Path: "/a.jpg", ETag: `"v1"`, MaxBytes: 1 << 20})
	if err != nil || !obj.NotModified || len(obj.Body) != 0 || obj.CacheControl != "max-age=30" || conditional.Load() != 1 {
		t.Fatalf("If-None-Match: %+v %v", obj, err)
	}
	obj, err = f.Fetch(context.Background(), Request{Path: "/a.jpg", LastModified: lastMod, MaxBytes: 1 << 20})
	if err != nil || !obj.NotModified {
		t.Fatalf("If-Modified-Since: %+v %v", obj, err)
	}
	obj, err = f.Fetch(context.Background(), Request{Path: "/a.jpg", LastModified: lastMod.Add(-time.Hour), MaxBytes: 1 << 20})
	if err != nil || obj.NotModified || string(obj.Body) != "imagebytes" {
		t.Fatalf("modified since: %+v %v", obj, err)
	}

	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "a.jpg"), []byte("x"), 0o644))
	d, _ := New("file:"+dir, testConfig())
	first, _ := d.Fetch(context.Background(), Request{Path: "/a.jpg", MaxBytes: 1 << 20})
	again, err := d.Fetch(context.Background(), Request{Path: "/a.jpg", ETag: first.ETag, LastModified: first.LastModified, MaxBytes: 1 << 20})
	if err != nil || !again.NotModified || again.Body != nil || first.ETag == "" {
		t.Fatalf("folder revalidation: %+v %v", again, err)
	}
}

// TestDirSeesEveryReplacement: a folder's validator changes with every way
// of replacing a file, including those that keep or move back its
// modification time, and stays while the file is untouched.
func TestDirSeesEveryReplacement(t *testing.T) {
	for _, c := range []struct {
		name    string
		replace func(t *testing.T, path string)
	}{
		{"overwrite in the same second, same size", func(t *testing.T, path string) {
			must(t, os.WriteFile(path, []byte("version-2"), 0o644))
		}},
		{"rename over it (an atomic deploy)", func(t *testing.T, path string) {
			tmp := path + ".new"
			must(t, os.WriteFile(tmp, []byte("version-2"), 0o644))
			st, err := os.Stat(path)
			must(t, err)
			must(t, os.Chtimes(tmp, st.ModTime(), st.ModTime())) // even with the same date
			must(t, os.Rename(tmp, path))
		}},
		{"an older copy (cp -p, rsync -t, a restore)", func(t *testing.T, path string) {
			must(t, os.WriteFile(path, []byte("version-0"), 0o644))
			past := time.Now().Add(-24 * time.Hour)
			must(t, os.Chtimes(path, past, past))
		}},
		{"the date set back to the old one", func(t *testing.T, path string) {
			st, err := os.Stat(path)
			must(t, err)
			must(t, os.WriteFile(path, []byte("version-2"), 0o644))
			must(t, os.Chtimes(path, st.ModTime(), st.ModTime()))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "a.jpg")
			must(t, os.WriteFile(path, []byte("version-1"), 0o644))
			d, _ := New("file:"+dir, testConfig())
			first, err := d.Fetch(context.Background(), Request{Path: "/a.jpg", MaxBytes: 1 << 20})
			must(t, err)
			if same, _ := d.Fetch(context.Background(), Request{Path: "/a.jpg", ETag: first.ETag, MaxBytes: 1 << 20}); !same.NotModified {
				t.Fatal("an untouched file was reported modified")
			}
			c.replace(t, path)
			got, err := d.Fetch(context.Background(), Request{Path: "/a.jpg", ETag: first.ETag, LastModified: first.LastModified, MaxBytes: 1 << 20})
			must(t, err)
			if got.NotModified || string(got.Body) == "version-1" || got.ETag == first.ETag {
				t.Fatalf("the replacement was not seen: %+v", got)
			}
		})
	}
}

type bytesReader string

func (b bytesReader) Read(p []byte) (int, error) { return copy(p, b), nil }
func (b bytesReader) Seek(off int64, whence int) (int64, error) {
	if whence == 2 {
		return int64(len(b)), nil
	}
	return 0, nil
}

// TestRetriesOnceOnReset: an origin that resets the connection gets exactly
// one retry; one that answers 500 gets none.
func TestRetriesOnceOnReset(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			buf := make([]byte, 1024)
			_, _ = c.Read(buf)
			c.(*net.TCPConn).SetLinger(0) // close with RST
			c.Close()
		}
	}()
	f, _ := New("http://"+ln.Addr().String(), testConfig())
	if _, err := f.Fetch(context.Background(), Request{Path: "/a.jpg", MaxBytes: 1 << 20}); err == nil {
		t.Fatal("a resetting origin succeeded")
	}
	if n := accepted.Load(); n != 2 {
		t.Fatalf("%d connections for one fetch, want 2 (one retry)", n)
	}

	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer srv.Close()
	f, _ = New(srv.URL, testConfig())
	_, _ = f.Fetch(context.Background(), Request{Path: "/a.jpg", MaxBytes: 1 << 20})
	if hits.Load() != 1 {
		t.Fatalf("a 500 was retried: %d requests", hits.Load())
	}
}

func TestBreaker(t *testing.T) {
	var calls atomic.Int32
	var fail atomic.Bool
	fail.Store(true)
	inner := FetcherFunc(func(_ context.Context, r Request) (Object, error) {
		path := r.Path
		calls.Add(1)
		switch {
		case path == "/404":
			return Object{}, ErrNotFound
		case path == "/cancel":
			return Object{}, context.Canceled
		case fail.Load():
			return Object{}, &StatusError{Code: 503}
		}
		return Object{Body: []byte("ok")}, nil
	})
	b := WithBreaker(inner, "test", BreakerConfig{Failures: 3, Ratio: 0.5, OpenFor: 300 * time.Millisecond})
	ctx := context.Background()
	// Not-found answers and cancellations never trip it.
	for range 10 {
		_, _ = b.Fetch(ctx, Request{Path: "/404", MaxBytes: 1 << 20})
		_, _ = b.Fetch(ctx, Request{Path: "/cancel", MaxBytes: 1 << 20})
	}
	if b.State() != 0 {
		t.Fatalf("state %d after 404s and cancellations, want closed", b.State())
	}
	for i := range 3 {
		if _, err := b.Fetch(ctx, Request{Path: "/a", MaxBytes: 1 << 20}); errors.Is(err, ErrUnavailable) {
			t.Fatalf("failure %d already refused", i)
		}
	}
	if b.State() != 2 {
		t.Fatalf("state %d after 3 consecutive failures, want open", b.State())
	}
	before := calls.Load()
	_, err := b.Fetch(ctx, Request{Path: "/a", MaxBytes: 1 << 20})
	var ue *UnavailableError
	if !errors.As(err, &ue) || ue.RetryAfter <= 0 || ue.RetryAfter > 300*time.Millisecond {
		t.Fatalf("open breaker: err = %v", err)
	}
	if calls.Load() != before {
		t.Fatal("a request reached the origin while the breaker was open")
	}
	// After open_for one probe goes through; its success closes the breaker.
	fail.Store(false)
	time.Sleep(350 * time.Millisecond)
	if b.State() != 1 {
		t.Fatalf("state %d after open_for, want half-open", b.State())
	}
	if obj, err := b.Fetch(ctx, Request{Path: "/a", MaxBytes: 1 << 20}); err != nil || string(obj.Body) != "ok" {
		t.Fatalf("probe: %v", err)
	}
	if b.State() != 0 {
		t.Fatalf("state %d after a good probe, want closed", b.State())
	}
}

func TestBreakerTripsOnRatio(t *testing.T) {
	var n atomic.Int32
	inner := FetcherFunc(func(context.Context, Request) (Object, error) {
		if n.Add(1)%2 == 0 { // every other request fails: never 2 in a row
			return Object{}, errors.New("connection refused")
		}
		return Object{}, nil
	})
	b := WithBreaker(inner, "ratio", BreakerConfig{Failures: 4, Ratio: 0.5, OpenFor: time.Minute})
	for range 8 {
		_, _ = b.Fetch(context.Background(), Request{Path: "/a", MaxBytes: 1 << 20})
	}
	if b.State() != 2 {
		t.Fatalf("state %d after a 50%% failure ratio over 8 requests, want open", b.State())
	}
}

// TestFault: what a breaker counts. Answers about a path and this edge's own
// limits are not faults of the origin.
func TestFault(t *testing.T) {
	for _, tt := range []struct {
		err   error
		fault bool
	}{
		{nil, false},
		{ErrNotFound, false},
		{&StatusError{Code: 403}, false},
		{&StatusError{Code: 401}, false},
		{&StatusError{Code: 400}, false},
		{&StatusError{Code: 408}, true},
		{&StatusError{Code: 429}, true},
		{&StatusError{Code: 500}, true},
		{&StatusError{Code: 503}, true},
		{ErrTooLarge, false},
		{ErrNoConnection, false},
		{context.Canceled, false},
		{ErrTimeout, true},
		{errors.New("connection refused"), true},
	} {
		if got := Fault(tt.err); got != tt.fault {
			t.Errorf("Fault(%v) = %v, want %v", tt.err, got, tt.fault)
		}
	}
}

// TestPathChosenErrorsNeverTripBreaker: names a client chose (a missing key
// answered 403 by a bucket without ListBucket, a file used as a directory,
// a name too long for the file system, a symlink loop) are the origin's
// answers about those names. Before, five of them opened the breaker for
// every user, and one every open_for kept it open.
func TestPathChosenErrorsNeverTripBreaker(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "a.jpg"), []byte("\xff\xd8\xffjpeg"), 0o644))
	must(t, os.Symlink("loop2", filepath.Join(dir, "loop1")))
	must(t, os.Symlink("loop1", filepath.Join(dir, "loop2")))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/a.jpg" {
			http.Error(w, "<Error><Code>AccessDenied</Code></Error>", http.StatusForbidden)
			return
		}
		_, _ = w.Write([]byte("\xff\xd8\xffjpeg"))
	}))
	defer srv.Close()
	long := "/" + strings.Repeat("n", 300) + ".jpg"
	for _, tt := range []struct {
		origin string
		paths  []string
	}{
		{srv.URL, []string{"/nope1.jpg", "/nope2.jpg", "/nope3.jpg", "/nope4.jpg", "/nope5.jpg", "/nope6.jpg"}},
		{"file:" + dir, []string{"/a.jpg/x1.jpg", long, "/loop1", "/loop2/x.jpg", "/a.jpg/x2.jpg", long}},
	} {
		f, err := New(tt.origin, testConfig())
		if err != nil {
			t.Fatal(err)
		}
		b := WithBreaker(f, tt.origin, BreakerConfig{Failures: 5, Ratio: 0.5, OpenFor: time.Minute})
		for _, p := range tt.paths {
			if _, err := b.Fetch(context.Background(), Request{Path: p, MaxBytes: 1 << 20}); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: Fetch(%.40s) = %v, want ErrNotFound", tt.origin, p, err)
			}
		}
		if obj, err := b.Fetch(context.Background(), Request{Path: "/a.jpg", MaxBytes: 1 << 20}); err != nil || len(obj.Body) == 0 {
			t.Errorf("%s: a real object after %d refused names: %v (breaker state %d)", tt.origin, len(tt.paths), err, b.State())
		}
	}
}

// TestTooLargeRefusedFromContentLength: an object announced larger than the
// limit is refused from its Content-Length alone: this origin sends a few
// bytes and then stalls, so a fetch that read the body would end in a
// timeout instead. One that grows past the limit while read (no length
// announced) is cut at the limit.
func TestTooLargeRefusedFromContentLength(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/announced.jpg" {
			w.Header().Set("Content-Length", strconv.Itoa(64<<20))
			_, _ = w.Write([]byte("\xff\xd8\xff"))
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		chunk := make([]byte, 64<<10)
		for range 1024 { // 64 MiB when read to the end
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	f, _ := New(srv.URL, testConfig())
	for _, p := range []string{"/announced.jpg", "/chunked.jpg"} {
		if _, err := f.Fetch(context.Background(), Request{Path: p, MaxBytes: 1 << 20}); !errors.Is(err, ErrTooLarge) {
			t.Errorf("Fetch(%s) = %v, want ErrTooLarge", p, err)
		}
	}
}

// TestReadBodyBounded: whatever a body announces, the buffer never holds
// more than the limit plus one byte.
func TestReadBodyBounded(t *testing.T) {
	const limit = 1000
	for _, tt := range []struct {
		name      string
		size      int
		announced int64
		tooLarge  bool
	}{
		{"announced, within", 999, 999, false},
		{"unannounced, within", 1000, -1, false},
		{"unannounced, over", 5000, -1, true},
		{"announced short, body over", 5000, 10, true},
	} {
		budget := NewBudget(limit + 1)
		body, err := readBody(context.Background(), budget, strings.NewReader(strings.Repeat("x", tt.size)), tt.announced, limit)
		if !budget.sem.TryAcquire(limit + 1) {
			t.Errorf("%s: the read kept part of the byte budget", tt.name)
		}
		switch {
		case tt.tooLarge && !errors.Is(err, ErrTooLarge):
			t.Errorf("%s: %v, want ErrTooLarge", tt.name, err)
		case !tt.tooLarge && (err != nil || len(body) != tt.size || cap(body) > limit+1):
			t.Errorf("%s: %d bytes in a buffer of %d, %v", tt.name, len(body), cap(body), err)
		}
	}
}

// TestBytesInFlightBounded: a read waits for its share of
// fetch.max_bytes_in_flight, fails as ErrBytesInFlight (not an origin
// fault) when none frees up in time, and proceeds once bytes come back.
func TestBytesInFlightBounded(t *testing.T) {
	budget := NewBudget(1 << 20)
	if err := budget.reserve(context.Background(), 1<<20); err != nil { // another fetch holds it all
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the fetch's deadline has passed
	_, err := readBody(ctx, budget, strings.NewReader("abc"), 3, 1<<20)
	if !errors.Is(err, ErrBytesInFlight) || Fault(err) {
		t.Fatalf("err = %v, want ErrBytesInFlight, not a fault", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := readBody(context.Background(), budget, strings.NewReader("abc"), 3, 1<<20)
		done <- err
	}()
	budget.release(1 << 20)
	if err := <-done; err != nil {
		t.Fatalf("after the bytes came back: %v", err)
	}
}
