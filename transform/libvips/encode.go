package libvips

import (
	"fmt"

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

// encoderSetting is the encoder's own setting for q (1..100): Q itself,
// and for JPEG XL libvips' own mapping of Q to distance (Q 75 = distance 1).
func encoderSetting(f transform.Format, q int) setting {
	return setting{q: q, distance: float64(100-q) / 25}
}
