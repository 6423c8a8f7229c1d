//go:build !race

package edge_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestCacheHitAllocatesNothing guards BenchmarkCacheHit's 0 allocs/op: the hit
// path must not allocate per request.
func TestCacheHitAllocatesNothing(t *testing.T) {
	h := start(t, nil, nil)
	for _, hp := range hitPaths {
		ctx := hitCtx(t, h, hp.path, hp.headers...)
		allocs := testing.AllocsPerRun(1000, func() {
			ctx.Response.Reset()
			h.srv.Handle(ctx)
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per hit, want 0", hp.name, allocs)
		}
	}
}

// TestSignedHitAllocatesNothing: verifying a signature keeps the hit path
// free of allocations.
func TestSignedHitAllocatesNothing(t *testing.T) {
	h := start(t, []string{"IMGEDGE_SIGNING_KEYS=" + oldKey + "," + newKey}, nil)
	ctx := hitCtx(t, h, signed(t, newKey, "/kodim23.png?w=300&fm=webp"))
	if allocs := testing.AllocsPerRun(1000, func() {
		ctx.Response.Reset()
		h.srv.Handle(ctx)
	}); allocs != 0 {
		t.Errorf("%.1f allocations per signed hit, want 0", allocs)
	}
}

// TestBrowserHitAllocatesNothing: CORS, Timing-Allow-Origin, client hints
// and feature flags keep the hit path free of allocations.
func TestBrowserHitAllocatesNothing(t *testing.T) {
	h := start(t, []string{"IMGEDGE_CORS_ALLOW_ORIGINS=https://a.example,https://b.example", "IMGEDGE_TIMING_ALLOW_ORIGINS=*",
		"IMGEDGE_FLAGS_JXL_ROLLOUT=50", "IMGEDGE_FLAGS_QUALITIES_ROLLOUT=50"}, nil)
	ctx := hitCtx(t, h, "/kodim23.png?w=150&auto=format&ch=DPR,Width,Save-Data", "Origin", "https://b.example",
		"Accept", "image/jxl,image/avif,image/webp,*/*", "Sec-CH-DPR", "2", "Save-Data", "on")
	if allocs := testing.AllocsPerRun(1000, func() {
		ctx.Response.Reset()
		h.srv.Handle(ctx)
	}); allocs != 0 {
		t.Errorf("%.1f allocations per browser hit, want 0", allocs)
	}
	if got := string(ctx.Response.Header.Peek("Access-Control-Allow-Origin")); got != "https://b.example" {
		t.Errorf("Access-Control-Allow-Origin %q", got)
	}
}

// TestImgixHitAllocatesNothing: the imgix parameters (an ignored ixlib, a
// watermark, padding, adjustments) keep the hit path free of allocations.
func TestImgixHitAllocatesNothing(t *testing.T) {
	h := start(t, nil, nil)
	h.origin.bodies.Store("/mark.png", readImage(t, "kodim04.png"))
	ctx := hitCtx(t, h, "/kodim23.png?w=300&ar=16:9&fit=crop&pad=5&bri=10&mark=/mark.png&mark-w=40&ixlib=js-3.8.0")
	if allocs := testing.AllocsPerRun(1000, func() {
		ctx.Response.Reset()
		h.srv.Handle(ctx)
	}); allocs != 0 {
		t.Errorf("%.1f allocations per imgix hit, want 0", allocs)
	}
}

// TestHitsTheMemoSkipsAllocateNothing: hits the memo of resolved URLs does
// not keep (a crawl adding a new ignored parameter to every request) or
// keeps once for many requests (client hints the URL does not name, which
// browsers send anyway) allocate nothing either.
func TestHitsTheMemoSkipsAllocateNothing(t *testing.T) {
	h := start(t, nil, nil)
	ctx := hitCtx(t, h, "/kodim23.png?w=300&fm=webp")
	uris := make([][]byte, 1100)
	for i := range uris {
		uris[i] = []byte(fmt.Sprintf("http://127.0.0.1/kodim23.png?w=300&fm=webp&ixlib=crawl-%04d", i))
	}
	n := 0
	if allocs := testing.AllocsPerRun(1000, func() {
		ctx.Request.SetRequestURIBytes(uris[n])
		n++
		ctx.Response.Reset()
		h.srv.Handle(ctx)
	}); allocs != 0 {
		t.Errorf("%.1f allocations per hit of a crawled URL, want 0", allocs)
	}
	if cs := string(ctx.Response.Header.Peek("Cache-Status")); !strings.HasPrefix(cs, "imgedge; hit") {
		t.Fatalf("the crawled URL was not a hit: %q", cs)
	}
	ctx = hitCtx(t, h, "/kodim23.png?w=100&ch=DPR", "Sec-CH-DPR", "2", "Sec-CH-Viewport-Width", "1000")
	viewports := []string{"1000", "1280", "1366", "1440", "1536", "1920", "360", "414"}
	n = 0
	if allocs := testing.AllocsPerRun(1000, func() {
		ctx.Request.Header.Set("Sec-CH-Viewport-Width", viewports[n%len(viewports)])
		n++
		ctx.Response.Reset()
		h.srv.Handle(ctx)
	}); allocs != 0 {
		t.Errorf("%.1f allocations per hit with a hint the URL does not name, want 0", allocs)
	}
}
