package libvips

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"

	"imgedge/transform"
)

// BenchmarkEncode1200 renders the 1600x1200 photo at 1200 px wide in each
// output format, one transform at a time (one core), to size the encoder
// efforts in encode.go.
func BenchmarkEncode1200(b *testing.B) {
	tr := newTransformer(b)
	src := readFile(b, filepath.Join(benchImages, "photo-1600x1200-q85.jpg"))
	for _, fm := range []string{"jpg", "webp", "avif", "jxl", "png"} {
		b.Run(fm, func(b *testing.B) {
			spec := parse(b, "w=1200&fm="+fm)
			var size int
			for b.Loop() {
				res, err := tr.Transform(context.Background(), src, transform.Job{Spec: spec})
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
	src := readFile(b, filepath.Join(benchImages, "photo-1600x1200-q85.jpg"))
	b.Run("transformer", func(b *testing.B) {
		tr := newTransformer(b)
		spec := parse(b, "w=300&fm=webp&q=80")
		b.SetBytes(int64(len(src)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := tr.Transform(context.Background(), src, transform.Job{Spec: spec}); err != nil {
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

// BenchmarkSrcsetPNG is a srcset of one 768x512 PNG through a ladder, two
// at a time: widths 150..384 to WebP at q 70..90, each a new variant, the
// rungs kept by the first renders. Run with a fixed count to compare CPU
// time (bench/RESULTS.md, "Image quality"):
//
//	/usr/bin/time go test ./transform/libvips -run XXX -bench SrcsetPNG -benchtime 400x -cpu 2
func BenchmarkSrcsetPNG(b *testing.B) {
	tr := newTransformer(b)
	src := readFile(b, filepath.Join(benchImages, "kodim23.png"))
	ladder := &mapLadder{}
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			spec := parse(b, fmt.Sprintf("w=%d&q=%d&fm=webp", 150+i*37%235, 70+i%21))
			if _, err := tr.Transform(context.Background(), src, transform.Job{Spec: spec, Ladder: ladder}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// floorOp is one bare-govips rendition of a benchmarked path: the least
// work libvips must do for it.
type floorOp func(src []byte) error

func bareResize(shrink int, width float64, all bool, export func(*vips.ImageRef) error) floorOp {
	return func(src []byte) error {
		p := vips.NewImportParams()
		if shrink > 1 {
			p.JpegShrinkFactor.Set(shrink)
		}
		if all {
			p.NumPages.Set(-1)
		}
		img, err := vips.LoadImageFromBuffer(src, p)
		if err != nil {
			return err
		}
		defer img.Close()
		if err := img.Resize(width/float64(img.Width()), vips.KernelLanczos3); err != nil {
			return err
		}
		return export(img)
	}
}

// BenchmarkPaths runs the main transform paths through the Transformer and,
// beside each, the same work in bare govips calls: the floor the pipeline is
// held to (within 10 %, bench/RESULTS.md). One transform at a time.
func BenchmarkPaths(b *testing.B) {
	image := func(name string) []byte { return readFile(b, filepath.Join(benchImages, name)) }
	paths := []struct {
		name, query string
		src         []byte
		floor       floorOp
	}{
		{"jpeg4000-to-jpeg300", "w=300&fm=jpg", image("camera-4000x3000-q90.jpg"),
			bareResize(8, 300, false, func(img *vips.ImageRef) error {
				_, _, err := img.ExportJpeg(&vips.JpegExportParams{Quality: 80, OptimizeCoding: true, StripMetadata: true, SubsampleMode: vips.VipsForeignSubsampleAuto})
				return err
			})},
		{"png-to-webp300", "w=300&fm=webp", image("kodim23.png"),
			bareResize(1, 300, false, func(img *vips.ImageRef) error {
				_, _, err := img.ExportWebp(&vips.WebpExportParams{Quality: 80, ReductionEffort: 4, StripMetadata: true})
				return err
			})},
		{"jpeg1600-to-avif300", "w=300&fm=avif", image("photo-1600x1200-q85.jpg"),
			bareResize(4, 300, false, func(img *vips.ImageRef) error {
				_, _, err := img.ExportAvif(&vips.AvifExportParams{Quality: 60, Effort: 2, Bitdepth: 8, StripMetadata: true})
				return err
			})},
		// A WebP source: libwebp's scaled decode against a whole decode
		// and one resize.
		{"webp4000-to-webp300", "w=300&fm=webp", webpOf(b, "camera-4000x3000-q90.jpg"),
			bareResize(1, 300, false, func(img *vips.ImageRef) error {
				_, _, err := img.ExportWebp(&vips.WebpExportParams{Quality: 80, ReductionEffort: 4, StripMetadata: true})
				return err
			})},
		{"gif-anim-to-webp40", "w=40&fm=webp", readFile(b, filepath.Join(corpusDir, "formats/gif-animated-rotating-squares.gif")),
			bareResize(1, 40, true, func(img *vips.ImageRef) error {
				_, _, err := img.ExportWebp(&vips.WebpExportParams{Quality: 80, ReductionEffort: 4, StripMetadata: true})
				return err
			})},
	}
	for _, p := range paths {
		b.Run(p.name+"/imgedge", func(b *testing.B) {
			tr := newTransformer(b)
			spec := parse(b, p.query)
			for b.Loop() {
				if _, err := tr.Transform(context.Background(), p.src, transform.Job{Spec: spec}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(p.name+"/bare-govips", func(b *testing.B) {
			for b.Loop() {
				if err := p.floor(p.src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
