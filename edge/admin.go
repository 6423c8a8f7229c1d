package edge

import (
	"net/http"
	"time"
)

// staller is a transformer that can tell it is hung (transform/libvips is).
type staller interface{ Stalled(now time.Time) bool }

// AdminHandler serves the admin listener: /healthz (the process answers and
// its transformer is making progress) and /readyz (started, origins
// configured, not draining). It is never mounted on the public listener.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if st, ok := s.transformer.(staller); ok && st.Stalled(time.Now()) {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("unhealthy: transforms are queued and none has finished for 2 x transform.timeout\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !s.ready.Load() || s.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: draining or starting\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return mux
}
