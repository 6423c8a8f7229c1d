package libvips

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/davidbyttow/govips/v2/vips"

	"imgedge/transform"
)

// TestJPEGScansArePriced: a JPEG of several scans is decoded through a
// coefficient buffer of the whole image whatever the shrink, and every scan
// is read over the whole image before the first row: both are priced (a
// 7000x7000 progressive JPEG asked for w=100 held 280 MB against 12.5 MB
// estimated), and a progression past maxJPEGScans is refused before any
// decode (2,647 valid scans of 7000x7000 decoded for 45 s).
func TestJPEGScansArePriced(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	many := readFile(t, filepath.Join("..", "..", "testdata", "corpus", "hostile", "jpeg-2647-scans.jpg"))
	_, err := tr.Transform(context.Background(), many, transform.Job{Spec: parse(t, "w=100&fm=jpg")})
	if !errors.Is(err, transform.ErrTooLarge) || !strings.Contains(err.Error(), "2647 scans") {
		t.Fatalf("2,647 scans: %v, want ErrTooLarge naming them", err)
	}
	// The same as a watermark (a 250-scan mark drew for 5.3 s of CPU).
	_, err = tr.Transform(context.Background(), readFile(t, filepath.Join(benchImages, "kodim23.png")),
		transform.Job{Spec: parse(t, "w=100&mark=/m.jpg"), Mark: many})
	if !errors.Is(err, transform.ErrTooLarge) || !strings.Contains(err.Error(), "mark is a JPEG of 2647 scans") {
		t.Fatalf("2,647 scans as a mark: %v, want ErrTooLarge naming them", err)
	}
	img, err := vips.NewImageFromBuffer(readFile(t, filepath.Join(benchImages, "camera-4000x3000-q90.jpg")))
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	baseline, _, err := img.ExportJpeg(&vips.JpegExportParams{Quality: 80})
	if err != nil {
		t.Fatal(err)
	}
	progressive, _, err := img.ExportJpeg(&vips.JpegExportParams{Quality: 80, Interlace: true})
	if err != nil {
		t.Fatal(err)
	}
	p, ok := transform.ReadJPEGProgression(progressive)
	if !ok || p.Scans < 2 {
		t.Fatalf("libvips' interlaced JPEG reads as %+v, %v", p, ok)
	}
	price := func(src []byte) cost {
		j := newJob(src, transform.Job{Spec: parse(t, "w=100&fm=jpg")}, tr.cfg.Load())
		defer j.close()
		if err := j.admit(); err != nil {
			t.Fatal(err)
		}
		return j.cost
	}
	b, pr := price(baseline), price(progressive)
	if pr.memory-b.memory < p.CoefficientBytes || pr.cpu-b.cpu < time.Duration(p.Scans)*time.Duration(p.MaxBlocks)*jpegScanNanosPerBlock {
		t.Fatalf("progressive priced %d bytes, %v; baseline %d bytes, %v: want the %d-byte coefficient buffer and %d scans more",
			pr.memory, pr.cpu, b.memory, b.cpu, p.CoefficientBytes, p.Scans)
	}
}
