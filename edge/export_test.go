package edge

import (
	"context"
	"time"

	"imgedge/cache"
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
