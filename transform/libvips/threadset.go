package libvips

// #cgo pkg-config: vips
// #cgo LDFLAGS: -ldl
// #include <vips/vips.h>
// int threadset_waits_forever(void);
import "C"

// threadSetWaitsForever reports whether libvips' worker threads wait for
// work without a deadline (threadset.c): false when this libvips does not
// call the executable's vips_semaphore_down_timeout, and then its 8.14.1
// thread set can lose a task and write into freed memory when a worker
// idle for 15 s is handed work as it stops.
func threadSetWaitsForever() bool { return C.threadset_waits_forever() != 0 }
