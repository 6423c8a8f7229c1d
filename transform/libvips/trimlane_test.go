package libvips

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math/rand/v2"
	"strings"
	"testing"

	"imgedge/transform"
)

// TestTrimmedIntoTheHeavyLane: a render priced light before trim and
// costly after it joins the heavy lane, and gives its place back at the
// end: with every heavy place taken it is busy. Left in its light slot,
// six at once had held every slot (8000x10 strips trimmed to squares).
func TestTrimmedIntoTheHeavyLane(t *testing.T) {
	// A white 6000x40 strip with a 40x40 noisy square: a thin strip priced
	// light, trimmed a square resized to a large GIF.
	img := image.NewRGBA(image.Rect(0, 0, 6000, 40))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	r := rand.New(rand.NewPCG(1, 2))
	for y := range 40 {
		for x := 3000; x < 3040; x++ {
			img.Set(x, y, color.RGBA{uint8(r.IntN(200)), uint8(r.IntN(200)), uint8(r.IntN(200)), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	const q = "trim=auto&w=1000&fm=gif"
	cfg := testConfig()
	j := newJob(buf.Bytes(), transform.Job{Spec: parse(t, q)}, &cfg)
	err := j.admit()
	j.close()
	if err != nil || j.cost.heavy() {
		t.Fatalf("%s before trim: %v, priced %v: want light (the test's premise)", q, err, j.cost.cpu)
	}
	tr := newTransformer(t)
	for range cap(tr.heavy) {
		tr.heavy <- struct{}{} // every heavy place taken
	}
	_, err = tr.Transform(context.Background(), buf.Bytes(), transform.Job{Spec: parse(t, q)})
	if !errors.Is(err, transform.ErrBusy) || !strings.Contains(err.Error(), "costly") {
		t.Fatalf("%s with the heavy lane full: %v, want busy for a costly render", q, err)
	}
	for range cap(tr.heavy) {
		<-tr.heavy
	}
	if res := render1(t, tr, buf.Bytes(), q); res.Width != 1000 || res.Height != 1000 {
		t.Fatalf("%s: %dx%d, want 1000x1000", q, res.Width, res.Height)
	}
	// The place is given back as the render ends, after its answer.
	if err := tr.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(tr.heavy); n != 0 {
		t.Fatalf("%d heavy places still taken after the render", n)
	}
}
