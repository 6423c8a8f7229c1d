package edge_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"imgedge/configs"
	"imgedge/internal/testwait"
	"imgedge/transform"
)

// fakeClock is the time the edge judges freshness by; tests move it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func withClock(h *harness) *fakeClock {
	c := &fakeClock{t: time.Now()}
	h.srv.SetClock(c.Now)
	return c
}

func TestFreshnessFromOriginHeaders(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	clock := withClock(h)
	// A variant is as fresh as its source: one source image per row.
	for _, tt := range []struct {
		image, cc, expires string
		ttl                int
	}{
		{"kodim23.png", "public, max-age=60, s-maxage=120", "", 120},
		{"kodim07.png", "", clock.Now().Add(200 * time.Second).UTC().Format(http.TimeFormat), 200},
		{"kodim04.png", "", "", 3600},
		{"kodim15.png", "max-age=5", "", 60}, // clamped to cache.min_ttl
	} {
		h.origin.cacheControl.Store(tt.cc)
		h.origin.expires.Store(tt.expires)
		path := "/" + tt.image + "?w=20"
		h.get(t, path)
		r := h.get(t, path)
		var ttl int
		if _, err := fmt.Sscanf(r.header["cache-status"], "imgedge; hit; ttl=%d", &ttl); err != nil || ttl < tt.ttl-2 || ttl > tt.ttl {
			t.Errorf("Cache-Control %q Expires %q: Cache-Status %q, want ttl about %d", tt.cc, tt.expires, r.header["cache-status"], tt.ttl)
		}
	}
}

// TestRevalidationRenewsWithoutRefetch: a stale original is revalidated with
// If-None-Match; the origin's 304 renews it and every variant made from it,
// without sending the bytes again or transforming again.
func TestRevalidationRenewsWithoutRefetch(t *testing.T) {
	t.Parallel()
	h := start(t, []string{"IMGEDGE_CACHE_STALE_WHILE_REVALIDATE=0s", "IMGEDGE_CACHE_MIN_TTL=0s"}, nil)
	clock := withClock(h)
	h.origin.etags.Store(true)
	h.origin.cacheControl.Store("max-age=60")
	a := h.get(t, "/kodim23.png?w=100")
	h.get(t, "/kodim23.png?w=200")
	clock.Advance(61 * time.Second)

	r := h.get(t, "/kodim23.png?w=100")
	if r.status != 200 || r.header["cache-status"] != "imgedge; fwd=stale; stored" || r.header["etag"] != a.header["etag"] {
		t.Fatalf("revalidated variant: %d %q etag %s (was %s)", r.status, r.header["cache-status"], r.header["etag"], a.header["etag"])
	}
	r = h.get(t, "/kodim23.png?w=200")
	if r.header["cache-status"] != "imgedge; fwd=stale; stored" {
		t.Fatalf("second variant after the source was renewed: %q", r.header["cache-status"])
	}
	if n := h.origin.notModified.Load(); n != 1 {
		t.Errorf("origin sent %d 304s, want 1", n)
	}
	if n := h.origin.count("/kodim23.png"); n != 2 {
		t.Errorf("origin requests %d, want 2 (one fetch, one revalidation)", n)
	}
	if n := h.tr.n.Load(); n != 2 {
		t.Errorf("transforms %d, want 2: renewing must not render again", n)
	}
	if r := h.get(t, "/kodim23.png?w=100"); !strings.HasPrefix(r.header["cache-status"], "imgedge; hit; ttl=") {
		t.Errorf("after renewal: %q, want a fresh hit", r.header["cache-status"])
	}
}

func TestStaleWhileRevalidate(t *testing.T) {
	h := start(t, []string{"IMGEDGE_CACHE_MIN_TTL=0s"}, nil) // stale_while_revalidate 1m
	clock := withClock(h)
	h.origin.etags.Store(true)
	h.origin.cacheControl.Store("max-age=60")
	first := h.get(t, "/kodim07.png?w=100")
	clock.Advance(90 * time.Second)

	r := h.get(t, "/kodim07.png?w=100")
	if r.status != 200 || r.header["cache-status"] != "imgedge; hit; ttl=-30; detail=stale-while-revalidate" ||
		r.header["cache-control"] != "public, max-age=60, s-maxage=60, stale-while-revalidate=60, stale-if-error=86400" ||
		r.header["age"] != "90" || r.header["etag"] != first.header["etag"] {
		// What the entry is: 30 s past its lifetime, so that a cache in
		// front keeps it only within the same stale window.
		t.Fatalf("stale answer: %d %q %q Age %q", r.status, r.header["cache-status"], r.header["cache-control"], r.header["age"])
	}
	// Concurrent requests get the stale copy or, once the background refresh
	// has landed, the renewed one; never a wait on the origin.
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := h.get(t, "/kodim07.png?w=100")
			cs := r.header["cache-status"]
			if r.status != 200 || r.header["etag"] != first.header["etag"] ||
				cs != "imgedge; hit; ttl=-30; detail=stale-while-revalidate" && cs != "imgedge; hit; ttl=60" {
				t.Errorf("concurrent answer: %d %q", r.status, cs)
			}
		}()
	}
	wg.Wait()
	// One background refresh, collapsed: the origin sees exactly one more
	// request, a conditional one. Every refresh the answers started holds
	// its place until it ends: once none runs, a duplicate would have
	// reached the origin.
	testwait.Until(t, func() bool { return h.origin.notModified.Load() > 0 && h.srv.Refreshing() == 0 },
		func() string { return "no background revalidation ended" })
	if n := h.origin.count("/kodim07.png"); n != 2 {
		t.Errorf("origin requests %d, want 2 (one fetch, one background revalidation)", n)
	}
	if r := h.get(t, "/kodim07.png?w=100"); !strings.HasPrefix(r.header["cache-status"], "imgedge; hit; ttl=") || strings.Contains(r.header["cache-status"], "stale") {
		t.Errorf("after the refresh: %q, want a fresh hit", r.header["cache-status"])
	}
}

func TestStaleIfError(t *testing.T) {
	t.Parallel()
	h := start(t, []string{"IMGEDGE_CACHE_STALE_WHILE_REVALIDATE=0s", "IMGEDGE_CACHE_MIN_TTL=0s"}, nil) // stale_if_error 24h
	clock := withClock(h)
	h.origin.cacheControl.Store("max-age=60")
	first := h.get(t, "/kodim04.png?w=100")
	h.origin.down.Store(true)
	clock.Advance(2 * time.Minute)

	r := h.get(t, "/kodim04.png?w=100")
	if r.status != 200 || r.header["cache-status"] != "imgedge; hit; ttl=-60; detail=stale-if-error" ||
		r.header["cache-control"] != "public, max-age=10, s-maxage=10, stale-if-error=86340" {
		t.Fatalf("origin down, stale copy: %d %q %q", r.status, r.header["cache-status"], r.header["cache-control"])
	}
	if r.header["etag"] != first.header["etag"] {
		t.Error("the stale answer is not the cached variant")
	}
	// A new variant of the stale original is rendered from it, and not stored.
	nv := h.get(t, "/kodim04.png?w=150")
	if nv.status != 200 || nv.header["cache-status"] != "imgedge; fwd=uri-miss; detail=stale-if-error" {
		t.Fatalf("new variant while the origin is down: %d %q", nv.status, nv.header["cache-status"])
	}
	// An image never seen fails: no stale copy to give.
	checkProblem(t, h.get(t, "/kodim15.png?w=100"), 502, "operator", "origin_error", "HTTP 503")
	// Past the stale-if-error window, the failure shows.
	clock.Advance(25 * time.Hour)
	if r := h.get(t, "/kodim04.png?w=100"); r.status < 500 {
		t.Fatalf("past stale_if_error: %d %q", r.status, r.header["cache-status"])
	}
}

func TestNegativeCaching(t *testing.T) {
	h := start(t, nil, nil) // negative_ttl 10s
	clock := withClock(h)
	for range 3 {
		checkProblem(t, h.get(t, "/gone.jpg?w=10"), 404, "user", "not_found", "check the path")
		checkProblem(t, h.get(t, "/gone.jpg"), 404, "user", "not_found", "check the path")
	}
	if n := h.origin.count("/gone.jpg"); n != 1 {
		t.Fatalf("origin asked %d times for a missing object within negative_ttl, want 1", n)
	}
	clock.Advance(11 * time.Second)
	h.get(t, "/gone.jpg?w=10")
	if n := h.origin.count("/gone.jpg"); n != 2 {
		t.Fatalf("after negative_ttl: %d origin requests, want 2", n)
	}
}

func TestBreakerOpensAndRefusesFast(t *testing.T) {
	t.Parallel()
	h := start(t, []string{"IMGEDGE_BREAKER_FAILURES=3", "IMGEDGE_BREAKER_OPEN_FOR=1s"}, nil)
	// Not-found answers are the origin being healthy: they never trip it.
	for i := range 10 {
		checkProblem(t, h.get(t, fmt.Sprintf("/nothing-%d.jpg?w=10", i)), 404, "user", "not_found", "")
	}
	h.origin.down.Store(true)
	for i := range 3 {
		checkProblem(t, h.get(t, fmt.Sprintf("/kodim23.png?w=%d", 10+i)), 502, "operator", "origin_error", "HTTP 503")
	}
	before := h.origin.count("/kodim23.png")
	r := h.get(t, "/kodim23.png?w=50")
	checkProblem(t, r, 503, "retryable", "origin_unavailable", "circuit breaker is open")
	if r.header["retry-after"] != "1" {
		t.Errorf("open breaker: Retry-After %q", r.header["retry-after"])
	}
	if h.origin.count("/kodim23.png") != before {
		t.Fatal("a request reached the origin while its breaker was open")
	}
	// After open_for a probe goes through; a healthy origin closes it.
	h.origin.down.Store(false)
	time.Sleep(1100 * time.Millisecond)
	if r := h.get(t, "/kodim23.png?w=50"); r.status != 200 {
		t.Fatalf("after recovery: %d %s", r.status, r.body)
	}
}

// TestMissingNamesNeverOpenTheBreaker: an origin that answers 403 for
// missing objects (a bucket without ListBucket) is answering, not failing.
// Before, five requests for random names opened the breaker for everyone.
func TestMissingNamesNeverOpenTheBreaker(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	h.origin.denyMissing.Store(true)
	for i := range 12 {
		checkProblem(t, h.get(t, fmt.Sprintf("/nope%d.jpg", i)), 404, "user", "not_found", "HTTP 403")
	}
	if r := h.get(t, "/kodim23.png?w=100"); r.status != 200 {
		t.Fatalf("a real image after 12 refused names: %d %s", r.status, r.body)
	}
	// The refusal is remembered like a 404.
	before := h.origin.count("/nope3.jpg")
	h.get(t, "/nope3.jpg")
	if h.origin.count("/nope3.jpg") != before {
		t.Error("a refused name was asked again within cache.negative_ttl")
	}
}

// TestHitsNeverWaitOnTransforms: with every transform stuck, cached variants,
// 304s and originals are still answered.
func TestHitsNeverWaitOnTransforms(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	h := start(t, nil, func(tr transform.Transformer) transform.Transformer {
		return transform.TransformerFunc(func(ctx context.Context, src []byte, job transform.Job) (transform.Result, error) {
			if job.Spec.Width >= 700 {
				select {
				case <-release:
				case <-ctx.Done():
					return transform.Result{}, ctx.Err()
				}
			}
			return tr.Transform(ctx, src, job)
		})
	})
	defer close(release)
	cached := h.get(t, "/kodim23.png?w=100")
	h.get(t, "/kodim23.png")
	before := h.tr.n.Load()
	for i := range 8 {
		go h.get(t, fmt.Sprintf("/kodim23.png?w=%d", 700+i)) // stuck until release
	}
	for h.tr.n.Load() < before+8 { // every slow render has reached the transformer
		runtime.Gosched()
	}
	for range 20 {
		if r := h.get(t, "/kodim23.png?w=100"); r.status != 200 || !strings.HasPrefix(r.header["cache-status"], "imgedge; hit") {
			t.Fatalf("hit while transforms are stuck: %d %q", r.status, r.header["cache-status"])
		}
		if r := h.get(t, "/kodim23.png?w=100", "If-None-Match", cached.header["etag"]); r.status != 304 {
			t.Fatalf("304 while transforms are stuck: %d", r.status)
		}
		if r := h.get(t, "/kodim23.png"); r.status != 200 {
			t.Fatalf("original while transforms are stuck: %d", r.status)
		}
	}
}

type stuck struct{ transform.Transformer }

func (stuck) Stalled(time.Time) bool { return true }

func TestHealthzFailsWhenTransformsStall(t *testing.T) {
	h := start(t, nil, func(tr transform.Transformer) transform.Transformer { return stuck{tr} })
	resp, err := http.Get(h.admin + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("/healthz with stalled transforms: %d, want 503", resp.StatusCode)
	}
	// A cache's probe on the public listener hears the same.
	if got := optionsStar(t, h.base); got != 503 {
		t.Fatalf("OPTIONS * with stalled transforms: %d, want 503", got)
	}
}

// optionsStar sends OPTIONS * (RFC 9110 9.3.7), the health probe of the
// README's Varnish, and returns the status.
func optionsStar(t *testing.T, base string) int {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(&http.Request{Method: http.MethodOptions, URL: &url.URL{Scheme: "http", Host: u.Host, Opaque: "*"}, Host: u.Host})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestOptionsStarAnswersWhileServing(t *testing.T) {
	h := start(t, []string{"IMGEDGE_LOG_HIT_SAMPLE=1"}, nil)
	before := len(h.logs.String())
	for range 10 {
		if got := optionsStar(t, h.base); got != 204 {
			t.Fatalf("OPTIONS * on a serving edge: %d, want 204", got)
		}
	}
	// A probe is no client's request: no access line, no latency sample.
	if logged := h.logs.String()[before:]; strings.Contains(logged, `"method":"OPTIONS"`) {
		t.Errorf("probes wrote access lines:\n%s", logged)
	}
	resp, err := http.Get(h.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(metrics), `status="204"`) {
		t.Error("probes counted in imgedge_requests_total")
	}
}

func TestReloadSwapsPolicyOrRefuses(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	checkProblem(t, h.get(t, "/kodim23.png?p=card"), 400, "user", "bad_param", "none are configured")
	cfg, err := configs.Load("", []string{"IMGEDGE_ORIGIN=" + h.origin.url, "IMGEDGE_LISTEN=127.0.0.1:0", "IMGEDGE_ADMIN_LISTEN=127.0.0.1:1",
		"IMGEDGE_PRESETS={card: {w: 64}}", "IMGEDGE_CACHE_CLIENT_TTL=1h"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	r := h.get(t, "/kodim23.png?p=card")
	if r.status != 200 || r.header["cache-control"] != "public, max-age=3600, s-maxage=3600, stale-while-revalidate=60, stale-if-error=86400" {
		t.Fatalf("after reload: %d %q", r.status, r.header["cache-control"])
	}
	bad := *cfg
	bad.Presets = map[string]map[string]string{"card": {"w": "huge"}}
	if _, err := h.srv.Reload(&bad); err == nil || !strings.Contains(err.Error(), "presets.card") {
		t.Fatalf("bad reload: %v", err)
	}
	if r := h.get(t, "/kodim23.png?p=card"); r.status != 200 {
		t.Fatalf("the running policy did not survive a refused reload: %d", r.status)
	}
}

// TestHeadersOnEveryPath: a CDN in front relies on Vary, ETag, Cache-Control
// and Cache-Status on every kind of answer of a negotiated variant.
func TestHeadersOnEveryPath(t *testing.T) {
	// Not beside other tests: the collapsed requests must reach the edge
	// within the origin's delay, which their renders can delay.
	h := start(t, []string{"IMGEDGE_CACHE_MIN_TTL=0s", "IMGEDGE_CACHE_STALE_WHILE_REVALIDATE=0s"}, nil)
	clock := withClock(h)
	h.origin.cacheControl.Store("max-age=60")
	h.origin.delay.Store(int64(200 * time.Millisecond))
	accept := []string{"Accept", "image/webp,*/*"}
	path := "/kodim23.png?w=80&auto=format"
	// The origin's max-age=60 caps browsers and is the lifetime caches in
	// front get (stale_while_revalidate is 0 here).
	const fresh = "public, max-age=60, s-maxage=60, stale-if-error=86400"
	check := func(name string, r response, status int, cacheStatus, cacheControl string) {
		t.Helper()
		if r.status != status || r.header["vary"] != "Accept" || !strings.HasPrefix(r.header["cache-status"], cacheStatus) ||
			r.header["cache-control"] != cacheControl || (status < 400 && r.header["etag"] == "") {
			t.Errorf("%s: %d Vary %q Cache-Status %q Cache-Control %q ETag %q", name, r.status, r.header["vary"],
				r.header["cache-status"], r.header["cache-control"], r.header["etag"])
		}
	}
	var wg sync.WaitGroup
	results := make([]response, 3)
	for i := range results {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = h.get(t, path, accept...) }()
	}
	wg.Wait()
	stored, collapsed := 0, 0
	for _, r := range results {
		switch r.header["cache-status"] {
		case "imgedge; fwd=uri-miss; stored":
			stored++
			check("miss", r, 200, "imgedge; fwd=uri-miss; stored", fresh)
		case "imgedge; fwd=uri-miss; collapsed":
			collapsed++
			check("collapsed", r, 200, "imgedge; fwd=uri-miss; collapsed", fresh)
		}
	}
	if stored != 1 || collapsed != 2 {
		t.Fatalf("%d stored and %d collapsed, want 1 and 2", stored, collapsed)
	}
	h.origin.delay.Store(0)
	hit := h.get(t, path, accept...)
	check("hit", hit, 200, "imgedge; hit; ttl=60", fresh)
	check("304", h.get(t, path, "Accept", "image/webp,*/*", "If-None-Match", hit.header["etag"]), 304, "imgedge; hit", fresh)
	h.origin.down.Store(true)
	clock.Advance(2 * time.Minute)
	check("stale", h.get(t, path, accept...), 200, "imgedge; hit; ttl=-60; detail=stale-if-error", "public, max-age=10, s-maxage=10, stale-if-error=86340")
	check("error", h.get(t, "/kodim07.png?w=80&auto=format", accept...), 502, "", "no-store")
}
