package libvips

// #cgo pkg-config: vips
// #include <stdlib.h>
// #include <vips/vips.h>
import "C"

import (
	"unsafe"

	"github.com/davidbyttow/govips/v2/vips"
)

// Codec is one format this edge reads or writes, and whether the libvips
// it runs on has the operation for it.
type Codec struct {
	Format    string
	Load      bool // the loader the edge uses exists
	Save      bool // the saver exists ("" formats the edge never writes: false)
	WritesToo bool // the edge writes this format
}

// Codecs reports libvips' version and, for each format the edge accepts,
// whether its loader and saver are present: what `imgedge version` prints,
// so that a libvips built without libheif or libjxl shows before a request
// fails. Startup must have been called: libvips registers its operations
// then.
func Codecs() (version string, codecs []Codec) {
	has := func(op string) bool {
		base, name := C.CString("VipsOperation"), C.CString(op)
		defer C.free(unsafe.Pointer(base))
		defer C.free(unsafe.Pointer(name))
		return C.vips_type_find(base, name) != 0
	}
	for _, c := range []struct {
		format, loader, saver string
	}{
		{"jpeg", "jpegload_buffer", "jpegsave_buffer"},
		{"png", "pngload_buffer", "pngsave_buffer"},
		{"webp", "webpload_buffer", "webpsave_buffer"},
		{"gif", "gifload_buffer", "gifsave_buffer"},
		{"avif/heif", "heifload_buffer", "heifsave_buffer"},
		{"jxl", "jxlload_buffer", "jxlsave_buffer"},
		{"tiff", "tiffload_buffer", ""},
		{"svg", "svgload_buffer", ""},
	} {
		codecs = append(codecs, Codec{Format: c.format, Load: has(c.loader), Save: c.saver != "" && has(c.saver), WritesToo: c.saver != ""})
	}
	return vips.Version, codecs
}
