package libvips

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"image"
	"image/draw"
	"image/png"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/davidbyttow/govips/v2/vips"

	"imgedge/internal/testwait"
	"imgedge/transform"
)

func TestMain(m *testing.M) {
	Startup(slog.New(libvipsLog))
	flag.Parse()
	// One slot for TestThreadSetKeepsIdleWorkers, which sleeps out
	// libvips' 15 s idle timer; two for the renders.
	testwait.AllowParallel(3)
	code := m.Run()
	Shutdown()
	os.Exit(code)
}

const (
	benchImages = "../../bench/images"
	corpusDir   = "../../testdata/corpus"
)

func testConfig() Config {
	return Config{
		Concurrency: 2, Queue: 8, QueueTimeout: 2 * time.Second, Timeout: 30 * time.Second,
		Quality:         Quality{JPEG: 80, WebP: 80, AVIF: 80, JXL: 80},
		MaxSourcePixels: 50_000_000, MaxDimension: 8192, AVIFMaxPixels: 2_000_000,
		MaxOutputPixels: 16_000_000, MaxOutputFramesPixels: 40_000_000, MaxUpscale: 1,
		MaxAVIFPixels: 8_000_000, MaxJXLPixels: 8_000_000, MemoryBudget: 2 << 30, WebPEffort: 4, AVIFEffort: 2,
	}
}

func newTransformer(t testing.TB) *Transformer {
	t.Helper()
	tr, err := New(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parse(t testing.TB, query string) transform.Spec {
	t.Helper()
	p, err := transform.NewParser(transform.Limits{MaxDimension: 8192}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := p.ParseQuery(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return s
}

func render1(t testing.TB, tr *Transformer, src []byte, query string) transform.Result {
	t.Helper()
	res, err := tr.Transform(context.Background(), src, transform.Job{Spec: parse(t, query)})
	if err != nil {
		t.Fatalf("Transform(%s): %v", query, err)
	}
	return res
}

func TestFitDimensions(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	png768 := readFile(t, filepath.Join(benchImages, "kodim23.png"))                      // 768x512
	jpeg1800 := readFile(t, filepath.Join(corpusDir, "exif-orientation/Landscape_1.jpg")) // 1800x1200, shrink-on-load path
	tests := []struct {
		src   []byte
		query string
		w, h  int
	}{
		{png768, "w=300", 300, 200},
		{png768, "h=100", 150, 100},
		{png768, "w=33", 33, 22},
		{png768, "w=300&h=300", 300, 200},
		{png768, "w=300&h=300&fit=clip", 300, 200},
		{png768, "w=1000&h=1000&fit=clip", 1000, 667}, // clip may enlarge
		{png768, "w=1000&h=1000&fit=max", 768, 512},   // max never does
		{png768, "w=2000&fit=max", 768, 512},
		{png768, "w=300&h=300&fit=max", 300, 200},
		{png768, "w=300&h=300&fit=crop", 300, 300},
		{png768, "w=100&h=400&fit=crop", 100, 400},
		{png768, "w=1&h=1&fit=crop", 1, 1},
		{png768, "w=300&h=300&fit=fill", 300, 300},
		{png768, "w=300&h=300&fit=scale", 300, 300},
		{png768, "w=300&fit=scale", 300, 200},
		{png768, "w=300&h=300&fit=min", 300, 300}, // imgix's min: the shape asked for, cropped
		{png768, "w=100&h=400&fit=min", 100, 400},
		{png768, "w=1000&h=1000&fit=min", 512, 512},       // and never larger than the source
		{png768, "w=300&h=300&fit=fillmax", 300, 300},     // fill: padded to the box
		{png768, "w=1000&h=1000&fit=fillmax", 1000, 1000}, // the image at its size, padded
		{png768, "w=1000&fit=fillmax", 768, 512},          // one side: like max
		{png768, "w=150&h=100&dpr=2", 300, 200},
		{png768, "fm=webp", 768, 512},
		{jpeg1800, "w=300", 300, 200},
		{jpeg1800, "w=225&h=225&fit=crop", 225, 225},
		{jpeg1800, "w=899", 899, 599},
		{jpeg1800, "w=3600&fit=clip", 3600, 2400},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			res := render1(t, tr, tt.src, tt.query)
			img := decode(t, res.Body)
			if b := img.Bounds(); b.Dx() != tt.w || b.Dy() != tt.h || res.Width != tt.w || res.Height != tt.h {
				t.Fatalf("got %dx%d (reported %dx%d), want %dx%d", b.Dx(), b.Dy(), res.Width, res.Height, tt.w, tt.h)
			}
		})
	}
}

func TestFormatsMagicBytes(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	src := readFile(t, filepath.Join(benchImages, "kodim23.png"))
	tests := []struct {
		fm    string
		ctype string
		magic func([]byte) bool
	}{
		{"jpg", "image/jpeg", func(b []byte) bool { return bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}) && !hasMarker(b, 0xC2) }},
		{"pjpg", "image/jpeg", func(b []byte) bool { return bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}) && hasMarker(b, 0xC2) }},
		{"png", "image/png", func(b []byte) bool { return bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) }},
		{"webp", "image/webp", func(b []byte) bool { return bytes.HasPrefix(b, []byte("RIFF")) && string(b[8:12]) == "WEBP" }},
		{"avif", "image/avif", func(b []byte) bool { return string(b[4:8]) == "ftyp" && string(b[8:12]) == "avif" }},
		{"jxl", "image/jxl", func(b []byte) bool {
			return bytes.HasPrefix(b, []byte{0xFF, 0x0A}) || bytes.HasPrefix(b, []byte("\x00\x00\x00\x0cJXL \r\n\x87\n"))
		}},
		{"gif", "image/gif", func(b []byte) bool {
			return bytes.HasPrefix(b, []byte("GIF89a")) || bytes.HasPrefix(b, []byte("GIF87a"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.fm, func(t *testing.T) {
			res := render1(t, tr, src, "w=120&fm="+tt.fm)
			if !tt.magic(res.Body) {
				t.Fatalf("output starts % x, not %s", res.Body[:16], tt.fm)
			}
			if res.Format.ContentType() != tt.ctype {
				t.Fatalf("content type %s, want %s", res.Format.ContentType(), tt.ctype)
			}
		})
	}
}

// hasMarker reports whether the JPEG has a segment with marker 0xFF m
// (0xC2: progressive DCT start of frame).
func hasMarker(b []byte, m byte) bool {
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xFF {
			return false
		}
		if b[i+1] == m {
			return true
		}
		if b[i+1] == 0xDA { // start of scan: headers are over
			return false
		}
		i += 2 + (int(b[i+2])<<8 | int(b[i+3]))
	}
	return false
}

func TestOutputFormatChoice(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	opaque := readFile(t, filepath.Join(benchImages, "kodim23.png"))
	alpha := readFile(t, filepath.Join(benchImages, "yellow_rose.png"))
	jpeg := readFile(t, filepath.Join(benchImages, "hopper.jpg"))
	tests := []struct {
		name     string
		src      []byte
		query    string
		accepted transform.Accepted
		want     transform.Format
	}{
		{"source png stays png", opaque, "w=50", 0, transform.FormatPNG},
		{"source jpeg stays jpeg", jpeg, "w=50", 0, transform.FormatJPEG},
		{"auto avif", opaque, "w=50&auto=format", transform.AcceptAVIF | transform.AcceptWebP, transform.FormatAVIF},
		{"auto webp", opaque, "w=50&auto=format", transform.AcceptWebP, transform.FormatWebP},
		{"auto legacy opaque", opaque, "w=50&auto=format", 0, transform.FormatJPEG},
		{"auto legacy alpha keeps png", alpha, "w=50&auto=format", 0, transform.FormatPNG},
		{"fm wins", opaque, "w=50&auto=format&fm=gif", transform.AcceptAVIF, transform.FormatGIF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := parse(t, tt.query)
			spec.Accepted = tt.accepted
			res, err := tr.Transform(context.Background(), tt.src, transform.Job{Spec: spec})
			if err != nil {
				t.Fatal(err)
			}
			if res.Format != tt.want {
				t.Fatalf("format %s (%s), want %s", res.Format, res.FormatReason, tt.want)
			}
		})
	}
}

func TestJPEGFlattensAlphaOntoBackground(t *testing.T) {
	tr := newTransformer(t)
	src := readFile(t, filepath.Join(benchImages, "yellow_rose.png")) // transparent corners
	for _, tt := range []struct {
		query string
		want  [3]uint8
	}{{"w=100&fm=jpg", [3]uint8{255, 255, 255}}, {"w=100&fm=jpg&bg=000", [3]uint8{0, 0, 0}}} {
		img := decode(t, render1(t, tr, src, tt.query).Body)
		r, g, b, _ := img.At(0, 0).RGBA()
		got := [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}
		for i := range got {
			if diff := int(got[i]) - int(tt.want[i]); diff > 8 || diff < -8 {
				t.Fatalf("%s: corner %v, want about %v", tt.query, got, tt.want)
			}
		}
	}
}

// TestCropGravity compares each edge crop with the matching part of the
// uncropped resize.
func TestCropGravity(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	src := readFile(t, filepath.Join(benchImages, "kodim23.png"))
	full := toRGBA(decode(t, render1(t, tr, src, "w=150&fm=png").Body)) // 150x100
	for _, tt := range []struct {
		crop string
		x    int
	}{{"left", 0}, {"center", 25}, {"right", 50}} {
		got := toRGBA(decode(t, render1(t, tr, src, "w=100&h=100&fit=crop&fm=png&crop="+tt.crop).Body))
		want := full.SubImage(image.Rect(tt.x, 0, tt.x+100, 100)).(*image.RGBA)
		if d := meanAbsDiff(got, want); d > 3 {
			t.Errorf("crop=%s differs from columns %d..%d of the resize by %.1f", tt.crop, tt.x, tt.x+100, d)
		}
	}
	tall := toRGBA(decode(t, render1(t, tr, src, "h=150&fm=png").Body)) // 225x150
	for _, tt := range []struct {
		crop string
		y    int
	}{{"top", 0}, {"bottom", 50}} {
		got := toRGBA(decode(t, render1(t, tr, src, "w=225&h=100&fit=crop&fm=png&crop="+tt.crop).Body))
		want := tall.SubImage(image.Rect(0, tt.y, 225, tt.y+100)).(*image.RGBA)
		if d := meanAbsDiff(got, want); d > 3 {
			t.Errorf("crop=%s differs from rows %d..%d of the resize by %.1f", tt.crop, tt.y, tt.y+100, d)
		}
	}
}

// TestEXIFOrientationUpright renders every orientation of the corpus photos
// and compares it with `vips autorot` of the same file and with the
// orientation-1 photo, which is upright by definition.
func TestEXIFOrientationUpright(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("vips"); err != nil {
		t.Fatal("the vips command (Debian package libvips-tools) is needed for the reference images; .ci/run installs it")
	}
	tr := newTransformer(t)
	for _, base := range []string{"Landscape", "Portrait"} {
		upright := toRGBA(decode(t, render1(t, tr, readFile(t, filepath.Join(corpusDir, "exif-orientation", base+"_1.jpg")), "w=60&fm=png").Body))
		for n := 1; n <= 8; n++ {
			name := filepath.Join(corpusDir, "exif-orientation", base+"_"+string(rune('0'+n))+".jpg")
			got := toRGBA(decode(t, render1(t, tr, readFile(t, name), "w=60&fm=png").Body))
			ref := toRGBA(vipsAutorotReference(t, name, 60))
			if d := meanAbsDiff(got, ref); d > 4 {
				t.Errorf("%s: differs from vips autorot by %.1f per channel", name, d)
			}
			if d := meanAbsDiff(got, upright); d > 6 {
				t.Errorf("%s: differs from %s_1 (upright) by %.1f per channel", name, base, d)
			}
		}
		// The comparison can tell orientations apart: a mirrored upright
		// image is far from the upright one.
		if d := meanAbsDiff(mirror(upright), upright); d < 20 {
			t.Fatalf("mirrored %s_1 is only %.1f from itself: the check cannot see a wrong orientation", base, d)
		}
	}
}

// vipsAutorotReference is the file rotated upright by the vips command, then
// scaled to width with vips resize (vips thumbnail would read the orientation
// again).
func vipsAutorotReference(t *testing.T, src string, width int) image.Image {
	t.Helper()
	dir := t.TempDir()
	// The upright image in libvips' own format, and only its width read
	// back: a PNG written and decoded whole here took 16 s of this test's
	// 24 under the race detector.
	rot := filepath.Join(dir, "rot.v")
	if msg, err := exec.Command("vips", "autorot", src, rot).CombinedOutput(); err != nil {
		t.Fatalf("vips autorot: %v: %s", err, msg)
	}
	header, err := exec.Command("vipsheader", "-f", "width", rot).Output()
	if err != nil {
		t.Fatalf("vipsheader: %v", err)
	}
	uprightWidth, err := strconv.Atoi(strings.TrimSpace(string(header)))
	if err != nil {
		t.Fatalf("vipsheader -f width: %q", header)
	}
	out := filepath.Join(dir, "ref.png")
	scale := strconv.FormatFloat(float64(width)/float64(uprightWidth), 'f', -1, 64)
	if msg, err := exec.Command("vips", "resize", rot, out, scale).CombinedOutput(); err != nil {
		t.Fatalf("vips resize: %v: %s", err, msg)
	}
	return decode(t, readFile(t, out))
}

func TestRejectsNonImages(t *testing.T) {
	tr := newTransformer(t)
	for name, src := range map[string][]byte{
		"empty":     nil,
		"html":      []byte("<!doctype html><html><body>404 not found</body></html>"),
		"pdf":       []byte("%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"),
		"bmp":       append([]byte("BM"), make([]byte, 60)...),
		"truncated": readFile(t, filepath.Join(benchImages, "hopper.jpg"))[:3000],
	} {
		_, err := tr.Transform(context.Background(), src, transform.Job{Spec: parse(t, "w=10")})
		if !errors.Is(err, transform.ErrUnsupported) {
			t.Errorf("%s: err = %v, want ErrUnsupported", name, err)
		}
	}
}

func TestPixelLimitFromHeader(t *testing.T) {
	cfg := testConfig()
	cfg.MaxSourcePixels = 768*512 - 1
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	_, err = tr.Transform(context.Background(), readFile(t, filepath.Join(benchImages, "kodim23.png")), transform.Job{Spec: parse(t, "w=10")})
	if !errors.Is(err, transform.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

func TestAdmissionFailsFastWhenQueueFull(t *testing.T) {
	cfg := testConfig()
	cfg.Concurrency, cfg.Queue, cfg.QueueTimeout = 1, 0, time.Second
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	small := readFile(t, filepath.Join(benchImages, "hopper.jpg"))
	tr.slots <- struct{}{} // the only slot is taken
	_, err = tr.Transform(context.Background(), small, transform.Job{Spec: transform.Spec{}})
	if !errors.Is(err, transform.ErrBusy) {
		t.Fatalf("err = %v, want ErrBusy", err)
	}
	cfg.Queue, cfg.QueueTimeout = 1, 20*time.Millisecond
	tr, _ = New(cfg)
	tr.slots <- struct{}{}
	_, err = tr.Transform(context.Background(), small, transform.Job{Spec: transform.Spec{}})
	if !errors.Is(err, transform.ErrBusy) || tr.Queued() != 0 {
		t.Fatalf("err = %v, queued = %d; want ErrBusy after the queue timeout and an empty queue", err, tr.Queued())
	}
}

func decode(t testing.TB, b []byte) image.Image {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		// Formats Go cannot decode (WebP, AVIF, JXL) are converted by libvips.
		res, err2 := newTransformer(t).Transform(context.Background(), b, transform.Job{Spec: transform.Spec{Format: transform.FormatPNG}})
		if err2 != nil {
			t.Fatalf("decode: %v; through libvips: %v", err, err2)
		}
		if img, err = png.Decode(bytes.NewReader(res.Body)); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

func toRGBA(img image.Image) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, img.Bounds().Dx(), img.Bounds().Dy()))
	draw.Draw(out, out.Bounds(), img, img.Bounds().Min, draw.Src)
	return out
}

func mirror(img *image.RGBA) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			out.Set(b.Max.X-1-(x-b.Min.X), y, img.At(x, y))
		}
	}
	return out
}

// meanAbsDiff is the mean absolute difference per RGB channel (0..255);
// images of different sizes are as different as can be.
func meanAbsDiff(a, b *image.RGBA) float64 {
	if a.Bounds().Dx() != b.Bounds().Dx() || a.Bounds().Dy() != b.Bounds().Dy() {
		return 255
	}
	var sum, n float64
	for y := range a.Bounds().Dy() {
		for x := range a.Bounds().Dx() {
			pa := a.RGBAAt(a.Bounds().Min.X+x, a.Bounds().Min.Y+y)
			pb := b.RGBAAt(b.Bounds().Min.X+x, b.Bounds().Min.Y+y)
			for _, d := range []int{int(pa.R) - int(pb.R), int(pa.G) - int(pb.G), int(pa.B) - int(pb.B)} {
				sum += float64(max(d, -d))
			}
			n += 3
		}
	}
	return sum / n
}

// TestMetadataStripped: no output carries EXIF (an Orientation tag would
// rotate the already upright pixels again in a browser), XMP or IPTC.
func TestMetadataStripped(t *testing.T) {
	tr := newTransformer(t)
	src := readFile(t, filepath.Join(corpusDir, "exif-orientation", "Landscape_6.jpg"))
	if img, err := vips.NewImageFromBuffer(src); err != nil || !img.HasExif() || img.Orientation() != 6 {
		t.Fatalf("the source should carry EXIF orientation 6: %v", err)
	}
	for _, fm := range []string{"jpg", "pjpg", "png", "webp", "avif", "jxl", "gif"} {
		res := render1(t, tr, src, "w=64&fm="+fm)
		img, err := vips.NewImageFromBuffer(res.Body)
		if err != nil {
			t.Fatalf("%s: reload: %v", fm, err)
		}
		for _, f := range img.GetFields() {
			if f == "exif-data" || f == "xmp-data" || f == "iptc-data" || strings.HasPrefix(f, "exif-ifd") {
				t.Errorf("%s output carries %s", fm, f)
			}
		}
		if o := img.Orientation(); o > 1 {
			t.Errorf("%s output has orientation %d", fm, o)
		}
		img.Close()
	}
}

// TestUntrustedLoadersBlocked: even when called directly, libvips refuses
// its untrusted loaders (here PDF), while JPEG XL stays allowed.
func TestUntrustedLoadersBlocked(t *testing.T) {
	pdf := []byte("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n" +
		"3 0 obj<</Type/Page/MediaBox[0 0 10 10]/Parent 2 0 R>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
	if vips.DetermineImageType(pdf) != vips.ImageTypePDF {
		t.Fatal("test input is not sniffed as PDF")
	}
	if img, err := vips.NewImageFromBuffer(pdf); err == nil {
		img.Close()
		t.Fatal("libvips loaded a PDF: untrusted loaders are not blocked")
	} else if !strings.Contains(err.Error(), "blocked") {
		t.Fatalf("PDF refused for another reason: %v", err)
	}
	jxl := render1(t, newTransformer(t), readFile(t, filepath.Join(benchImages, "hopper.jpg")), "fm=jxl")
	if _, err := newTransformer(t).Transform(context.Background(), jxl.Body, transform.Job{Spec: parse(t, "w=10&fm=png")}); err != nil {
		t.Fatalf("JPEG XL round trip: %v", err)
	}
}

func TestStalled(t *testing.T) {
	cfg := testConfig()
	cfg.Concurrency, cfg.Queue, cfg.Timeout, cfg.QueueTimeout = 1, 4, 20*time.Millisecond, time.Minute
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	now := time.Now()
	if tr.Stalled(now.Add(time.Hour)) {
		t.Fatal("an idle transformer reports a stall")
	}
	// One stuck transform holds the only slot, and one request waits.
	tr.slots <- struct{}{}
	tr.running.Start()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	small := readFile(t, filepath.Join(benchImages, "hopper.jpg"))
	go func() { _, _ = tr.Transform(ctx, small, transform.Job{Spec: transform.Spec{}}) }()
	for tr.Queued() == 0 {
		time.Sleep(time.Millisecond)
	}
	if tr.Stalled(now) {
		t.Fatal("stalled before 2 x transform.timeout without progress")
	}
	if !tr.Stalled(now.Add(time.Second)) {
		t.Fatal("every slot taken and no progress for 50 x transform.timeout, yet not stalled")
	}
	tr.progress.Store(now.Add(time.Second).UnixNano()) // a transform finishes
	if tr.Stalled(now.Add(time.Second)) {
		t.Fatal("still stalled right after progress")
	}
}

func TestUpdateAppliesToLaterTransforms(t *testing.T) {
	tr := newTransformer(t)
	src := readFile(t, filepath.Join(benchImages, "kodim23.png"))
	before := len(render1(t, tr, src, "w=300&fm=jpg").Body)
	cfg := testConfig()
	cfg.Quality.JPEG = 30
	cfg.Concurrency = 99 // ignored: the pool keeps its size
	tr.Update(cfg)
	if after := len(render1(t, tr, src, "w=300&fm=jpg").Body); after >= before {
		t.Fatalf("JPEG quality 30 after Update: %d bytes, before %d", after, before)
	}
	if cap(tr.slots) != 2 {
		t.Fatalf("Update resized the pool to %d", cap(tr.slots))
	}
}

// TestStoppedRenderFreesItsSlot: a render past transform.timeout, or whose
// caller gave up, is killed: libvips stops at its next tile, the render
// returns, and its slot and memory serve the next request. The render asked
// for takes seconds when left alone; the gate is the render having started.
func TestStoppedRenderFreesItsSlot(t *testing.T) {
	big := readFile(t, filepath.Join(benchImages, "camera-4000x3000-q90.jpg"))
	for _, stop := range []string{"timeout", "cancel"} {
		t.Run(stop, func(t *testing.T) {
			cfg := testConfig()
			cfg.Concurrency, cfg.Queue = 1, 0
			if stop == "timeout" {
				cfg.Timeout = time.Millisecond
			}
			tr, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				_, err := tr.Transform(ctx, big, transform.Job{Spec: parse(t, "w=4000&blur=60&fm=png")})
				errc <- err
			}()
			if stop == "cancel" {
				for tr.Inflight() == 0 {
					time.Sleep(time.Millisecond)
				}
				cancel()
			}
			err = <-errc
			if want := map[string]error{"timeout": transform.ErrTimeout, "cancel": context.Canceled}[stop]; !errors.Is(err, want) {
				t.Fatalf("err = %v, want %v", err, want)
			}
			wait, done := context.WithTimeout(context.Background(), time.Minute)
			defer done()
			if err := tr.Wait(wait); err != nil {
				t.Fatal(err)
			}
			if tr.Killed() != 1 || tr.Stuck() != 0 || len(tr.slots) != 0 || tr.Reserved() != 0 {
				t.Fatalf("killed %d (want 1: stopped, not finished), stuck %d, slots taken %d, reserved %d",
					tr.Killed(), tr.Stuck(), len(tr.slots), tr.Reserved())
			}
			cfg.Timeout = 30 * time.Second
			tr.Update(cfg)
			if _, err := tr.Transform(context.Background(), readFile(t, filepath.Join(benchImages, "hopper.jpg")), transform.Job{Spec: parse(t, "w=10")}); err != nil {
				t.Fatalf("next request: %v", err)
			}
		})
	}
}

func TestTrimsOnlyWhenIdle(t *testing.T) {
	tr := newTransformer(t)
	now := time.Now()
	tr.running.Start()
	tr.trimIfIdle(now)
	if tr.lastTrim.Load() != 0 {
		t.Fatal("trimmed while a transform runs")
	}
	tr.running.Done()
	tr.trimIfIdle(now)
	if tr.lastTrim.Load() != now.UnixNano() {
		t.Fatal("no trim when idle")
	}
	tr.trimIfIdle(now.Add(time.Second))
	if tr.lastTrim.Load() != now.UnixNano() {
		t.Fatal("trimmed again within trimEvery")
	}
	old := now.Add(-time.Minute).UnixNano()
	tr.lastTrim.Store(old)
	render1(t, tr, readFile(t, filepath.Join(benchImages, "hopper.jpg")), "w=10")
	testwait.Until(t, func() bool { return tr.lastTrim.Load() != old },
		func() string { return "a finished transform with nothing else running did not trim" })
}

// TestRotationOfMultiPageSources: rot on one frame of a multi-page source
// (HEIC with its thumbnail page, a multi-page TIFF, one frame of an
// animation) turns that frame; before, govips cut it into a grid by the
// file's page count and libvips answered "bad grid geometry" or "bad seek".
func TestRotationOfMultiPageSources(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	for _, tt := range []struct {
		file, query string
		w, h        int
	}{
		{"formats/heic-example.heic", "rot=90", 854, 1280},
		{"formats/heic-example.heic", "w=100&rot=270&fm=png", 67, 100},
		{"formats/tiff-multipage.tiff", "rot=90&fm=png", 10, 10},
		{"formats/gif-animated-rotating-squares.gif", "rot=90&frame=1", 80, 80},
		{"formats/webp-animated-rotating-squares.webp", "rot=90&frame=2&fm=png", 80, 80},
		{"formats/gif-animated-rotating-squares.gif", "rot=90", 80, 80},
	} {
		res, err := tr.Transform(context.Background(), readFile(t, filepath.Join(corpusDir, tt.file)), transform.Job{Spec: parse(t, tt.query)})
		if err != nil || res.Width != tt.w || res.Height != tt.h {
			t.Errorf("%s?%s: %dx%d, %v; want %dx%d", tt.file, tt.query, res.Width, res.Height, err, tt.w, tt.h)
		}
	}
}

// TestBadLateFrameServed: an animated GIF whose later frame does not decode
// is served (as its first frame), as browsers show what they can of it.
func TestBadLateFrameServed(t *testing.T) {
	tr := newTransformer(t)
	src := readFile(t, filepath.Join(corpusDir, "hostile/libvips-invalid_multiframe.gif"))
	for _, q := range []string{"", "w=10", "fm=webp"} {
		res, err := tr.Transform(context.Background(), src, transform.Job{Spec: parse(t, q)})
		if err != nil || len(res.Body) == 0 {
			t.Errorf("?%s: %v", q, err)
		}
	}
}

// TestLibraryErrorsStayOutOfAnswers: a failure inside libvips says which
// stage failed in words of ours; libvips' own text (its error buffer is
// shared by every request of the process) stays in Detail, for the log.
func TestLibraryErrorsStayOutOfAnswers(t *testing.T) {
	tr := newTransformer(t)
	for _, file := range []string{"formats/jpeg-12bit.jpg", "hostile/fuzzdb-POC_img_phpinfo-CR.gif"} {
		_, err := tr.Transform(context.Background(), readFile(t, filepath.Join(corpusDir, file)), transform.Job{Spec: parse(t, "w=100&fm=png")})
		var le *transform.LibraryError
		if !errors.As(err, &le) || le.Detail == "" {
			t.Fatalf("%s: %v, want a LibraryError with libvips' text", file, err)
		}
		if msg := err.Error(); strings.Contains(msg, le.Detail) || strings.Contains(msg, "Vips") || strings.Contains(msg, "load_buffer") {
			t.Errorf("%s: the error's text carries libvips' message: %s", file, msg)
		}
	}
}

// TestJemallocInUse: under a preloaded jemalloc the transformer leaves
// glibc's malloc_trim alone (it would do nothing there); with glibc it trims.
func TestJemallocInUse(t *testing.T) {
	if JemallocInUse() || !newTransformer(t).glibc {
		t.Fatal("jemalloc reported in a process running glibc's malloc")
	}
	libs, _ := filepath.Glob("/usr/lib/*/libjemalloc.so.2")
	if len(libs) == 0 {
		t.Fatal("libjemalloc2 is not installed (apt-get install -y libjemalloc2; .ci/run does)")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestJemallocChild$", "-test.v")
	cmd.Env = append(os.Environ(), "LD_PRELOAD="+libs[0], "IMGEDGE_JEMALLOC_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "jemalloc in use: true, transformer trims: false") {
		t.Fatalf("under LD_PRELOAD=%s: %v\n%s", libs[0], err, out)
	}
}

// TestJemallocChild is TestJemallocInUse's child process; alone it does
// nothing.
func TestJemallocChild(t *testing.T) {
	if os.Getenv("IMGEDGE_JEMALLOC_CHILD") == "" {
		return
	}
	t.Logf("jemalloc in use: %v, transformer trims: %v", JemallocInUse(), newTransformer(t).glibc)
}
