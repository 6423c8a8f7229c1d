//go:build !race

package edge_test

import "testing"

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
