package libvips

import (
	"github.com/davidbyttow/govips/v2/vips"

	"imgedge/transform"
)

// ladderScale is the scale of the rung this render can start from: its
// shrink-on-load (JPEG's DCT scaling, WebP's scaled decode), when the edge
// keeps rungs and the render draws pixels (the facts formats describe the
// source as stored). 0: none.
func (j *job) ladderScale() int {
	if j.spec.Ladder == nil || j.opts.shrink < 2 || j.spec.Format.Facts() {
		return 0
	}
	return j.opts.shrink
}

// climb starts the render from the kept rung at the render's scale, and
// reports whether it did; when it did not, keep says whether the ladder
// wants the rung this render decodes.
func climb(j *job, scale int) (climbed, keep bool) {
	rung, keep := j.spec.Ladder.Rung(scale)
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
	j.img, j.fromRung = img, true
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
// from them. An uncompressed TIFF is the rung's form because libvips reads it
// back at memory speed through a loader govips already exposes: variants of
// the 4000x3000 JPEG rendered from its 500x375 rung ran at 4x the rate of
// decoding it at 1/8 each time (bench/RESULTS.md, issue 17).
func keepRung(j *job, scale int) error {
	if int64(j.img.Width())*int64(j.img.Height())*int64(j.img.Bands())*int64(sampleBytes(j.img.BandFormat())) > maxRungBytes {
		return nil // the render goes on from the decode, as without a ladder
	}
	if err := orient(j); err != nil {
		return err
	}
	rung, _, err := j.img.ExportTiff(&vips.TiffExportParams{Compression: vips.TiffCompressionNone, StripMetadata: true, Quality: 100})
	if err != nil {
		return vipsError("decode", err)
	}
	img, err := vips.LoadImageFromBuffer(rung, vips.NewImportParams())
	if err != nil {
		return vipsError("decode", err)
	}
	j.img.Close()
	j.img, j.fromRung = img, true
	j.res.Rung = transform.RungKept
	j.spec.Ladder.Keep(scale, rung)
	return nil
}
