package libvips

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"imgedge/transform"
)

// TestOversizeAsksDegrade: a box over an output limit answers the largest
// image of the same shape within it, as imgix does, naming the limit, and
// an explicit AVIF or JPEG XL stays in its format within its own limit.
// Before, imgix's default srcset (to 8192w) on a 1600x1200 source broke
// its entries from 4741w up with 422.
func TestOversizeAsksDegrade(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxOutputPixels, cfg.MaxAVIFPixels, cfg.MaxJXLPixels = 1_000_000, 200_000, 100_000
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	src := readFile(t, filepath.Join(benchImages, "kodim23.png")) // 768x512, 3:2
	for _, tc := range []struct {
		query  string
		format transform.Format
		limit  int64
		shape  float64 // width over height
		clamp  transform.Clamp
	}{
		{"w=600&fm=png", transform.FormatPNG, 1_000_000, 1.5, transform.ClampNone},
		{"w=4000&fm=png", transform.FormatPNG, 1_000_000, 1.5, transform.ClampOutputPixels},
		{"w=3000&h=1000&fit=crop&fm=jpg", transform.FormatJPEG, 1_000_000, 3, transform.ClampOutputPixels},
		{"h=3000&fit=min&fm=webp", transform.FormatWebP, 1_000_000, 1.5, transform.ClampOutputPixels},
		{"w=2000&fm=avif", transform.FormatAVIF, 200_000, 1.5, transform.ClampAVIFPixels},
		// Padding does not shrink: a box at a third of the padding took
		// more rounds than the clamp gave (422 at 8192 with pad=1000).
		{"w=4000&h=4000&fit=fill&pad=300&fm=png", transform.FormatPNG, 1_000_000, 1, transform.ClampOutputPixels},
		{"fm=jxl", transform.FormatJXL, 100_000, 1.5, transform.ClampJXLPixels},
	} {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			res, err := tr.Transform(context.Background(), src, transform.Job{Spec: parse(t, tc.query)})
			if err != nil {
				t.Fatal(err)
			}
			px := int64(res.Width) * int64(res.Height)
			shape := float64(res.Width) / float64(res.Height)
			if res.Format != tc.format || px > tc.limit || math.Abs(shape-tc.shape) > 0.01*tc.shape || res.Clamp != tc.clamp {
				t.Fatalf("%s %dx%d (%d pixels, shape %.3f), clamp %q; want %s within %d pixels, shape %.3f, clamp %q",
					res.Format, res.Width, res.Height, px, shape, res.Clamp.Limit(), tc.format, tc.limit, tc.shape, tc.clamp.Limit())
			}
			if tc.clamp != transform.ClampNone && px < tc.limit*9/10 {
				t.Fatalf("clamped to %dx%d, %d pixels: want the largest within %d", res.Width, res.Height, px, tc.limit)
			}
			if got := decode(t, res.Body).Bounds().Size(); got.X != res.Width || got.Y != res.Height {
				t.Fatalf("the body is %v, the result says %dx%d", got, res.Width, res.Height)
			}
		})
	}
}
