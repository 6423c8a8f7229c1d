package faces

import (
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"strings"
	"testing"
)

// greyOf reads a JPEG as one byte a pixel, at most MaxSide on a side
// (nearest neighbour: enough for a benchmark's input).
func greyOf(t testing.TB, path string) ([]byte, int, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var img image.Image
	if strings.HasSuffix(path, ".png") {
		img, err = png.Decode(f)
	} else {
		img, err = jpeg.Decode(f)
	}
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	s := max(1, (max(b.Dx(), b.Dy())+MaxSide-1)/MaxSide)
	w, h := b.Dx()/s, b.Dy()/s
	grey := make([]byte, w*h)
	for y := range h {
		for x := range w {
			r, g, bl, _ := img.At(b.Min.X+x*s, b.Min.Y+y*s).RGBA()
			grey[y*w+x] = byte((299*r + 587*g + 114*bl) / 1000 >> 8)
		}
	}
	return grey, w, h
}

func newDetector(t testing.TB) *Detector {
	t.Helper()
	d, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDetectRefusesWhatItWasNotPricedFor(t *testing.T) {
	d := newDetector(t)
	for _, tt := range []struct {
		name string
		n    int
		w, h int
	}{
		{"over MaxSide", (MaxSide + 1) * 10, MaxSide + 1, 10},
		{"fewer bytes than pixels", 99, 10, 10},
		{"no pixels", 0, 0, 0},
	} {
		if _, _, err := d.Detect(make([]byte, tt.n), tt.w, tt.h); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func TestDetectFindsTheFaceAndNothingElse(t *testing.T) {
	d := newDetector(t)
	grey, w, h := greyOf(t, "../../testdata/faces/pigo-sample.jpg")
	found, complete, err := d.Detect(grey, w, h)
	if err != nil || !complete {
		t.Fatalf("%v, complete %v", err, complete)
	}
	// testdata/faces/MANIFEST.tsv: the face at 34,81 245x245 of 320x400.
	if len(found) != 1 {
		t.Fatalf("%d faces, want 1: %v", len(found), found)
	}
	f := found[0]
	if cx, cy := f.X+f.W/2, f.Y+f.H/2; cx < 0.4 || cx > 0.5 || cy < 0.45 || cy > 0.55 || f.W < 0.6 || f.W > 0.9 {
		t.Errorf("face %+v, want its middle near (0.49, 0.51) and about 0.77 wide", f)
	}
	flat := make([]byte, 200*150)
	for i := range flat {
		flat[i] = 128
	}
	if found, _, err := d.Detect(flat, 200, 150); err != nil || len(found) != 0 {
		t.Errorf("a flat grey image: %v, %v", found, err)
	}
}

// Windows is the scan the price is per: it grows with the pixels, and an
// image smaller than the smallest face has none.
func TestWindows(t *testing.T) {
	if n := Windows(MinFace-1, 400); n != 0 {
		t.Errorf("an image narrower than MinFace: %d windows", n)
	}
	for _, sz := range [][2]int{{480, 480}, {480, 320}, {200, 200}} {
		n := Windows(sz[0], sz[1])
		if per := float64(n) / float64(sz[0]*sz[1]); per < 0.5 || per > 8 {
			t.Errorf("%dx%d: %d windows, %.2f a pixel", sz[0], sz[1], n, per)
		}
	}
	if Windows(480, 480) <= Windows(480, 320) {
		t.Error("more pixels, no more windows")
	}
}

// tiled is the worst case found for the cascade: a face repeated every 30
// pixels, so every window scores and clusters.
func tiled(face []byte, fw, fh int) []byte {
	out := make([]byte, MaxSide*MaxSide)
	for y := range MaxSide {
		for x := range MaxSide {
			out[y*MaxSide+x] = face[(y%fh)*fw+x%fw]
		}
	}
	return out
}

func BenchmarkDetect(b *testing.B) {
	d := newDetector(b)
	photo, w, h := greyOf(b, "../../testdata/faces/pigo-sample.jpg")
	deep, dw, dh := greyOf(b, "../../testdata/faces/deep-texture-480.png")
	// The face alone, at 30 px: crop the middle and take every eighth pixel.
	face := make([]byte, 30*30)
	for y := range 30 {
		for x := range 30 {
			face[y*30+x] = photo[(90+y*8)*w+40+x*8]
		}
	}
	for _, in := range []struct {
		name string
		grey []byte
		w, h int
	}{
		{"photo-384x480", photo, w, h},
		{"tiled-faces-480x480", tiled(face, 30, 30), MaxSide, MaxSide},
		{"deep-texture-480x480", deep, dw, dh},
	} {
		b.Run(in.name, func(b *testing.B) {
			b.ReportMetric(float64(Windows(in.w, in.h)), "windows")
			for b.Loop() {
				if _, _, err := d.Detect(in.grey, in.w, in.h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A texture built so that every window runs deep (a random search over a
// 24 px tile, to 26.6 trees a window on average: 8 million trees, 300 ms of
// pigo's own scan) stops at MaxTrees, with whatever it found by then, the
// same every time.
func TestDetectStopsAtItsBudget(t *testing.T) {
	d := newDetector(t)
	grey, w, h := greyOf(t, "../../testdata/faces/deep-texture-480.png")
	first, complete, err := d.Detect(grey, w, h)
	if err != nil || complete {
		t.Fatalf("the deep texture: complete %v, %v", complete, err)
	}
	again, _, _ := d.Detect(grey, w, h)
	if len(first) != len(again) {
		t.Fatalf("two searches of one image: %d and %d faces", len(first), len(again))
	}
	for i := range first {
		if first[i] != again[i] {
			t.Fatalf("two searches of one image differ: %v and %v", first[i], again[i])
		}
	}
}
