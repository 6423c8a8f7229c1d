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
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imgedge/transform"
)

// TestTrimmedIntoTheHeavyLane: a render priced light before trim and
// costly after it joins the heavy lane, and gives its place back at the
// end: with every heavy place taken it is busy. Left in its light slot,
// six at once had held every slot (8000x10 strips trimmed to squares).
func TestTrimmedIntoTheHeavyLane(t *testing.T) {
	t.Parallel()
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

// TestLargeDocumentsReadInTheirLane: an SVG large enough that reading and
// pricing it is work of its own waits for one of half the slots' places
// first; with every such place taken it is busy, while other sources are
// read and rendered as before.
func TestLargeDocumentsReadInTheirLane(t *testing.T) {
	t.Parallel()
	var doc strings.Builder
	doc.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">`)
	for doc.Len() < 300<<10 {
		doc.WriteString(`<path d="M10 10 L90 90 L10 90 Z" fill="#123456"/>`)
	}
	doc.WriteString(`</svg>`)
	big := []byte(doc.String())
	if !readsLong(big) {
		t.Fatalf("a %d-byte SVG does not read long (the test's premise)", len(big))
	}
	cfg := testConfig()
	cfg.QueueTimeout = 50 * time.Millisecond
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	for range cap(tr.reading) {
		tr.reading <- struct{}{}
	}
	_, err = tr.Transform(context.Background(), big, transform.Job{Spec: parse(t, "w=50&fm=png")})
	if !errors.Is(err, transform.ErrBusy) || !strings.Contains(err.Error(), "large document") {
		t.Fatalf("a large SVG with every reading place taken: %v, want busy", err)
	}
	// Its wait is a place in transform.queue: with the queue full, busy at
	// once.
	tr.waiting.Add(int64(cfg.Queue))
	_, err = tr.Transform(context.Background(), big, transform.Job{Spec: parse(t, "w=50&fm=png")})
	tr.waiting.Add(-int64(cfg.Queue))
	if !errors.Is(err, transform.ErrBusy) || !strings.Contains(err.Error(), "transform.queue)") {
		t.Fatalf("a large SVG with the lane and the queue full: %v, want busy for the queue", err)
	}
	if res := render1(t, tr, readFile(t, filepath.Join(benchImages, "hopper.jpg")), "w=50"); res.Width != 50 {
		t.Fatalf("a JPEG beside them: %dx%d", res.Width, res.Height)
	}
	for range cap(tr.reading) {
		<-tr.reading
	}
	if res := render1(t, tr, big, "w=50&fm=png"); res.Width != 50 || len(tr.reading) != 0 {
		t.Fatalf("the large SVG with a place free: %dx%d, %d places still taken", res.Width, res.Height, len(tr.reading))
	}
}
