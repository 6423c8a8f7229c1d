package edge

import (
	"context"
	"fmt"
	"time"

	"github.com/valyala/fasthttp"

	"imgedge/cache"
	"imgedge/transform"
)

// SetClock makes the server judge freshness by now; tests move it instead of
// sleeping.
func (s *Server) SetClock(now func() time.Time) {
	s.now = now
	s.shield.SetClock(now)
}

// Refreshing is how many background refreshes run now.
func (s *Server) Refreshing() int { return s.shield.Refreshing() }

// FlushTraces exports the spans still buffered.
func (s *Server) FlushTraces() {
	if t := s.tracing.Load(); t != nil {
		_ = t.provider.ForceFlush(context.Background())
	}
}

// PurgesForTest is the node's purge index, for benchmarks that fill it
// with more rules than admin calls could make.
func (s *Server) PurgesForTest() *cache.Purges { return s.purges }

// ResolveBoth resolves a GET of uri with headers twice, through the memo
// of resolved URLs and afresh (a memo of its own, empty), and describes
// both results: everything resolve hands on.
func (s *Server) ResolveBoth(uri string, headers [][2]string) (viaMemo, fresh string, memoHad bool) {
	var req fasthttp.Request
	req.SetRequestURI(uri)
	for _, h := range headers {
		req.Header.Set(h[0], h[1])
	}
	var in requestHeaders
	in.read(&req.Header)
	accept := in.get(inAccept)
	if slot, _ := s.resolved.slot(req.Host(), req.URI().Path(), req.URI().QueryString(), accept); slot != nil {
		memoHad = slot.lookup(s.policy.Load(), s.flags.Load(), req.Host(), req.URI().Path(), req.URI().QueryString(), accept,
			func(named transform.Hint) transform.ClientHints { return readHints(&in, named) }) != nil
	}
	run := func() string {
		sc := &scratch{in: in}
		err := s.resolve(sc, s.policy.Load(), req.Host(), req.URI(), false)
		return fmt.Sprintf("err=%v key=%s path=%s original=%v source=%x vary=%d flags=%v private=%v spec=%+v",
			err, sc.req.Key, sc.req.Path, sc.req.Original, sc.source, sc.vary, sc.flags, sc.private, sc.req.Spec)
	}
	viaMemo = run()
	saved := s.resolved
	s.resolved = newResolvedMemo()
	fresh = run()
	s.resolved = saved
	return viaMemo, fresh, memoHad
}

// SetRollouts puts the feature flags' rollouts (percent) in force, as PUT
// /flags does.
func (s *Server) SetRollouts(jxl, avif, qualities float64) {
	next := *s.flags.Load()
	next.rollout = [flagCount]uint32{percentToBuckets(jxl), percentToBuckets(avif), percentToBuckets(qualities)}
	s.flags.Store(&next)
	s.resolved.clear()
}
