package edge_test

import (
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"imgedge/cache"
	"imgedge/cache/redistest"
)

// hitCtx returns a request context for path whose variant is already cached.
func hitCtx(tb testing.TB, h *harness, path string, headers ...string) *fasthttp.RequestCtx {
	tb.Helper()
	var req fasthttp.Request
	req.SetRequestURI("http://127.0.0.1" + path)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}, nil)
	h.srv.Handle(ctx)
	ctx.Response.Reset()
	h.srv.Handle(ctx)
	if cs := string(ctx.Response.Header.Peek("Cache-Status")); len(cs) < 12 || cs[:12] != "imgedge; hit" {
		tb.Fatalf("%s is not a hit: %q (%d %s)", path, cs, ctx.Response.StatusCode(), ctx.Response.Body())
	}
	return ctx
}

var hitPaths = []struct {
	name, path string
	headers    []string
}{
	{"variant", "/kodim23.png?w=300&fm=webp", nil},
	{"auto-format", "/kodim23.png?w=300&auto=format&dpr=2", []string{"Accept", "image/avif,image/webp,image/apng,image/*,*/*;q=0.8"}},
	{"conditional-304", "/kodim23.png?w=300&fm=webp", []string{"If-None-Match", `"x", "y"`}},
	{"original", "/kodim23.png", nil},
}

// benchHits measures hits of path with headers on h: one request context
// per goroutine, reused as fasthttp reuses a connection's.
func benchHits(b *testing.B, h *harness, path string, headers ...string) {
	warm := hitCtx(b, h, path, headers...)
	b.SetBytes(int64(len(warm.Response.Body())))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := hitCtx(b, h, path, headers...)
		for pb.Next() {
			ctx.Response.Reset()
			h.srv.Handle(ctx)
		}
	})
}

// BenchmarkCacheHit drives the real fasthttp handler for cached entries: the
// whole hit path (routing, parsing, key, lookup, headers) without the network.
func BenchmarkCacheHit(b *testing.B) {
	for _, hp := range hitPaths {
		b.Run(hp.name, func(b *testing.B) {
			h := start(b, nil, nil)
			benchHits(b, h, hp.path, hp.headers...)
		})
	}
}

// BenchmarkHitWithPurgeRules is BenchmarkCacheHit's variant hit on a node
// holding 0, 10k and 1M purge rules for other paths (half by path, half by
// prefix, prefixes of ten lengths): a hit's cost must not grow with them.
func BenchmarkHitWithPurgeRules(b *testing.B) {
	for _, n := range []int{0, 10_000, 1_000_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			h := start(b, nil, nil)
			rules := make([]cache.PurgeRule, 0, n)
			now := time.Now()
			for i := range n {
				path := "origin|/other/" + strconv.Itoa(i) + ".jpg"
				prefix := i%2 == 1
				if prefix {
					path = "origin|/p" + strings.Repeat("x", i%10) + "/" + strconv.Itoa(i) + "/"
				}
				rules = append(rules, cache.PurgeRule{Path: path, Prefix: prefix, Seq: uint64(i + 1), At: now})
			}
			h.srv.PurgesForTest().Apply(rules...)
			rules = nil
			runtime.GC() // the rules' construction is not the hit's garbage
			benchHits(b, h, "/kodim23.png?w=300&fm=webp")
		})
	}
}

// BenchmarkBrowserHit is BenchmarkCacheHit's auto-format hit with what
// pages add: CORS for a listed origin, Timing-Allow-Origin, client hints
// (ch=DPR,Save-Data with their headers) and two feature flags at 50 %.
func BenchmarkBrowserHit(b *testing.B) {
	h := start(b, []string{"IMGEDGE_CORS_ALLOW_ORIGINS=https://a.example,https://b.example", "IMGEDGE_TIMING_ALLOW_ORIGINS=*",
		"IMGEDGE_FLAGS_JXL_ROLLOUT=50", "IMGEDGE_FLAGS_QUALITIES_ROLLOUT=50"}, nil)
	headers := []string{"Origin", "https://b.example", "Accept", "image/jxl,image/avif,image/webp,image/apng,image/*,*/*;q=0.8",
		"Sec-CH-DPR", "2", "Save-Data", "on"}
	path := "/kodim23.png?w=300&auto=format&ch=DPR,Save-Data"
	benchHits(b, h, path, headers...)
}

// BenchmarkHitHeaderFamilies is BenchmarkBrowserHit built up one header
// family at a time, each on top of the ones before: what each costs a hit.
func BenchmarkHitHeaderFamilies(b *testing.B) {
	accept := []string{"Accept", "image/jxl,image/avif,image/webp,image/apng,image/*,*/*;q=0.8"}
	steps := []struct {
		name    string
		env     []string
		headers []string
		query   string
	}{
		{"auto-format", nil, nil, ""},
		{"+cors", []string{"IMGEDGE_CORS_ALLOW_ORIGINS=https://a.example,https://b.example"}, []string{"Origin", "https://b.example"}, ""},
		{"+timing-allow", []string{"IMGEDGE_TIMING_ALLOW_ORIGINS=*"}, nil, ""},
		{"+client-hints", nil, []string{"Sec-CH-DPR", "2", "Save-Data", "on"}, "&ch=DPR,Save-Data"},
		{"+flags", []string{"IMGEDGE_FLAGS_JXL_ROLLOUT=50", "IMGEDGE_FLAGS_QUALITIES_ROLLOUT=50"}, nil, ""},
	}
	var env, headers []string
	query := "/kodim23.png?w=300&auto=format"
	headers = append(headers, accept...)
	for _, st := range steps {
		env, headers, query = append(env, st.env...), append(headers, st.headers...), query+st.query
		env, headers, path := slices.Clone(env), slices.Clone(headers), query
		b.Run(st.name, func(b *testing.B) {
			benchHits(b, start(b, env, nil), path, headers...)
		})
	}
}

// BenchmarkBareFasthttp is the floor for BenchmarkCacheHit: a handler that
// answers the same bytes from memory and does nothing else.
func BenchmarkBareFasthttp(b *testing.B) {
	body := make([]byte, 8116)
	handler := func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("image/webp")
		ctx.Response.SetBodyRaw(body)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var req fasthttp.Request
		req.SetRequestURI("http://127.0.0.1/kodim23.png?w=300&fm=webp")
		ctx := &fasthttp.RequestCtx{}
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}, nil)
		for pb.Next() {
			ctx.Response.Reset()
			handler(ctx)
		}
	})
}

// BenchmarkSharedTierHit is BenchmarkCacheHit's variant with the memory
// tier off and a real redis-server on 127.0.0.1 as the shared tier: every
// hit is a Redis read and a decode. memory is the same request from the
// memory tier in the same process, for the ratio, and memory-redis-frozen
// the same again with Redis hung (SIGSTOP).
func BenchmarkSharedTierHit(b *testing.B) {
	rd := redistest.Start(b)
	for _, tier := range []string{"memory", "redis", "memory-redis-frozen"} {
		b.Run(tier, func(b *testing.B) {
			env := []string{"IMGEDGE_REDIS_URL=" + rd.URL()}
			if tier == "redis" {
				env = append(env, "IMGEDGE_CACHE_MEMORY=0")
			}
			h := start(b, env, nil)
			path := "/kodim23.png?w=300&fm=webp"
			ctx := hitCtx(b, h, path)
			if tier == "redis" {
				deadline := time.Now().Add(5 * time.Second)
				for !strings.Contains(string(ctx.Response.Header.Peek("Cache-Status")), "redis") {
					if time.Now().After(deadline) {
						b.Fatalf("not a Redis hit: %s", ctx.Response.Header.Peek("Cache-Status"))
					}
					time.Sleep(10 * time.Millisecond)
					ctx.Response.Reset()
					h.srv.Handle(ctx)
				}
			}
			if tier == "memory-redis-frozen" {
				rd.Pause() // a hung Redis must not touch a memory hit
				defer rd.Resume()
			}
			b.SetBytes(int64(len(ctx.Response.Body())))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				ctx.Response.Reset()
				h.srv.Handle(ctx)
			}
		})
	}
}
