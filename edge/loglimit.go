package edge

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// maxLoggedBytes caps the query and path an access log line repeats: a
// client chooses them, up to the request line limit, and an error flood
// would otherwise write as many bytes of log as it sends.
const maxLoggedBytes = 512

// capLogged returns b as a string of at most maxLoggedBytes, marked when cut.
func capLogged(b []byte) string {
	if len(b) <= maxLoggedBytes {
		return string(b)
	}
	return string(b[:maxLoggedBytes]) + "...(cut)"
}

// lineLimiter lets at most perSecond error lines through in each second
// and counts the rest, so that the next line written can say how many were
// dropped. A flood of bad requests then costs a bounded amount of log.
type lineLimiter struct {
	mu      sync.Mutex
	second  int64 // unix second of the current window
	written int   // lines let through in it
	dropped int64 // lines dropped since the last one written
}

// allow reports whether a line may be written at now, and how many were
// dropped before it (reset once reported).
func (l *lineLimiter) allow(now time.Time, perSecond int) (ok bool, dropped int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if sec := now.Unix(); sec != l.second {
		l.second, l.written = sec, 0
	}
	if l.written >= perSecond {
		l.dropped++
		return false, 0
	}
	l.written++
	dropped, l.dropped = l.dropped, 0
	return true, dropped
}

// BudgetedLogger is a logger for the process's other writers (libvips and
// GLib warnings: a flood of bad sources logged one line each) whose lines
// pass the same log.errors_per_second budget as the access log's errors,
// messages cut like them, the first line after a drop saying how many.
func (s *Server) BudgetedLogger() *slog.Logger {
	return slog.New(budgetedHandler{s: s, inner: s.log.Handler()})
}

type budgetedHandler struct {
	s     *Server
	inner slog.Handler
}

func (h budgetedHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h budgetedHandler) Handle(ctx context.Context, r slog.Record) error {
	ok, dropped := h.s.errorLines.allow(h.s.now(), h.s.policy.Load().errorsPerSecond)
	if !ok {
		return nil
	}
	out := slog.NewRecord(r.Time, r.Level, capLogged([]byte(r.Message)), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(a)
		return true
	})
	if dropped > 0 {
		out.AddAttrs(slog.Int64("error_lines_dropped", dropped))
	}
	return h.inner.Handle(ctx, out)
}

func (h budgetedHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return budgetedHandler{s: h.s, inner: h.inner.WithAttrs(as)}
}

func (h budgetedHandler) WithGroup(name string) slog.Handler {
	return budgetedHandler{s: h.s, inner: h.inner.WithGroup(name)}
}
