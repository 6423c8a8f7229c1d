package edge

import (
	"context"
	"time"

	"imgedge/cache"
)

// WaitCache applies buffered tier Sets (ristretto's are asynchronous) so that a
// test can assert a hit right after a miss.
func (s *Server) WaitCache() {
	for _, st := range []cache.Store{s.variants, s.originals} {
		if m, ok := st.(*cache.Memory); ok {
			m.Wait()
		}
	}
}

// SetClock makes the server judge freshness by now; tests move it instead of
// sleeping.
func (s *Server) SetClock(now func() time.Time) { s.now = now }

// FlushTraces exports the spans still buffered.
func (s *Server) FlushTraces() {
	if s.tracing != nil {
		_ = s.tracing.provider.ForceFlush(context.Background())
	}
}
