package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestShippedWorkloadsLoad: every shipped workload parses and asks for
// images the default edge serves (bench/images), so the quick start
// measures images, not 404s.
func TestShippedWorkloadsLoad(t *testing.T) {
	for _, name := range []string{"zipf", "cold", "hit"} {
		w, err := loadWorkload("workloads/" + name + ".yaml")
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for _, img := range w.Images {
			if _, err := os.Stat(filepath.Join("images", img)); err != nil {
				t.Errorf("%s asks for %s, which bench/images lacks", name, img)
			}
		}
	}
}

// TestErrorStatusesCount: answers outside 2xx/3xx are errors in the
// summary and the JSON, with the last one named.
func TestErrorStatusesCount(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(404) }}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	w, _ := loadWorkload("workloads/hit.yaml")
	res := Run(context.Background(), Options{Base: "http://" + ln.Addr().String(), Workload: w, Duration: 200 * time.Millisecond, Concurrency: 2, Timeout: time.Second})
	if res.Requests == 0 || res.Errors != res.Requests || !strings.Contains(res.LastError, "HTTP 404") {
		t.Fatalf("%d requests, %d errors, last %q: every 404 must count", res.Requests, res.Errors, res.LastError)
	}
	var text bytes.Buffer
	res.writeText(&text)
	if strings.Contains(text.String(), " 0 errors") {
		t.Fatalf("summary:\n%s", text.String())
	}
}

func TestGenerator(t *testing.T) {
	w, err := loadWorkload("workloads/zipf.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var counter atomic.Int64
	g := newGenerator(w, 1, &counter)
	images, accepts := map[string]int{}, map[string]int{}
	const n = 20000
	for range n {
		r := g.next()
		images[r.Image]++
		accepts[r.Accept]++
		if r.Fit == "crop" && r.Height != int(float64(r.Width)*0.75) {
			t.Fatalf("crop request %+v without the workload's height ratio", r)
		}
	}
	// Zipf: each image is asked for less than the one before it.
	for i := 1; i < len(w.Images); i++ {
		if images[w.Images[i]] >= images[w.Images[i-1]] {
			t.Errorf("popularity not decreasing: %v", images)
		}
	}
	// The Accept mix follows its weights (70/20/10) within 2 points.
	for _, a := range w.Accept {
		if share := float64(accepts[a.Value]) / n * 100; share < float64(a.Weight)-2 || share > float64(a.Weight)+2 {
			t.Errorf("Accept %q: %.1f %% of requests, weight %d", a.Value, share, a.Weight)
		}
	}
	cold, _ := loadWorkload("workloads/cold.yaml")
	seen := map[string]bool{}
	g = newGenerator(cold, 2, &counter)
	for range 41 * 50 {
		r := g.next()
		u := urlFor("http://x", "", r)
		if seen[u] || r.Width < 280 || r.Width > 320 || r.Quality < 50 || r.Quality > 99 {
			t.Fatalf("cold workload: %s (repeat or out of its band)", u)
		}
		seen[u] = true
	}
	// The srcset and sources rows: sizes about 300 px at about q80, no
	// repeat; sources also a new copy of the image each time.
	for _, name := range []string{"srcset", "sources"} {
		w, err := loadWorkload("workloads/" + name + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		g := newGenerator(w, 3, &atomic.Int64{})
		seen, images := map[string]bool{}, map[string]bool{}
		sum := 0
		const n = 301 * 21
		for range n {
			r := g.next()
			u := urlFor("http://x", "", r)
			if seen[u] || r.Width < 150 || r.Width > 450 || r.Quality < 70 || r.Quality > 90 {
				t.Fatalf("%s workload: %s (repeat or out of its band)", name, u)
			}
			seen[u], images[r.Image] = true, true
			sum += r.Width
		}
		if mean := sum / n; mean != 300 {
			t.Errorf("%s workload: mean width %d, want 300", name, mean)
		}
		if want := map[string]int{"srcset": 1, "sources": n}[name]; len(images) != want {
			t.Errorf("%s workload: %d distinct images in %d requests, want %d", name, len(images), n, want)
		}
	}
}

func TestURLFor(t *testing.T) {
	r := Request{Image: "a.jpg", Width: 300, Height: 200, Fit: "crop", Format: "auto", DPR: 2}
	if got := urlFor("http://h:1/", "", r); got != "http://h:1/a.jpg?auto=format&dpr=2&fit=crop&h=200&w=300" {
		t.Errorf("imgix URL %s", got)
	}
	if got := urlFor("http://h:1", "", Request{Image: "b.png", Fit: "clip", DPR: 1}); got != "http://h:1/b.png" {
		t.Errorf("original URL %s", got)
	}
	tmpl := "{base}/insecure/rs:{fit}:{w}:{h}/dpr:{dpr}/plain/local:///{image}@{fm}"
	if got := urlFor("http://h:1", tmpl, Request{Image: "a.jpg", Width: 300, Height: 200, Fit: "crop", Format: "webp", DPR: 1}); got != "http://h:1/insecure/rs:crop:300:200/dpr:1/plain/local:///a.jpg@webp" {
		t.Errorf("template URL %s", got)
	}
}

func TestCacheClass(t *testing.T) {
	for cs, want := range map[string]string{
		"": "none", "imgedge; hit; ttl=30": "hit", "imgedge; hit; ttl=-3; detail=stale-if-error": "stale",
		"imgedge; fwd=uri-miss; stored": "miss", "imgedge; fwd=uri-miss; collapsed": "collapsed", "imgedge; fwd=stale; stored": "miss",
	} {
		if got := cacheClass(cs); got != want {
			t.Errorf("cacheClass(%q) = %s, want %s", cs, got, want)
		}
	}
}

// server runs a fasthttp server on 127.0.0.1 that waits delay per request.
func server(t *testing.T, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		time.Sleep(delay)
		ctx.Response.Header.Set("Cache-Status", "imgedge; hit; ttl=1")
		ctx.SetBodyString("image")
	}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

// TestOpenLoopMeasuresFromIntendedTime: a server that needs 20 ms per request,
// one connection, offered 100 requests/s (twice what it can serve). The open
// loop reports the queue that builds up; the closed loop only sees 20 ms.
func TestOpenLoopMeasuresFromIntendedTime(t *testing.T) {
	base := server(t, 20*time.Millisecond)
	w, _ := loadWorkload("workloads/hit.yaml")
	open := Run(context.Background(), Options{Base: base, Workload: w, Duration: time.Second, Rate: 100, Concurrency: 1, Timeout: 5 * time.Second})
	closed := Run(context.Background(), Options{Base: base, Workload: w, Duration: time.Second, Concurrency: 1, Timeout: 5 * time.Second})
	if closed.LatencyMS.P50 < 19 || closed.LatencyMS.P50 > 60 {
		t.Errorf("closed loop p50 %.1f ms, want about 20", closed.LatencyMS.P50)
	}
	if open.LatencyMS.Max < 250 {
		t.Errorf("open loop max %.1f ms: the queue of late requests is not counted", open.LatencyMS.Max)
	}
	if open.RPS > 60 || closed.Cache["hit"] == 0 || open.Status["200"] == 0 {
		t.Errorf("open %+v closed %+v", open, closed)
	}
}

func TestReportJSON(t *testing.T) {
	w, _ := loadWorkload("workloads/hit.yaml")
	res := Run(context.Background(), Options{Base: server(t, 0), Workload: w, Duration: 300 * time.Millisecond, Concurrency: 4, Timeout: time.Second})
	var buf bytes.Buffer
	if err := res.writeJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"requests", "rps", "latency_ms", "status", "cache"} {
		if _, ok := out[f]; !ok {
			t.Errorf("-json lacks %s", f)
		}
	}
	if !strings.Contains(string(out["latency_ms"]), `"p999"`) || res.Requests == 0 {
		t.Errorf("report %s", buf.String())
	}
	var text bytes.Buffer
	res.writeText(&text)
	if !strings.Contains(text.String(), "latency   p50") {
		t.Errorf("text report:\n%s", text.String())
	}
}
