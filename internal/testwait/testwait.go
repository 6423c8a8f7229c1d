// Package testwait waits, in tests, for what another goroutine or process
// makes true: a background write landing in Redis, a server listening, a
// log line. How long that takes is not what such a test checks, and a
// fixed guess at it fails on a loaded machine (a race-detector run beside
// other packages is several times slower than an idle one), so the wait
// lasts as long as the test binary may run (go test -timeout) and ends
// early enough to report what it was waiting for.
package testwait

import (
	"time"
)

// T is the part of *testing.T a wait uses.
type T interface {
	Helper()
	Fatalf(format string, args ...any)
	Deadline() (time.Time, bool)
}

// interval is how often a condition is asked again: short beside what the
// waits here are for (a process start, a queued write), long enough that
// the asking costs nothing beside it.
const interval = 10 * time.Millisecond

// reportMargin is left before the binary's deadline for the failure to be
// reported and the test's cleanups (child processes) to run, instead of a
// panic that names no condition.
const reportMargin = 30 * time.Second

// Until returns once cond holds. When the test binary's deadline comes
// near first, it fails t with what failure says (asked then, so it can
// describe the state that was last seen).
func Until(t T, cond func() bool, failure func() string) {
	t.Helper()
	deadline, bounded := t.Deadline()
	began := time.Now()
	for !cond() {
		if bounded && time.Until(deadline) < reportMargin {
			t.Fatalf("%s (waited %v, until the test binary's deadline was near)", failure(), time.Since(began).Round(time.Millisecond))
		}
		time.Sleep(interval)
	}
}
