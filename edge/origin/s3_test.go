package origin

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"imgedge/edge/origin/s3test"
)

// s3Origin starts a real S3 server with a private bucket and returns an
// origin for s3://bucket/prefix reading it with the standard credential
// chain (here: the environment).
func s3Origin(t *testing.T, prefix string, env ...string) (*S3, *s3test.Server) {
	t.Helper()
	srv := s3test.Start(t)
	srv.Bucket("photos")
	for _, kv := range append(srv.Env(), env...) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	u, _ := url.Parse("s3://photos/" + prefix)
	cfg := testConfig()
	cfg.S3 = S3Config{Endpoint: srv.Endpoint, PathStyle: true}
	o, err := NewS3(u, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o, srv
}

func TestS3FetchAndRevalidate(t *testing.T) {
	o, srv := s3Origin(t, "img")
	img, err := os.ReadFile("../../bench/images/hopper.jpg")
	if err != nil {
		t.Fatal(err)
	}
	srv.Put("photos", "img/hopper.jpg", img, "public, max-age=60")
	if err := o.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	obj, err := o.Fetch(context.Background(), Request{Path: "/hopper.jpg", MaxBytes: 1 << 20})
	if err != nil || !bytes.Equal(obj.Body, img) || obj.CacheControl != "public, max-age=60" || obj.ETag == "" || obj.LastModified.IsZero() {
		t.Fatalf("fetch: %v; %d bytes, cache-control %q, etag %q, last-modified %v", err, len(obj.Body), obj.CacheControl, obj.ETag, obj.LastModified)
	}
	again, err := o.Fetch(context.Background(), Request{Path: "/hopper.jpg", MaxBytes: 1 << 20, ETag: obj.ETag})
	if err != nil || !again.NotModified || again.Body != nil {
		t.Fatalf("conditional fetch with the ETag: %+v, %v; want 304", again, err)
	}
	srv.Put("photos", "img/hopper.jpg", append([]byte(nil), img[:len(img)-1]...), "")
	changed, err := o.Fetch(context.Background(), Request{Path: "/hopper.jpg", MaxBytes: 1 << 20, ETag: obj.ETag})
	if err != nil || changed.NotModified || len(changed.Body) != len(img)-1 {
		t.Fatalf("after the object changed: %d bytes, not modified %v, %v", len(changed.Body), changed.NotModified, err)
	}
	if _, err := o.Fetch(context.Background(), Request{Path: "/hopper.jpg", MaxBytes: 100}); !errors.Is(err, ErrTooLarge) || Fault(err) {
		t.Fatalf("over the byte limit: %v, want ErrTooLarge (not a fault)", err)
	}
}

// An S3-compatible server that writes an object's metadata apart from its
// data can answer a GET during a PUT with the new ETag over the old bytes
// (versitygw with sidecar metadata writes the ETag first). Kept, those bytes
// would revalidate as current (304) for as long as the new object stands:
// the freshness checker saw a node serve them past the bound. Such a read is
// refused as torn, a fault of the origin, and the next one gets the object.
func TestS3TornReadIsAFault(t *testing.T) {
	o, srv := s3Origin(t, "")
	old, updated := []byte("\x89PNG the old bytes"), []byte("\x89PNG the new bytes")
	srv.Put("photos", "a.png", old, "")
	etagFile := srv.MetaFile("photos", "a.png", "etag")
	stored, err := os.ReadFile(etagFile)
	if err != nil {
		t.Fatal(err)
	}
	oldSum, newSum := md5.Sum(old), md5.Sum(updated)
	if !strings.Contains(string(stored), hex.EncodeToString(oldSum[:])) {
		t.Fatalf("the server's ETag %q is not the MD5 of the object: this test assumes it is", stored)
	}
	// The PUT of the new bytes, halfway: its ETag written, its data not yet.
	torn := strings.Replace(string(stored), hex.EncodeToString(oldSum[:]), hex.EncodeToString(newSum[:]), 1)
	if err := os.WriteFile(etagFile, []byte(torn), 0o644); err != nil {
		t.Fatal(err)
	}
	if obj, err := o.Fetch(context.Background(), Request{Path: "/a.png", MaxBytes: 1 << 20}); !errors.Is(err, errTornRead) || !Fault(err) {
		t.Fatalf("torn read: %q, %v; want errTornRead, a fault", obj.Body, err)
	}
	srv.Put("photos", "a.png", updated, "") // the PUT done
	if obj, err := o.Fetch(context.Background(), Request{Path: "/a.png", MaxBytes: 1 << 20}); err != nil || !bytes.Equal(obj.Body, updated) {
		t.Fatalf("after the PUT: %q, %v", obj.Body, err)
	}
}

// TestS3Keys: the path, decoded once, is the key under the prefix, however
// odd; dot segments and empty segments name nothing.
func TestS3Keys(t *testing.T) {
	o, srv := s3Origin(t, "")
	for _, key := range []string{"a b.jpg", "a+b.jpg", "café/ünïcode.jpg", "deep/er/x.jpg", "per%cent.jpg"} {
		srv.Put("photos", key, []byte(key), "")
		obj, err := o.Fetch(context.Background(), Request{Path: "/" + key, MaxBytes: 1 << 20})
		if err != nil || string(obj.Body) != key {
			t.Errorf("key %q: %q, %v", key, obj.Body, err)
		}
	}
	for _, path := range []string{"/../photos/a b.jpg", "/deep/../a b.jpg", "/deep//er/x.jpg", "/./a+b.jpg", "/", ""} {
		if _, err := o.Fetch(context.Background(), Request{Path: path, MaxBytes: 1 << 20}); !errors.Is(err, ErrNotFound) {
			t.Errorf("path %q: %v, want ErrNotFound", path, err)
		}
	}
}

// TestS3MissingKeysNeverTripTheBreaker: a missing key is not-found for the
// user, 50 of them in a row leave the breaker closed.
func TestS3MissingKeysNeverTripTheBreaker(t *testing.T) {
	o, _ := s3Origin(t, "")
	b := WithBreaker(o, "s3", BreakerConfig{Failures: 3, Ratio: 0.5, OpenFor: time.Minute})
	for i := range 50 {
		_, err := b.Fetch(context.Background(), Request{Path: "/missing-" + string(rune('a'+i%26)) + ".jpg", MaxBytes: 1 << 20})
		if !errors.Is(err, ErrNotFound) || Fault(err) {
			t.Fatalf("missing key %d: %v", i, err)
		}
	}
	if b.State() != 0 {
		t.Fatalf("breaker state %d after 50 missing keys", b.State())
	}
}

// TestS3Misconfigured: refused credentials and a missing bucket stop the
// start with the key to fix; met later, they are operator errors that do
// not quote the key id.
func TestS3Misconfigured(t *testing.T) {
	o, srv := s3Origin(t, "", "AWS_SECRET_ACCESS_KEY=wrong-secret-0123456789")
	err := o.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY") {
		t.Fatalf("Check with a wrong secret: %v", err)
	}
	_, err = o.Fetch(context.Background(), Request{Path: "/x.jpg", MaxBytes: 1 << 20})
	if !errors.Is(err, ErrMisconfigured) || errors.Is(err, ErrNotFound) || strings.Contains(err.Error(), s3test.Access) {
		t.Fatalf("fetch with a wrong secret: %v", err)
	}
	u, _ := url.Parse("s3://no-such-bucket")
	cfg := testConfig()
	cfg.S3 = S3Config{Endpoint: srv.Endpoint, PathStyle: true}
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3test.Secret)
	missing, err := NewS3(u, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := missing.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Check of a missing bucket: %v", err)
	}
}

// TestS3OutageOpensTheBreaker: with the server down, fetches are faults and
// open the breaker; back up, a probe closes it.
func TestS3OutageOpensTheBreaker(t *testing.T) {
	o, srv := s3Origin(t, "")
	srv.Put("photos", "a.jpg", []byte("a"), "")
	b := WithBreaker(o, "s3", BreakerConfig{Failures: 3, Ratio: 0.5, OpenFor: 200 * time.Millisecond})
	srv.Stop()
	for range 3 {
		if _, err := b.Fetch(context.Background(), Request{Path: "/a.jpg", MaxBytes: 1 << 20}); !Fault(err) {
			t.Fatalf("fetch from a stopped server: %v, want an origin fault", err)
		}
	}
	if b.State() != 2 {
		t.Fatalf("breaker state %d after 3 faults, want open", b.State())
	}
	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := b.Fetch(context.Background(), Request{Path: "/a.jpg", MaxBytes: 1 << 20})
		if err == nil && b.State() == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("breaker state %d, last error %v, 10 s after the server came back", b.State(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
