package libvips

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"

	"imgedge/transform"
)

func kodim23(t *testing.T) []byte { return readFile(t, filepath.Join(benchImages, "kodim23.png")) }

func rgba(t *testing.T, tr *Transformer, src []byte, query string) *image.RGBA {
	t.Helper()
	return toRGBA(decode(t, render1(t, tr, src, query).Body))
}

func TestFocalPointCrop(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	src := kodim23(t)
	base := "w=100&h=100&fit=crop&fm=png&crop="
	for _, tt := range []struct{ fp, edge string }{
		{"focalpoint&fp-x=0", "left"},
		{"focalpoint&fp-x=1", "right"},
		{"focalpoint&fp-y=0&fp-x=0.5", "center"}, // the resize is 150x100: no vertical room
		{"focalpoint", "center"},
	} {
		if d := meanAbsDiff(rgba(t, tr, src, base+tt.fp), rgba(t, tr, src, base+tt.edge)); d > 1 {
			t.Errorf("crop=%s differs from crop=%s by %.1f", tt.fp, tt.edge, d)
		}
	}
	tall := "w=200&h=60&fit=crop&fm=png&crop="
	if d := meanAbsDiff(rgba(t, tr, src, tall+"focalpoint&fp-y=0"), rgba(t, tr, src, tall+"top")); d > 1 {
		t.Errorf("fp-y=0 differs from crop=top by %.1f", d)
	}
	if d := meanAbsDiff(rgba(t, tr, src, tall+"focalpoint&fp-y=0.3"), rgba(t, tr, src, tall+"top")); d < 3 {
		t.Errorf("fp-y=0.3 is the same as crop=top (%.1f): the focal point was ignored", d)
	}
}

// TestEntropyCropWithAlpha: crop=entropy on an image with alpha searches
// it flattened onto black (entropyCrop), as libvips' smartcrop would after
// premultiplying, and keeps its alpha: the busy, opaque square of a
// transparent strip is what it cuts, wherever it is.
func TestEntropyCropWithAlpha(t *testing.T) {
	tr := newTransformer(t)
	for _, at := range []int{0, 150, 300} {
		img := image.NewNRGBA(image.Rect(0, 0, 400, 100))
		noise := uint32(at + 1)
		for y := 0; y < 100; y++ {
			for x := at; x < at+100; x++ {
				noise = noise*1664525 + 1013904223
				img.SetNRGBA(x, y, color.NRGBA{uint8(noise >> 24), uint8(noise >> 16), uint8(noise >> 8), 255})
			}
		}
		out := entropyCrop100(t, tr, img)
		opaque := 0
		for y := 0; y < 100; y++ {
			for x := 0; x < 100; x++ {
				if _, _, _, a := out.At(x, y).RGBA(); a == 0xffff {
					opaque++
				}
			}
		}
		if opaque < 9000 {
			t.Errorf("square at %d: the crop is %d%% opaque, want the busy square", at, opaque/100)
		}
	}
}

func TestSmartCrops(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	src := readFile(t, filepath.Join(benchImages, "giunchedi-portrait.jpg")) // 800x533
	center := rgba(t, tr, src, "w=120&h=200&fit=crop&fm=png")
	for _, g := range []string{"entropy", "attention"} {
		img := rgba(t, tr, src, "w=120&h=200&fit=crop&fm=png&crop="+g)
		if b := img.Bounds(); b.Dx() != 120 || b.Dy() != 200 {
			t.Fatalf("crop=%s: %v", g, b)
		}
		if again := rgba(t, tr, src, "w=120&h=200&fit=crop&fm=png&crop="+g); meanAbsDiff(img, again) != 0 {
			t.Errorf("crop=%s is not deterministic", g)
		}
		if meanAbsDiff(img, center) < 2 {
			t.Errorf("crop=%s picked the centre of a portrait whose subject is off-centre", g)
		}
	}
}

// gradientEnergy is the mean absolute difference between horizontal
// neighbours: blur lowers it, sharpening raises it.
func gradientEnergy(img *image.RGBA) float64 {
	var sum float64
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X + 1; x < b.Max.X; x++ {
			p, q := img.RGBAAt(x, y), img.RGBAAt(x-1, y)
			d := int(p.G) - int(q.G)
			sum += float64(max(d, -d))
		}
	}
	return sum / float64(b.Dx()*b.Dy())
}

func TestBlurAndSharpen(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	src := kodim23(t)
	plain := gradientEnergy(rgba(t, tr, src, "w=300&fm=png"))
	blurred := gradientEnergy(rgba(t, tr, src, "w=300&fm=png&blur=60"))
	sharp := gradientEnergy(rgba(t, tr, src, "w=300&fm=png&sharp=100"))
	if blurred > plain*0.6 {
		t.Errorf("blur=60: gradient energy %.2f vs %.2f unblurred", blurred, plain)
	}
	if sharp < plain*1.1 {
		t.Errorf("sharp=100: gradient energy %.2f vs %.2f unsharpened", sharp, plain)
	}
}

func rotate90(img *image.RGBA) *image.RGBA { // clockwise
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dy(), b.Dx()))
	for y := range b.Dy() {
		for x := range b.Dx() {
			out.Set(b.Dy()-1-y, x, img.At(x, y))
		}
	}
	return out
}

func flipV(img *image.RGBA) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(b)
	for y := range b.Dy() {
		for x := range b.Dx() {
			out.Set(x, b.Dy()-1-y, img.At(x, y))
		}
	}
	return out
}

func TestRotateAndFlip(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	src := kodim23(t)
	up := rgba(t, tr, src, "w=90&fm=png")
	for _, tt := range []struct {
		q    string
		want *image.RGBA
	}{
		{"rot=90", rotate90(up)},
		{"rot=180", rotate90(rotate90(up))},
		{"rot=270", rotate90(rotate90(rotate90(up)))},
		{"flip=h", mirror(up)},
		{"flip=v", flipV(up)},
		{"flip=hv", mirror(flipV(up))},
		{"rot=90&flip=h", mirror(rotate90(up))}, // rotation first, then the mirror
	} {
		if d := meanAbsDiff(rgba(t, tr, src, "w=90&fm=png&"+tt.q), tt.want); d > 1 {
			t.Errorf("%s differs from the reference by %.1f", tt.q, d)
		}
	}
}

func TestFillBackground(t *testing.T) {
	tr := newTransformer(t)
	at := func(img *image.RGBA, x, y int) color.RGBA { return img.RGBAAt(x, y) }
	// Opaque source, translucent red pad.
	img := rgba(t, tr, kodim23(t), "w=100&h=100&fit=fill&fm=png&bg=80ff0000")
	if c := at(img, 50, 2); c.A < 120 || c.A > 136 || c.R < 120 || c.G > 5 {
		t.Errorf("pad pixel %v, want red at half opacity (premultiplied by image/draw)", c)
	}
	if c := at(img, 50, 50); c.A != 255 {
		t.Errorf("image pixel %v is not opaque", c)
	}
	// Alpha source, no bg: the pad is transparent; bg given: it is that colour.
	rose := readFile(t, filepath.Join(benchImages, "yellow_rose.png"))
	if c := at(rgba(t, tr, rose, "w=100&h=100&fit=fill&fm=png"), 50, 2); c.A != 0 {
		t.Errorf("default pad on an alpha source %v, want transparent", c)
	}
	if c := at(rgba(t, tr, rose, "w=100&h=100&fit=fill&fm=png&bg=00f"), 50, 2); c != (color.RGBA{0, 0, 255, 255}) {
		t.Errorf("bg=00f pad %v", c)
	}
	// Opaque source, no bg, JPEG: white.
	if c := at(rgba(t, tr, kodim23(t), "w=100&h=100&fit=fill&fm=jpg"), 50, 2); c.R < 250 || c.G < 250 || c.B < 250 {
		t.Errorf("default JPEG pad %v, want white", c)
	}
}

func TestLosslessWebP(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	src := kodim23(t)
	want := toRGBA(decode(t, src))
	got := rgba(t, tr, src, "fm=webp&lossless=1")
	if d := meanAbsDiff(got, want); d != 0 {
		t.Fatalf("lossless WebP differs from the source by %.3f", d)
	}
	if d := meanAbsDiff(rgba(t, tr, src, "fm=webp&q=50"), want); d == 0 {
		t.Fatal("lossy WebP at q50 equals the source: the lossless check proves nothing")
	}
}

func TestAutoCompressAndQuality(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	src := kodim23(t)
	for _, fm := range []string{"jpg", "webp", "avif"} {
		normal := len(render1(t, tr, src, "w=300&fm="+fm).Body)
		compressed := len(render1(t, tr, src, "w=300&auto=compress&fm="+fm).Body)
		low := len(render1(t, tr, src, "w=300&q=20&fm="+fm).Body)
		if compressed >= normal || low >= compressed {
			t.Errorf("%s: default %d bytes, auto=compress %d, q=20 %d; want each smaller", fm, normal, compressed, low)
		}
	}
}

func TestAnimation(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	gif := readFile(t, filepath.Join(corpusDir, "formats/gif-animated-rotating-squares.gif")) // 80x80, 30 frames, 30 ms
	webp := readFile(t, filepath.Join(corpusDir, "formats/webp-animated-rotating-squares.webp"))
	frames := func(b []byte) (int, int, []int) {
		p := vips.NewImportParams()
		p.NumPages.Set(-1)
		img, err := vips.LoadImageFromBuffer(b, p)
		if err != nil {
			t.Fatal(err)
		}
		defer img.Close()
		delays, _ := img.PageDelay()
		return img.Height() / img.PageHeight(), img.PageHeight(), delays
	}
	// Both sources last 900 ms: the GIF as 30 frames of 30 ms (with repeats),
	// the WebP as 9 frames of varied delays. libwebp merges identical
	// consecutive frames and adds up their delays, so what must survive is
	// the total duration, and for GIF output the frame count.
	for _, tt := range []struct {
		name  string
		src   []byte
		query string
		pages int // 0: any number that lasts 900 ms
		pageH int
		ctype string
	}{
		{"gif keeps its frames", gif, "w=40", 30, 40, "image/gif"},
		{"gif to webp", gif, "w=40&fm=webp", 0, 40, "image/webp"},
		{"webp keeps its frames", webp, "w=40", 9, 40, "image/webp"},
		{"webp to gif", webp, "w=40&fm=gif", 9, 40, "image/gif"},
		{"crop every frame", gif, "w=40&h=20&fit=crop&fm=webp", 0, 20, "image/webp"},
		{"frame=3 is one frame", gif, "w=40&frame=3", 1, 40, "image/gif"},
		{"png takes the first", gif, "w=40&fm=png", 1, 40, "image/png"},
		{"jpg takes the first", gif, "w=40&fm=jpg", 1, 40, "image/jpeg"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := render1(t, tr, tt.src, tt.query)
			if res.Format.ContentType() != tt.ctype {
				t.Fatalf("format %s, want %s", res.Format, tt.ctype)
			}
			if tt.ctype == "image/jpeg" || tt.ctype == "image/png" {
				if res.Height != tt.pageH {
					t.Fatalf("height %d, want %d", res.Height, tt.pageH)
				}
				return
			}
			n, ph, delays := frames(res.Body)
			if ph != tt.pageH || tt.pages != 0 && n != tt.pages || n < 2 && tt.pages != 1 {
				t.Fatalf("%d frames of height %d, want %d of %d", n, ph, tt.pages, tt.pageH)
			}
			if tt.pages == 1 {
				return
			}
			total := 0
			for _, d := range delays {
				total += d
			}
			if len(delays) != n || total != 900 {
				t.Fatalf("delays %v (%d frames), want frames lasting 900 ms in all", delays, n)
			}
		})
	}
	// frame=11 is the eleventh frame (frames 1 to 4 of this GIF are
	// identical; 11 is not).
	first := rgba(t, tr, gif, "frame=1&fm=png")
	eleventh := rgba(t, tr, gif, "frame=11&fm=png")
	if meanAbsDiff(first, eleventh) == 0 {
		t.Error("frame=11 equals frame=1")
	}
	if _, err := tr.Transform(context.Background(), gif, transform.Job{Spec: parse(t, "frame=31")}); !errors.Is(err, transform.ErrUnsupported) {
		t.Errorf("frame=31 of 30: err = %v", err)
	}
	// auto=format: WebP where accepted (AVIF cannot animate), else GIF.
	spec := parse(t, "w=40&auto=format")
	spec.Accepted = transform.AcceptAVIF | transform.AcceptWebP
	if res, _ := tr.Transform(context.Background(), gif, transform.Job{Spec: spec}); res.Format != transform.FormatWebP {
		t.Errorf("auto=format for an animation with AVIF and WebP accepted: %s", res.Format)
	}
	spec.Accepted = 0
	if res, _ := tr.Transform(context.Background(), gif, transform.Job{Spec: spec}); res.Format != transform.FormatGIF {
		t.Errorf("auto=format for an animation for a legacy client: %s", res.Format)
	}
}

func TestAnimationFramesCountAgainstPixelLimit(t *testing.T) {
	cfg := testConfig()
	cfg.MaxSourcePixels = 80 * 80 * 10 // ten frames' worth
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gif := readFile(t, filepath.Join(corpusDir, "formats/gif-animated-rotating-squares.gif"))
	if _, err := tr.Transform(context.Background(), gif, transform.Job{Spec: parse(t, "w=40")}); !errors.Is(err, transform.ErrTooLarge) || !strings.Contains(err.Error(), "30 frames") {
		t.Fatalf("30 frames over a 10-frame budget: err = %v", err)
	}
	if _, err := tr.Transform(context.Background(), gif, transform.Job{Spec: parse(t, "w=40&frame=2")}); err != nil {
		t.Fatalf("one frame is within the budget: %v", err)
	}
}

func TestColour(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	t.Run("CMYK without a profile", func(t *testing.T) {
		res := render1(t, tr, readFile(t, filepath.Join(corpusDir, "formats/jpeg-cmyk-pillow.jpg")), "fm=png")
		img := toRGBA(decode(t, res.Body))
		red := 0
		var sum float64
		for y := range 100 {
			for x := range 100 {
				c := img.RGBAAt(x, y)
				if c.R > 180 && c.G < 100 && c.B < 100 {
					red++
				}
				sum += (float64(c.R) + float64(c.G) + float64(c.B)) / 3
			}
		}
		// The picture is red "RED" lettering on a dark ground: an inverted or
		// unconverted CMYK image has neither.
		if red < 200 || sum/10000 > 80 {
			t.Fatalf("%d red pixels, mean %.1f; want red lettering on a dark ground", red, sum/10000)
		}
	})
	t.Run("CMYK through its SWOP profile", func(t *testing.T) {
		src := filepath.Join(corpusDir, "formats/jpeg-cmyk-swop-icc.jpg")
		got := rgba(t, tr, readFile(t, src), "fm=png").RGBAAt(10, 10)
		ref := filepath.Join(t.TempDir(), "ref.png")
		if out, err := exec.Command("vips", "icc_transform", src, ref, "srgb", "--embedded").CombinedOutput(); err != nil {
			t.Fatalf("vips icc_transform: %v %s", err, out)
		}
		want := toRGBA(decode(t, readFile(t, ref))).RGBAAt(10, 10)
		for i, d := range []int{int(got.R) - int(want.R), int(got.G) - int(want.G), int(got.B) - int(want.B)} {
			if d > 8 || d < -8 {
				t.Fatalf("channel %d: %v vs icc_transform's %v", i, got, want)
			}
		}
	})
	t.Run("grey stays grey", func(t *testing.T) {
		src := readFile(t, filepath.Join(benchImages, "concert.jpg"))
		for _, fm := range []string{"jpg", "png"} {
			img, err := vips.NewImageFromBuffer(render1(t, tr, src, "w=100&fm="+fm).Body)
			if err != nil {
				t.Fatal(err)
			}
			if img.Bands() != 1 {
				t.Errorf("%s output of a greyscale photo has %d bands", fm, img.Bands())
			}
			img.Close()
		}
	})
	t.Run("16-bit source", func(t *testing.T) {
		for _, fm := range []string{"jpg", "webp", "png"} {
			eight := rgba(t, tr, readFile(t, filepath.Join(corpusDir, "formats/tiff-video-001.tiff")), "fm="+fm)
			sixteen := rgba(t, tr, readFile(t, filepath.Join(corpusDir, "formats/tiff-video-001-16bit.tiff")), "fm="+fm)
			if d := meanAbsDiff(sixteen, eight); d > 3 {
				t.Errorf("16-bit TIFF to %s differs from the 8-bit one by %.1f", fm, d)
			}
		}
	})
}

func TestSVGRasterisedAtRequestedSize(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	svg := readFile(t, filepath.Join(corpusDir, "formats/svg-libvips-logo.svg")) // 736x552
	big := render1(t, tr, svg, "w=1472&fm=png")
	if big.Width != 1472 || big.Height != 1104 || big.Format != transform.FormatPNG {
		t.Fatalf("w=1472: %dx%d %s", big.Width, big.Height, big.Format)
	}
	// Rendered at 2x, the vector edges stay sharp; a raster upscale of the
	// natural-size render is blurrier.
	natural := render1(t, tr, svg, "fm=png")
	upscaled := render1(t, tr, natural.Body, "w=1472&fm=png")
	if sharp, soft := gradientEnergy(toRGBA(decode(t, big.Body))), gradientEnergy(toRGBA(decode(t, upscaled.Body))); sharp < soft*1.2 {
		t.Errorf("vector render energy %.2f vs raster upscale %.2f: not rasterised at the requested size", sharp, soft)
	}
	// SVGZ is inflated by the edge and rendered the same.
	svgz := render1(t, tr, readFile(t, filepath.Join(corpusDir, "formats/svgz-libvips-logo.svgz")), "fm=png")
	if svgz.Width != 736 {
		t.Errorf("svgz: %dx%d", svgz.Width, svgz.Height)
	}
}

func TestAVIFFallsBackAboveMaxPixels(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t) // AVIFMaxPixels 2,000,000
	src := kodim23(t)
	for _, tt := range []struct {
		query string
		want  transform.Format
	}{
		{"w=1000&auto=format", transform.FormatAVIF}, // 1000x667
		{"w=2000&auto=format", transform.FormatWebP}, // 2000x1333: above
		{"w=2000&fm=avif", transform.FormatAVIF},     // explicit fm is honoured
	} {
		spec := parse(t, tt.query)
		spec.Accepted = transform.AcceptAVIF | transform.AcceptWebP
		res, err := tr.Transform(context.Background(), src, transform.Job{Spec: spec})
		if err != nil || res.Format != tt.want {
			t.Errorf("%s: %s (%s) %v, want %s", tt.query, res.Format, res.FormatReason, err, tt.want)
		}
	}
}

// jpegSampling returns the luma sampling factors from the SOF segment.
func jpegSampling(t *testing.T, b []byte) string {
	for p := 2; p+4 <= len(b); {
		m := b[p+1]
		if m == 0xC0 || m == 0xC1 || m == 0xC2 {
			return strconv.Itoa(int(b[p+11]>>4)) + "x" + strconv.Itoa(int(b[p+11]&15))
		}
		p += 2 + (int(b[p+2])<<8 | int(b[p+3]))
	}
	t.Fatal("no SOF")
	return ""
}

func TestJPEGChromaSubsampling(t *testing.T) {
	tr := newTransformer(t)
	src := kodim23(t)
	if s := jpegSampling(t, render1(t, tr, src, "w=200&fm=jpg").Body); s != "2x2" {
		t.Errorf("q80: luma sampling %s, want 2x2 (4:2:0)", s)
	}
	if s := jpegSampling(t, render1(t, tr, src, "w=200&fm=jpg&q=95").Body); s != "1x1" {
		t.Errorf("q95: luma sampling %s, want 1x1 (4:4:4)", s)
	}
}

func TestSourceBytesWhenReencodeIsLarger(t *testing.T) {
	tr := newTransformer(t)
	src := readFile(t, filepath.Join(benchImages, "hopper.jpg")) // small, q75, no metadata
	res := render1(t, tr, src, "fm=jpg&q=100")
	if !bytes.Equal(res.Body, src) || !strings.Contains(res.FormatReason, "source bytes") {
		t.Fatalf("q=100 re-encode: %d bytes (source %d), reason %q; want the source bytes", len(res.Body), len(src), res.FormatReason)
	}
	if res := render1(t, tr, src, "w=100&fm=jpg&q=100"); bytes.Equal(res.Body, src) {
		t.Fatal("a resize returned the source bytes")
	}
	// A source with metadata is never passed through: its EXIF would leak.
	exif := readFile(t, filepath.Join(corpusDir, "exif-orientation/Landscape_1.jpg"))
	if res := render1(t, tr, exif, "fm=jpg&q=100"); bytes.Equal(res.Body, exif) {
		t.Fatal("a source with EXIF was passed through")
	}
}

// TestSourceBytesOnlyWhenNothingChanges: the source's bytes stand in for a
// re-encode only when the spec changes no pixel. kodim23.png is a plain
// PNG whose re-encodes at its own size are often larger; invert=true and
// con=50 were answered its bytes, unchanged.
func TestSourceBytesOnlyWhenNothingChanges(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	src := kodim23(t)
	orig := toRGBA(decode(t, src))
	for _, tt := range []struct {
		query   string
		changes bool
	}{
		{"fm=png", false},
		{"fm=png&q=50&auto=compress", false},
		{"fm=png&invert=true", true},
		{"fm=png&con=50", true},
		{"fm=png&bri=40", true},
		{"fm=png&sat=-100", true},
		{"fm=png&gam=30", true},
	} {
		res := render1(t, tr, src, tt.query)
		same := bytes.Equal(res.Body, src)
		if tt.changes && same {
			t.Errorf("%s: answered the source's bytes (%s)", tt.query, res.FormatReason)
			continue
		}
		if d := meanAbsDiff(toRGBA(decode(t, res.Body)), orig); tt.changes != (d > 2) {
			t.Errorf("%s: differs from the source by %.1f a sample, want a change: %v", tt.query, d, tt.changes)
		}
	}
}

func TestCombinedOrderOfOperations(t *testing.T) {
	tr := newTransformer(t)
	// Crop to 200x100, then rotate: the output is 100x200.
	res := render1(t, tr, kodim23(t), "w=200&h=100&fit=crop&crop=top&rot=90&flip=v&blur=10&sharp=5&fm=webp&q=70")
	if res.Width != 100 || res.Height != 200 || res.Format != transform.FormatWebP {
		t.Fatalf("%dx%d %s", res.Width, res.Height, res.Format)
	}
}

// TestToneOf16BitSources: tone's maps are in 8-bit units, so a 16-bit
// source is made 8-bit first. Cast to 8 bits under its RGB16 label, a
// 16-bit PNG asked for bri=20&fm=png came out white (every sample past 255)
// and crashed the process in libpng's row writer about one time in two.
func TestToneOf16BitSources(t *testing.T) {
	img := image.NewNRGBA64(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = 0x80 // every sample 0x8080: middle grey, half opaque
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	tr := newTransformer(t)
	for _, tt := range []struct {
		query string
		want  uint8 // each colour sample, 8-bit
	}{
		{"bri=20&fm=png", 128 + 51},
		{"invert=true&fm=png", 127},
		{"con=50&fm=png", 128},
	} {
		for range 4 {
			out := decode(t, render1(t, tr, buf.Bytes(), tt.query).Body)
			r, g, b, a := out.At(10, 10).RGBA()
			if _, ok := out.(*image.NRGBA); !ok {
				t.Errorf("%s: %T, want 8-bit NRGBA", tt.query, out)
			}
			c := color.NRGBAModel.Convert(out.At(10, 10)).(color.NRGBA)
			if d := int(c.R) - int(tt.want); d < -1 || d > 1 || c.G != c.R || c.B != c.R || c.A < 127 || c.A > 128 {
				t.Fatalf("%s: pixel %v (RGBA %d %d %d %d), want colour %d at alpha 128", tt.query, c, r, g, b, a, tt.want)
			}
		}
	}
}

// entropyCrop100 is img, a PNG, cropped to 100x100 by crop=entropy.
func entropyCrop100(t *testing.T, tr *Transformer, img image.Image) image.Image {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	out := decode(t, render1(t, tr, buf.Bytes(), "w=100&h=100&fit=crop&crop=entropy&fm=png").Body)
	if b := out.Bounds(); b.Dx() != 100 || b.Dy() != 100 {
		t.Fatalf("cropped to %v, want 100x100", b)
	}
	return out
}

// TestEntropyCropSixteenBits: crop=entropy on a 16-bit image searches an
// 8-bit copy (smartcrop histograms every level of a band: 80 MiB of RSS to
// crop a 150x103 TIFF enlarged to 1200x824, the cost oracle found) and
// still cuts the busy square, wherever it is.
func TestEntropyCropSixteenBits(t *testing.T) {
	tr := newTransformer(t)
	for _, at := range []int{0, 150, 300} {
		img := image.NewNRGBA64(image.Rect(0, 0, 400, 100))
		noise := uint32(at + 1)
		for y := 0; y < 100; y++ {
			for x := 0; x < 400; x++ {
				c := color.NRGBA64{0x8000, 0x8000, 0x8000, 0xffff}
				if x >= at && x < at+100 {
					noise = noise*1664525 + 1013904223
					c = color.NRGBA64{uint16(noise >> 16), uint16(noise >> 8), uint16(noise), 0xffff}
				}
				img.SetNRGBA64(x, y, c)
			}
		}
		out := entropyCrop100(t, tr, img)
		flat := 0
		for y := 0; y < 100; y++ {
			for x := 0; x < 100; x++ {
				if r, g, b, _ := out.At(x, y).RGBA(); r>>8 == 0x80 && g>>8 == 0x80 && b>>8 == 0x80 {
					flat++
				}
			}
		}
		if flat > 1000 {
			t.Errorf("square at %d: %d%% of the crop is the flat background, want the busy square", at, flat/100)
		}
	}
}

// TestSidesAsFractionsOfTheSource: w and h between 0 and 1 are fractions of
// the source as displayed (after EXIF orientation, before rect), times dpr;
// ar makes the other side; past limits.max_dimension the shape is kept
// and the answer says it was clamped.
func TestSidesAsFractionsOfTheSource(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	photo := readFile(t, filepath.Join(benchImages, "photo-1600x1200-q85.jpg"))
	turned := readFile(t, filepath.Join(corpusDir, "exif-orientation", "Landscape_6.jpg")) // stored 1200x1800, shown 1800x1200
	camera := readFile(t, filepath.Join(benchImages, "camera-4000x3000-q90.jpg"))
	for _, tt := range []struct {
		src     []byte
		query   string
		w, h    int
		clamped transform.Clamp
	}{
		{photo, "w=0.5", 800, 600, transform.ClampNone},
		{photo, "h=0.25", 400, 300, transform.ClampNone},
		{photo, "w=0.5&dpr=2", 1600, 1200, transform.ClampNone},
		{photo, "w=0.5&h=0.25&fit=crop", 800, 300, transform.ClampNone},
		{photo, "w=0.25&ar=1:1&fit=crop", 400, 400, transform.ClampNone},
		{photo, "w=0.5&h=100&fit=crop", 800, 100, transform.ClampNone},
		{photo, "rect=0,0,400,300&w=0.5", 800, 600, transform.ClampNone}, // of the source, not the rect
		{turned, "w=0.5", 900, 600, transform.ClampNone},
		{camera, "w=0.9&dpr=5&fit=max", 4000, 3000, transform.ClampDimension}, // 18000 clamped to 8192, then max's source size
	} {
		// JPEG: the sizes are what is checked, and a 4000x3000 PNG encode
		// took 4 s of the test's 5.
		res := render1(t, tr, tt.src, tt.query+"&fm=jpg")
		if res.Width != tt.w || res.Height != tt.h || res.Clamp != tt.clamped {
			t.Errorf("%s: %dx%d clamp %q, want %dx%d clamp %q", tt.query, res.Width, res.Height, res.Clamp.Limit(), tt.w, tt.h, tt.clamped.Limit())
		}
	}
}

// TestToneCurve: exp, shad and high map each sample through one curve:
// the same value always becomes the same value, darker never becomes
// lighter than lighter, black and white stay; exp moves every tone the
// way asked, shad lifts the shadows and leaves the highlights nearly
// alone, high the other way round.
func TestToneCurve(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	src := kodim23(t)
	base := rgba(t, tr, src, "w=300&fm=png")
	for _, tt := range []struct {
		query string
		// check is handed the curve read off the pixels (-1: no sample
		// of that value) and says what is wrong with it.
		check func(f [256]int) string
	}{
		{"exp=50", func(f [256]int) string { return moves(f, 30, 200, +15, +67) }},
		{"exp=-50", func(f [256]int) string { return moves(f, 30, 200, -54, -11) }},
		{"exp=100", func(f [256]int) string { return moves(f, 100, 140, +89, +118) }},
		{"shad=100", func(f [256]int) string { return moves(f, 40, 100, +20, +60) + moves(f, 235, 255, 0, +3) }},
		{"high=-100", func(f [256]int) string { return moves(f, 150, 215, -60, -20) + moves(f, 0, 20, -3, 0) }},
		{"shad=50&high=-50", func(f [256]int) string { return moves(f, 60, 90, +5, +40) + moves(f, 170, 200, -40, -5) }},
	} {
		out := rgba(t, tr, src, "w=300&fm=png&"+tt.query)
		var f [256]int
		for i := range f {
			f[i] = -1
		}
		mixed := 0
		for i, v := range base.Pix {
			if i%4 == 3 {
				continue
			}
			if f[v] >= 0 && f[v] != int(out.Pix[i]) {
				mixed++
			}
			f[v] = int(out.Pix[i])
		}
		if mixed > 0 {
			t.Errorf("%s: %d samples map one value to two: not one curve", tt.query, mixed)
		}
		last := -1
		for v, o := range f {
			if o >= 0 && o < last {
				t.Errorf("%s: %d maps to %d, below a darker sample's %d", tt.query, v, o, last)
				break
			}
			last = max(last, o)
		}
		if msg := tt.check(f); msg != "" {
			t.Errorf("%s: %s", tt.query, msg)
		}
	}
}

// moves says how samples from lo to hi moved when some moved less than by
// least or more than by most.
func moves(f [256]int, lo, hi, least, most int) string {
	for v := lo; v <= hi; v++ {
		if f[v] < 0 {
			continue
		}
		if d := f[v] - v; d < least || d > most {
			return fmt.Sprintf("%d became %d, want a move of %d to %d; ", v, f[v], least, most)
		}
	}
	return ""
}

// TestColourMatrix: hue turns colours about the grey axis (120 degrees
// moves each band to the next), sepia=100 leaves every mid tone in the
// sepia hues, monochrome leaves one hue (R:G:B the colour's) at full
// intensity and blends by the colour's alpha, on grey sources too.
func TestColourMatrix(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	src := kodim23(t)
	grey := readFile(t, filepath.Join(corpusDir, "png-conformance", "basn0g08.png"))
	for _, tt := range []struct {
		src   []byte
		query string
		// pixel says what is wrong with out, the output pixel of in (""
		// when nothing is).
		pixel func(in, out [3]float64) string
	}{
		{src, "hue=120", func(in, out [3]float64) string { return within(out, [3]float64{in[2], in[0], in[1]}, 1) }},
		{src, "hue=240", func(in, out [3]float64) string { return within(out, [3]float64{in[1], in[2], in[0]}, 1) }},
		{src, "hue=180", func(in, out [3]float64) string {
			// Greys stay; a colour near them turns about them, moving
			// no more than its distance from grey, and the rounding.
			if spread := max(in[0], in[1], in[2]) - min(in[0], in[1], in[2]); spread <= 3 {
				return within(out, in, spread+1)
			}
			return ""
		}},
		{src, "sepia=100", func(in, out [3]float64) string {
			if l := 0.299*in[0] + 0.587*in[1] + 0.114*in[2]; l < 40 || l > 160 {
				return "" // near black, and clipped near white
			}
			if h := hueOf(out); !(out[0] >= out[1] && out[1] >= out[2]) || h < 30 || h > 45 {
				return fmt.Sprintf("hue %.0f, want sepia's 30 to 45", h)
			}
			return ""
		}},
		{src, "monochrome=ff8000", func(in, out [3]float64) string {
			return within(out, [3]float64{out[0], out[0] * 128 / 255, 0}, 1)
		}},
		{src, "monochrome=%23fff", func(in, out [3]float64) string { return within(out, [3]float64{out[0], out[0], out[0]}, 1) }},
		{src, "monochrome=8f80", func(in, out [3]float64) string { // ARGB: 0x88/255 of the tint
			a, l := 0x88/255.0, (0.2126*in[0]+0.7152*in[1]+0.0722*in[2])/255
			return within(out, [3]float64{(1-a)*in[0] + a*255*l, (1-a)*in[1] + a*136*l, (1 - a) * in[2]}, 2)
		}},
		{grey, "monochrome=0000ff", func(in, out [3]float64) string { return within(out, [3]float64{0, 0, in[2]}, 1) }},
	} {
		in := rgba(t, tr, tt.src, "w=200&fm=png")
		out := rgba(t, tr, tt.src, "w=200&fm=png&"+tt.query)
		bad := 0
		for i := 0; i < len(out.Pix); i += 4 {
			p := func(img *image.RGBA) [3]float64 {
				return [3]float64{float64(img.Pix[i]), float64(img.Pix[i+1]), float64(img.Pix[i+2])}
			}
			if msg := tt.pixel(p(in), p(out)); msg != "" {
				if bad == 0 {
					t.Errorf("%s: pixel %d, %v became %v: %s", tt.query, i/4, p(in), p(out), msg)
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d pixels wrong", tt.query, bad, len(out.Pix)/4)
		}
	}
}

// within says how a is not within tol of b in every band.
func within(a, b [3]float64, tol float64) string {
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol {
			return fmt.Sprintf("want %.1f within %.0f", b, tol)
		}
	}
	return ""
}

// hueOf is the HSV hue of c, in degrees.
func hueOf(c [3]float64) float64 {
	hi, lo := max(c[0], c[1], c[2]), min(c[0], c[1], c[2])
	if hi == lo {
		return 0
	}
	var h float64
	switch hi {
	case c[0]:
		h = 60 * (c[1] - c[2]) / (hi - lo)
	case c[1]:
		h = 120 + 60*(c[2]-c[0])/(hi-lo)
	default:
		h = 240 + 60*(c[0]-c[1])/(hi-lo)
	}
	return math.Mod(h+360, 360)
}

// TestVibrance: vib moves muted colours most, either way, and leaves
// greys grey: at 100 the muted colours' spread (max-min of the bands)
// grows by more than the saturated ones', at -100 it shrinks by more.
func TestVibrance(t *testing.T) {
	tr := newTransformer(t)
	src := kodim23(t)
	base := rgba(t, tr, src, "w=200&fm=png")
	spread := func(img *image.RGBA, i int) float64 {
		p := img.Pix[i : i+3]
		return float64(max(p[0], p[1], p[2]) - min(p[0], p[1], p[2]))
	}
	for _, tt := range []struct {
		query string
		up    bool // the muted colours' spread grows
	}{
		{"vib=100", true},
		{"vib=60", true},
		{"vib=-100", false},
	} {
		out := rgba(t, tr, src, "w=200&fm=png&"+tt.query)
		var muted, vivid [2]float64 // spread before and after
		for i := 0; i < len(out.Pix); i += 4 {
			switch b := spread(base, i); {
			case b <= 1:
				if s := spread(out, i); s > 3 {
					t.Errorf("%s: grey pixel %d has a spread of %.0f", tt.query, i/4, s)
				}
			case b >= 10 && b <= 40:
				muted[0], muted[1] = muted[0]+b, muted[1]+spread(out, i)
			case b >= 150:
				vivid[0], vivid[1] = vivid[0]+b, vivid[1]+spread(out, i)
			}
		}
		m, v := muted[1]/muted[0], vivid[1]/vivid[0]
		if tt.up && !(m > 1.3 && m > v+0.2) || !tt.up && !(m < 0.7 && m < v-0.2) {
			t.Errorf("%s: muted colours' spread times %.2f, vivid ones' %.2f", tt.query, m, v)
		}
	}
}

// TestUnsharpMask: usm raises the contrast at edges (gradient energy) by
// more as it grows, and the default radius (2.5) is the one used when
// none is given; a negative usm softens, down to the gaussian itself at
// -100; alpha is kept.
func TestUnsharpMask(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	src := kodim23(t)
	energy := func(q string) float64 { return gradientEnergy(rgba(t, tr, src, "w=300&fm=png"+q)) }
	plain := energy("")
	for _, tt := range []struct {
		query    string
		min, max float64 // gradient energy over plain's
	}{
		{"&usm=20", 1.05, 1.6},
		{"&usm=100", 1.4, 4},
		{"&usm=100&usmrad=8", 1.4, 4},
		{"&usm=-50", 0.5, 0.95},
		{"&usm=-100&usmrad=3", 0, 0.6},
	} {
		if r := energy(tt.query) / plain; r < tt.min || r > tt.max {
			t.Errorf("%s: gradient energy %.2f of the plain image's, want %.2f to %.2f", tt.query, r, tt.min, tt.max)
		}
	}
	if a, b := energy("&usm=60"), energy("&usm=60&usmrad=2.5"); a != b {
		t.Errorf("usm=60: %.3f, with usmrad=2.5 %.3f: the default radius is not 2.5", a, b)
	}
	if a, b := energy("&usm=100&usmrad=1"), energy("&usm=40&usmrad=1"); a <= b {
		t.Errorf("usm=100 %.2f, usm=40 %.2f: a larger amount sharpened less", a, b)
	}
	// The blur of usm=-100 is the gaussian itself: blur=60 is sigma 3.
	if d := meanAbsDiff(rgba(t, tr, src, "w=300&fm=png&usm=-100&usmrad=3"), rgba(t, tr, src, "w=300&fm=png&blur=60")); d > 1 {
		t.Errorf("usm=-100&usmrad=3 differs from blur=60 by %.2f a sample", d)
	}
	logo := readFile(t, filepath.Join(corpusDir, "png-conformance", "basn6a08.png"))
	a, b := rgba(t, tr, logo, "fm=png"), rgba(t, tr, logo, "fm=png&usm=100")
	for i := 3; i < len(a.Pix); i += 4 {
		if a.Pix[i] != b.Pix[i] {
			t.Fatalf("usm=100 changed alpha at pixel %d: %d to %d", i/4, a.Pix[i], b.Pix[i])
		}
	}
}

// TestPixellate: px=n makes n x n blocks from the top left, each of one
// colour, the average of the pixels it covers (alpha-weighted: in
// premultiplied samples, the average of the block's); the last row and
// column of blocks are cut to the image, and average what they cover.
func TestPixellate(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	photo := kodim23(t)
	rgbaLogo := readFile(t, filepath.Join(corpusDir, "png-conformance", "basn6a08.png")) // 32x32 RGBA
	grey := readFile(t, filepath.Join(corpusDir, "png-conformance", "basn0g08.png"))     // 32x32 grey
	for _, tt := range []struct {
		src   []byte
		query string // the size, without px
		n     int
	}{
		{photo, "w=310", 20}, // 310x207: blocks of 20 leave 10 and 7
		{photo, "w=310", 7},
		{photo, "w=310", 100},
		{photo, "w=310", 2},
		{rgbaLogo, "w=32", 5},
		{grey, "w=32", 6},
	} {
		base := rgba(t, tr, tt.src, tt.query+"&fm=png")
		out := rgba(t, tr, tt.src, tt.query+"&fm=png&px="+strconv.Itoa(tt.n))
		b := out.Bounds()
		if b != base.Bounds() {
			t.Fatalf("%s&px=%d: %v, want %v", tt.query, tt.n, b, base.Bounds())
		}
		n, worst := tt.n, 0.0
		for by := 0; by < b.Dy(); by += n {
			for bx := 0; bx < b.Dx(); bx += n {
				first := out.RGBAAt(bx, by)
				var sum [4]float64
				count := 0.0
				for y := by; y < min(by+n, b.Dy()); y++ {
					for x := bx; x < min(bx+n, b.Dx()); x++ {
						if c := out.RGBAAt(x, y); c != first {
							t.Fatalf("%s&px=%d: block at %d,%d holds %v and %v at %d,%d", tt.query, n, bx, by, first, c, x, y)
						}
						c := base.RGBAAt(x, y)
						for i, v := range [4]uint8{c.R, c.G, c.B, c.A} {
							sum[i] += float64(v)
						}
						count++
					}
				}
				for i, v := range [4]uint8{first.R, first.G, first.B, first.A} {
					worst = max(worst, math.Abs(float64(v)-sum[i]/count))
				}
			}
		}
		// Rounded once to a straight colour and once again premultiplied.
		if worst > 2 {
			t.Errorf("%s&px=%d: a block is %.1f from the average of its pixels", tt.query, n, worst)
		}
	}
	base := rgba(t, tr, photo, "w=310&fm=png")
	if d := meanAbsDiff(rgba(t, tr, photo, "w=310&fm=png&px=1"), base); d != 0 {
		t.Errorf("px=1 changed the image by %.2f a sample", d)
	}
	if r := render1(t, tr, grey, "fm=png&px=4"); !bytes.Contains(r.Body[:64], []byte("IHDR")) || r.Body[25] != 0 {
		t.Errorf("px=4 on a grey PNG: colour type %d, want grey (0)", r.Body[25])
	}
}

// TestFillBlur: fit=fill&fill=blur puts the image, exactly as fill=solid
// would, in the middle of a blurred copy of it that covers the box: the
// fill is no solid colour, and matches a gaussian (sigma a twentieth of
// the box's shorter side) of the image as shown, enlarged to cover the
// box, away from the box's edges, where libvips' gaussian copies its last
// rows.
func TestFillBlur(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	src := kodim23(t) // 768x512
	for _, tt := range []struct {
		query  string
		box    image.Rectangle
		inside image.Rectangle   // the image
		fill   []image.Rectangle // parts of the fill three sigmas from the edges
	}{
		{"w=600&h=1000&fit=fill", image.Rect(0, 0, 600, 1000), image.Rect(0, 300, 600, 700), // sigma 30
			[]image.Rectangle{image.Rect(100, 100, 500, 200), image.Rect(100, 800, 500, 900)}},
		{"w=1200&h=300&fit=fillmax", image.Rect(0, 0, 1200, 300), image.Rect(375, 0, 825, 300), // sigma 15
			[]image.Rectangle{image.Rect(60, 60, 315, 240), image.Rect(885, 60, 1140, 240)}},
		{"w=100&h=1000&fit=fill", image.Rect(0, 0, 100, 1000), image.Rect(0, 466, 100, 533), // sigma 5, the copy enlarged
			[]image.Rectangle{image.Rect(20, 30, 80, 440), image.Rect(20, 560, 80, 970)}},
	} {
		solid := rgba(t, tr, src, tt.query+"&fm=png&bg=ff0000")
		blurred := rgba(t, tr, src, tt.query+"&fm=png&fill=blur&bg=ff0000")
		if blurred.Bounds() != tt.box || solid.Bounds() != tt.box {
			t.Fatalf("%s: %v and %v, want %v", tt.query, blurred.Bounds(), solid.Bounds(), tt.box)
		}
		if d := meanAbsDiff(blurred.SubImage(tt.inside).(*image.RGBA), solid.SubImage(tt.inside).(*image.RGBA)); d != 0 {
			t.Errorf("%s: the image differs from fill=solid's by %.2f a sample", tt.query, d)
		}
		// The reference: the image as fill=solid shows it, enlarged to
		// cover the box, blurred.
		w, h := tt.box.Dx(), tt.box.Dy()
		var shown bytes.Buffer
		if err := png.Encode(&shown, solid.SubImage(tt.inside)); err != nil {
			t.Fatal(err)
		}
		rw, rh := tt.inside.Dx(), tt.inside.Dy()
		cover := max(float64(w)/float64(rw), float64(h)/float64(rh))
		ref, err := vips.NewImageFromBuffer(shown.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if err := ref.ResizeWithVScale(cover, cover, vips.KernelLanczos3); err != nil {
			t.Fatal(err)
		}
		if err := ref.GaussianBlur(fillBlurSigma(w, h)); err != nil {
			t.Fatal(err)
		}
		if err := ref.ExtractArea((ref.Width()-w)/2, (ref.Height()-h)/2, w, h); err != nil {
			t.Fatal(err)
		}
		blurredRef, _, err := ref.ExportPng(vips.NewPngExportParams())
		ref.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := toRGBA(decode(t, blurredRef))
		for _, r := range tt.fill {
			got := blurred.SubImage(r).(*image.RGBA)
			if d := meanAbsDiff(got, want.SubImage(r).(*image.RGBA)); d > 2 {
				t.Errorf("%s: the fill at %v is %.1f a sample from a gaussian of the enlarged image", tt.query, r, d)
			}
			if d := meanAbsDiff(got, solid.SubImage(r).(*image.RGBA)); d < 40 {
				t.Errorf("%s: the fill at %v is %.1f a sample from fill=solid's red", tt.query, r, d)
			}
			var lo, hi uint8 = 255, 0
			for i := 0; i < len(got.Pix); i += 4 {
				lo, hi = min(lo, got.Pix[i+1]), max(hi, got.Pix[i+1])
			}
			if hi-lo < 20 {
				t.Errorf("%s: the fill at %v runs from %d to %d of green: near one colour", tt.query, r, lo, hi)
			}
		}
	}
}
