package libvips

// #cgo pkg-config: vips
// #cgo LDFLAGS: -ldl
// #include <vips/vips.h>
// #include <vips/vector.h>
// int threadset_waits_forever(void);
import "C"

// threadSetWaitsForever reports whether libvips' worker threads wait for
// work without a deadline (threadset.c): false when this libvips does not
// call the executable's vips_semaphore_down_timeout, and then its 8.14.1
// thread set can lose a task and write into freed memory when a worker
// idle for 15 s is handed work as it stops.
func threadSetWaitsForever() bool { return C.threadset_waits_forever() != 0 }

// disableVectors turns libvips' orc-compiled loops off. libvips 8.14
// compiles an orc program under its global lock but frees it without one
// (vips_vector_free -> orc_program_free), and orc's code allocator is
// shared by every program: two renders building and dropping reduces at
// once freed one chunk twice. A chaos run's core file: "double free or
// corruption (out)" in orc_code_free, from vips_vector_free in an
// operation's dispose, under ImageRef.Close in settle; the same corruption
// showed before as malloc_consolidate aborts and images freed under their
// owners. The loops run as plain C instead.
func disableVectors() { C.vips_vector_set_enabled(0) }

// vectorsEnabled reports whether libvips runs orc-compiled loops.
func vectorsEnabled() bool { return C.vips_vector_isenabled() != 0 }
