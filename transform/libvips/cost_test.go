package libvips

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/png"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/davidbyttow/govips/v2/vips"

	"imgedge/transform"
)

// pricedJob is a job as plan leaves it, for a source of sw x sh pixels in
// format src with the given frames, without libvips.
func pricedJob(t *testing.T, cfg *Config, src transform.Format, sw, sh, frames int, query string) (cost, error) {
	t.Helper()
	spec := parse(t, query)
	if spec.AutoFormat {
		spec.Accepted = transform.AcceptAVIF | transform.AcceptWebP // a current browser
	}
	j := &job{spec: spec, cfg: cfg, srcFmt: src, sw: sw, sh: sh, pages: frames}
	j.animated = frames > 1 && animates(spec, src)
	j.plan = planSize(spec, sw, sh, cfg.MaxDimension, cfg.MaxUpscale)
	j.opts = loadOptions{all: j.animated}
	if src == transform.FormatJPEG || src == transform.FormatWebP && frames == 1 {
		j.opts.shrink = jpegShrink(sw, sh, j.plan.resizeW, j.plan.resizeH)
	}
	format, _ := chooseFormat(spec, src, false, j.animated, j.plan.boxW*j.plan.boxH, cfg)
	c := estimate(j, format)
	return c, c.check(cfg)
}

// TestCostLimits: every request the hostile probe used is refused from the
// header and the plan, naming the limit; ordinary requests pass.
func TestCostLimits(t *testing.T) {
	cfg := testConfig()
	cases := []struct {
		name          string
		src           transform.Format
		sw, sh, pages int
		query         string
		limit         string // "" when the request must pass
	}{
		{"avif stretched to 8192 square", transform.FormatPNG, 768, 512, 1, "w=8192&h=8192&fit=scale&fm=avif", "limits.max_output_pixels"},
		{"jxl stretched to 8192 square", transform.FormatPNG, 768, 512, 1, "w=8192&h=8192&fit=scale&fm=jxl", "limits.max_output_pixels"},
		{"blur 2000 at 8192 square", transform.FormatPNG, 768, 512, 1, "w=8192&h=8192&fit=scale&blur=2000&fm=jpg", "limits.max_output_pixels"},
		{"clip enlarges to 8192 wide", transform.FormatPNG, 768, 512, 1, "w=8192", "limits.max_output_pixels"},
		{"30 frames at 8192 wide", transform.FormatGIF, 100, 100, 30, "w=8192", "limits.max_output_pixels"},
		{"30 frames at 1400 wide", transform.FormatGIF, 100, 100, 30, "w=1400", "limits.max_output_frames_pixels"},
		{"30 frames, one asked for", transform.FormatGIF, 100, 100, 30, "w=1400&frame=1", ""},
		{"avif at 3000 square", transform.FormatJPEG, 4000, 3000, 1, "w=3000&h=3000&fit=crop&fm=avif", "limits.max_avif_pixels"},
		{"jxl at 3000 square", transform.FormatJPEG, 4000, 3000, 1, "w=3000&h=3000&fit=crop&fm=jxl", "limits.max_jxl_pixels"},
		{"auto=format falls back from avif", transform.FormatJPEG, 4000, 3000, 1, "w=3000&h=3000&fit=crop&auto=format", ""},
		{"blur 2000 at 4000 wide", transform.FormatJPEG, 4000, 3000, 1, "w=4000&blur=2000", "pixels x sigma"},
		{"blur 2000 at 1200 wide", transform.FormatJPEG, 4000, 3000, 1, "w=1200&blur=2000", ""},
		{"usmrad 100 at 4000 wide", transform.FormatJPEG, 4000, 3000, 1, "w=4000&usm=10&usmrad=100", "pixels x sigma"},
		{"usmrad 100 and blur 2000 at 1200 wide", transform.FormatJPEG, 4000, 3000, 1, "w=1200&blur=2000&usm=10&usmrad=100", "pixels x sigma"},
		{"usmrad 100 at 1200 wide", transform.FormatJPEG, 4000, 3000, 1, "w=1200&usm=10&usmrad=100", ""},
		{"a 300 px webp", transform.FormatJPEG, 4000, 3000, 1, "w=300&fm=webp", ""},
		{"the 4000x3000 source as is", transform.FormatJPEG, 4000, 3000, 1, "", ""},
		{"stretch clamped to the source", transform.FormatPNG, 768, 512, 1, "w=2000&h=2000&fit=scale", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := pricedJob(t, &cfg, c.src, c.sw, c.sh, c.pages, c.query)
			switch {
			case c.limit == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.limit != "" && (!errors.Is(err, transform.ErrTooLarge) || !strings.Contains(err.Error(), c.limit)):
				t.Fatalf("err = %v, want ErrTooLarge naming %s", err, c.limit)
			}
		})
	}
}

// TestStretchNeverEnlarges: fit=scale keeps each axis within
// limits.max_upscale of the source.
func TestStretchNeverEnlarges(t *testing.T) {
	for _, tt := range []struct {
		upscale      float64
		q            string
		wantW, wantH int
	}{
		{1, "w=2000&h=2000&fit=scale", 768, 512},
		{1, "w=300&h=2000&fit=scale", 300, 512},
		{2, "w=2000&h=2000&fit=scale", 1536, 1024},
		{1, "w=300&h=100&fit=scale", 300, 100},
	} {
		p := planSize(parse(t, tt.q), 768, 512, 8192, tt.upscale)
		if p.resizeW != tt.wantW || p.resizeH != tt.wantH {
			t.Errorf("upscale %g, %s: %dx%d, want %dx%d", tt.upscale, tt.q, p.resizeW, p.resizeH, tt.wantW, tt.wantH)
		}
	}
}

// TestMemoryEstimate: the estimate grows with what the render holds, and a
// render over the budget is refused rather than queued forever.
func TestMemoryEstimate(t *testing.T) {
	cfg := testConfig()
	small, _ := pricedJob(t, &cfg, transform.FormatJPEG, 4000, 3000, 1, "w=300&fm=webp")
	jpeg, _ := pricedJob(t, &cfg, transform.FormatJPEG, 4000, 3000, 1, "w=2000&fm=jpg")
	avif, _ := pricedJob(t, &cfg, transform.FormatJPEG, 4000, 3000, 1, "w=2000&fm=avif")
	png, _ := pricedJob(t, &cfg, transform.FormatPNG, 4000, 3000, 1, "w=2000&fm=jpg")
	if !(small.memory < jpeg.memory && jpeg.memory < avif.memory && jpeg.memory < png.memory) {
		t.Fatalf("estimates: 300 px webp %d, 2000 px jpeg %d, avif %d, from png %d", small.memory, jpeg.memory, avif.memory, png.memory)
	}
	// A WebP decoded at 1/2 also holds its TIFF hand-over twice; a JPEG at
	// 1/2 does not.
	if webp, _ := pricedJob(t, &cfg, transform.FormatWebP, 4000, 3000, 1, "w=2000&fm=jpg"); webp.memory < jpeg.memory+2*2000*1500*4 {
		t.Fatalf("estimates: 2000 px from a webp %d, from a jpeg %d: the scaled decode's copies are not priced", webp.memory, jpeg.memory)
	}
	cfg.MemoryBudget = avif.memory - 1
	if _, err := pricedJob(t, &cfg, transform.FormatJPEG, 4000, 3000, 1, "w=2000&fm=avif"); err == nil || !strings.Contains(err.Error(), "transform.memory_budget") {
		t.Fatalf("a render above the whole budget: %v", err)
	}
}

// TestHeavyRenders: what takes far longer than a typical miss is heavy, and
// heavy renders get at most half the slots: with them all taken, small
// renders are still admitted.
func TestHeavyRenders(t *testing.T) {
	cfg := testConfig()
	for q, heavy := range map[string]bool{
		"w=300&fm=webp": false, "w=1200&fm=jpg": false,
		"w=4000&blur=266&fm=jpg": true, "w=2800&h=2800&fit=crop&fm=avif": true, "w=2800&fm=jxl": true,
	} {
		c, err := pricedJob(t, &cfg, transform.FormatJPEG, 4000, 3000, 1, q)
		if err != nil || c.heavy() != heavy {
			t.Errorf("%s: heavy = %v (cpu %s), %v; want %v", q, c.heavy(), c.cpu, err, heavy)
		}
	}
	// AVIF's encode time grows with its effort: a 600 px AVIF is a
	// typical miss at effort 2 and a heavy one at effort 4.
	for effort, heavy := range map[int]bool{2: false, 4: true} {
		c := cfg
		c.AVIFEffort = effort
		if p, err := pricedJob(t, &c, transform.FormatJPEG, 4000, 3000, 1, "w=600&fm=avif"); err != nil || p.heavy() != heavy {
			t.Errorf("600 px AVIF at effort %d: heavy = %v (cpu %s), %v; want %v", effort, p.heavy(), p.cpu, err, heavy)
		}
	}
	cfg.Concurrency, cfg.Queue, cfg.QueueTimeout = 4, 8, 20*time.Millisecond
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 2 {
		if err := tr.acquire(ctx, &cfg, 1<<20, true); err != nil {
			t.Fatalf("heavy render %d: %v", i+1, err)
		}
	}
	if err := tr.acquire(ctx, &cfg, 1<<20, true); !errors.Is(err, transform.ErrBusy) {
		t.Fatalf("a third heavy render with four slots: %v, want ErrBusy", err)
	}
	for i := range 2 {
		if err := tr.acquire(ctx, &cfg, 1<<20, false); err != nil {
			t.Fatalf("small render %d beside two heavy ones: %v", i+1, err)
		}
	}
	if len(tr.heavy) != 2 || len(tr.slots) != 4 || tr.Queued() != 0 {
		t.Fatalf("heavy places %d, slots %d, queued %d", len(tr.heavy), len(tr.slots), tr.Queued())
	}
}

// TestTrimIsPricedAgain: trim learns the image's bounds from its pixels, so
// the plan it makes is priced and checked against every limit before a
// pixel of it is allocated. An 8192x1000 PNG with a white border around a
// square, asked for w=7900, had rendered 7900x7900: 62 MP against
// limits.max_output_pixels (16 MP); here a 4096x500 one asked for w=4100.
func TestTrimIsPricedAgain(t *testing.T) {
	t.Parallel()
	img := image.NewRGBA(image.Rect(0, 0, 4096, 500))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(2000, 200, 2100, 300), image.Black, image.Point{}, draw.Src)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	tr := newTransformer(t)
	cfg := testConfig()
	for _, q := range []string{"trim=auto&w=4100&fm=png", "trim=auto&w=4100&fm=jxl", "trim=auto&w=1500&fm=png"} {
		res, err := tr.Transform(context.Background(), buf.Bytes(), transform.Job{Spec: parse(t, q)})
		if err != nil {
			if !errors.Is(err, transform.ErrTooLarge) {
				t.Errorf("%s: %v, want a limit named", q, err)
			}
			continue
		}
		w, h := res.Width, res.Height
		if int64(w)*int64(h) > cfg.MaxOutputPixels {
			t.Errorf("%s: rendered %dx%d, %d pixels past limits.max_output_pixels", q, w, h, int64(w)*int64(h)-cfg.MaxOutputPixels)
		}
	}
	if res := render1(t, tr, buf.Bytes(), "trim=auto&w=1500&fm=png"); res.Width != 1500 || res.Height != 1500 {
		t.Errorf("a trimmed render within the limits: %dx%d, want 1500x1500", res.Width, res.Height)
	}
}

// TestHashBox: fm=blurhash processes the image at about the size of the
// thumbnail its hash is computed from, with what scales with the box, so
// that its price is the hash's: w=4000&h=4000&fit=crop&fm=blurhash&sharp=100
// had run 12.5 s of CPU, priced as an ordinary render.
func TestHashBox(t *testing.T) {
	cfg := testConfig()
	for _, tt := range []struct {
		query string
		w, h  int
		blur  int
	}{
		{"w=4000&h=4000&fit=crop&fm=blurhash&sharp=100", 64, 64, 0},
		{"w=4000&h=1000&fm=blurhash&blur=400", 64, 16, 6},
		{"fm=blurhash", 64, 64, 0},
		{"w=32&fm=blurhash", 32, 0, 0},
		// No box: what scales with it scales from the 2048x1536 source's
		// size and its padding, 4048 wide (pad=1000 had made a 2064x2011
		// image to hash).
		{"fm=blurhash&blur=400&pad=1000", 64, 64, 6},
	} {
		s := parse(t, tt.query)
		hashBox(&s, 2048, 1536)
		if s.Width != tt.w || s.Height != tt.h || s.Blur != tt.blur {
			t.Errorf("%s: box %dx%d blur %d, want %dx%d blur %d", tt.query, s.Width, s.Height, s.Blur, tt.w, tt.h, tt.blur)
		}
		if p := parse(t, tt.query).Pad[0]; p != 0 && s.Pad[0] > p*64/2048+1 {
			t.Errorf("%s: pad %d, want it scaled as the box is", tt.query, s.Pad[0])
		}
	}
	// Priced at that box, the worst one costs what a 64 px thumbnail of the
	// same source, sharpened alike, does (decoding the source is the bulk
	// of both), and holds no more besides than the settled copies of the
	// 64 px image it hashes.
	priced := func(query string, format transform.Format) cost {
		s := parse(t, query)
		if format == transform.FormatBlurHash {
			hashBox(&s, 6000, 4000)
		}
		j := &job{spec: s, cfg: &cfg, srcFmt: transform.FormatPNG, sw: 6000, sh: 4000, pages: 1}
		j.plan = planSize(s, j.sw, j.sh, cfg.MaxDimension, cfg.MaxUpscale)
		return estimate(j, format)
	}
	hash, thumb := priced("w=4000&h=4000&fit=crop&fm=blurhash&sharp=100", transform.FormatBlurHash), priced("w=64&h=64&fit=crop&sharp=100&fm=png", transform.FormatPNG)
	if hash.outW*hash.outH > 64*64 || hash.cpu > thumb.cpu || hash.memory > thumb.memory+settleCopies*64*64*4 {
		t.Errorf("the blurhash of a 6000x4000 source, box 4000x4000: priced %dx%d, %v, %d bytes; a 64 px PNG: %v, %d bytes",
			hash.outW, hash.outH, hash.cpu, hash.memory, thumb.cpu, thumb.memory)
	}
}

// TestSVGPriced: an SVG is priced from what transform.CanonicalSVG counted
// in the document librsvg is given: its embedded rasters as decoded
// surfaces, its masks and translucent elements per canvas pixel and tile,
// its elements parsed and drawn. A drawing priced past transform.timeout
// is refused, since the kill switch cannot stop librsvg inside a tile.
func TestSVGPriced(t *testing.T) {
	cfg := testConfig()
	price := func(doc, query string) (cost, error) {
		t.Helper()
		j := newJob([]byte(doc), transform.Job{Spec: parse(t, query)}, &cfg)
		defer j.close()
		err := j.admit()
		return j.cost, err
	}
	open := `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="1000" height="1000">`
	plain, err := price(open+`<rect width="10" height="10"/></svg>`, "fm=png")
	if err != nil {
		t.Fatal(err)
	}
	// Embedded rasters: a 6000x6000 PNG header costs its decoded surface,
	// exactly, and its decode.
	png := "data:image/png;base64," + base64.StdEncoding.EncodeToString(pngHeaderOf(6000, 6000))
	img := `<image width="10" height="10" xlink:href="` + png + `"/>`
	embedded, err := price(open+`<rect width="10" height="10"/>`+img+`</svg>`, "fm=png")
	if err != nil {
		t.Fatal(err)
	}
	canon, _ := transform.CanonicalSVG([]byte(open+`<rect width="10" height="10"/>`+img+`</svg>`), cfg.MaxSourcePixels)
	plainDoc, _ := transform.CanonicalSVG([]byte(open+`<rect width="10" height="10"/></svg>`), cfg.MaxSourcePixels)
	wantMem := int64(36_000_000*svgRasterBytesPerPixel + svgNodeBytes + svgDocCopies*(len(canon.Doc)-len(plainDoc.Doc)))
	if d := embedded.memory - plain.memory; d != wantMem {
		t.Errorf("a 6000x6000 embedded PNG adds %d bytes to the estimate; want %d", d, wantMem)
	}
	if !embedded.heavy() {
		t.Errorf("decoding 36 MP embedded is not heavy: %s", embedded.cpu)
	}
	// 300 masks: priced per canvas pixel and tile; refused at a size where
	// librsvg would draw them past the timeout, served smaller.
	masks := open + `<mask id="m"><rect width="10" height="10" fill="white"/></mask>` +
		strings.Repeat(`<rect width="10" height="10" mask="url(#m)"/>`, 300) + `</svg>`
	small, err := price(masks, "w=200&fm=png")
	if err != nil {
		t.Fatalf("300 masks at 200 px: %v", err)
	}
	if want := time.Duration(300 * 200 * 200 * svgMaskNanosPerPixel); small.svgDraw < want {
		t.Errorf("300 masks at 200x200 priced at %s; want at least %s", small.svgDraw, want)
	}
	if _, err := price(masks, "w=4000&fm=png"); !errors.Is(err, transform.ErrTooLarge) || !strings.Contains(err.Error(), "transform.timeout") {
		t.Errorf("300 masks at 4000 px (4 tiles of 16 MP each): %v; want ErrTooLarge naming transform.timeout", err)
	}
	// Translucent elements nested: each holds a canvas-sized surface.
	nested := open + strings.Repeat(`<g opacity=".5">`, 20) + `<rect width="10" height="10"/>` + strings.Repeat(`</g>`, 20) + `</svg>`
	deep, err := price(nested, "w=2000&fm=png")
	if err != nil {
		t.Fatal(err)
	}
	if deep.memory < 20*2000*2000*4 {
		t.Errorf("20 nested translucent groups at 2000 px: %d bytes; want their surfaces (%d)", deep.memory, 20*2000*2000*4)
	}
	// One path of 3,000 lines between random points: Cairo's worst case,
	// 1.5 s at 1000x1000 and 12.8 s at 4000x4000, once priced as one small
	// element; used ten times, it is drawn ten times.
	zigzag := zigzagSVG(3000)
	path, err := price(zigzag, "fm=png")
	if err != nil {
		t.Fatal(err)
	}
	if path.svgDraw < time.Second || !path.heavy() {
		t.Errorf("a path of 3,000 random lines at 1000x1000: priced %s; want at least the 1.5 s it takes, less a third", path.svgDraw)
	}
	if big, err := price(zigzag, "w=4000&fm=png"); err != nil || big.svgDraw < 8*time.Second {
		t.Errorf("the same at 4000x4000: %s, %v; want the 12.8 s it takes, less a third", big.svgDraw, err)
	}
	used := strings.Replace(zigzag, `<path `, `<path id="p" `, 1)
	used = strings.Replace(used, `</svg>`, strings.Repeat(`<use xlink:href="#p"/>`, 9)+`</svg>`, 1)
	if _, err := price(used, "w=2000&fm=png"); !errors.Is(err, transform.ErrTooLarge) || !strings.Contains(err.Error(), "transform.timeout") {
		t.Errorf("the path drawn ten times at 2000 px: %v; want ErrTooLarge naming transform.timeout", err)
	}
}

// zigzagSVG is an SVG of 1000x1000 holding one path of n lines between
// random points: edges that cross the canvas and one another, Cairo's
// worst case (1.5 s for 3,000 at that size). The cost oracle draws it too.
func zigzagSVG(n int) string {
	rng := rand.New(rand.NewSource(1))
	var b strings.Builder
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="1000" height="1000" viewBox="0 0 1000 1000"><path d="M 500 500`)
	for range n {
		fmt.Fprintf(&b, " L %d %d", rng.Intn(1001), rng.Intn(1001))
	}
	b.WriteString(` Z" fill="black"/></svg>`)
	return b.String()
}

// TestAdjustmentsArePriced: each of imgix's adjustments adds its work
// over the output, and the rows it holds per column, to the estimate of
// the same render without it.
func TestAdjustmentsArePriced(t *testing.T) {
	cfg := testConfig()
	const box = "w=8000&h=800&fit=scale&fm=png"
	base, err := pricedJob(t, &cfg, transform.FormatPNG, 8000, 800, 1, box)
	if err != nil {
		t.Fatal(err)
	}
	out := float64(8000 * 800)
	for _, tt := range []struct {
		query string
		cpu   time.Duration // at least this much more CPU
		mem   int64         // and memory
	}{
		{"exp=50", time.Duration(out * curveNanosPerPixel), 8000 * curveColumnBytes},
		{"shad=50&high=-20", time.Duration(out * curveNanosPerPixel), 8000 * curveColumnBytes},
		{"hue=90", time.Duration(out * matrixNanosPerPixel), 8000 * matrixColumnBytes},
		{"sepia=50&monochrome=f00", time.Duration(out * matrixNanosPerPixel), 8000 * matrixColumnBytes},
		{"vib=-40", time.Duration(out * vibNanosPerPixel), 8000 * vibColumnBytes},
		{"usm=40&usmrad=4", time.Duration(out * (usmNanosPerPixel + 4*blurNanosPerSigma)), 8000 * (blurStripRows + 24) * 16},
		{"px=20", time.Duration(out * pxNanosPerPixel), 2 * 8000 * 800 * 4},
		{"fill=blur", time.Duration(2 * out * 4 * fillBlurNanosPerBand), settleCopies * 8000 * 800 * 4}, // in a box of 8000x1600
	} {
		base, box := base, box
		if strings.HasPrefix(tt.query, "fill=") {
			box = "w=8000&h=1600&fit=fill&fm=png"
			if base, err = pricedJob(t, &cfg, transform.FormatPNG, 8000, 800, 1, box); err != nil {
				t.Fatal(err)
			}
		}
		c, err := pricedJob(t, &cfg, transform.FormatPNG, 8000, 800, 1, box+"&"+tt.query)
		if err != nil {
			t.Fatalf("%s: %v", tt.query, err)
		}
		if c.cpu-base.cpu < tt.cpu || c.memory-base.memory < tt.mem {
			t.Errorf("%s: %v and %d bytes more than without it, want at least %v and %d", tt.query, c.cpu-base.cpu, c.memory-base.memory, tt.cpu, tt.mem)
		}
	}
}

// TestGIFFramesBeforeArePriced: frame=n of a GIF decodes every frame
// before it, and a frame that restores the previous screen copies all of
// it: 500 such 1x1 frames on a 7000x7000 screen took 22.4 s of CPU for
// frame=500 against 2.15 s priced, inside libnsgif, where the kill switch
// cannot stop it. Priced now, and refused past transform.timeout.
func TestGIFFramesBeforeArePriced(t *testing.T) {
	t.Parallel()
	pal := color.Palette{color.White, color.Black}
	a := &gif.GIF{Config: image.Config{Width: 7000, Height: 7000, ColorModel: pal}}
	for range 1000 {
		// In the screen's far corner: libnsgif draws on a canvas as large as
		// the frames reach (a screen over 2048 a side alone is not believed).
		a.Image = append(a.Image, image.NewPaletted(image.Rect(6999, 6999, 7000, 7000), pal))
		a.Delay, a.Disposal = append(a.Delay, 5), append(a.Disposal, gif.DisposalPrevious)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, a); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	price := func(query string) (cost, error) {
		j := newJob(buf.Bytes(), transform.Job{Spec: parse(t, query)}, &cfg)
		defer j.close()
		err := j.admit()
		return j.cost, err
	}
	early, err := price("frame=2&w=100&fm=png")
	if err != nil {
		t.Fatalf("frame=2: %v", err)
	}
	late, err := price("frame=1000&w=100&fm=png")
	if !errors.Is(err, transform.ErrTooLarge) || !strings.Contains(err.Error(), "transform.timeout") {
		t.Fatalf("frame=1000: %v (priced %v), want refused past transform.timeout", err, late.cpu)
	}
	if canvas := time.Duration(7000 * 7000 * gifRestoreNanosPerPixel); early.cpu < 2*canvas || late.gifDecode < 1000*canvas {
		t.Errorf("frame=2 priced %v, frame=1000's frames before it %v: want at least a canvas copy per restoring frame (%v)", early.cpu, late.gifDecode, canvas)
	}
}

// TestPNGTextBombRefused: libpng inflates every compressed text chunk as
// it reads the header, before a render is priced or admitted; a PNG with
// more than transform.MaxPNGCompressedText of them is refused before libpng sees it,
// as a source and as a mark. 100 such chunks of 7.9 MB each, in 771 KB,
// took 7.6 s of CPU and 1.1 GiB to answer fm=json.
func TestPNGTextBombRefused(t *testing.T) {
	t.Parallel()
	var img bytes.Buffer
	if err := png.Encode(&img, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
	b := img.Bytes()
	iend := bytes.Index(b, []byte("IEND")) - 4
	bomb := append([]byte{}, b[:iend]...)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(bytes.Repeat([]byte{'a'}, 1<<20))
	zw.Close()
	for range transform.MaxPNGCompressedText + 1 {
		data := append([]byte("Comment\x00\x00"), z.Bytes()...)
		bomb = binary.BigEndian.AppendUint32(bomb, uint32(len(data)))
		chunk := append([]byte("zTXt"), data...)
		bomb = append(bomb, chunk...)
		bomb = binary.BigEndian.AppendUint32(bomb, crc32.ChecksumIEEE(chunk))
	}
	bomb = append(bomb, b[iend:]...)
	tr := newTransformer(t)
	for _, q := range []string{"fm=json", "w=4&fm=png"} {
		_, err := tr.Transform(context.Background(), bomb, transform.Job{Spec: parse(t, q)})
		if !errors.Is(err, transform.ErrTooLarge) || !strings.Contains(err.Error(), "compressed text chunks") {
			t.Errorf("%s: %v, want refused for its text chunks", q, err)
		}
	}
	_, err := tr.Transform(context.Background(), readFile(t, filepath.Join(benchImages, "hopper.jpg")),
		transform.Job{Spec: parse(t, "w=100&mark=/m.png"), Mark: bomb})
	if !errors.Is(err, transform.ErrTooLarge) || !strings.Contains(err.Error(), "the mark") {
		t.Errorf("as a mark: %v, want refused for its text chunks", err)
	}
}

// TestSVGGradientsPriced: a shape painted with a gradient is priced as
// covering the canvas, and a document drawing too many such is refused
// before librsvg, which the kill switch cannot stop inside a tile, starts:
// 2,000 canvas-sized rectangles with a radial gradient were admitted as
// small shapes and held a core for minutes.
func TestSVGGradientsPriced(t *testing.T) {
	t.Parallel()
	doc := func(n int) []byte {
		var b strings.Builder
		b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" width="2000" height="2000"><radialGradient id="g"><stop offset="0" stop-color="red"/><stop offset="1" stop-color="blue"/></radialGradient>`)
		for range n {
			b.WriteString(`<rect width="2000" height="2000" fill="url(#g)"/>`)
		}
		b.WriteString(`</svg>`)
		return []byte(b.String())
	}
	cfg := testConfig()
	price := func(n int) (cost, error) {
		j := newJob(doc(n), transform.Job{Spec: parse(t, "w=2000&fm=png")}, &cfg)
		defer j.close()
		err := j.admit()
		return j.cost, err
	}
	few, err := price(20)
	if err != nil {
		t.Fatalf("20 gradients: %v", err)
	}
	if floor := time.Duration(20 * 2000 * 2000 * svgPaintNanosPerPixel); few.svgDraw < floor {
		t.Errorf("20 canvas-sized gradients priced %v, want at least %v", few.svgDraw, floor)
	}
	if _, err := price(2000); !errors.Is(err, transform.ErrTooLarge) || !strings.Contains(err.Error(), "transform.timeout") {
		t.Errorf("2,000 canvas-sized gradients: %v, want refused past transform.timeout", err)
	}
}

// TestAVIFPricedFromItsBitstream: libvips reports an AVIF's size from its
// ispe property, which nothing checks against the AV1 data. A frame of
// 2000x2000 that claims 100x100 is priced, and held to
// limits.max_source_pixels, at what it decodes to. A flat 12000x12000
// frame claiming 100x100 (2 KB) had decoded 144 MP, priced at 10,000
// pixels: 2.8 s and 926 MiB, eight at once 3.5 GiB.
func TestAVIFPricedFromItsBitstream(t *testing.T) {
	t.Parallel()
	img, err := vips.Black(2000, 2000)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	honest, _, err := img.ExportAvif(&vips.AvifExportParams{Quality: 30, Speed: 9})
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(honest, []byte("ispe"))
	if i < 0 {
		t.Fatal("no ispe box in libvips' AVIF")
	}
	lying := append([]byte{}, honest...)
	binary.BigEndian.PutUint32(lying[i+8:], 100)
	binary.BigEndian.PutUint32(lying[i+12:], 100)
	cfg := testConfig()
	price := func(src []byte, cfg Config) (*job, error) {
		j := newJob(src, transform.Job{Spec: parse(t, "w=100&fm=png")}, &cfg)
		defer j.close()
		return j, j.admit()
	}
	hj, err := price(honest, cfg)
	if err != nil {
		t.Fatal(err)
	}
	lj, err := price(lying, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The decode is most of the honest file's price, and all of it is in
	// the lying one's.
	decode := time.Duration(2000 * 2000 * decodeNanosPerPixel[transform.FormatAVIF])
	if hj.cost.cpu < decode || lj.sw != 100 || lj.cost.cpu < decode || lj.cost.memory < 2000*2000*avifCodedBytesPerPixel/2 {
		t.Errorf("claiming 100x100 (libvips says %dx%d): priced %v and %d MiB; the honest file %v and %d MiB; the decode alone %v",
			lj.sw, lj.sh, lj.cost.cpu, lj.cost.memory>>20, hj.cost.cpu, hj.cost.memory>>20, decode)
	}
	cfg.MaxSourcePixels = 1_000_000
	if _, err := price(lying, cfg); !errors.Is(err, transform.ErrTooLarge) || !strings.Contains(err.Error(), "coded data decodes to") {
		t.Errorf("past limits.max_source_pixels by its bitstream: %v, want refused", err)
	}
}

// TestHashBoxCountsThePadding: the padding is inside imgix's box, so
// h=1200&pad=1000 is a pixel of image in 2001 square of padding; hashed,
// it is processed at about the thumbnail's size, padding included, not
// drawn at 2001x2001 for a price of nothing.
func TestHashBoxCountsThePadding(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("../../testdata/corpus/hostile/svg-pattern-tile.svg")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	j := newJob(src, transform.Job{Spec: parse(t, "h=1200&pad=1000&fm=blurhash")}, &cfg)
	defer j.close()
	if err := j.admit(); err != nil {
		t.Fatal(err)
	}
	if side := 2 * 2 * blurHashSide; j.cost.outW > side || j.cost.outH > side {
		t.Errorf("hashed at %dx%d, want within %d square", j.cost.outW, j.cost.outH, side)
	}
}
