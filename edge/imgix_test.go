package edge_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"
)

// imgixSign signs uri as imgix's SDKs do: the hex MD5 of the token, the
// path and the query, appended as the last parameter.
func imgixSign(token, uri string) string {
	sum := md5.Sum([]byte(token + uri))
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	return uri + sep + "s=" + hex.EncodeToString(sum[:])
}

// TestImgixSDKURLs: URLs as imgix's SDKs build them (srcset entries with
// ixlib, signed with the source's token) are served, and ixlib values from
// two SDKs share one cache entry; an unsigned or tampered one is refused.
func TestImgixSDKURLs(t *testing.T) {
	t.Parallel()
	const token = "imgix-token-0123456789"
	h := start(t, []string{"IMGEDGE_SIGNING_KEYS=" + token, "IMGEDGE_SIGNING_SCHEME=imgix"}, nil)
	srcset := []string{"/kodim23.png?auto=format&fit=max&w=100&ixlib=js-3.8.0", "/kodim23.png?auto=format&fit=max&w=200&ixlib=js-3.8.0",
		"/kodim23.png?ixlib=js-3.8.0"}
	for _, uri := range srcset {
		if r := h.get(t, imgixSign(token, uri), "Accept", "image/webp"); r.status != 200 || !strings.HasPrefix(r.header["content-type"], "image/") {
			t.Errorf("%s: %d %s %s", uri, r.status, r.header["content-type"], r.body)
		}
	}
	php := h.get(t, imgixSign(token, "/kodim23.png?auto=format&fit=max&w=100&ixlib=php-3.3.1"), "Accept", "image/webp")
	if php.status != 200 || !strings.HasPrefix(php.header["cache-status"], "imgedge; hit") {
		t.Errorf("the same image through another SDK: %d %s, want a hit on the js entry", php.status, php.header["cache-status"])
	}
	for _, uri := range []string{"/kodim23.png?w=100&ixlib=js-3.8.0", strings.Replace(imgixSign(token, "/kodim23.png?w=100"), "w=100", "w=101", 1),
		imgixSign("another-token-0123456", "/kodim23.png?w=100")} {
		if r := h.get(t, uri); r.status != 403 {
			t.Errorf("%s: %d, want 403", uri, r.status)
		}
	}
}

// decodePNG decodes an answer asked for with fm=png.
func decodePNG(t *testing.T, r response) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("%d %s: %v (%s)", r.status, r.header["content-type"], err, r.body[:min(len(r.body), 200)])
	}
	return img
}

func rgb(img image.Image, x, y int) [3]int {
	r, g, b, _ := img.At(x, y).RGBA()
	return [3]int{int(r >> 8), int(g >> 8), int(b >> 8)}
}

func near(a, b [3]int, tol int) bool {
	for i := range a {
		if a[i]-b[i] > tol || b[i]-a[i] > tol {
			return false
		}
	}
	return true
}

// TestImgixParametersOnPixels: rect, ar, pad, the adjustments, dl, fm=json
// and fm=blurhash over a real photo, checked on the pixels and bytes.
func TestImgixParametersOnPixels(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	src, err := png.Decode(bytes.NewReader(readImage(t, "kodim23.png"))) // 768x512
	if err != nil {
		t.Fatal(err)
	}
	imgixGeometry(t, h, src)
	imgixAdjustments(t, h)
	imgixOutputs(t, h)
}

func size(img image.Image) [2]int { return [2]int{img.Bounds().Dx(), img.Bounds().Dy()} }

// imgixGeometry: rect, ar and pad, against the source's pixels.
func imgixGeometry(t *testing.T, h *harness, src image.Image) {
	t.Helper()
	rect := decodePNG(t, h.get(t, "/kodim23.png?rect=100,50,200,100&fm=png"))
	if size(rect) != [2]int{200, 100} || !near(rgb(rect, 0, 0), rgb(src, 100, 50), 2) || !near(rgb(rect, 199, 99), rgb(src, 299, 149), 2) {
		t.Errorf("rect: %v, corner %v want %v", size(rect), rgb(rect, 0, 0), rgb(src, 100, 50))
	}
	if r := decodePNG(t, h.get(t, "/kodim23.png?rect=700,500,200,100&fm=png")); size(r) != [2]int{68, 12} {
		t.Errorf("rect past the edge: %v, want the 68x12 inside", size(r))
	}
	for q, want := range map[string][2]int{"ar=16:9&fit=crop&w=320": {320, 180}, "ar=1:1&fit=crop": {512, 512}, "ar=1:2&fit=crop&h=100": {50, 100}} {
		if r := decodePNG(t, h.get(t, "/kodim23.png?fm=png&"+q)); size(r) != want {
			t.Errorf("%s: %v, want %v", q, size(r), want)
		}
	}

	// The padding is inside the box asked for, as imgix's: 80x53 of image
	// in 100x73.
	padded := decodePNG(t, h.get(t, "/kodim23.png?w=100&pad=10&bg=ff0000&fm=png"))
	if size(padded) != [2]int{100, 73} || rgb(padded, 0, 0) != [3]int{255, 0, 0} || rgb(padded, 99, 72) != [3]int{255, 0, 0} || rgb(padded, 50, 36) == [3]int{255, 0, 0} {
		t.Errorf("pad=10 red: %v, corners %v %v", size(padded), rgb(padded, 0, 0), rgb(padded, 99, 72))
	}
	left := decodePNG(t, h.get(t, "/kodim23.png?w=100&pad-left=5&fm=png"))
	if size(left) != [2]int{100, 63} || rgb(left, 2, 30) != [3]int{255, 255, 255} { // 95x63 of image
		t.Errorf("pad-left=5: %v, %v", size(left), rgb(left, 2, 30))
	}
}

// imgixAdjustments: each colour and detail adjustment, against the plain
// variant.
func imgixAdjustments(t *testing.T, h *harness) {
	t.Helper()
	base := decodePNG(t, h.get(t, "/kodim23.png?w=100&fm=png"))
	mean := func(img image.Image) float64 {
		var sum float64
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := rgb(img, x, y)
				sum += float64(c[0] + c[1] + c[2])
			}
		}
		return sum / float64(3*b.Dx()*b.Dy())
	}
	inv := decodePNG(t, h.get(t, "/kodim23.png?w=100&invert=true&fm=png"))
	if c, o := rgb(inv, 50, 30), rgb(base, 50, 30); !near(c, [3]int{255 - o[0], 255 - o[1], 255 - o[2]}, 1) {
		t.Errorf("invert: %v of %v", c, o)
	}
	if m, b := mean(decodePNG(t, h.get(t, "/kodim23.png?w=100&bri=40&fm=png"))), mean(base); m < b+40 {
		t.Errorf("bri=40: mean %.1f against %.1f", m, b)
	}
	if m, b := mean(decodePNG(t, h.get(t, "/kodim23.png?w=100&gam=50&fm=png"))), mean(base); m <= b+10 {
		t.Errorf("gam=50: mean %.1f against %.1f", m, b)
	}
	if m, b := mean(decodePNG(t, h.get(t, "/kodim23.png?w=100&exp=50&fm=png"))), mean(base); m <= b+20 {
		t.Errorf("exp=50 (a stop): mean %.1f against %.1f", m, b)
	}
	if m, b := mean(decodePNG(t, h.get(t, "/kodim23.png?w=100&high=-100&fm=png"))), mean(base); m >= b-5 {
		t.Errorf("high=-100: mean %.1f against %.1f", m, b)
	}
	// monochrome leaves one hue: a red tint has no green or blue; the
	// 4-digit form is imgix's ARGB, the alpha its intensity.
	red := decodePNG(t, h.get(t, "/kodim23.png?w=100&monochrome=f00&fm=png"))
	if c := rgb(red, 50, 30); c[1] != 0 || c[2] != 0 || c[0] == 0 {
		t.Errorf("monochrome=f00: %v, want red alone", c)
	}
	if c, o := rgb(decodePNG(t, h.get(t, "/kodim23.png?w=100&monochrome=8f00&fm=png")), 50, 30), rgb(base, 50, 30); c[1] == 0 || c[1] >= o[1] {
		t.Errorf("monochrome=8f00 (about half): %v of %v, want some of the green left", c, o)
	}
	spread := func(c [3]int) int { return max(c[0], c[1], c[2]) - min(c[0], c[1], c[2]) }
	if c, o := rgb(decodePNG(t, h.get(t, "/kodim23.png?w=100&vib=-100&fm=png")), 50, 30), rgb(base, 50, 30); spread(c) >= spread(o) {
		t.Errorf("vib=-100: %v of %v, want a colour nearer grey", c, o)
	}
	// px=20: blocks of 20 pixels from the top left, one colour each.
	px := decodePNG(t, h.get(t, "/kodim23.png?w=100&px=20&fm=png"))
	for _, p := range [][2]int{{0, 0}, {19, 19}, {40, 20}, {59, 39}, {80, 60}, {99, 66}} {
		if c, first := rgb(px, p[0], p[1]), rgb(px, p[0]/20*20, p[1]/20*20); c != first {
			t.Errorf("px=20: %v at %v, %v at its block's corner", c, p, first)
		}
	}
	if rgb(px, 19, 0) == rgb(px, 20, 0) && rgb(px, 0, 19) == rgb(px, 0, 20) {
		t.Errorf("px=20: the first block runs past 20 pixels")
	}
	// fill=blur: the box around the image is a blurred copy of it, not
	// fill-color, and it is another entry than fill=solid's.
	solid := decodePNG(t, h.get(t, "/kodim23.png?w=300&h=300&fit=fill&fill-color=f00&fm=png"))
	blurFill := h.get(t, "/kodim23.png?w=300&h=300&fit=fill&fill=blur&fill-color=f00&fm=png")
	if strings.HasPrefix(blurFill.header["cache-status"], "imgedge; hit") {
		t.Errorf("fill=blur: a hit on fill=solid's entry")
	}
	bf := decodePNG(t, blurFill)
	if c := rgb(bf, 150, 10); c == rgb(solid, 150, 10) || c == [3]int{255, 0, 0} || rgb(bf, 20, 20) == rgb(bf, 280, 20) {
		t.Errorf("fill=blur: %v and %v in the fill, fill=solid's %v", c, rgb(bf, 280, 20), rgb(solid, 150, 10))
	}
	if rgb(bf, 150, 150) != rgb(solid, 150, 150) {
		t.Errorf("fill=blur: the image is %v, fill=solid's %v", rgb(bf, 150, 150), rgb(solid, 150, 150))
	}
	sepia := decodePNG(t, h.get(t, "/kodim23.png?w=100&sepia=100&fm=png"))
	if c := rgb(sepia, 50, 30); !(c[0] >= c[1] && c[1] >= c[2]) {
		t.Errorf("sepia=100: %v, want R >= G >= B", c)
	}
	flat := decodePNG(t, h.get(t, "/kodim23.png?w=100&con=-100&fm=png"))
	if c := rgb(flat, 10, 10); !near(c, [3]int{128, 128, 128}, 1) {
		t.Errorf("con=-100: %v, want middle grey", c)
	}
	grey := decodePNG(t, h.get(t, "/kodim23.png?w=100&sat=-100&fm=png"))
	if c := rgb(grey, 50, 30); !near(c, [3]int{c[0], c[0], c[0]}, 3) {
		t.Errorf("sat=-100: %v, want grey", c)
	}
}

// imgixOutputs: dl, fm=json, fm=blurhash and a bad parameter's 400.
func imgixOutputs(t *testing.T, h *harness) {
	t.Helper()
	dl := h.get(t, "/kodim23.png?w=100&dl=kodak%20parrots")
	if dl.header["content-disposition"] != `attachment; filename="kodak parrots.png"; filename*=UTF-8''kodak%20parrots.png` {
		t.Errorf("dl: %q", dl.header["content-disposition"])
	}
	facts := h.get(t, "/kodim23.png?fm=json")
	var f map[string]any
	if err := json.Unmarshal(facts.body, &f); err != nil || facts.header["content-type"] != "application/json" ||
		f["PixelWidth"] != 768.0 || f["PixelHeight"] != 512.0 || f["Content-Type"] != "image/png" || f["ColorModel"] != "RGB" || f["Frames"] != 1.0 {
		t.Errorf("fm=json: %s %s (%v)", facts.header["content-type"], facts.body, err)
	}
	bh := h.get(t, "/kodim23.png?fm=blurhash")
	if bh.status != 200 || bh.header["content-type"] != "text/plain; charset=utf-8" || len(bh.body) != 28 {
		t.Errorf("fm=blurhash: %d %s %q", bh.status, bh.header["content-type"], bh.body)
	}
	if r := h.get(t, "/kodim23.png?rect=1,2,3"); r.status != 400 || !strings.Contains(string(r.body), "rect") {
		t.Errorf("a bad rect: %d %s", r.status, r.body)
	}
}

// TestTrimOnAPaddedImage: trim=auto and trim=color find the bounds of an
// image padded with a flat border, and the box applies to what is left.
func TestTrimOnAPaddedImage(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	padded := h.get(t, "/kodim23.png?w=260&pad=30&bg=00ff00&fm=png") // 200x133 inside 260x193 of green
	if r := decodePNG(t, padded); r.Bounds().Dx() != 260 || r.Bounds().Dy() != 193 {
		t.Fatalf("padded: %v", r.Bounds())
	}
	h.origin.bodies.Store("/padded.png", padded.body)
	for _, q := range []string{"trim=auto", "trim=color&trim-color=00ff00", "trim=color&trim-color=00ff00&trim-tol=30"} {
		img := decodePNG(t, h.get(t, "/padded.png?fm=png&"+q))
		if w, ht := img.Bounds().Dx(), img.Bounds().Dy(); w < 198 || w > 202 || ht < 131 || ht > 135 {
			t.Errorf("%s: %dx%d, want about 200x133", q, w, ht)
		}
	}
	if img := decodePNG(t, h.get(t, "/padded.png?fm=png&trim=auto&w=100")); img.Bounds().Dx() != 100 || img.Bounds().Dy() < 65 || img.Bounds().Dy() > 68 {
		t.Errorf("trim then w=100: %v", img.Bounds())
	}
	// A border of another colour is not trimmed.
	if img := decodePNG(t, h.get(t, "/padded.png?fm=png&trim=color&trim-color=ff0000")); img.Bounds().Dx() != 260 {
		t.Errorf("trim-color red on a green border: %v", img.Bounds())
	}
}

// solidPNG is a w x h PNG of one colour.
func solidPNG(t *testing.T, w, h int, c color.NRGBA) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestWatermark: mark draws an image of the same origin over the result,
// where mark-align and mark-pad say, at mark-alpha opacity, sized by
// mark-w; a missing, non-image or oversized mark is the URL's mistake.
func TestWatermark(t *testing.T) {
	t.Parallel()
	h := start(t, []string{"IMGEDGE_LIMITS_MAX_SOURCE_PIXELS=500000"}, nil)
	h.origin.bodies.Store("/mark.png", solidPNG(t, 40, 20, color.NRGBA{R: 255, A: 255}))
	h.origin.bodies.Store("/huge-mark.png", solidPNG(t, 1000, 1000, color.NRGBA{B: 255, A: 255}))
	base := decodePNG(t, h.get(t, "/kodim23.png?w=300&fm=png")) // 300x200
	red := [3]int{255, 0, 0}

	m := decodePNG(t, h.get(t, "/kodim23.png?w=300&fm=png&mark=/mark.png"))
	if m.Bounds().Dx() != 300 || rgb(m, 300-10-20, 200-10-10) != red || rgb(m, 300-5, 200-5) != rgb(base, 300-5, 200-5) || rgb(m, 20, 20) != rgb(base, 20, 20) {
		t.Errorf("default mark (bottom-right, pad 10): inside %v, outside %v", rgb(m, 270, 180), rgb(m, 295, 195))
	}
	// mark-w between 0 and 1 is a fraction of the image, as imgix's: a
	// quarter of 300 is the 80 above less 5.
	frac := decodePNG(t, h.get(t, "/kodim23.png?w=300&fm=png&mark=/mark.png&mark-align=top,left&mark-pad=0&mark-w=0.25"))
	if rgb(frac, 1, 1) != red || rgb(frac, 73, 36) != red || rgb(frac, 77, 40) != rgb(base, 77, 40) {
		t.Errorf("mark-w=0.25: inside %v, outside %v", rgb(frac, 73, 36), rgb(frac, 77, 40))
	}
	tl := decodePNG(t, h.get(t, "/kodim23.png?w=300&fm=png&mark=/mark.png&mark-align=top,left&mark-pad=0&mark-w=80"))
	if rgb(tl, 1, 1) != red || rgb(tl, 78, 38) != red || rgb(tl, 82, 42) != rgb(base, 82, 42) {
		t.Errorf("top-left, 80 wide: %v %v %v", rgb(tl, 1, 1), rgb(tl, 78, 38), rgb(tl, 82, 42))
	}
	half := decodePNG(t, h.get(t, "/kodim23.png?w=300&fm=png&mark=/mark.png&mark-align=top,left&mark-pad=0&mark-alpha=50"))
	b := rgb(base, 10, 10)
	if want := [3]int{(255 + b[0]) / 2, b[1] / 2, b[2] / 2}; !near(rgb(half, 10, 10), want, 3) {
		t.Errorf("mark-alpha=50: %v, want about %v", rgb(half, 10, 10), want)
	}
	for q, want := range map[string]string{
		"mark=/nothing.png": "was not found at the origin", "mark=/page.jpg": "not a raster image", "mark=/../etc/passwd": "inside the origin",
	} {
		if r := h.get(t, "/kodim23.png?w=300&"+q); r.status != 400 || !strings.Contains(string(r.body), want) {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}
	if r := h.get(t, "/kodim23.png?w=300&mark=/huge-mark.png"); r.status != 422 || !strings.Contains(string(r.body), "the mark is 1000x1000, above limits.max_source_pixels") {
		t.Errorf("a mark over limits.max_source_pixels: %d %s", r.status, r.body)
	}
	// A truncated mark is refused as the same file is as a source (before,
	// it was drawn as far as libvips could read it: 200).
	whole := readImage(t, "kodim04.png")
	h.origin.bodies.Store("/cut.png", whole[:len(whole)*2/3])
	source, marked := h.get(t, "/cut.png?w=50"), h.get(t, "/kodim23.png?w=300&mark=/cut.png")
	if source.status != 422 || marked.status != source.status {
		t.Errorf("a truncated PNG: as a source %d, as a mark %d %s; want both 422", source.status, marked.status, marked.body)
	}
}

// TestImgixTokensBelongToTheirRoute: with origins chosen by Host, each
// with its own imgix token, a URL signed for one tenant's host is refused
// on the other's (imgix's scheme signs no host). Before, one signed URL
// served tenant A's object on A's host and tenant B's on B's.
func TestImgixTokensBelongToTheirRoute(t *testing.T) {
	t.Parallel()
	const tokenA, tokenB = "tenant-a-token-0123456", "tenant-b-token-0123456"
	other := newTestOrigin(t)
	h := start(t, []string{"IMGEDGE_SIGNING_SCHEME=imgix", "IMGEDGE_SIGNING_KEYS=" + "default-token-012345678",
		"IMGEDGE_ORIGINS=[{hosts: [a.example], url: '" + other.url + "', signing: {keys: [" + tokenA + "]}}, " +
			"{hosts: [b.example], url: '" + other.url + "', signing: {keys: [" + tokenB + "]}}]"}, nil)
	for _, tt := range []struct {
		host, token string
		status      int
	}{
		{"a.example", tokenA, 200}, {"b.example", tokenB, 200},
		{"a.example", tokenB, 403}, {"b.example", tokenA, 403},
		{"other.example", tokenA, 403}, {"other.example", "default-token-012345678", 200},
	} {
		if r := h.get(t, imgixSign(tt.token, "/kodim23.png?w=60"), "Host", tt.host); r.status != tt.status {
			t.Errorf("host %s, signed with %s: %d, want %d", tt.host, tt.token, r.status, tt.status)
		}
	}
}

// TestImgixFractionalSides: w and h between 0 and 1 are fractions of the
// source, as imgix's; every spelling of one is one cache entry, and a
// fraction that is not one is the URL's mistake.
func TestImgixFractionalSides(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	size := func(img image.Image) [2]int { return [2]int{img.Bounds().Dx(), img.Bounds().Dy()} }
	for q, want := range map[string][2]int{
		"w=0.5": {384, 256}, "h=0.25&fit=crop&w=100": {100, 128}, "w=0.5&dpr=2": {768, 512}, "w=0.25&ar=2:1&fit=crop": {192, 96},
	} {
		if r := decodePNG(t, h.get(t, "/kodim23.png?fm=png&"+q)); size(r) != want {
			t.Errorf("%s of 768x512: %v, want %v", q, size(r), want)
		}
	}
	for _, q := range []string{"w=.5", "w=0.50", "w64=MC41"} {
		if r := h.get(t, "/kodim23.png?fm=png&"+q); r.status != 200 || !strings.HasPrefix(r.header["cache-status"], "imgedge; hit") {
			t.Errorf("%s: %d %s, want a hit on w=0.5's entry", q, r.status, r.header["cache-status"])
		}
	}
	if r := h.get(t, "/kodim23.png?w=1.0"); r.status != 400 || !strings.Contains(string(r.body), `w=\"1.0\" is out of range`) {
		t.Errorf("w=1.0: %d %s", r.status, r.body)
	}
}
