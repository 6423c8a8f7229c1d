package libvips

// #cgo pkg-config: vips
// #include <stdlib.h>
// #include <vips/vips.h>
//
// // header_from_buffer is libvips' own sniff and header load, without govips.
// static VipsImage *header_from_buffer(const void *buf, size_t len) {
//   return vips_image_new_from_buffer(buf, len, "", NULL);
// }
import "C"

import (
	"errors"
	"strings"
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

// libvipsReads is what libvips makes of b on its own, without govips in
// between: the loader its magic-byte search picks among those allowed (the
// untrusted ones are blocked at Startup), with heifload the compression
// ("av1", "hevc"), or why no header loads. TestSniffAgreesWithLibvips holds
// transform.Sniff, the edge's one sniffer, to it.
func libvipsReads(b []byte) (loader, compression string, err error) {
	if len(b) == 0 {
		return "", "", errors.New("no bytes")
	}
	// C memory: the image keeps pointing into the buffer after the call.
	p, n := C.CBytes(b), C.size_t(len(b))
	defer C.free(p)
	if name := C.vips_foreign_find_load_buffer(p, n); name != nil {
		loader = C.GoString(name)
	}
	img := C.header_from_buffer(p, n)
	if img == nil {
		msg := strings.TrimSpace(C.GoString(C.vips_error_buffer()))
		C.vips_error_clear()
		return loader, "", errors.New(msg)
	}
	defer C.g_object_unref(C.gpointer(img))
	field := C.CString("heif-compression")
	defer C.free(unsafe.Pointer(field))
	var s *C.char
	if C.vips_image_get_typeof(img, field) != 0 && C.vips_image_get_string(img, field, &s) == 0 {
		compression = C.GoString(s)
	}
	return loader, compression, nil
}
