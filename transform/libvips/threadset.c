// libvips 8.14.1 stops a worker thread of its thread set after 15 s without
// work: the worker's wait on its semaphore times out, and only then does it
// take the set's lock to leave the free list. A task handed out in between
// (vips_threadset_run pops the worker from the free list, writes the task
// into it and raises its semaphore) is written into a worker that frees
// itself: the task never runs, so the sink that asked for it waits for ever,
// and the writes land in freed memory (glibc's "malloc_consolidate():
// unaligned fastbin chunk", and images freed under their owners). libvips
// 8.15.4 rewrote the thread set on GAsyncQueue to fix it ("threadset: fix a
// race condition during thread exit"); Debian 12 ships 8.14.1.
//
// Only the thread set waits with a timeout in 8.14.1, and libvips calls this
// exported function through its PLT, so the executable's definition wins:
// a worker waits for work without a deadline, as in libvips 8.14.0. The set
// keeps the threads its busiest moment needed (a few per render in flight);
// vips_threadset_free still ends them, by raising the semaphore with the
// member's kill flag set.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <vips/vips.h>

int vips_semaphore_down_timeout(VipsSemaphore *s, gint64 timeout) {
	(void)timeout;
	return vips_semaphore_down(s);
}

// threadset_waits_forever reports whether libvips binds the definition above:
// the process-wide lookup its PLT entry goes through finds this one, not
// libvips' own (a libvips linked -Bsymbolic, or statically, would not).
int threadset_waits_forever(void) {
	return dlsym(RTLD_DEFAULT, "vips_semaphore_down_timeout") == (void *)vips_semaphore_down_timeout;
}
