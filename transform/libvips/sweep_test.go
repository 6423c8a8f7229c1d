package libvips

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/davidbyttow/govips/v2/vips"

	"imgedge/transform"
)

// sweepImages are the benchmark photos the quality scale is measured on
// (the screenshot and the two images with alpha are graphics, and
// kodim23-512w-q80.jpg is kodim23 again).
var sweepImages = []string{
	"kodim04.png", "kodim07.png", "kodim15.png", "kodim23.png", "photo-1600x1200-q85.jpg",
	"camera-4000x3000-q90.jpg", "giunchedi-portrait.jpg", "landscape-kayak-unsplash.jpg", "concert.jpg",
}

// sweepImage is one benchmark photo rendered within 600x600 and kept
// uncompressed: what every encode of the sweep starts from, and its luma.
type sweepImage struct {
	name string
	img  *vips.ImageRef
	ref  luma
}

func loadSweepImages(b *testing.B, box string) []sweepImage {
	tr := newTransformer(b)
	var imgs []sweepImage
	for _, name := range sweepImages {
		res, err := tr.Transform(context.Background(), readFile(b, filepath.Join(benchImages, name)), transform.Job{Spec: parse(b, box+"&fit=max&fm=png")})
		if err != nil {
			b.Fatal(err)
		}
		img, err := vips.LoadImageFromBuffer(res.Body, vips.NewImportParams())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(img.Close)
		imgs = append(imgs, sweepImage{name, img, lumaOfPNG(b, res.Body)})
	}
	return imgs
}

// sweepPoint is one encoder setting over every sweep image: mean SSIM on
// luma against the uncompressed image, total bytes, mean encode time.
type sweepPoint struct {
	set   setting
	ssim  float64
	bytes float64
	ms    float64
}

func sweep(b *testing.B, imgs []sweepImage, f transform.Format, set setting, cfg *Config) sweepPoint {
	p := sweepPoint{set: set}
	for _, im := range imgs {
		start := time.Now()
		out, err := encodeNative(im.img, f, set, false, cfg)
		if err != nil {
			b.Fatal(err)
		}
		p.ms += float64(time.Since(start).Microseconds()) / 1000
		dec, err := vips.LoadImageFromBuffer(out, vips.NewImportParams())
		if err != nil {
			b.Fatal(err)
		}
		pngOut, _, err := dec.ExportPng(&vips.PngExportParams{Compression: 0})
		dec.Close()
		if err != nil {
			b.Fatal(err)
		}
		p.ssim += ssim(im.ref, lumaOfPNG(b, pngOut))
		p.bytes += float64(len(out))
	}
	n := float64(len(imgs))
	p.ssim, p.ms = p.ssim/n, p.ms/n
	return p
}

// at interpolates a curve (points in order of rising SSIM) linearly at
// SSIM s: the setting (Q, or JPEG XL's distance) and bytes there; false
// when s is outside the curve.
func at(curve []sweepPoint, s float64) (set float64, bytes float64, ok bool) {
	knob := func(p sweepPoint) float64 {
		if p.set.q != 0 {
			return float64(p.set.q)
		}
		return p.set.distance
	}
	for i := 1; i < len(curve); i++ {
		lo, hi := curve[i-1], curve[i]
		if s >= lo.ssim && s <= hi.ssim {
			t := (s - lo.ssim) / (hi.ssim - lo.ssim)
			return knob(lo) + t*(knob(hi)-knob(lo)), lo.bytes + t*(hi.bytes-lo.bytes), true
		}
	}
	return 0, 0, false
}

// BenchmarkQualitySweep measures each lossy encoder's own setting on the
// benchmark photos within 600x600 (one encode at a time), derives the
// settings that give the SSIM JPEG gives at each q (the table behind
// qualityScale, and the bytes each format saves there), and measures
// AVIF's efforts (transform.avif_effort): bytes and time at the SSIM JPEG
// gives at q 80. See the README, "One quality scale", and
// bench/RESULTS.md, "Image quality". It
// prints tables; run it once:
//
//	go test ./transform/libvips -run XXX -bench QualitySweep -benchtime 1x -v
func BenchmarkQualitySweep(b *testing.B) {
	imgs := loadSweepImages(b, "w=600&h=600")
	cfg := testConfig()
	qs := []setting{}
	for q := 5; q <= 100; q += 5 {
		qs = append(qs, setting{q: q})
	}
	distances := []setting{}
	for _, d := range []float64{15, 12, 10, 8, 7, 6, 5, 4, 3.5, 3, 2.5, 2, 1.75, 1.5, 1.25, 1, 0.75, 0.5, 0.3, 0.1} {
		distances = append(distances, setting{distance: d})
	}
	formats := []struct {
		f   transform.Format
		set []setting
	}{{transform.FormatJPEG, qs}, {transform.FormatWebP, qs}, {transform.FormatAVIF, qs}, {transform.FormatJXL, distances}}
	for b.Loop() {
		var sb strings.Builder
		curves := map[transform.Format][]sweepPoint{}
		for _, f := range formats {
			fmt.Fprintf(&sb, "\n%s: setting, SSIM, bytes, ms\n", f.f)
			for _, set := range f.set {
				p := sweep(b, imgs, f.f, set, &cfg)
				curves[f.f] = append(curves[f.f], p)
				fmt.Fprintf(&sb, "%d %.2f | %.4f | %.0f | %.1f\n", set.q, set.distance, p.ssim, p.bytes, p.ms)
			}
		}
		fmt.Fprintf(&sb, "\nq | SSIM | JPEG bytes | WebP Q, bytes | AVIF Q, bytes | JPEG XL distance, bytes\n")
		for _, jp := range curves[transform.FormatJPEG] {
			fmt.Fprintf(&sb, "%d | %.4f | %.0f", jp.set.q, jp.ssim, jp.bytes)
			for _, f := range []transform.Format{transform.FormatWebP, transform.FormatAVIF, transform.FormatJXL} {
				set, bytes, ok := at(curves[f], jp.ssim)
				if !ok {
					fmt.Fprintf(&sb, " | -")
					continue
				}
				fmt.Fprintf(&sb, " | %.2f, %.0f (%+.0f %%)", set, bytes, 100*(bytes/jp.bytes-1))
			}
			sb.WriteByte('\n')
		}
		var target sweepPoint // JPEG's q 80
		for _, p := range curves[transform.FormatJPEG] {
			if p.set.q == 80 {
				target = p
			}
		}
		fmt.Fprintf(&sb, "\nAVIF effort | Q: SSIM, bytes, ms | at SSIM %.4f (JPEG's q 80): Q, bytes, ms\n", target.ssim)
		for effort := range 7 {
			c := cfg
			c.AVIFEffort = effort
			fmt.Fprintf(&sb, "%d |", effort)
			var curve []sweepPoint
			var ms float64
			for _, q := range []int{50, 65, 80} {
				p := sweep(b, imgs, transform.FormatAVIF, setting{q: q}, &c)
				curve = append(curve, p)
				ms += p.ms / 3
				fmt.Fprintf(&sb, " Q%d %.4f %.0f %.1f |", q, p.ssim, p.bytes, p.ms)
			}
			q, bytes, _ := at(curve, target.ssim)
			fmt.Fprintf(&sb, " %.1f, %.0f, %.1f\n", q, bytes, ms)
		}
		b.Log(sb.String())
	}
}
