package edge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"imgedge/configs"
	"imgedge/edge"
	"imgedge/edge/origin/origintest"
	"imgedge/transform"
)

const images = "../bench/images"

// testOrigin is a real HTTP origin on 127.0.0.1 serving bench/images, with
// knobs for the failures the edge must handle and a request count per path.
type testOrigin struct {
	*http.Server
	url          string
	delay        atomic.Int64 // nanoseconds before answering
	cacheControl atomic.Value // string
	expires      atomic.Value // string
	down         atomic.Bool  // answer 503 to everything
	etags        atomic.Bool  // send ETags and answer If-None-Match with 304
	denyMissing  atomic.Bool  // answer 403 for missing objects, as a bucket without ListBucket does
	notModified  atomic.Int32 // 304s sent
	bodies       sync.Map     // path -> []byte, served instead of bench/images
	mu           sync.Mutex
	hits         map[string]int
}

func newTestOrigin(t testing.TB) *testOrigin {
	t.Helper()
	o := &testOrigin{hits: map[string]int{}}
	o.cacheControl.Store("")
	o.expires.Store("")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.url = "http://" + ln.Addr().String()
	o.Server = &http.Server{Handler: http.HandlerFunc(o.serve)}
	go func() { _ = o.Serve(ln) }()
	t.Cleanup(func() { _ = o.Close() })
	return o
}

func (o *testOrigin) serve(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.hits[r.URL.Path]++
	o.mu.Unlock()
	if d := o.delay.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	if o.down.Load() {
		http.Error(w, "origin down", http.StatusServiceUnavailable)
		return
	}
	if cc := o.cacheControl.Load().(string); cc != "" {
		w.Header().Set("Cache-Control", cc)
	}
	if ex := o.expires.Load().(string); ex != "" {
		w.Header().Set("Expires", ex)
	}
	switch r.URL.Path {
	case "/boom.jpg":
		http.Error(w, "database on fire", http.StatusInternalServerError)
		return
	case "/evil.svg":
		w.Header().Set("Content-Type", "image/svg+xml")
		_, _ = w.Write([]byte(`<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30"><script>alert(1)</script><rect width="40" height="30" fill="red"/></svg>`))
		return
	case "/page.jpg":
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<!doctype html><html><body><script>alert(1)</script></body></html>"))
		return
	case "/headers.png":
		w.Header().Set("Set-Cookie", "session=secret")
		w.Header().Set("X-Origin-Secret", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("Last-Modified", "Tue, 03 Jun 2025 10:00:00 GMT")
		r.URL.Path = "/kodim23.png"
	}
	body, err := os.ReadFile(filepath.Join(images, filepath.Base(r.URL.Path)))
	if b, ok := o.bodies.Load(r.URL.Path); ok {
		body, err = b.([]byte), nil
	}
	if err != nil && o.denyMissing.Load() {
		http.Error(w, "<Error><Code>AccessDenied</Code></Error>", http.StatusForbidden)
		return
	}
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if o.etags.Load() {
		tag := fmt.Sprintf(`"%x"`, len(body))
		w.Header().Set("ETag", tag)
		if r.Header.Get("If-None-Match") == tag {
			o.notModified.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	w.Header().Set("Last-Modified", "Tue, 03 Jun 2025 10:00:00 GMT")
	_, _ = w.Write(body)
}

func (o *testOrigin) count(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.hits[path]
}

// countingTransformer counts the renders that reach libvips.
type countingTransformer struct {
	inner transform.Transformer
	n     atomic.Int32
}

// Stalled forwards libvips' stall signal, so /healthz sees through the count.
func (c *countingTransformer) Stalled(now time.Time) bool {
	s, ok := c.inner.(interface{ Stalled(time.Time) bool })
	return ok && s.Stalled(now)
}

// The queue and memory gauges read through the count as well.
func (c *countingTransformer) Inflight() int64 { return c.queue().Inflight() }
func (c *countingTransformer) Queued() int64   { return c.queue().Queued() }
func (c *countingTransformer) Stuck() int64    { return c.queue().Stuck() }
func (c *countingTransformer) MemoryStats() (int64, int64, int64) {
	if m, ok := c.inner.(interface{ MemoryStats() (int64, int64, int64) }); ok {
		return m.MemoryStats()
	}
	return 0, 0, 0
}

type queueStats interface {
	Inflight() int64
	Queued() int64
	Stuck() int64
}

type noQueue struct{}

func (noQueue) Inflight() int64 { return 0 }
func (noQueue) Queued() int64   { return 0 }
func (noQueue) Stuck() int64    { return 0 }

func (c *countingTransformer) queue() queueStats {
	if q, ok := c.inner.(queueStats); ok {
		return q
	}
	return noQueue{}
}

func (c *countingTransformer) Transform(ctx context.Context, src []byte, job transform.Job) (transform.Result, error) {
	c.n.Add(1)
	return c.inner.Transform(ctx, src, job)
}

type harness struct {
	srv    *edge.Server
	base   string // http://127.0.0.1:port of the public listener
	admin  string
	origin *testOrigin
	tr     *countingTransformer
	client *fasthttp.Client
	logs   *syncWriter
	stop   func() // ends the edge (once); the test's cleanup calls it too
}

// start runs a real edge on 127.0.0.1 in front of a real origin. env are
// IMGEDGE_* overrides; tr wraps libvips when a test needs a failing
// transformer.
func start(t testing.TB, env []string, wrap func(transform.Transformer) transform.Transformer) *harness {
	t.Helper()
	h := &harness{origin: newTestOrigin(t), logs: &syncWriter{}}
	env = append([]string{"IMGEDGE_ORIGIN=" + h.origin.url, "IMGEDGE_LISTEN=127.0.0.1:0", "IMGEDGE_ADMIN_LISTEN=127.0.0.1:1"}, env...)
	cfg, err := configs.Load("", env)
	if err != nil {
		t.Fatal(err)
	}
	tr := newLibvips(t, cfg)
	if wrap != nil {
		tr = wrap(tr)
	}
	h.tr = &countingTransformer{inner: tr}
	h.srv, err = edge.New(cfg, h.tr, slog.New(slog.NewJSONHandler(h.logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adm, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.base, h.admin = "http://"+pub.Addr().String(), "http://"+adm.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.srv.Serve(ctx, pub, adm) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
			if err := h.srv.Close(context.Background()); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	t.Cleanup(h.stop)
	h.client = &fasthttp.Client{MaxConnsPerHost: 512, ReadTimeout: 30 * time.Second}
	return h
}

// syncWriter is the edge's log, written by request goroutines and read by
// the test.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

type response struct {
	status int
	header map[string]string
	body   []byte
}

func (h *harness) do(t testing.TB, method, path string, headers ...string) response {
	t.Helper()
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(h.base + path)
	req.Header.SetMethod(method)
	for i := 0; i+1 < len(headers); i += 2 {
		if strings.EqualFold(headers[i], "Host") {
			req.UseHostHeader = true
			req.Header.SetHost(headers[i+1])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	if method == fasthttp.MethodHead {
		resp.SkipBody = true
	}
	if err := h.client.Do(req, resp); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	r := response{status: resp.StatusCode(), header: map[string]string{}, body: append([]byte(nil), resp.Body()...)}
	for k, v := range resp.Header.All() {
		r.header[strings.ToLower(string(k))] = string(v)
	}
	return r
}

func (h *harness) get(t testing.TB, path string, headers ...string) response {
	t.Helper()
	return h.do(t, fasthttp.MethodGet, path, headers...)
}

func TestHitAfterMiss(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	miss := h.get(t, "/kodim23.png?w=300&fm=webp")
	if miss.status != 200 || miss.header["content-type"] != "image/webp" || !bytes.HasPrefix(miss.body, []byte("RIFF")) {
		t.Fatalf("miss: %d %q %q", miss.status, miss.header["content-type"], miss.body[:min(16, len(miss.body))])
	}
	if got := miss.header["cache-status"]; got != "imgedge; fwd=uri-miss; stored" {
		t.Errorf("miss Cache-Status = %q", got)
	}
	for _, part := range []string{"origin;dur=", "transform;dur=", "total;dur="} {
		if !strings.Contains(miss.header["server-timing"], part) {
			t.Errorf("miss Server-Timing %q lacks %s", miss.header["server-timing"], part)
		}
	}
	want := map[string]string{
		// No origin Cache-Control: browsers get cache.client_ttl, caches in
		// front the edge's own lifetime (cache.ttl) and stale windows.
		"cache-control":  "public, max-age=86400, s-maxage=3600, stale-while-revalidate=60, stale-if-error=86400",
		"last-modified":  "Tue, 03 Jun 2025 10:00:00 GMT",
		"content-length": fmt.Sprint(len(miss.body)),
	}
	for k, v := range want {
		if miss.header[k] != v {
			t.Errorf("miss %s = %q, want %q", k, miss.header[k], v)
		}
	}
	if et := miss.header["etag"]; len(et) < 4 || et[0] != '"' || strings.HasPrefix(et, "W/") {
		t.Errorf("ETag %q is not a strong validator", et)
	}
	hit := h.get(t, "/kodim23.png?w=300&fm=webp")
	if !strings.HasPrefix(hit.header["cache-status"], "imgedge; hit; ttl=") {
		t.Errorf("second request Cache-Status = %q, want a hit", hit.header["cache-status"])
	}
	if !strings.HasPrefix(hit.header["server-timing"], "cache;desc=memory, total;dur=") {
		t.Errorf("hit Server-Timing = %q", hit.header["server-timing"])
	}
	if !bytes.Equal(hit.body, miss.body) || hit.header["etag"] != miss.header["etag"] {
		t.Error("the hit differs from the miss")
	}
	if n := h.origin.count("/kodim23.png"); n != 1 {
		t.Errorf("origin requests = %d, want 1", n)
	}
	if n := h.tr.n.Load(); n != 1 {
		t.Errorf("transforms = %d, want 1", n)
	}
	// Another variant of the same source reuses the cached original.
	other := h.get(t, "/kodim23.png?w=200&fm=webp")
	if other.status != 200 || h.origin.count("/kodim23.png") != 1 {
		t.Errorf("a second variant fetched the source again (%d origin requests)", h.origin.count("/kodim23.png"))
	}
	if !strings.Contains(other.header["server-timing"], "origin;dur=0.000;desc=cached") {
		t.Errorf("second variant Server-Timing = %q, want the cached source noted", other.header["server-timing"])
	}
}

func TestCanonicalKeyIgnoresParamOrder(t *testing.T) {
	h := start(t, nil, nil)
	a := h.get(t, "/kodim23.png?w=300&fm=webp&fit=crop&h=100")
	for _, q := range []string{"?fm=webp&h=100&fit=crop&w=300", "?h=50&w=150&dpr=2&fm=webp&fit=crop"} {
		b := h.get(t, "/kodim23.png"+q)
		if !strings.HasPrefix(b.header["cache-status"], "imgedge; hit") || !bytes.Equal(a.body, b.body) {
			t.Errorf("%s: Cache-Status %q, want a hit on the same entry", q, b.header["cache-status"])
		}
	}
	if n := h.tr.n.Load(); n != 1 {
		t.Errorf("transforms = %d, want 1", n)
	}
}

func TestConditionalRequests(t *testing.T) {
	h := start(t, nil, nil)
	first := h.get(t, "/kodim23.png?w=100")
	etag := first.header["etag"]
	tests := []struct {
		name    string
		headers []string
		status  int
	}{
		{"matching etag", []string{"If-None-Match", etag}, 304},
		{"weak form of the etag", []string{"If-None-Match", "W/" + etag}, 304},
		{"etag in a list", []string{"If-None-Match", `"nope", ` + etag}, 304},
		{"star", []string{"If-None-Match", "*"}, 304},
		{"other etag", []string{"If-None-Match", `"nope"`}, 200},
		{"modified since before", []string{"If-Modified-Since", "Mon, 02 Jun 2025 10:00:00 GMT"}, 200},
		{"not modified since", []string{"If-Modified-Since", "Tue, 03 Jun 2025 10:00:00 GMT"}, 304},
		{"If-None-Match wins", []string{"If-None-Match", `"nope"`, "If-Modified-Since", "Wed, 04 Jun 2025 10:00:00 GMT"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.get(t, "/kodim23.png?w=100", tt.headers...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d", r.status, tt.status)
			}
			if tt.status == 304 {
				if len(r.body) != 0 || r.header["etag"] != etag || r.header["cache-control"] == "" {
					t.Fatalf("304 body %d bytes, etag %q, cache-control %q", len(r.body), r.header["etag"], r.header["cache-control"])
				}
			} else if !bytes.Equal(r.body, first.body) {
				t.Fatal("200 body differs")
			}
		})
	}
}

func TestHEAD(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	get := h.get(t, "/kodim23.png?w=120&fm=jpg")
	head := h.do(t, fasthttp.MethodHead, "/kodim23.png?w=120&fm=jpg")
	if head.status != 200 || len(head.body) != 0 {
		t.Fatalf("HEAD: %d with %d body bytes", head.status, len(head.body))
	}
	if head.header["content-length"] != fmt.Sprint(len(get.body)) || head.header["etag"] != get.header["etag"] || head.header["content-type"] != "image/jpeg" {
		t.Fatalf("HEAD headers %v differ from GET's (%d bytes)", head.header, len(get.body))
	}
	// HEAD on a cold variant computes it too.
	cold := h.do(t, fasthttp.MethodHead, "/kodim23.png?w=121&fm=jpg")
	if cold.status != 200 || cold.header["content-length"] == "0" || len(cold.body) != 0 {
		t.Fatalf("cold HEAD: %d, length %s", cold.status, cold.header["content-length"])
	}
}

func TestAutoFormatNegotiation(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	chrome := "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
	firefox := "image/avif,image/webp,*/*"
	tests := []struct {
		accept, ctype string
	}{
		{chrome, "image/avif"},
		{"image/webp,*/*", "image/webp"},
		{"image/avif;q=0,image/webp", "image/webp"},
		{"*/*", "image/jpeg"},
		{"", "image/jpeg"},
	}
	for _, tt := range tests {
		r := h.get(t, "/kodim23.png?w=64&auto=format", "Accept", tt.accept)
		if r.status != 200 || r.header["content-type"] != tt.ctype || r.header["vary"] != "Accept" {
			t.Errorf("Accept %q: %d %s, Vary %q; want %s with Vary: Accept", tt.accept, r.status, r.header["content-type"], r.header["vary"], tt.ctype)
		}
	}
	alpha := h.get(t, "/yellow_rose.png?w=64&auto=format", "Accept", "image/jpeg,*/*")
	if alpha.header["content-type"] != "image/png" {
		t.Errorf("legacy client with an alpha source got %s, want image/png", alpha.header["content-type"])
	}
	// Two browsers with different Accept headers but the same decision share
	// one entry: the raw header never enters the key.
	r := h.get(t, "/kodim23.png?w=64&auto=format", "Accept", firefox)
	if !strings.HasPrefix(r.header["cache-status"], "imgedge; hit") || r.header["content-type"] != "image/avif" {
		t.Errorf("Firefox after Chrome: %q %s, want a hit on the AVIF entry", r.header["cache-status"], r.header["content-type"])
	}
	if plain := h.get(t, "/kodim23.png?w=64"); plain.header["vary"] != "" {
		t.Errorf("Vary %q without auto=format", plain.header["vary"])
	}
}

func TestOriginalPassthrough(t *testing.T) {
	h := start(t, nil, nil)
	want, err := os.ReadFile(filepath.Join(images, "hopper.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	r := h.get(t, "/hopper.jpg")
	if r.status != 200 || !bytes.Equal(r.body, want) || r.header["content-type"] != "image/jpeg" {
		t.Fatalf("original: %d, %s, equal bytes %v", r.status, r.header["content-type"], bytes.Equal(r.body, want))
	}
	again := h.get(t, "/hopper.jpg?s=") // a signature-only query is still the original
	if !bytes.Equal(again.body, want) || !strings.HasPrefix(again.header["cache-status"], "imgedge; hit") {
		t.Fatalf("second original: %q", again.header["cache-status"])
	}
	if h.origin.count("/hopper.jpg") != 1 || h.tr.n.Load() != 0 {
		t.Fatalf("origin requests %d, transforms %d; want 1 and 0", h.origin.count("/hopper.jpg"), h.tr.n.Load())
	}
}

// TestNonImageOriginals: an image edge serves images. An original whose
// bytes are no image answers 415 unsupported_format, and an SVG original
// (which can carry scripts) is rasterised to PNG. Before, both were served
// as they were, scripts included, as application/octet-stream.
func TestNonImageOriginals(t *testing.T) {
	h := start(t, nil, nil)
	page := h.get(t, "/page.jpg")
	if page.status != 415 || !strings.Contains(string(page.body), `"code":"unsupported_format"`) || bytes.Contains(page.body, []byte("<script")) {
		t.Errorf("HTML original: %d %s", page.status, page.body)
	}
	svg := h.get(t, "/evil.svg")
	if svg.status != 200 || svg.header["content-type"] != "image/png" || !bytes.HasPrefix(svg.body, []byte("\x89PNG")) {
		t.Errorf("SVG original: %d %s, %d bytes", svg.status, svg.header["content-type"], len(svg.body))
	}
	if again := h.get(t, "/evil.svg?fm=png"); !strings.HasPrefix(again.header["cache-status"], "imgedge; hit") {
		t.Errorf("the rasterised SVG original is not the ?fm=png entry: %q", again.header["cache-status"])
	}
}

// TestNoSniffOnEveryAnswer: browsers must take every type as given.
func TestNoSniffOnEveryAnswer(t *testing.T) {
	h := start(t, nil, nil)
	for _, path := range []string{"/hopper.jpg", "/hopper.jpg?w=30", "/hopper.jpg?w=30", "/nope.jpg", "/hopper.jpg?width=3", "/page.jpg", "/boom.jpg"} {
		if r := h.get(t, path); r.header["x-content-type-options"] != "nosniff" {
			t.Errorf("%s (%d): X-Content-Type-Options %q", path, r.status, r.header["x-content-type-options"])
		}
	}
}

func TestOriginHeadersDoNotLeak(t *testing.T) {
	h := start(t, nil, nil)
	for _, path := range []string{"/headers.png", "/headers.png?w=10"} {
		r := h.get(t, path)
		for _, k := range []string{"set-cookie", "x-origin-secret", "keep-alive"} {
			if v, ok := r.header[k]; ok {
				t.Errorf("%s: origin header %s: %s reached the client", path, k, v)
			}
		}
	}
}

func TestOriginNoStorePassesThrough(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	h.origin.cacheControl.Store("private, max-age=60")
	for i := range 2 {
		r := h.get(t, "/kodim23.png?w=50")
		if r.status != 200 || r.header["cache-control"] != "private, max-age=60" || r.header["cache-status"] != "imgedge; fwd=uri-miss" {
			t.Fatalf("request %d: %d, Cache-Control %q, Cache-Status %q", i, r.status, r.header["cache-control"], r.header["cache-status"])
		}
	}
	if n := h.origin.count("/kodim23.png"); n != 2 {
		t.Fatalf("origin requests = %d, want 2: nothing may be stored", n)
	}
}

func TestOriginMaxAgeSetsFreshness(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	h.origin.cacheControl.Store("public, max-age=300")
	h.get(t, "/kodim23.png?w=51")
	r := h.get(t, "/kodim23.png?w=51")
	var ttl int
	if _, err := fmt.Sscanf(r.header["cache-status"], "imgedge; hit; ttl=%d", &ttl); err != nil || ttl < 290 || ttl > 300 {
		t.Fatalf("Cache-Status %q, want a hit with ttl near 300", r.header["cache-status"])
	}
}

type problemBody struct {
	Status    int    `json:"status"`
	Title     string `json:"title"`
	Detail    string `json:"detail"`
	Class     string `json:"class"`
	Code      string `json:"code"`
	RequestID string `json:"request_id"`
}

func checkProblem(t *testing.T, r response, status int, class, code, detail string) {
	t.Helper()
	if r.status != status || r.header["content-type"] != "application/problem+json" {
		t.Fatalf("got %d %s (%s), want %d problem+json", r.status, r.header["content-type"], r.body, status)
	}
	var p problemBody
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	if p.Status != status || p.Class != class || p.Code != code || p.Title == "" || !strings.Contains(p.Detail, detail) || p.RequestID == "" {
		t.Fatalf("problem %+v, want status %d class %s code %s with detail containing %q", p, status, class, code, detail)
	}
	transient := class == "retryable" || class == "fatal" || class == "operator"
	if transient && r.header["cache-control"] != "no-store" {
		t.Errorf("%s error has Cache-Control %q, want no-store", class, r.header["cache-control"])
	}
}

func TestProblemsUserClass(t *testing.T) {
	h := start(t, []string{"IMGEDGE_LIMITS_MAX_SOURCE_BYTES=100KiB"}, nil)
	checkProblem(t, h.get(t, "/kodim23.png?wdth=300"), 400, "user", "bad_param", `did you mean "w"?`)
	checkProblem(t, h.get(t, "/kodim23.png?w=300&w=301"), 400, "user", "bad_param", `"w" is repeated`)
	checkProblem(t, h.get(t, "/kodim23.png?q=500"), 400, "user", "bad_param", "an integer from 1 to 100")
	checkProblem(t, h.get(t, "/missing.jpg?w=10"), 404, "user", "not_found", "check the path")
	checkProblem(t, h.get(t, "/missing.jpg"), 404, "user", "not_found", "check the path")
	checkProblem(t, h.get(t, "/page.jpg?w=10"), 422, "user", "unsupported_image", "not a recognised image")
	checkProblem(t, h.get(t, "/kodim23.png?w=10"), 413, "user", "source_too_large", "limits.max_source_bytes")
	r := h.do(t, fasthttp.MethodPost, "/kodim23.png?w=10")
	checkProblem(t, r, 405, "user", "bad_param", "GET and HEAD")
	if r.header["allow"] != "GET, HEAD, OPTIONS" {
		t.Errorf("405 Allow = %q", r.header["allow"])
	}
	if cc := h.get(t, "/missing.jpg").header["cache-control"]; cc != "public, max-age=10" {
		t.Errorf("404 Cache-Control %q, want cache.negative_ttl", cc)
	}
	withID := h.get(t, "/x.jpg?nope=1", "X-Request-Id", "req-123")
	if !bytes.Contains(withID.body, []byte(`"request_id":"req-123"`)) {
		t.Errorf("problem does not carry the client's request id: %s", withID.body)
	}
}

func TestProblemsRetryableClass(t *testing.T) {
	t.Parallel()
	h := start(t, []string{"IMGEDGE_FETCH_TIMEOUT=300ms", "IMGEDGE_TRANSFORM_CONCURRENCY=1", "IMGEDGE_TRANSFORM_QUEUE=0"}, nil)
	// The origin would answer 200 after 1 s: a 504 shows the edge gave up at
	// fetch.timeout (300 ms) instead of waiting for it.
	h.origin.delay.Store(int64(time.Second))
	checkProblem(t, h.get(t, "/kodim23.png?w=10"), 504, "retryable", "origin_timeout", "fetch.timeout")
	h.origin.delay.Store(0)

	// One transform slot and no queue: of several distinct variants whose
	// source arrives at once, all but one are refused, fast.
	const n = 6
	results := make(chan response, n)
	for i := range n {
		go func() { results <- h.get(t, fmt.Sprintf("/kodim07.png?w=%d&fm=png", 700+i)) }()
	}
	overloaded := 0
	for range n {
		r := <-results
		if r.status == 503 {
			overloaded++
			checkProblem(t, r, 503, "retryable", "overloaded", "transform.concurrency")
			if r.header["retry-after"] == "" {
				t.Error("503 without Retry-After")
			}
		} else if r.status != 200 {
			t.Errorf("status %d: %s", r.status, r.body)
		}
	}
	if overloaded == 0 || overloaded == n {
		t.Errorf("%d of %d requests overloaded; want some served and some refused", overloaded, n)
	}
}

func TestProblemsOperatorClass(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	checkProblem(t, h.get(t, "/boom.jpg?w=10"), 502, "operator", "origin_error", "HTTP 500")

	dead := origintest.RefusedAddr(t)
	h2 := start(t, []string{"IMGEDGE_ORIGINS=[{prefix: /dead, url: 'http://" + dead + "'}]"}, nil)
	r := h2.get(t, "/dead/a.jpg?w=10")
	checkProblem(t, r, 502, "operator", "origin_error", "could not be reached")
	// The address is the operator's to see, in the log under the request
	// id, never the client's.
	if strings.Contains(string(r.body), dead) {
		t.Errorf("the public body names the origin's address: %s", r.body)
	}
	if logs := h2.logs.String(); !strings.Contains(logs, `"level":"ERROR"`) || !strings.Contains(logs, `"error_code":"origin_error"`) || !strings.Contains(logs, dead) {
		t.Errorf("the operator error is not logged with its cause:\n%s", logs)
	}
}

func TestProblemsFatalClassAndSurvival(t *testing.T) {
	h := start(t, nil, func(tr transform.Transformer) transform.Transformer {
		return transform.TransformerFunc(func(ctx context.Context, src []byte, job transform.Job) (transform.Result, error) {
			if job.Spec.Width == 13 {
				panic("bug in a transform")
			}
			return tr.Transform(ctx, src, job)
		})
	})
	checkProblem(t, h.get(t, "/kodim23.png?w=13", "X-Request-Id", "bug-1"), 500, "fatal", "internal", "request id")
	if !strings.Contains(h.logs.String(), "bug-1") || !strings.Contains(h.logs.String(), "bug in a transform") {
		t.Errorf("the panic was not logged with the request id: %s", h.logs.String())
	}
	if r := h.get(t, "/kodim23.png?w=14"); r.status != 200 {
		t.Fatalf("after a panic: %d", r.status)
	}
}

// TestStampede: 200 concurrent requests for one cold variant while the origin
// is slow make one origin request and one transform, and 200 identical answers.
func TestStampede(t *testing.T) {
	// Not beside other tests: the requests must reach the edge within the
	// origin's delay to be collapsed, which their renders can delay.
	h := start(t, nil, nil)
	h.origin.delay.Store(int64(300 * time.Millisecond))
	const n = 200
	var wg sync.WaitGroup
	results := make([]response, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = h.get(t, "/kodim15.png?w=240&fm=webp")
		}()
	}
	wg.Wait()
	statuses := map[string]int{}
	for i, r := range results {
		if r.status != 200 || !bytes.Equal(r.body, results[0].body) {
			t.Fatalf("answer %d: %d, %d bytes (first: %d bytes)", i, r.status, len(r.body), len(results[0].body))
		}
		statuses[r.header["cache-status"]]++
	}
	if got := h.origin.count("/kodim15.png"); got != 1 {
		t.Errorf("origin requests = %d, want 1", got)
	}
	if got := h.tr.n.Load(); got != 1 {
		t.Errorf("transforms = %d, want 1", got)
	}
	if statuses["imgedge; fwd=uri-miss; stored"] != 1 || statuses["imgedge; fwd=uri-miss; collapsed"] < n/2 {
		t.Errorf("Cache-Status counts %v, want 1 stored and the rest mostly collapsed", statuses)
	}
}

func TestRoutingByHostAndPrefix(t *testing.T) {
	t.Parallel()
	other := newTestOrigin(t)
	h := start(t, []string{"IMGEDGE_ORIGINS=[{hosts: [img.example.com], prefix: /cdn, url: '" + other.url + "/'}, {hosts: [photos.example.com], url: '" + other.url + "'}]"}, nil)
	if r := h.get(t, "/cdn/kodim23.png?w=20", "Host", "img.example.com:8080"); r.status != 200 {
		t.Fatalf("routed request: %d %s", r.status, r.body)
	}
	if other.count("/kodim23.png") != 1 || h.origin.count("/kodim23.png") != 0 {
		t.Fatalf("route by host+prefix: routed origin %d, default %d", other.count("/kodim23.png"), h.origin.count("/kodim23.png"))
	}
	h.get(t, "/kodim07.png?w=20", "Host", "PHOTOS.example.com")
	if other.count("/kodim07.png") != 1 {
		t.Fatal("route by host alone did not match (case-insensitive)")
	}
	h.get(t, "/cdn/kodim04.png?w=20", "Host", "elsewhere.example.com")
	h.get(t, "/cdnx/kodim04.png?w=20", "Host", "img.example.com")
	if h.origin.count("/cdn/kodim04.png") != 1 || h.origin.count("/cdnx/kodim04.png") != 1 || other.count("/kodim04.png") != 0 {
		t.Fatal("unmatched requests did not go to the default origin")
	}
}

func TestAdminListener(t *testing.T) {
	h := start(t, nil, nil)
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
		resp, err := http.Get(h.admin + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("admin %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
	// The public listener treats admin paths as objects at the origin.
	if r := h.get(t, "/healthz"); r.status != 404 {
		t.Errorf("public /healthz = %d, want 404 from the origin", r.status)
	}
}

func TestPresetsFromConfig(t *testing.T) {
	t.Parallel()
	h := start(t, []string{"IMGEDGE_PRESETS={thumb: {w: 120, h: 80, fit: crop, fm: webp}}"}, nil)
	preset := h.get(t, "/kodim23.png?p=thumb")
	if preset.status != 200 || preset.header["content-type"] != "image/webp" {
		t.Fatalf("p=thumb: %d %s %s", preset.status, preset.header["content-type"], preset.body)
	}
	// The preset's expansion and the explicit parameters are one entry.
	same := h.get(t, "/kodim23.png?w=120&h=80&fit=crop&fm=webp")
	if !strings.HasPrefix(same.header["cache-status"], "imgedge; hit") || !bytes.Equal(same.body, preset.body) {
		t.Errorf("explicit parameters after p=thumb: %q", same.header["cache-status"])
	}
	override := h.get(t, "/kodim23.png?p=thumb&fm=png")
	if override.header["content-type"] != "image/png" {
		t.Errorf("p=thumb&fm=png: %s, want the explicit fm to win", override.header["content-type"])
	}
	checkProblem(t, h.get(t, "/kodim23.png?p=hero"), 400, "user", "bad_param", "allowed: thumb")
	// A preset with a bad value stops start-up, naming it.
	cfg, err := configs.Load("", []string{"IMGEDGE_PRESETS={bad: {w: 0}}"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := edge.New(cfg, h.tr, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), "presets.bad") {
		t.Fatalf("edge.New with a bad preset: %v", err)
	}
}
