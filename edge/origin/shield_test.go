package origin

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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
	obj, err := f.Fetch(context.Background(), "/a.jpg", Validators{ETag: `"v1"`})
	if err != nil || !obj.NotModified || len(obj.Body) != 0 || obj.CacheControl != "max-age=30" || conditional.Load() != 1 {
		t.Fatalf("If-None-Match: %+v %v", obj, err)
	}
	obj, err = f.Fetch(context.Background(), "/a.jpg", Validators{LastModified: lastMod})
	if err != nil || !obj.NotModified {
		t.Fatalf("If-Modified-Since: %+v %v", obj, err)
	}
	obj, err = f.Fetch(context.Background(), "/a.jpg", Validators{LastModified: lastMod.Add(-time.Hour)})
	if err != nil || obj.NotModified || string(obj.Body) != "imagebytes" {
		t.Fatalf("modified since: %+v %v", obj, err)
	}

	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "a.jpg"), []byte("x"), 0o644))
	d, _ := New("file:"+dir, testConfig())
	first, _ := d.Fetch(context.Background(), "/a.jpg", Validators{})
	again, err := d.Fetch(context.Background(), "/a.jpg", Validators{LastModified: first.LastModified})
	if err != nil || !again.NotModified || again.Body != nil {
		t.Fatalf("folder revalidation: %+v %v", again, err)
	}
	must(t, os.Chtimes(filepath.Join(dir, "a.jpg"), time.Now(), first.LastModified.Add(2*time.Second)))
	if changed, _ := d.Fetch(context.Background(), "/a.jpg", Validators{LastModified: first.LastModified}); changed.NotModified {
		t.Fatal("a newer file was reported not modified")
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
	if _, err := f.Fetch(context.Background(), "/a.jpg", Validators{}); err == nil {
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
	_, _ = f.Fetch(context.Background(), "/a.jpg", Validators{})
	if hits.Load() != 1 {
		t.Fatalf("a 500 was retried: %d requests", hits.Load())
	}
}

func TestBreaker(t *testing.T) {
	var calls atomic.Int32
	var fail atomic.Bool
	fail.Store(true)
	inner := FetcherFunc(func(_ context.Context, path string, _ Validators) (Object, error) {
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
		_, _ = b.Fetch(ctx, "/404", Validators{})
		_, _ = b.Fetch(ctx, "/cancel", Validators{})
	}
	if b.State() != 0 {
		t.Fatalf("state %d after 404s and cancellations, want closed", b.State())
	}
	for i := range 3 {
		if _, err := b.Fetch(ctx, "/a", Validators{}); errors.Is(err, ErrUnavailable) {
			t.Fatalf("failure %d already refused", i)
		}
	}
	if b.State() != 2 {
		t.Fatalf("state %d after 3 consecutive failures, want open", b.State())
	}
	before := calls.Load()
	_, err := b.Fetch(ctx, "/a", Validators{})
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
	if obj, err := b.Fetch(ctx, "/a", Validators{}); err != nil || string(obj.Body) != "ok" {
		t.Fatalf("probe: %v", err)
	}
	if b.State() != 0 {
		t.Fatalf("state %d after a good probe, want closed", b.State())
	}
}

func TestBreakerTripsOnRatio(t *testing.T) {
	var n atomic.Int32
	inner := FetcherFunc(func(context.Context, string, Validators) (Object, error) {
		if n.Add(1)%2 == 0 { // every other request fails: never 2 in a row
			return Object{}, errors.New("connection refused")
		}
		return Object{}, nil
	})
	b := WithBreaker(inner, "ratio", BreakerConfig{Failures: 4, Ratio: 0.5, OpenFor: time.Minute})
	for range 8 {
		_, _ = b.Fetch(context.Background(), "/a", Validators{})
	}
	if b.State() != 2 {
		t.Fatalf("state %d after a 50%% failure ratio over 8 requests, want open", b.State())
	}
}
