package edge_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"imgedge/cache/redistest"
	"imgedge/transform"
)

func scrape(t *testing.T, h *harness) string {
	t.Helper()
	resp, err := http.Get(h.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	return string(b)
}

// metricValue reads one series from the exposition text; labels are given
// in the order Prometheus sorts them. A missing series is 0.
func metricValue(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, series+" ") {
			v, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, series)), 64)
			return v
		}
	}
	return 0
}

func TestMetricNames(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	h.get(t, "/kodim23.png?w=100")
	text := scrape(t, h)
	for _, name := range []string{
		"imgedge_requests_total", "imgedge_request_duration_seconds", "imgedge_origin_requests_total",
		"imgedge_origin_duration_seconds", "imgedge_transforms_total", "imgedge_transform_duration_seconds",
		"imgedge_cache_hits_total", "imgedge_cache_misses_total", "imgedge_cache_bytes", "imgedge_collapsed_total",
		"imgedge_breaker_state", "imgedge_errors_total", "imgedge_inflight_transforms", "imgedge_queued_transforms",
		"imgedge_stuck_transforms", "imgedge_libvips_memory_bytes", "imgedge_libvips_memory_highwater_bytes",
		"imgedge_libvips_open_files", "go_goroutines", "process_resident_memory_bytes",
	} {
		if !regexp.MustCompile(`(?m)^# TYPE ` + name + ` `).MatchString(text) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if v := metricValue(text, `imgedge_breaker_state{origin="`+h.origin.url+`"}`); v != 0 {
		t.Errorf("breaker state %v for a healthy origin", v)
	}
	if v := metricValue(text, `imgedge_cache_bytes{tier="memory_originals"}`); v < 500_000 {
		t.Errorf("originals tier holds %v bytes after caching a 557 KB source", v)
	}
}

// TestMemoryParts: imgedge_memory_bytes splits the resident set into the
// cache tiers, the rest of Go's memory, libvips' buffers and the rest, and
// the parts add up to it (read a moment apart, so within a few MiB).
func TestMemoryParts(t *testing.T) {
	h := start(t, nil, nil)
	h.get(t, "/kodim23.png?w=100")
	text := scrape(t, h)
	cached := metricValue(text, `imgedge_cache_bytes{tier="memory"}`) + metricValue(text, `imgedge_cache_bytes{tier="memory_originals"}`)
	if got := metricValue(text, `imgedge_memory_bytes{part="cache"}`); got != cached || got < 500_000 {
		t.Errorf("cache part %v, tiers hold %v (a 557 KB source among them)", got, cached)
	}
	var sum float64
	for _, part := range []string{"cache", "go_other", "libvips", "native_other"} {
		series := `imgedge_memory_bytes{part="` + part + `"}`
		if !strings.Contains(text, series+" ") {
			t.Errorf("/metrics lacks %s", series)
		}
		sum += metricValue(text, series)
	}
	if metricValue(text, `imgedge_memory_bytes{part="go_other"}`) <= 0 || metricValue(text, `imgedge_memory_bytes{part="native_other"}`) <= 0 {
		t.Errorf("go_other and native_other must both hold something (libvips and Go are loaded):\n%s", grepLines(text, "imgedge_memory_bytes"))
	}
	rss := metricValue(text, "process_resident_memory_bytes")
	if diff := sum - rss; diff > 8<<20 || diff < -8<<20 {
		t.Errorf("memory parts add up to %.0f MiB, resident set %.0f MiB", sum/(1<<20), rss/(1<<20))
	}
}

// TestCountersMoveExactly: each kind of answer moves exactly its counters.
func TestCountersMoveExactly(t *testing.T) {
	// Not beside other tests: the collapsed requests must reach the edge
	// within the origin's delay, which their renders can delay.
	// A lenient breaker: this test fails the origin on purpose.
	h := start(t, []string{"IMGEDGE_FETCH_TIMEOUT=300ms", "IMGEDGE_BREAKER_FAILURES=100"}, func(tr transform.Transformer) transform.Transformer {
		return transform.TransformerFunc(func(ctx context.Context, src []byte, job transform.Job) (transform.Result, error) {
			if job.Spec.Width == 13 {
				panic("bug")
			}
			return tr.Transform(ctx, src, job)
		})
	})
	o := h.origin.url
	type delta map[string]float64
	step := func(name string, want delta, do func()) {
		t.Helper()
		before := scrape(t, h)
		do()
		after := scrape(t, h)
		for series, d := range want {
			if got := metricValue(after, series) - metricValue(before, series); got != d {
				t.Errorf("%s: %s moved by %v, want %v", name, series, got, d)
			}
		}
	}
	step("miss", delta{
		`imgedge_requests_total{cache="miss",status="200"}`:             1,
		`imgedge_cache_misses_total{tier="memory"}`:                     1,
		`imgedge_cache_hits_total{tier="memory"}`:                       0,
		`imgedge_transforms_total{format="webp"}`:                       1,
		`imgedge_origin_requests_total{origin="` + o + `",result="ok"}`: 1,
		`imgedge_request_duration_seconds_count`:                        1,
	}, func() { h.get(t, "/kodim23.png?w=100&fm=webp") })
	step("hit", delta{
		`imgedge_requests_total{cache="hit",status="200"}`:              1,
		`imgedge_cache_hits_total{tier="memory"}`:                       1,
		`imgedge_cache_misses_total{tier="memory"}`:                     0,
		`imgedge_transforms_total{format="webp"}`:                       0,
		`imgedge_origin_requests_total{origin="` + o + `",result="ok"}`: 0,
	}, func() { h.get(t, "/kodim23.png?w=100&fm=webp") })
	etag := h.get(t, "/kodim23.png?w=100&fm=webp").header["etag"]
	step("304", delta{`imgedge_requests_total{cache="hit",status="304"}`: 1, `imgedge_requests_total{cache="hit",status="200"}`: 0}, func() {
		h.get(t, "/kodim23.png?w=100&fm=webp", "If-None-Match", etag)
	})
	step("collapsed", delta{
		`imgedge_requests_total{cache="miss",status="200"}`:      1,
		`imgedge_requests_total{cache="collapsed",status="200"}`: 4,
		`imgedge_collapsed_total`:                                4,
		`imgedge_transforms_total{format="png"}`:                 1,
	}, func() {
		h.origin.delay.Store(int64(150 * time.Millisecond))
		defer h.origin.delay.Store(0)
		var wg sync.WaitGroup
		for range 5 {
			wg.Add(1)
			go func() { defer wg.Done(); h.get(t, "/kodim07.png?w=64") }()
		}
		wg.Wait()
	})
	step("user error", delta{`imgedge_errors_total{class="user",code="bad_param"}`: 1, `imgedge_requests_total{cache="none",status="400"}`: 1},
		func() { h.get(t, "/kodim23.png?wdth=1") })
	step("not found", delta{`imgedge_errors_total{class="user",code="not_found"}`: 1, `imgedge_origin_requests_total{origin="` + o + `",result="not_found"}`: 1},
		func() { h.get(t, "/nope.jpg?w=1") })
	step("operator error", delta{`imgedge_errors_total{class="operator",code="origin_error"}`: 1, `imgedge_origin_requests_total{origin="` + o + `",result="error"}`: 1},
		func() { h.get(t, "/boom.jpg?w=1") })
	step("retryable error", delta{`imgedge_errors_total{class="retryable",code="origin_timeout"}`: 1, `imgedge_origin_requests_total{origin="` + o + `",result="timeout"}`: 1},
		func() {
			h.origin.delay.Store(int64(time.Second))
			defer h.origin.delay.Store(0)
			h.get(t, "/kodim04.png?w=1")
		})
	step("fatal error", delta{`imgedge_errors_total{class="fatal",code="internal"}`: 1, `imgedge_requests_total{cache="none",status="500"}`: 1},
		func() { h.get(t, "/kodim15.png?w=13") })
}

func TestExplain(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	explain := func(publicURL string, accept string) (int, map[string]json.RawMessage) {
		req, _ := http.NewRequest("GET", h.admin+"/explain?url="+url.QueryEscape(publicURL), nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]json.RawMessage
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	status, ex := explain("/kodim23.png?w=300&auto=format", "image/webp,*/*")
	if status != 200 {
		t.Fatalf("/explain: %d %v", status, ex)
	}
	var keys []string
	for k := range ex {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if got := strings.Join(keys, ","); got != "cache_key,decoded,flags,format,format_reason,output,params,source,tiers,timings_ms" {
		t.Fatalf("top-level fields %s", got)
	}
	var params map[string]string
	var tiers []struct{ Tier, State string }
	var source, output struct {
		Format        string
		Width, Height int
		Bytes         int
	}
	var decoded struct {
		Width, Height int
		By            string
	}
	var timings map[string]float64
	var format, reason, key string
	for field, into := range map[string]any{"params": &params, "tiers": &tiers, "source": &source, "output": &output,
		"decoded": &decoded, "timings_ms": &timings, "format": &format, "format_reason": &reason, "cache_key": &key} {
		if err := json.Unmarshal(ex[field], into); err != nil {
			t.Fatalf("%s: %v", field, err)
		}
	}
	if params["w"] != "300" || params["auto"] != "webp" || format != "webp" || reason != "accept" || !strings.Contains(key, "/kodim23.png?") {
		t.Errorf("params %v, format %s (%s), key %s", params, format, reason, key)
	}
	if source.Format != "png" || source.Width != 768 || source.Height != 512 || source.Bytes != 557596 {
		t.Errorf("source %+v", source)
	}
	if output.Format != "webp" || output.Width != 300 || output.Height != 200 || output.Bytes == 0 {
		t.Errorf("output %+v", output)
	}
	if decoded.Width != 768 || decoded.Height != 512 || decoded.By != "whole" { // PNG has no shrink-on-load
		t.Errorf("decoded %+v", decoded)
	}
	if len(tiers) != 2 || tiers[0].State != "miss" || timings["total"] <= 0 || timings["encode"] <= 0 || timings["origin"] <= 0 {
		t.Errorf("tiers %+v timings %v", tiers, timings)
	}
	// After a real request the variant's tier says hit.
	h.get(t, "/kodim23.png?w=300&auto=format", "Accept", "image/webp,*/*")
	if _, ex := explain("/kodim23.png?w=300&auto=format", "image/webp,*/*"); !strings.Contains(string(ex["tiers"]), `"state":"hit"`) {
		t.Errorf("tiers after the request: %s", ex["tiers"])
	}
	if status, _ := explain("/kodim23.png?wdth=3", ""); status != 400 {
		t.Errorf("explain of a bad URL: %d", status)
	}
}

// logLines parses the JSON access log lines.
func logLines(t *testing.T, h *harness) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(h.logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}

func TestRequestIDsAndAccessLog(t *testing.T) {
	t.Parallel()
	h := start(t, []string{"IMGEDGE_LOG_HIT_SAMPLE=1"}, nil)
	r := h.get(t, "/kodim23.png?w=90", "X-Request-Id", "trace-abc-1")
	if r.header["x-request-id"] != "trace-abc-1" {
		t.Errorf("echoed id %q", r.header["x-request-id"])
	}
	a, b := h.get(t, "/kodim23.png?w=91"), h.get(t, "/kodim23.png?w=91")
	if a.header["x-request-id"] == "" || a.header["x-request-id"] == b.header["x-request-id"] {
		t.Errorf("generated ids %q and %q", a.header["x-request-id"], b.header["x-request-id"])
	}
	bad := h.get(t, "/kodim23.png?w=92", "X-Request-Id", "evil\"id with spaces")
	if bad.header["x-request-id"] == "evil\"id with spaces" || bad.header["x-request-id"] == "" {
		t.Errorf("an unsafe id was kept: %q", bad.header["x-request-id"])
	}
	p := h.get(t, "/kodim23.png?nope=1", "X-Request-Id", "trace-err-2")
	if p.header["x-request-id"] != "trace-err-2" || !strings.Contains(string(p.body), `"request_id":"trace-err-2"`) {
		t.Errorf("problem: header %q body %s", p.header["x-request-id"], p.body)
	}
	byID := map[string]map[string]any{}
	for _, l := range logLines(t, h) {
		byID[fmt.Sprint(l["request_id"])] = l
	}
	miss := byID["trace-abc-1"]
	for _, f := range []string{"method", "path", "query", "status", "bytes", "cache", "duration_ms", "origin_ms", "transform_ms"} {
		if _, ok := miss[f]; !ok {
			t.Errorf("miss log line lacks %s: %v", f, miss)
		}
	}
	if miss["cache"] != "miss" || miss["status"] != float64(200) || miss["path"] != "/kodim23.png" {
		t.Errorf("miss log line %v", miss)
	}
	if e := byID["trace-err-2"]; e["error_class"] != "user" || e["error_code"] != "bad_param" || e["status"] != float64(400) {
		t.Errorf("error log line %v", e)
	}
	if hit := byID[b.header["x-request-id"]]; hit["cache"] != "hit" {
		t.Errorf("hit log line (hit_sample=1) %v", hit)
	}

	// With hit_sample 0 no hit is logged, misses still are.
	quiet := start(t, []string{"IMGEDGE_LOG_HIT_SAMPLE=0"}, nil)
	quiet.get(t, "/kodim23.png?w=93")
	for range 5 {
		quiet.get(t, "/kodim23.png?w=93")
	}
	counts := map[any]int{}
	for _, l := range logLines(t, quiet) {
		counts[l["cache"]]++
	}
	if counts["hit"] != 0 || counts["miss"] != 1 {
		t.Errorf("log lines by cache outcome with hit_sample=0: %v", counts)
	}
}

func TestPublicListenerServesNoAdminPaths(t *testing.T) {
	h := start(t, nil, nil)
	for _, p := range []string{"/metrics", "/explain?url=%2Fkodim23.png", "/debug/pprof/", "/readyz", "/healthz"} {
		r := h.get(t, p)
		if r.status == 200 || strings.Contains(string(r.body), "imgedge_requests_total") || strings.Contains(string(r.body), "cache_key") {
			t.Errorf("public %s: %d %s", p, r.status, r.body)
		}
		resp, err := http.Get(h.admin + strings.Split(p, "?")[0])
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if p != "/explain?url=%2Fkodim23.png" && resp.StatusCode != 200 {
			t.Errorf("admin %s: %d", p, resp.StatusCode)
		}
	}
}

// TestDashboardUsesExportedMetrics: every imgedge series the Grafana
// dashboard queries exists in /metrics.
func TestDashboardUsesExportedMetrics(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../configs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	h := start(t, []string{"IMGEDGE_REDIS_URL=" + redistest.Start(t).URL()}, nil) // the Redis row's series exist only with a shared tier
	h.get(t, "/kodim23.png?w=10")
	exported := scrape(t, h)
	names := regexp.MustCompile(`\b(imgedge_[a-z_]+|process_[a-z_]+)`)
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			// Every series is filtered by the dashboard's job and instance
			// variables, so one edge of a fleet can be looked at alone.
			if n, f := len(names.FindAllString(target.Expr, -1)), strings.Count(target.Expr, `job=~"$job", instance=~"$instance"`); n != f {
				t.Errorf("panel %q: %d series, %d filtered by job and instance: %s", p.Title, n, f, target.Expr)
			}
			if strings.HasPrefix(p.Title, "Hit ratio") && strings.Count(target.Expr, `status!~"4.."`) != 2 {
				t.Errorf("the hit ratio counts client errors: %s", target.Expr)
			}
			for _, name := range names.FindAllString(target.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")
				if !strings.Contains(exported, "# TYPE "+base+" ") {
					t.Errorf("panel %q queries %s, which /metrics does not export", p.Title, name)
				}
			}
		}
	}
}

func TestTierLabels(t *testing.T) {
	h := start(t, nil, nil)
	before := scrape(t, h)
	h.get(t, "/hopper.jpg")
	h.get(t, "/hopper.jpg")
	after := scrape(t, h)
	for series, want := range map[string]float64{
		`imgedge_cache_misses_total{tier="memory_originals"}`: 1,
		`imgedge_cache_hits_total{tier="memory_originals"}`:   1,
		`imgedge_cache_hits_total{tier="memory"}`:             0,
	} {
		if got := metricValue(after, series) - metricValue(before, series); got != want {
			t.Errorf("%s moved by %v, want %v", series, got, want)
		}
	}
}

// TestMetricsWithRoutesSharingAnOrigin: two routes naming the same origin
// give one breaker series, and the scrape still answers.
func TestMetricsWithRoutesSharingAnOrigin(t *testing.T) {
	h := start(t, nil, nil)
	h2 := start(t, []string{"IMGEDGE_ORIGINS=[{prefix: /a, url: '" + h.origin.url + "'}, {prefix: /b, url: '" + h.origin.url + "'}]",
		"IMGEDGE_ORIGIN=" + h.origin.url}, nil)
	text := scrape(t, h2)
	if n := strings.Count(text, `imgedge_breaker_state{origin="`+h.origin.url+`"}`); n != 1 {
		t.Errorf("%d breaker series for the shared origin, want 1", n)
	}
}
