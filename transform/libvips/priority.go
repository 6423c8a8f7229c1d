package libvips

import (
	"runtime"
	"syscall"
)

// renderNice is the scheduling priority renders run at (nice, -20..19):
// under a flood of misses at four times what the edge can render, a hit's
// p99 was 8.6-9.6 ms with renders at the same priority as the goroutines
// answering hits (bench/RESULTS.md). At nice 10 the kernel gives a runnable
// hit about ten times the CPU share of a render's thread.
const renderNice = 10

// lowerPriority runs the calling goroutine, for the rest of its life, on an
// OS thread of its own at renderNice; the libvips workers that thread
// starts inherit it. The goroutine must end without unlocking: an
// unprivileged process cannot raise a thread's priority again, so the
// thread ends with the goroutine rather than going back to serve others.
// The render workers (Transformer.work) call it once and live as long as
// their Transformer.
func lowerPriority() {
	runtime.LockOSThread()
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), renderNice)
}
