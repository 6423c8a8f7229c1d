package libvips

// #cgo pkg-config: vips
// #include <stdlib.h>
// #include <vips/vips.h>
import "C"

import "unsafe"

// blockUntrustedLoaders stops libvips from ever running the operations it
// marks untrusted (ImageMagick, PDF, MATLAB, FITS, ...), whatever a file's
// bytes claim: an unrecognised ISO-BMFF file otherwise ends up in ImageMagick's
// TGA reader (testdata/corpus/README.md). libvips 8.14 also marks JPEG XL
// and SVG untrusted; the edge reads and writes JPEG XL and rasterises
// SVG, so those operations, and only they, are allowed again: librsvg
// runs no scripts, and an SVG loaded from memory has no base URL from which
// to resolve external references. govips exposes neither switch.
func blockUntrustedLoaders() {
	C.vips_block_untrusted_set(C.TRUE)
	for op, blocked := range map[string]bool{
		"VipsForeignLoadMagick": true,
		"VipsForeignLoadJxl":    false,
		"VipsForeignSaveJxl":    false,
		"VipsForeignLoadSvg":    false,
	} {
		name := C.CString(op)
		state := C.gboolean(C.FALSE)
		if blocked {
			state = C.TRUE
		}
		C.vips_operation_block_set(name, state)
		C.free(unsafe.Pointer(name))
	}
}
