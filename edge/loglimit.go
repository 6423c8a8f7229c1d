package edge

import (
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
