package libvips

import (
	"runtime"
	"syscall"
	"testing"
)

// threadNice is the calling thread's nice value (Linux's getpriority
// returns 20 - nice), or -100 when it cannot be read.
func threadNice() int {
	p, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	if err != nil {
		return -100
	}
	return 20 - p
}

// A render's goroutine runs at renderNice, and its thread never serves
// another goroutine: hits keep the normal priority.
func TestRenderPriorityStaysWithTheRender(t *testing.T) {
	got := make(chan int)
	go func() {
		lowerPriority()
		got <- threadNice()
	}()
	if n := <-got; n != renderNice {
		t.Fatalf("a render's thread runs at nice %d, want %d", n, renderNice)
	}
	// Threads the runtime hands to other goroutines afterwards: none of
	// them is the render's.
	for range 64 {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			got <- threadNice()
		}()
		if n := <-got; n != 0 {
			t.Fatalf("a goroutine after a render ran at nice %d", n)
		}
	}
}
