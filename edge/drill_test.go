package edge_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestOutageDrill: 50 cached variants, the origin down for 10 s under steady
// load. Every answer for a cached variant succeeds (stale-if-error), the
// breaker opens after breaker.failures failed fetches, only its probes reach
// the origin while it is open, and fresh copies flow again once the origin is
// back. Real time, as in production: the breaker's clock is gobreaker's.
func TestOutageDrill(t *testing.T) {
	// It mostly waits on clocks, so it waits beside the others that do.
	t.Parallel()
	const failures, openFor = 5, time.Second
	h := start(t, []string{
		fmt.Sprintf("IMGEDGE_BREAKER_FAILURES=%d", failures), "IMGEDGE_BREAKER_OPEN_FOR=1s",
		"IMGEDGE_CACHE_MIN_TTL=0s", "IMGEDGE_CACHE_STALE_WHILE_REVALIDATE=0s",
	}, nil)
	h.origin.cacheControl.Store("max-age=1")
	var paths []string
	for _, img := range []string{"kodim23.png", "kodim07.png", "kodim04.png", "kodim15.png", "hopper.jpg"} {
		for w := range 10 {
			paths = append(paths, fmt.Sprintf("/%s?w=%d", img, 40+w))
		}
	}
	for _, p := range paths {
		if r := h.get(t, p); r.status != 200 {
			t.Fatalf("warming %s: %d", p, r.status)
		}
	}
	time.Sleep(1100 * time.Millisecond) // every copy is now stale
	originTotal := func() int {
		h.origin.mu.Lock()
		defer h.origin.mu.Unlock()
		n := 0
		for _, c := range h.origin.hits {
			n += c
		}
		return n
	}
	before := originTotal()
	h.origin.down.Store(true)

	var answers, failed, staleAnswers atomic.Int64
	var firstFailure atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for worker := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := worker; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := h.get(t, paths[i%len(paths)])
				answers.Add(1)
				if r.status != 200 {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, fmt.Sprintf("%s: %d %s", paths[i%len(paths)], r.status, r.body))
				} else if strings.Contains(r.header["cache-status"], "stale-if-error") {
					staleAnswers.Add(1)
				}
			}
		}()
	}
	time.Sleep(10 * time.Second)
	close(stop)
	wg.Wait()
	during := originTotal() - before

	if failed.Load() != 0 {
		t.Errorf("%d of %d answers for cached variants failed; first: %v", failed.Load(), answers.Load(), firstFailure.Load())
	}
	if staleAnswers.Load() < answers.Load()/2 {
		t.Errorf("only %d of %d answers were stale-if-error", staleAnswers.Load(), answers.Load())
	}
	// The breaker trips after `failures` fetches; then at most one probe per
	// open_for reaches the origin (each failed probe re-opens it).
	maxOrigin := failures + int(10*time.Second/openFor) + 1
	if during < failures || during > maxOrigin {
		t.Errorf("origin requests during the 10 s outage: %d, want %d to %d", during, failures, maxOrigin)
	}
	t.Logf("outage: %d answers, %d stale-if-error, %d origin requests", answers.Load(), staleAnswers.Load(), during)

	// Recovery: once the origin answers again, the next probe closes the
	// breaker and copies are fetched fresh.
	h.origin.down.Store(false)
	deadline := time.Now().Add(openFor + 2*time.Second)
	for {
		r := h.get(t, paths[0])
		if r.status == 200 && !strings.Contains(r.header["cache-status"], "stale") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no fresh answer within %v of the origin's return: %q", openFor+2*time.Second, r.header["cache-status"])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if originTotal() <= before+during {
		t.Fatal("recovery made no origin request")
	}
}
