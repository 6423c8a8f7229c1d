package edge_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"imgedge/configs"
	"imgedge/edge"
	"imgedge/edge/origin/s3test"
)

// s3Bucket starts a real S3 server with the private bucket "photos" and
// puts its credentials in the environment, where the AWS chain reads them;
// its Env goes to the edge's config.
func s3Bucket(t *testing.T) *s3test.Server {
	t.Helper()
	srv := s3test.Start(t)
	srv.Bucket("photos")
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return srv
}

// TestS3Origin: through a running edge, a private bucket serves originals
// and variants; a missing key is a 404, and 50 of them leave the breaker
// closed; an object over limits.max_source_bytes is a 413; an object
// replaced at the bucket is picked up once its TTL has passed.
func TestS3Origin(t *testing.T) {
	srv := s3Bucket(t)
	srv.PutDir("photos", "img/", "../bench/images", "public, max-age=3600")
	small, err := os.ReadFile("../bench/images/hopper.jpg")
	if err != nil {
		t.Fatal(err)
	}
	srv.Put("photos", "img/changing.jpg", small, "max-age=1")
	h := start(t, append(srv.Env(), "IMGEDGE_ORIGIN=s3://photos/img", "IMGEDGE_LIMITS_MAX_SOURCE_BYTES=2MiB",
		"IMGEDGE_CACHE_MIN_TTL=0", "IMGEDGE_CACHE_STALE_WHILE_REVALIDATE=0"), nil)
	for _, u := range []string{"/kodim23.png?w=300&fm=webp", "/hopper.jpg", "/yellow_rose.png?w=100&fm=avif"} {
		if r := h.get(t, u); r.status != 200 || !strings.HasPrefix(r.header["content-type"], "image/") {
			t.Errorf("%s: %d %s", u, r.status, r.body)
		}
	}
	for i := range 50 {
		if r := h.get(t, "/missing-"+strings.Repeat("x", i%7)+".jpg?w="+string(rune('1'+i%9))); r.status != 404 {
			t.Fatalf("missing key: %d %s", r.status, r.body)
		}
	}
	if m := scrape(t, h); !strings.Contains(m, `imgedge_breaker_state{origin="s3://photos/img"} 0`) {
		t.Errorf("the breaker after 50 missing keys:\n%s", grepLines(m, "breaker_state"))
	}
	if r := h.get(t, "/camera-4000x3000-q90.jpg?w=100"); r.status != 413 {
		t.Errorf("an object over limits.max_source_bytes: %d %s", r.status, r.body)
	}

	first := h.get(t, "/changing.jpg")
	if first.status != 200 || !bytes.Equal(first.body, small) {
		t.Fatalf("changing.jpg: %d", first.status)
	}
	kodim, _ := os.ReadFile("../bench/images/kodim23-512w-q80.jpg")
	srv.Put("photos", "img/changing.jpg", kodim, "max-age=1")
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := h.get(t, "/changing.jpg")
		if r.status == 200 && bytes.Equal(r.body, kodim) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replaced object was not picked up within 15 s of a 1 s TTL: %d, %d bytes", r.status, len(r.body))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestS3OutageServesStale: with the S3 server killed, cached originals and
// variants are served stale and the breaker opens; once it is back, fresh
// answers return and the breaker closes.
func TestS3OutageServesStale(t *testing.T) {
	srv := s3Bucket(t)
	img, _ := os.ReadFile("../bench/images/kodim23.png")
	srv.Put("photos", "a.png", img, "max-age=1")
	h := start(t, append(srv.Env(), "IMGEDGE_ORIGIN=s3://photos", "IMGEDGE_CACHE_MIN_TTL=0", "IMGEDGE_CACHE_STALE_WHILE_REVALIDATE=0",
		"IMGEDGE_BREAKER_FAILURES=3", "IMGEDGE_BREAKER_OPEN_FOR=1s"), nil)
	if r := h.get(t, "/a.png?w=100&fm=webp"); r.status != 200 {
		t.Fatalf("before the outage: %d", r.status)
	}
	srv.Stop()
	deadline := time.Now().Add(15 * time.Second)
	stale := 0
	for !strings.Contains(scrape(t, h), `imgedge_breaker_state{origin="s3://photos"} 2`) {
		r := h.get(t, "/a.png?w=100&fm=webp")
		if r.status != 200 {
			t.Fatalf("during the outage: %d %s", r.status, r.body)
		}
		if strings.Contains(r.header["cache-status"], "stale") {
			stale++
		}
		if time.Now().After(deadline) {
			t.Fatalf("the breaker did not open within 15 s of the outage (%d stale answers)", stale)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if stale == 0 {
		t.Fatal("no stale answer during the outage")
	}
	srv.Restart()
	deadline = time.Now().Add(15 * time.Second)
	for !strings.Contains(scrape(t, h), `imgedge_breaker_state{origin="s3://photos"} 0`) {
		h.get(t, "/a.png?w=100&fm=webp")
		if time.Now().After(deadline) {
			t.Fatalf("the breaker did not close within 15 s of the server's return:\n%s", grepLines(scrape(t, h), "breaker_state"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestS3WrongSecretStopsStart: refused credentials stop the edge at start
// with the keys to fix, never the secret.
func TestS3WrongSecretStopsStart(t *testing.T) {
	s3Bucket(t)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-0123456789")
	cfg, err := configs.Load("", []string{"IMGEDGE_ORIGIN=s3://photos", "IMGEDGE_S3_ENDPOINT=" + os.Getenv("IMGEDGE_S3_ENDPOINT"),
		"IMGEDGE_S3_PATH_STYLE=true"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := edge.New(cfg, newLibvips(t, cfg), slog.New(slog.DiscardHandler))
	if err == nil {
		srv.Close(context.Background())
		t.Fatal("the edge started with a wrong secret")
	}
	if msg := err.Error(); !strings.Contains(msg, "AWS_SECRET_ACCESS_KEY") || strings.Contains(msg, "wrong-secret") {
		t.Fatalf("start error: %v", err)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}
