package edge

import (
	"crypto/subtle"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// staller is a transformer that can tell it is hung (transform/libvips is).
type staller interface{ Stalled(now time.Time) bool }

// AdminHandler serves the admin listener: /healthz (the process answers and
// its transformer is making progress), /readyz (started, origins configured,
// not draining), /metrics (Prometheus), /debug/pprof/, /explain, /flags,
// /purge and /demo. It is never mounted on the public listener. With
// admin.token set, everything but the probes, /metrics (what orchestrators
// and scrapers ask without a secret) and the /demo page itself needs
// Authorization: Bearer <token>: pprof and /explain spend CPU and show
// internals.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	open := s.adminMux(mux)
	if s.cfg.Admin.Token == "" {
		return open
	}
	want := []byte("Bearer " + s.cfg.Admin.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		// /demo is a page without secrets that asks the browser for the
		// token, which its script then sends to /demo/fetch.
		case "/healthz", "/readyz", "/metrics", "/demo":
		default:
			got := []byte(strings.TrimSpace(r.Header.Get("Authorization")))
			if subtle.ConstantTimeCompare(got, want) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="imgedge admin"`)
				http.Error(w, "this admin endpoint needs Authorization: Bearer <admin.token>", http.StatusUnauthorized)
				return
			}
		}
		open.ServeHTTP(w, r)
	})
}

// serving says whether this node should be sent requests: started, not
// draining, and its renders not stalled.
func (s *Server) serving(now time.Time) bool {
	if st, ok := s.transformer.(staller); ok && st.Stalled(now) {
		return false
	}
	return s.ready.Load() && !s.draining.Load()
}

func (s *Server) adminMux(mux *http.ServeMux) http.Handler {
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
	mux.HandleFunc("GET /explain", s.explain)
	mux.HandleFunc("GET /flags", s.getFlags)
	mux.HandleFunc("PUT /flags", s.putFlags)
	mux.HandleFunc("GET /demo", s.demo)
	mux.HandleFunc("GET /demo/fetch", s.demoFetch)
	mux.HandleFunc("POST /purge", func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Admin.Token == "" {
			http.Error(w, "purge needs admin.token configured (and sent as Authorization: Bearer <token>)", http.StatusForbidden)
			return
		}
		s.purge(w, r)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
