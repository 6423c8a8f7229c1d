package libvips

import (
	"fmt"

	"github.com/davidbyttow/govips/v2/vips"

	"imgedge/transform"
)

// Encoder efforts, chosen for an edge where a miss is paid while a client
// waits (measured on a 1200x900 image, one core, bench/RESULTS.md): AVIF
// effort 2 of 0..9 (231 ms, where the default 4 took 957 ms for the same
// bytes) and JPEG XL effort 3 of 1..9 (150 ms, where effort 7 took 587 ms
// and made a larger file). WebP's is configured (transform.webp_effort).
const (
	avifEffort = 2
	jxlEffort  = 3
	pngLevel   = 6
	gifEffort  = 7
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
	if (f == transform.FormatJPEG || f == transform.FormatPJPEG) && img.HasAlpha() {
		bg := spec.Background
		if !bg.Set {
			bg = transform.Color{R: 255, G: 255, B: 255}
		}
		if err := img.Flatten(&vips.Color{R: bg.R, G: bg.G, B: bg.B}); err != nil {
			return nil, vipsError("flatten", err)
		}
	}
	var (
		out []byte
		err error
	)
	defaults := cfg.Quality
	if spec.QualitySet == 1 && cfg.FlagQuality != (Quality{}) {
		defaults = cfg.FlagQuality
	}
	switch f {
	case transform.FormatJPEG, transform.FormatPJPEG:
		// Baseline with optimised Huffman tables unless pjpg; libvips' auto
		// subsampling is 4:2:0 below q 90. Progressive costs 0.5-0.9 ms more per
		// 300 px image (measured), so it is only made when asked for.
		out, _, err = img.ExportJpeg(&vips.JpegExportParams{
			StripMetadata:  true,
			Quality:        quality(spec, defaults.JPEG),
			Interlace:      f == transform.FormatPJPEG,
			OptimizeCoding: true,
			SubsampleMode:  vips.VipsForeignSubsampleAuto,
		})
	case transform.FormatPNG:
		out, _, err = img.ExportPng(&vips.PngExportParams{StripMetadata: true, Compression: pngLevel, Filter: vips.PngFilterAll})
	case transform.FormatWebP:
		out, _, err = img.ExportWebp(&vips.WebpExportParams{
			StripMetadata:   true,
			Quality:         quality(spec, defaults.WebP),
			Lossless:        spec.Lossless,
			ReductionEffort: cfg.WebPEffort,
		})
		if err == nil {
			out = stripWebPMetadata(out)
		}
	case transform.FormatAVIF:
		out, _, err = img.ExportAvif(&vips.AvifExportParams{
			StripMetadata: true,
			Quality:       quality(spec, defaults.AVIF),
			Lossless:      spec.Lossless,
			Bitdepth:      8,
			Effort:        avifEffort,
		})
	case transform.FormatJXL:
		// govips always sets distance, and libvips derives distance from Q
		// only when distance is unset: without this every JXL is near
		// lossless. (100-Q)/25 is libvips' own mapping (Q 75 = distance 1).
		q := quality(spec, defaults.JXL)
		out, _, err = img.ExportJxl(&vips.JxlExportParams{
			Quality:  q,
			Distance: float64(100-q) / 25,
			Lossless: spec.Lossless,
			Effort:   jxlEffort,
		})
	case transform.FormatGIF:
		out, _, err = img.ExportGIF(&vips.GifExportParams{StripMetadata: true, Effort: gifEffort, Bitdepth: 8})
	default:
		return nil, fmt.Errorf("encode: %s cannot be produced", f)
	}
	if err != nil {
		return nil, vipsError("encode "+f.String(), err)
	}
	return out, nil
}
