package libvips

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"
)

// Decoding at a reduced size (WebP's rescaler, a HEIF's embedded thumbnail)
// and reducing in two steps (sources without shrink-on-load) give the
// picture a whole decode and one Lanczos3 resize give: SSIM against that
// reference, on luma.
func TestScaledDecodesLookLikeWholeOnes(t *testing.T) {
	tr := newTransformer(t)
	photoWebP := webpOf(t, "photo-1600x1200-q85.jpg")
	cases := []struct {
		name, query string
		src         []byte
		by          string
		minSSIM     float64
	}{
		// Measured 0.9974 and 0.9956.
		{"1600x1200 WebP", "w=300&fm=png", photoWebP, "shrink-on-load 1/4", 0.99},
		{"1600x1200 WebP", "w=150&fm=png", photoWebP, "shrink-on-load 1/8", 0.99},
		{"1600x1200 WebP", "w=1000&fm=png", photoWebP, "whole", 1},
		// EXIF orientation 6 survives the scaled decode (measured 0.9898; the
		// picture unturned scores far lower).
		{"WebP, orientation 6", "w=30&fm=png", readFile(t, filepath.Join(corpusDir, "exif-orientation/pillow-hopper_orientation_6.webp")), "shrink-on-load 1/4", 0.97},
		// Measured 0.9955.
		{"HEIC with a 320x212 thumbnail", "w=200&fm=png", readFile(t, filepath.Join(corpusDir, "formats/heic-example.heic")), "embedded thumbnail", 0.99},
		// Without a thumbnail that covers the size, and for PNG: decoded
		// whole, reduced to 1/2, 1/4 or 1/8 (the rung), then to the size
		// (measured 0.9940, 0.9971, 0.9944, 0.9996).
		{"HEIC with a 320x212 thumbnail", "w=400&fm=png", readFile(t, filepath.Join(corpusDir, "formats/heic-example.heic")), "whole", 0.99},
		{"AVIF without a thumbnail", "w=100&fm=png", readFile(t, filepath.Join(corpusDir, "formats/avif-example.avif")), "whole", 0.99},
		{"768x512 PNG", "w=150&fm=png", readFile(t, filepath.Join(benchImages, "kodim23.png")), "whole", 0.99},
		{"768x512 PNG with alpha", "w=90&fm=png", readFile(t, filepath.Join(corpusDir, "formats/png-alpha-blackbug.png")), "whole", 0.99},
	}
	for _, c := range cases {
		t.Run(c.name+"?"+c.query, func(t *testing.T) {
			res, err := tr.Transform(context.Background(), c.src, parse(t, c.query))
			if err != nil {
				t.Fatal(err)
			}
			if res.DecodedBy != c.by {
				t.Fatalf("decoded by %q at %dx%d; want %q", res.DecodedBy, res.DecodedWidth, res.DecodedHeight, c.by)
			}
			got := greyPixels(t, res.Body, 0, 0)
			want := greyPixels(t, c.src, res.Width, res.Height)
			s := ssim(got, want, res.Width, res.Height)
			t.Logf("SSIM %.4f against a whole decode (%dx%d, decoded at %dx%d)", s, res.Width, res.Height, res.DecodedWidth, res.DecodedHeight)
			if s < c.minSSIM {
				t.Errorf("SSIM %.4f against a whole decode; want at least %.2f", s, c.minSSIM)
			}
		})
	}
}

// webpOf is a benchmark image as a WebP (q90), made in memory.
func webpOf(t testing.TB, name string) []byte {
	t.Helper()
	img, err := vips.LoadImageFromBuffer(readFile(t, filepath.Join(benchImages, name)), vips.NewImportParams())
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	b, _, err := img.ExportWebp(&vips.WebpExportParams{Quality: 90, ReductionEffort: 2, StripMetadata: true})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// greyPixels decodes img whole, upright, in sRGB, resized with Lanczos3 to
// w x h when w is not 0, as one luma byte per pixel.
func greyPixels(t *testing.T, img []byte, w, h int) []byte {
	t.Helper()
	ref, err := vips.LoadImageFromBuffer(img, vips.NewImportParams())
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	if err := ref.AutoRotate(); err != nil {
		t.Fatal(err)
	}
	if err := toSRGB(ref); err != nil {
		t.Fatal(err)
	}
	if w != 0 {
		if err := ref.ResizeWithVScale(float64(w)/float64(ref.Width()), float64(h)/float64(ref.Height()), vips.KernelLanczos3); err != nil {
			t.Fatal(err)
		}
	}
	if ref.HasAlpha() {
		if err := ref.Flatten(&vips.Color{R: 255, G: 255, B: 255}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ref.ToColorSpace(vips.InterpretationBW); err != nil {
		t.Fatal(err)
	}
	px, err := ref.ToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return px
}

// ssim is the mean structural similarity (Wang et al. 2004) of two grey
// images, over 8x8 windows every 4 pixels, with the paper's constants.
func ssim(a, b []byte, w, h int) float64 {
	const c1, c2 = (0.01 * 255) * (0.01 * 255), (0.03 * 255) * (0.03 * 255)
	var sum float64
	n := 0
	for y := 0; y+8 <= h; y += 4 {
		for x := 0; x+8 <= w; x += 4 {
			var sa, sb, saa, sbb, sab float64
			for dy := range 8 {
				for dx := range 8 {
					i := (y+dy)*w + x + dx
					va, vb := float64(a[i]), float64(b[i])
					sa, sb, saa, sbb, sab = sa+va, sb+vb, saa+va*va, sbb+vb*vb, sab+va*vb
				}
			}
			ma, mb := sa/64, sb/64
			va, vb, cov := saa/64-ma*ma, sbb/64-mb*mb, sab/64-ma*mb
			sum += (2*ma*mb + c1) * (2*cov + c2) / ((ma*ma + mb*mb + c1) * (va + vb + c2))
			n++
		}
	}
	if n == 0 {
		return 1
	}
	return sum / float64(n)
}
