package libvips

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"

	"imgedge/transform"
)

// Every decode route keeps the detail of one Lanczos3 resize of the whole
// source: the render's output (lossless PNG, so only the route differs)
// against that resize made by the vips command, SSIM on luma (ssim_test.go).
// The reference is libvips' own resize, as `vips resize` runs it. Two
// equally valid Lanczos3 resizes of a photo already differ by 0.002 (libvips
// with its reducing gap of 2 against none: 0.9980 for kodim07 at 170 px),
// which sets the bar for the routes that resize twice: 0.998. The routes
// that decode at a smaller size in the codec (JPEG's DCT scaling, libwebp's
// rescaler, a HEIF thumbnail, which is another picture) are held to what
// they measure, less a margin. The figures are in bench/RESULTS.md
// ("Image quality").
func TestDecodeRoutesKeepDetail(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	dir := t.TempDir()
	// A large PNG, made here from the 12 MP photo (uncompressed, so it is
	// quick to write): the benchmark PNGs are 768 px wide.
	camera := filepath.Join(dir, "camera-4000x3000.png")
	vipsRun(t, "copy", filepath.Join(benchImages, "camera-4000x3000-q90.jpg"), camera+"[compression=0]")
	photo := filepath.Join(dir, "photo-1600x1200.png")
	vipsRun(t, "copy", filepath.Join(benchImages, "photo-1600x1200-q85.jpg"), photo)
	cases := []struct {
		name, file, query string
		by                string // Result.DecodedBy
		ladder            bool   // rendered from a rung the first render kept
		alpha             bool
		minSSIM           float64
	}{
		// JPEG: DCT scaling, then one resize (measured 0.9973 and 0.9901).
		{"JPEG shrink-on-load", "bench/photo-1600x1200-q85.jpg", "w=300", "shrink-on-load 1/4", false, false, 0.996},
		{"JPEG shrink-on-load, EXIF orientation 6", "corpus/exif-orientation/Landscape_6.jpg", "w=200", "shrink-on-load 1/8", false, false, 0.988},
		// WebP: libwebp's scaled decode (measured 0.9977 and 0.9838).
		{"WebP scaled decode", "webp/photo-1600x1200-q85.jpg", "w=300", "shrink-on-load 1/4", false, false, 0.996},
		{"WebP scaled decode, EXIF orientation 6", "corpus/exif-orientation/pillow-hopper_orientation_6.webp", "w=30", "shrink-on-load 1/4", false, false, 0.98},
		// HEIF: the embedded 320x212 thumbnail (measured 0.9953).
		{"HEIC thumbnail", "corpus/formats/heic-example.heic", "w=200", "embedded thumbnail", false, false, 0.994},
		// No shrink-on-load: decoded whole, then a first reduce to 1/2, 1/4
		// or 1/8 when the size leaves a reduce of 2x or more after it
		// (ladder.go). Measured 1, 0.9990, 1, 0.9992, 1, 0.9991, 0.9980, 1,
		// 1; with the linear first step to the nearest scale before it:
		// 0.9910, 0.9935, 0.9918, 0.9927, 0.9980, 0.9995, 0.9966, 0.9931.
		{"PNG 768 px at 300", "bench/kodim07.png", "w=300", "whole", false, false, 0.998},
		{"PNG 768 px at 150", "bench/kodim23.png", "w=150", "whole", false, false, 0.998},
		{"PNG screenshot (text) at 300", "bench/lorem_ipsum_screenshot.png", "w=300", "whole", false, true, 0.998},
		{"PNG 1600 px at 300", photo, "w=300", "whole", false, false, 0.998},
		{"PNG 4000 px at 1200", camera, "w=1200", "whole", false, false, 0.998},
		{"PNG 2048 px with alpha at 90", "corpus/formats/png-alpha-blackbug.png", "w=90", "whole", false, true, 0.998},
		{"AVIF at 100", "corpus/formats/avif-example.avif", "w=100", "whole", false, false, 0.9975},
		{"HEIC beyond its thumbnail at 400", "corpus/formats/heic-example.heic", "w=400", "whole", false, false, 0.998},
		{"JPEG XL at 300", "corpus/formats/jxl-bicycles.jxl", "w=300", "whole", false, false, 0.9999},
		// Rungs: the second render starts from the rung the first one kept
		// (measured 0.9973, 0.9990, 1).
		{"JPEG rung", "bench/photo-1600x1200-q85.jpg", "w=300", "rung at 1/4 scale", true, false, 0.996},
		{"PNG rung", "bench/kodim23.png", "w=150", "rung at 1/2 scale", true, false, 0.998},
		{"PNG rung at full size", "bench/kodim07.png", "w=300", "rung at full size", true, false, 0.9999},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := routeSource(t, c.file)
			job := transform.Job{Spec: parse(t, c.query+"&fm=png")}
			if c.ladder {
				job.Ladder = &mapLadder{}
				if _, err := tr.Transform(context.Background(), src, job); err != nil {
					t.Fatal(err)
				}
			}
			res, err := tr.Transform(context.Background(), src, job)
			if err != nil {
				t.Fatal(err)
			}
			if res.DecodedBy != c.by || c.ladder && res.Rung != transform.RungClimbed {
				t.Fatalf("decoded by %q at %dx%d, rung %s; want %q", res.DecodedBy, res.DecodedWidth, res.DecodedHeight, res.Rung, c.by)
			}
			ref := lanczos3Reference(t, src, res.Width, res.Height, c.alpha)
			s := ssim(lumaOfPNG(t, res.Body), lumaOfPNG(t, ref))
			t.Logf("SSIM %.4f (%dx%d, decoded at %dx%d)", s, res.Width, res.Height, res.DecodedWidth, res.DecodedHeight)
			if !(s >= c.minSSIM) {
				t.Errorf("SSIM %.4f against one Lanczos3 resize of the whole source; want at least %g", s, c.minSSIM)
			}
		})
	}
}

// A rect on a source with shrink-on-load is cut from the source decoded
// at a smaller scale, outward to whole pixels of that scale, when that
// moves its edges by a quarter of an output pixel at most (rectShrink):
// against the rect cut at full size and resized with Lanczos3 once, the
// difference is the scaled decode's, as for a whole JPEG (measured 0.9944,
// 0.9989, 0.9945, 0.9965, 1, 0.9991, 0.9978), and the decode a fraction of
// the whole one.
func TestRectCutAtTheDecodedScale(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	cases := []struct {
		file, query string
		by          string
		minSSIM     float64
	}{
		{"bench/camera-4000x3000-q90.jpg", "rect=1000,504,2000,1496&w=200", "shrink-on-load 1/8", 0.993},
		{"bench/camera-4000x3000-q90.jpg", "rect=1000,500,2000,1500&w=200", "shrink-on-load 1/4", 0.993},
		{"bench/camera-4000x3000-q90.jpg", "rect=1003,499,2000,1500&w=200", "shrink-on-load 1/2", 0.993},
		{"bench/camera-4000x3000-q90.jpg", "rect=0,0,4000,3000&w=400", "shrink-on-load 1/8", 0.993},
		{"bench/photo-1600x1200-q85.jpg", "rect=333,111,901,707&w=300", "whole", 0.993},
		{"corpus/exif-orientation/Landscape_6.jpg", "rect=10,20,300,400&w=50", "shrink-on-load 1/2", 0.993},
		{"webp/photo-1600x1200-q85.jpg", "rect=400,300,800,600&w=150", "shrink-on-load 1/4", 0.993},
	}
	for _, c := range cases {
		t.Run(c.file+"?"+c.query, func(t *testing.T) {
			src := routeSource(t, c.file)
			spec := parse(t, c.query+"&fm=png")
			res, err := tr.Transform(context.Background(), src, transform.Job{Spec: spec})
			if err != nil {
				t.Fatal(err)
			}
			r := spec.Rect
			if res.DecodedBy != c.by {
				t.Fatalf("decoded by %q at %dx%d; want %q", res.DecodedBy, res.DecodedWidth, res.DecodedHeight, c.by)
			}
			if want := planSize(spec, r[2], r[3], 8192, 1); res.Width != want.boxW || res.Height != want.boxH {
				t.Fatalf("%dx%d; want %dx%d", res.Width, res.Height, want.boxW, want.boxH)
			}
			dir := t.TempDir()
			in, up, cut, ref := filepath.Join(dir, "src"), filepath.Join(dir, "up.v"), filepath.Join(dir, "cut.v"), filepath.Join(dir, "ref.png")
			if err := os.WriteFile(in, src, 0o644); err != nil {
				t.Fatal(err)
			}
			vipsRun(t, "autorot", in, up)
			vipsRun(t, "extract_area", up, cut, strconv.Itoa(r[0]), strconv.Itoa(r[1]), strconv.Itoa(r[2]), strconv.Itoa(r[3]))
			f := func(to, from int) string { return strconv.FormatFloat(float64(to)/float64(from), 'g', -1, 64) }
			vipsRun(t, "resize", cut, ref, f(res.Width, r[2]), "--vscale", f(res.Height, r[3]), "--kernel", "lanczos3")
			s := ssim(lumaOfPNG(t, res.Body), lumaOfPNG(t, readFile(t, ref)))
			t.Logf("SSIM %.4f (%dx%d, decoded at %dx%d)", s, res.Width, res.Height, res.DecodedWidth, res.DecodedHeight)
			if !(s >= c.minSSIM) {
				t.Errorf("SSIM %.4f against the rect cut at full size and resized once; want at least %g", s, c.minSSIM)
			}
		})
	}
}

// routeSource reads "bench/NAME", "corpus/PATH" or an absolute path, or
// makes "webp/NAME": a benchmark image as a WebP.
func routeSource(t *testing.T, name string) []byte {
	t.Helper()
	if rest, ok := strings.CutPrefix(name, "webp/"); ok {
		return webpOf(t, rest)
	}
	if filepath.IsAbs(name) {
		return readFile(t, name)
	}
	return readFile(t, imagePath(name))
}

// lanczos3Reference has the vips command decode src whole, turn it upright,
// resize it with Lanczos3 to exactly w x h (premultiplied when it has
// alpha, as govips resizes) and save it as PNG.
func lanczos3Reference(t *testing.T, src []byte, w, h int, alpha bool) []byte {
	t.Helper()
	dir := t.TempDir()
	in, up, out := filepath.Join(dir, "src"), filepath.Join(dir, "upright.v"), filepath.Join(dir, "ref.png")
	if err := os.WriteFile(in, src, 0o644); err != nil {
		t.Fatal(err)
	}
	vipsRun(t, "autorot", in, up)
	sw, sh := vipsHeaderInt(t, up, "width"), vipsHeaderInt(t, up, "height")
	scale := func(to, from int) string { return strconv.FormatFloat(float64(to)/float64(from), 'g', -1, 64) }
	resize := func(from, to string) {
		vipsRun(t, "resize", from, to, scale(w, sw), "--vscale", scale(h, sh), "--kernel", "lanczos3")
	}
	if alpha {
		pre, res, un := filepath.Join(dir, "pre.v"), filepath.Join(dir, "res.v"), filepath.Join(dir, "un.v")
		vipsRun(t, "premultiply", up, pre)
		resize(pre, res)
		vipsRun(t, "unpremultiply", res, un)
		vipsRun(t, "cast", un, out, "uchar")
	} else {
		resize(up, out)
	}
	if rw, rh := vipsHeaderInt(t, out, "width"), vipsHeaderInt(t, out, "height"); rw != w || rh != h {
		t.Fatalf("the reference is %dx%d; the render %dx%d", rw, rh, w, h)
	}
	return readFile(t, out)
}

func vipsRun(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("vips", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("vips %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func vipsHeaderInt(t *testing.T, file, field string) int {
	t.Helper()
	out, err := exec.Command("vipsheader", "-f", field, file).Output()
	if err != nil {
		t.Fatalf("vipsheader -f %s %s: %v", field, file, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(fmt.Errorf("vipsheader -f %s: %w", field, err))
	}
	return n
}

// The mapping is JPEG's q as it is, the measured rows of qualityScale
// exactly, and linear between them, with every setting moving one way as q
// rises.
func TestQualityScale(t *testing.T) {
	cases := []struct {
		f    transform.Format
		q    int
		want setting
	}{
		{transform.FormatJPEG, 80, setting{q: 80}},
		{transform.FormatPJPEG, 37, setting{q: 37}},
		{transform.FormatWebP, 80, setting{q: 81}},
		{transform.FormatAVIF, 80, setting{q: 63}},
		{transform.FormatAVIF, 60, setting{q: 50}},
		{transform.FormatAVIF, 82, setting{q: 65}}, // 63 + 2/5 of 6
		{transform.FormatJXL, 80, setting{distance: 1.71}},
		{transform.FormatJXL, 1, setting{distance: 25}},
		{transform.FormatJXL, 100, setting{distance: 0.1}},
		{transform.FormatWebP, 5, setting{q: 1}},
		{transform.FormatAVIF, 100, setting{q: 100}},
	}
	for _, c := range cases {
		if got := encoderSetting(c.f, c.q); got != c.want {
			t.Errorf("%s at q %d: %+v; want %+v", c.f, c.q, got, c.want)
		}
	}
	for _, f := range []transform.Format{transform.FormatWebP, transform.FormatAVIF, transform.FormatJXL} {
		prev := encoderSetting(f, 1)
		for q := 2; q <= 100; q++ {
			s := encoderSetting(f, q)
			if s.q < prev.q || s.distance > prev.distance {
				t.Errorf("%s: q %d gives %+v, q %d gave %+v: coarser", f, q, s, q-1, prev)
			}
			prev = s
		}
	}
}

// One q gives about one SSIM in every lossy format: mean SSIM on luma of
// three benchmark photos within 300x300, against the uncompressed render.
// The scale was measured at 600 px; here, at half that, the formats stayed
// within 0.004 of JPEG (AVIF +0.0040 at q 80, JPEG XL -0.0038 at q 50).
// Each encoder's own Q was 0.008-0.025 apart: AVIF +0.0079 and +0.0140,
// JPEG XL +0.0245 and +0.0159.
func TestOneQualityScale(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	photos := []string{"kodim07.png", "photo-1600x1200-q85.jpg", "giunchedi-portrait.jpg"}
	for _, q := range []int{50, 80} {
		var jpeg float64
		for _, fm := range []string{"jpg", "webp", "avif", "jxl"} {
			var sum float64
			for _, name := range photos {
				src := readFile(t, filepath.Join(benchImages, name))
				ref := render1(t, tr, src, "w=300&h=300&fit=max&fm=png").Body
				out := render1(t, tr, src, fmt.Sprintf("w=300&h=300&fit=max&fm=%s&q=%d", fm, q)).Body
				sum += ssim(lumaOfPNG(t, ref), lumaOfPNG(t, pngOf(t, out)))
			}
			mean := sum / float64(len(photos))
			if fm == "jpg" {
				jpeg = mean
			}
			t.Logf("q %d %s: SSIM %.4f (JPEG %.4f)", q, fm, mean, jpeg)
			if math.Abs(mean-jpeg) > 0.006 {
				t.Errorf("q %d: %s scores %.4f, JPEG %.4f; want within 0.006", q, fm, mean, jpeg)
			}
		}
	}
}

// pngOf decodes an image with libvips and re-encodes it as PNG.
func pngOf(t *testing.T, b []byte) []byte {
	t.Helper()
	img, err := vips.LoadImageFromBuffer(b, vips.NewImportParams())
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	out, _, err := img.ExportPng(&vips.PngExportParams{Compression: 0})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
