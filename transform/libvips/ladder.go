package libvips

import (
	"github.com/davidbyttow/govips/v2/vips"

	"imgedge/transform"
)

// ladderScale is the scale of the rung this render can start from, when
// the edge keeps rungs and the render draws pixels (the facts formats
// describe the source as stored) of the first frame (a rung is keyed by
// its scale alone): its shrink-on-load (JPEG's DCT scaling, WebP's scaled
// decode), or for a source without one its prescale, which may be 1, the
// whole decode. 0: none.
func (j *job) ladderScale() int {
	if j.ladder == nil || j.spec.Format.Facts() || j.spec.Frame > 1 {
		return 0
	}
	if j.opts.shrink > 1 {
		return j.opts.shrink
	}
	return j.prescale
}

// prescale is the first reduce for a source that has no shrink-on-load
// (PNG, AVIF, HEIC without a thumbnail that covers the size): the largest
// of 1/8, 1/4, 1/2 that still leaves a reduce of 2x or more to the size,
// the gap libvips' own resize leaves its kernel, else 1 (none). It is the
// scale of the source's rung: at 1 the rung is the whole decode, which
// spares the PNG, AV1 or HEVC decode and changes no pixel. Every render of
// such a source takes the same steps, kept rung or not, so its bytes (and
// strong ETag) never depend on whether a rung existed on that node at that
// moment. A first step closer to the size blurs whatever its filter: at
// 1/2 for kodim07 at 300 px (a 1.28x reduce left) SSIM against one
// Lanczos3 resize was 0.9910 linear, 0.9966 box, 0.9985 Lanczos3, and
// 0.9929-0.9955 with Lanczos3 for kodim04, kodim15 and kodim07 at 250-380
// px (bench/RESULTS.md, "Image quality").
func prescale(ow, oh int, p sizePlan) int {
	return jpegShrink(ow, oh, 2*p.resizeW, 2*p.resizeH)
}

// reduceFirst orients the decoded source and reduces it to 1/prescale with
// Lanczos3: the pixels a rung of this source holds. With the 2x gap left
// after it, SSIM against one Lanczos3 resize was 0.9986-0.9995 on the
// photos as PNG and 0.9980 on the AVIF, where a linear step scored
// 0.9980-0.9995 and a box one (libvips' shrink) 0.9932 on the AVIF, whose
// fine texture it aliases (TestDecodeRoutesKeepDetail).
func reduceFirst(j *job) error {
	if err := orient(j); err != nil {
		return err
	}
	w, h := j.img.Width(), j.img.PageHeight()
	tw, th := max(1, (w+j.prescale/2)/j.prescale), max(1, (h+j.prescale/2)/j.prescale)
	if err := j.img.ResizeWithVScale(float64(tw)/float64(w), float64(th)/float64(h), vips.KernelLanczos3); err != nil {
		return vipsError("resize", err)
	}
	return settle(j)
}

// climb starts the render from the kept rung at the render's scale, and
// reports whether it did; when it did not, keep says whether the ladder
// wants the rung this render decodes.
func climb(j *job, scale int) (climbed, keep bool) {
	rung, keep := j.ladder.Rung(scale)
	if rung == nil {
		return false, keep
	}
	img, err := vips.LoadImageFromBuffer(rung, vips.NewImportParams())
	if err != nil {
		return false, false // never seen: a rung is this code's own TIFF; decode the source
	}
	if j.img != nil {
		j.img.Close()
	}
	j.img, j.oriented = img, true
	j.res.Rung = transform.RungClimbed
	return true, false
}

// maxRungBytes bounds a rung: 8 MiB holds a 2.8 MP RGB rung, which serves
// variants up to about 1,600 px wide (half its size); larger ones would
// crowd the originals tier (128 MiB by default) for few variants, and double
// the decode's memory while they are written.
const maxRungBytes = 8 << 20

// keepRung decodes the loaded source once, oriented and in sRGB, offers
// those pixels to the ladder as the rung at scale, and continues the render
// from them (a prescaled source has been settled already: its rung is the
// TIFF it continues from). An uncompressed TIFF is the rung's form because
// libvips reads it back at memory speed through a loader govips already
// exposes: variants of the 4000x3000 JPEG rendered from its 500x375 rung ran
// at 4x the rate of decoding it at 1/8 each time (bench/RESULTS.md, issue
// 17).
func keepRung(j *job, scale int) error {
	if int64(j.img.Width())*int64(j.img.Height())*int64(j.img.Bands())*int64(sampleBytes(j.img.BandFormat())) > maxRungBytes {
		return nil // the render goes on from the decode, as without a ladder
	}
	if j.settled == nil {
		if err := orient(j); err != nil {
			return err
		}
		if err := settle(j); err != nil {
			return err
		}
	}
	j.res.Rung = transform.RungKept
	j.ladder.Keep(scale, j.settled)
	return nil
}

// settle computes the pixels of the lazy pipeline so far once, as an
// uncompressed TIFF (a rung's form, see keepRung), continues the render
// from them and lets go of everything before them: the decoded source and
// the reduce's buffers. libvips recomputes a lazy reduce for every region a
// later step asks of it, and another reduce, a blur or a quarter turn asks
// for overlapping regions over and over: reduced to 1/8 and then to 64 px
// in one lazy pipeline, a 2500x2500 16-bit PNG took 2.1 s of CPU where
// each reduce alone took 0.45 s and 0.3 s, and trim-shaped 6000x1000 RGBA
// held 55 MiB (libvips' count) against 36 MiB for its decode (the cost
// oracle, oracle_test.go). The pixels are the same; what the TIFF drops is
// metadata the encoders strip, as they do for a rung.
func settle(j *job) error {
	img, tiff, err := drawn(j.img)
	if err != nil {
		return err
	}
	j.img.Close()
	j.img, j.settled = img, tiff
	j.kill.retrack(img)
	return nil
}

// drawn is img's pixels computed once, as an uncompressed TIFF, and an
// image that reads them (settle).
func drawn(img *vips.ImageRef) (*vips.ImageRef, []byte, error) {
	p := vips.NewTiffExportParams()
	// From govips' defaults: a bare TiffExportParams hands libvips tile
	// sizes of 0, out of the properties' range, which GLib logs as two
	// warnings each time (tiling stays off either way).
	p.Compression, p.Predictor, p.StripMetadata, p.Quality = vips.TiffCompressionNone, vips.TiffPredictorNone, true, 100
	tiff, _, err := img.ExportTiff(p)
	if err != nil {
		return nil, nil, vipsError("decode", err)
	}
	out, err := vips.LoadImageFromBuffer(tiff, vips.NewImportParams())
	if err != nil {
		return nil, nil, vipsError("decode", err)
	}
	return out, tiff, nil
}
