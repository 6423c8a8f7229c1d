package edge

import (
	"testing"
	"time"
)

// TestLineLimiter: at most perSecond lines a second; the first line let
// through after drops reports how many were dropped.
func TestLineLimiter(t *testing.T) {
	var l lineLimiter
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at      time.Duration
		ok      bool
		dropped int64
	}{
		{0, true, 0},
		{100 * time.Millisecond, true, 0},
		{200 * time.Millisecond, false, 0},
		{900 * time.Millisecond, false, 0},
		{time.Second, true, 2},
		{1100 * time.Millisecond, true, 0},
		{1200 * time.Millisecond, false, 0},
		{5 * time.Second, true, 1},
	}
	for i, s := range steps {
		ok, dropped := l.allow(t0.Add(s.at), 2)
		if ok != s.ok || dropped != s.dropped {
			t.Errorf("step %d at %v: ok %v dropped %d, want %v %d", i, s.at, ok, dropped, s.ok, s.dropped)
		}
	}
	if got := capLogged(make([]byte, 4096)); len(got) > maxLoggedBytes+16 {
		t.Errorf("capLogged kept %d bytes", len(got))
	}
}
