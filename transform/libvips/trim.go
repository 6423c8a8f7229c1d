package libvips

// #define _GNU_SOURCE
// #include <dlfcn.h>
// #include <malloc.h>
//
// // jemalloc_in_use: jemalloc (preloaded) exports mallctl; glibc has none.
// static int jemalloc_in_use(void) { return dlsym(RTLD_DEFAULT, "mallctl") != NULL; }
import "C"

import "time"

// trimEvery bounds how often freed memory is handed back to the system.
const trimEvery = 5 * time.Second

// JemallocInUse reports whether jemalloc replaced glibc's allocator: an
// operator preloaded it (LD_PRELOAD; the Docker image does not, it runs
// glibc's allocator as the Dockerfile says). glibc's tuning
// (MALLOC_ARENA_MAX, malloc_trim) does nothing under it, and jemalloc
// returns freed memory by itself.
func JemallocInUse() bool { return C.jemalloc_in_use() != 0 }

// trimIfIdle hands the memory glibc keeps after libvips frees it back to the
// system (malloc_trim) once the last running transform ends, at most every
// trimEvery. glibc otherwise keeps freed arenas for reuse, and an edge's
// resident memory stays at its busiest level long after a burst of misses.
// It runs in the render's own goroutine, after the answer has been handed
// over, so no request waits on it. Under jemalloc it does nothing.
func (t *Transformer) trimIfIdle(now time.Time) {
	last := t.lastTrim.Load()
	if !t.glibc || t.running.N() != 0 || now.UnixNano()-last < int64(trimEvery) || !t.lastTrim.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	C.malloc_trim(0)
}
