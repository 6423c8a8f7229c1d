package libvips

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"
)

const benchImagesShared = "../../../shared/bench-images"

// BenchmarkEncode1200 renders the 1600x1200 photo at 1200 px wide in each
// output format, one transform at a time (one core), to size the encoder
// efforts in encode.go.
func BenchmarkEncode1200(b *testing.B) {
	tr := newTransformer(b)
	src := readFile(b, filepath.Join(benchImagesShared, "photo-1600x1200-q85.jpg"))
	for _, fm := range []string{"jpg", "webp", "avif", "jxl", "png"} {
		b.Run(fm, func(b *testing.B) {
			spec := parse(b, "w=1200&fm="+fm)
			var size int
			for b.Loop() {
				res, err := tr.Transform(context.Background(), src, spec)
				if err != nil {
					b.Fatal(err)
				}
				size = len(res.Body)
			}
			b.ReportMetric(float64(size), "bytes/op")
		})
	}
}

// BenchmarkMissPipeline is the miss path's transform (1600x1200 JPEG to a 300
// px WebP q80) through the Transformer, beside the same work in bare govips
// calls, the floor it is measured against.
func BenchmarkMissPipeline(b *testing.B) {
	src := readFile(b, filepath.Join(benchImagesShared, "photo-1600x1200-q85.jpg"))
	b.Run("transformer", func(b *testing.B) {
		tr := newTransformer(b)
		spec := parse(b, "w=300&fm=webp&q=80")
		b.SetBytes(int64(len(src)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := tr.Transform(context.Background(), src, spec); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("bare-govips", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				p := vips.NewImportParams()
				p.JpegShrinkFactor.Set(4)
				img, err := vips.LoadImageFromBuffer(src, p)
				if err != nil {
					b.Error(err)
					return
				}
				if err := img.Resize(300.0/float64(img.Width()), vips.KernelLanczos3); err != nil {
					b.Error(err)
					return
				}
				if _, _, err := img.ExportWebp(&vips.WebpExportParams{Quality: 80, ReductionEffort: 4, StripMetadata: true}); err != nil {
					b.Error(err)
					return
				}
				img.Close()
			}
		})
	})
}
