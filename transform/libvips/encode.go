package libvips

import (
	"fmt"
	"math"

	"github.com/davidbyttow/govips/v2/vips"

	"imgedge/transform"
)

// Encoder efforts, chosen for an edge where a miss is paid while a client
// waits (measured on a 1200x900 image, one core, bench/RESULTS.md): JPEG XL
// effort 3 of 1..9 (150 ms, where effort 7 took 587 ms and made a larger
// file). WebP's and AVIF's are configured (transform.webp_effort,
// transform.avif_effort).
const (
	jxlEffort = 3
	pngLevel  = 6
	gifEffort = 7
)

// quality is the requested q, else the configured default, lowered by a
// quarter under auto=compress.
func quality(spec transform.Spec, def int) int {
	if spec.Quality != 0 {
		return spec.Quality
	}
	if spec.AutoCompress {
		return max(1, def*3/4)
	}
	return def
}

func encode(img *vips.ImageRef, f transform.Format, spec transform.Spec, cfg *Config) ([]byte, error) {
	if !f.Encodable() {
		return nil, fmt.Errorf("encode: %s cannot be produced", f)
	}
	if (f == transform.FormatJPEG || f == transform.FormatPJPEG) && img.HasAlpha() {
		bg := spec.Background
		if !bg.Set {
			bg = transform.Color{R: 255, G: 255, B: 255}
		}
		if err := img.Flatten(&vips.Color{R: bg.R, G: bg.G, B: bg.B}); err != nil {
			return nil, vipsError("flatten", err)
		}
	}
	defaults := cfg.Quality
	if spec.QualitySet == 1 && cfg.FlagQuality != (Quality{}) {
		defaults = cfg.FlagQuality
	}
	var q int
	switch f {
	case transform.FormatJPEG, transform.FormatPJPEG:
		q = quality(spec, defaults.JPEG)
	case transform.FormatWebP:
		q = quality(spec, defaults.WebP)
	case transform.FormatAVIF:
		q = quality(spec, defaults.AVIF)
	case transform.FormatJXL:
		q = quality(spec, defaults.JXL)
	}
	out, err := encodeNative(img, f, encoderSetting(f, q), spec.Lossless, cfg)
	if err != nil {
		return nil, vipsError("encode "+f.String(), err)
	}
	return out, nil
}

// setting is an encoder's own quality knob: Q (1..100) for JPEG, WebP and
// AVIF; JPEG XL's Butteraugli distance (0 mathematically lossless, 1
// visually lossless, larger is coarser).
type setting struct {
	q        int
	distance float64
}

// encodeNative encodes img as f (one that Encodable) at the encoder's own
// setting.
func encodeNative(img *vips.ImageRef, f transform.Format, set setting, lossless bool, cfg *Config) (out []byte, err error) {
	switch f {
	case transform.FormatJPEG, transform.FormatPJPEG:
		// Baseline with optimised Huffman tables unless pjpg; libvips' auto
		// subsampling is 4:2:0 below q 90. Progressive costs 0.5-0.9 ms more per
		// 300 px image (measured), so it is only made when asked for.
		out, _, err = img.ExportJpeg(&vips.JpegExportParams{
			StripMetadata:  true,
			Quality:        set.q,
			Interlace:      f == transform.FormatPJPEG,
			OptimizeCoding: true,
			SubsampleMode:  vips.VipsForeignSubsampleAuto,
		})
	case transform.FormatPNG:
		out, _, err = img.ExportPng(&vips.PngExportParams{StripMetadata: true, Compression: pngLevel, Filter: vips.PngFilterAll})
	case transform.FormatWebP:
		out, _, err = img.ExportWebp(&vips.WebpExportParams{
			StripMetadata:   true,
			Quality:         set.q,
			Lossless:        lossless,
			ReductionEffort: cfg.WebPEffort,
		})
		if err == nil {
			out = stripWebPMetadata(out)
		}
	case transform.FormatAVIF:
		out, _, err = img.ExportAvif(&vips.AvifExportParams{
			StripMetadata: true,
			Quality:       set.q,
			Lossless:      lossless,
			Bitdepth:      8,
			Effort:        cfg.AVIFEffort,
		})
	case transform.FormatJXL:
		// govips passes distance, never Q, to libvips.
		out, _, err = img.ExportJxl(&vips.JxlExportParams{
			Distance: set.distance,
			Lossless: lossless,
			Effort:   jxlEffort,
		})
	default:
		out, _, err = img.ExportGIF(&vips.GifExportParams{StripMetadata: true, Effort: gifEffort, Bitdepth: 8})
	}
	return out, err
}

// qualityScale puts q on one scale for every lossy format: JPEG's. At each
// q here, WebP's Q, AVIF's Q and JPEG XL's distance give the mean SSIM on
// luma that libjpeg gives at that q, measured on the benchmark photos
// within 600x600 (BenchmarkQualitySweep, run at WebP effort 4, AVIF effort
// 2, JPEG XL effort 3; the README's "One quality scale" has the SSIM and
// the bytes). Between two rows the settings are interpolated linearly.
// At the ends the formats part: WebP's Q 5 already scores above JPEG's
// q 10 (0.8223 against 0.8047), and its Q 100 below JPEG's q 100 (0.9951
// against 0.9987), so there each takes the end of its own range (q 1:
// distance 25, libjxl's largest; q 100: distance 0.1, where JPEG's 0.9987
// fell at 0.12).
var qualityScale = [...]struct {
	q, webp, avif int
	jxl           float64 // Butteraugli distance
}{
	{1, 1, 1, 25},
	{10, 1, 19, 14.35},
	{15, 8, 24, 10.76},
	{20, 17, 32, 7.5},
	{25, 23, 36, 5.97},
	{30, 28, 39, 5.45},
	{35, 32, 41, 5.08},
	{40, 35, 42, 4.77},
	{45, 41, 45, 3.92},
	{50, 45, 46, 3.75},
	{55, 49, 48, 3.61},
	{60, 55, 50, 3.26},
	{65, 64, 53, 2.73},
	{70, 68, 54, 2.58},
	{75, 77, 58, 2.06},
	{80, 81, 63, 1.71},
	{85, 84, 69, 1.37},
	{90, 89, 80, 0.94},
	{95, 95, 88, 0.53},
	{100, 100, 100, 0.1},
}

// encoderSetting is the encoder's own setting for q (1..100) on the one
// scale: JPEG takes q as it is.
func encoderSetting(f transform.Format, q int) setting {
	q = min(max(q, 1), 100)
	if f == transform.FormatJPEG || f == transform.FormatPJPEG {
		return setting{q: q}
	}
	i := 1
	for qualityScale[i].q < q {
		i++
	}
	lo, hi := qualityScale[i-1], qualityScale[i]
	t := float64(q-lo.q) / float64(hi.q-lo.q)
	lerp := func(a, b float64) float64 { return a + t*(b-a) }
	switch f {
	case transform.FormatWebP:
		return setting{q: int(math.Round(lerp(float64(lo.webp), float64(hi.webp))))}
	case transform.FormatAVIF:
		return setting{q: int(math.Round(lerp(float64(lo.avif), float64(hi.avif))))}
	case transform.FormatJXL:
		return setting{distance: math.Round(lerp(lo.jxl, hi.jxl)*100) / 100}
	}
	return setting{q: q}
}
