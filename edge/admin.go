package edge

import (
	"net/http"
)

// AdminHandler serves the admin listener: /healthz (the process answers) and
// /readyz (started, origins configured, not draining). It is never mounted on
// the public listener.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
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
