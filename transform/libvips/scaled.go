package libvips

// #cgo pkg-config: vips
// #include <stdlib.h>
// #include <vips/vips.h>
//
// // webp_scaled_tiff decodes a WebP at scale through libwebp's own rescaler
// // (webpload's scale, which govips does not expose) and writes the pixels,
// // with their orientation and colour profile, as an uncompressed TIFF.
// static int webp_scaled_tiff(const void *buf, size_t len, double scale, void **out, size_t *outlen) {
//   VipsImage *img;
//   if (vips_webpload_buffer((void *) buf, len, &img, "scale", scale, NULL))
//     return -1;
//   int r = vips_tiffsave_buffer(img, out, outlen, "compression", VIPS_FOREIGN_TIFF_COMPRESSION_NONE, NULL);
//   g_object_unref(img);
//   return r;
// }
import "C"

import (
	"math"
	"strings"
	"unsafe"

	"github.com/davidbyttow/govips/v2/vips"

	"imgedge/transform"
)

// loadWebPScaled decodes a still WebP at 1/shrink of its size. libwebp
// scales each row as it decodes, so the full-size pixels are never held and
// the resize after it has a fraction of the work: a 4000x3000 WebP to 300 px
// took 133 ms where a whole decode and one Lanczos3 resize took 442 ms
// (bench/RESULTS.md, issue 17). The decode runs to its end in one call,
// outside the kill switch; limits.max_source_pixels bounds it.
func loadWebPScaled(src []byte, shrink int) (*vips.ImageRef, error) {
	var out unsafe.Pointer
	var n C.size_t
	if C.webp_scaled_tiff(unsafe.Pointer(unsafe.SliceData(src)), C.size_t(len(src)), C.double(1/float64(shrink)), &out, &n) != 0 {
		msg := strings.TrimSpace(C.GoString(C.vips_error_buffer()))
		C.vips_error_clear()
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		return nil, &transform.LibraryError{Stage: "load", Detail: msg}
	}
	// govips keeps the buffer it loads from: it has to be Go memory.
	tiff := C.GoBytes(out, C.int(n))
	C.g_free(C.gpointer(out))
	img, err := vips.LoadImageFromBuffer(tiff, vips.NewImportParams())
	if err != nil {
		return nil, vipsError("load", err)
	}
	return img, nil
}

// thumbnailCovers reports whether a HEIF's embedded thumbnail (phones
// store one, 320 px or so) has the source's shape and at least the size the
// render resizes to; libheif decodes it for a fraction of the primary
// image's cost. turned says the plan's sizes are a quarter turn from the
// stored ones.
func thumbnailCovers(j *job, turned bool) bool {
	p := vips.NewImportParams()
	p.FailOnError.Set(false)
	p.HeifThumbnail.Set(true)
	t, err := vips.LoadImageFromBuffer(j.src, p)
	if err != nil {
		return false // the primary image is decoded, as without a thumbnail
	}
	defer t.Close()
	tw, th := t.Width(), t.Height()
	if tw >= j.sw || th < 1 || math.Abs(float64(tw)/float64(th)-float64(j.sw)/float64(j.sh)) > 0.02 {
		return false // no thumbnail (heifload gave the primary image), or another shape
	}
	needW, needH := j.plan.resizeW, j.plan.resizeH
	if turned {
		needW, needH = needH, needW
	}
	return tw >= needW && th >= needH
}
