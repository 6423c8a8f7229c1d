package libvips

// #cgo pkg-config: vips
// #cgo LDFLAGS: -ldl
// #include <vips/vips.h>
// #include <vips/vector.h>
// int orc_frees_serialised(void);
import "C"

// orcFreesSerialised reports whether libvips frees its orc programs under
// orc's global mutex (orcfree.c): false when this libvips does not call the
// executable's orc_program_free, and then two renders dropping reduces at
// once can free one chunk of orc's code memory twice.
func orcFreesSerialised() bool { return C.orc_frees_serialised() != 0 }

// disableVectors turns libvips' orc-compiled loops off, for a process where
// their frees cannot be serialised; the loops then run as plain C, 11 % slower
// on a JPEG to WebP miss and 3 % on JPEG to JPEG (measured with bench/loop).
func disableVectors() { C.vips_vector_set_enabled(0) }

// vectorsEnabled reports whether libvips runs orc-compiled loops.
func vectorsEnabled() bool { return C.vips_vector_isenabled() != 0 }
