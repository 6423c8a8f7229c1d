package libvips

// #include <malloc.h>
import "C"

import "time"

// trimEvery bounds how often freed memory is handed back to the system.
const trimEvery = 5 * time.Second

// trimIfIdle hands the memory glibc keeps after libvips frees it back to the
// system (malloc_trim) once the last running transform ends, at most every
// trimEvery. glibc otherwise keeps freed arenas for reuse, and an edge's
// resident memory stays at its busiest level long after a burst of misses.
// It runs in the render's own goroutine, after the answer has been handed
// over, so no request waits on it.
func (t *Transformer) trimIfIdle(now time.Time) {
	last := t.lastTrim.Load()
	if t.running.Load() != 0 || now.UnixNano()-last < int64(trimEvery) || !t.lastTrim.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	C.malloc_trim(0)
}
