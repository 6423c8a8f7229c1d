package edge_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"image"
	"image/color"
	_ "image/gif"
	_ "image/jpeg"
	"image/png"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"

	"imgedge/edge/signing"
)

// imgix's JavaScript SDK (@imgix/js-core) is the judge of what imgix URLs
// look like: these tests have it build URLs and srcsets, with and without a
// secure URL token, and the edge must answer every one as imgix documents.

// sdkDir holds the SDK's package.json and package-lock.json; node_modules
// is installed from the lock when it is absent.
const sdkDir = "testdata/imgix-sdk"

var (
	sdkOnce sync.Once
	sdkNode string
	sdkErr  error
)

// imgixSDK returns the node that runs the SDK, installed first (npm ci)
// when node_modules lacks the version package.json pins, as in a fresh
// clone. .ci/run installs Debian's nodejs and npm.
func imgixSDK(t testing.TB) string {
	t.Helper()
	sdkOnce.Do(func() { sdkNode, sdkErr = installSDK() })
	if sdkErr != nil {
		t.Fatalf("imgix's SDK: %v", sdkErr)
	}
	return sdkNode
}

func installSDK() (string, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		if node, err = exec.LookPath("nodejs"); err != nil {
			return "", fmt.Errorf("no node on PATH (.ci/run installs Debian's nodejs and npm): %v", err)
		}
	}
	var pkg, installed struct {
		Version      string
		Dependencies map[string]string
	}
	b, err := os.ReadFile(filepath.Join(sdkDir, "package.json"))
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return "", err
	}
	b, err = os.ReadFile(filepath.Join(sdkDir, "node_modules", "@imgix", "js-core", "package.json"))
	if err == nil && json.Unmarshal(b, &installed) == nil && installed.Version == pkg.Dependencies["@imgix/js-core"] {
		return node, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("no npm on PATH to install the SDK (.ci/run installs Debian's npm): %v", err)
	}
	cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = sdkDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm ci in %s: %v\n%s", sdkDir, err, out)
	}
	return node, nil
}

// sdkCase is one call of the SDK: buildURL of src with params (a JSON
// object, as a page hands it to the SDK), or buildSrcSet with its options.
type sdkCase struct {
	src    string
	params string
	srcset bool
	opts   string
}

// sdkBuilt is what the SDK made of one sdkCase: its URLs (with their
// descriptors, for a srcset) and the srcset attribute as it wrote it.
type sdkBuilt struct {
	Srcset string `json:"srcset"`
	URLs   []struct {
		URL        string `json:"url"`
		Descriptor string `json:"descriptor"`
	} `json:"urls"`
}

// buildWithSDK runs edge/testdata/imgix-sdk/urls.cjs: the SDK builds every
// case for domain (the edge's 127.0.0.1:port), signed with token when it
// is not empty.
func buildWithSDK(t testing.TB, domain, token string, cases []sdkCase) []sdkBuilt {
	t.Helper()
	node := imgixSDK(t)
	type request struct {
		Path    string          `json:"path"`
		Params  json.RawMessage `json:"params"`
		Srcset  bool            `json:"srcset,omitempty"`
		Options json.RawMessage `json:"options,omitempty"`
	}
	in := struct {
		Domain   string    `json:"domain"`
		Token    string    `json:"token"`
		Requests []request `json:"requests"`
	}{Domain: domain, Token: token}
	for _, c := range cases {
		r := request{Path: c.src, Params: json.RawMessage(c.params), Srcset: c.srcset}
		if c.opts != "" {
			r.Options = json.RawMessage(c.opts)
		}
		in.Requests = append(in.Requests, r)
	}
	stdin, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "urls.cjs")
	cmd.Dir = sdkDir
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node urls.cjs: %v\n%s", err, stderr.String())
	}
	var built []sdkBuilt
	if err := json.Unmarshal(out, &built); err != nil || len(built) != len(cases) {
		t.Fatalf("node urls.cjs: %d answers for %d cases (%v): %.500s", len(built), len(cases), err, out)
	}
	return built
}

// sdkSource is an object at the test origin as imgix would see it.
type sdkSource struct {
	w, h         int    // as displayed
	trimW, trimH int    // what trim leaves: the inside of a flat frame
	contentType  string // its format, the answer's when nothing asks for another
}

// Sources of the SDK's URLs: photo and parrots are bench/images', framed
// is made by sdkFramedPNG, spaced is parrots under a path that needs
// percent-encoding.
const (
	sdkPhoto    = "/photo-1600x1200-q85.jpg"
	sdkParrots  = "/kodim23.png"
	sdkFramed   = "/sdk/framed.png"
	sdkSpaced   = "/sdk/my parrots é.png"
	sdkPortrait = "/giunchedi-portrait.jpg"
)

var sdkSources = map[string]sdkSource{
	sdkPhoto:    {w: 1600, h: 1200, contentType: "image/jpeg"},
	sdkParrots:  {w: 768, h: 512, contentType: "image/png"},
	sdkFramed:   {w: 400, h: 300, trimW: 300, trimH: 200, contentType: "image/png"},
	sdkSpaced:   {w: 768, h: 512, contentType: "image/png"},
	sdkPortrait: {w: 800, h: 533, contentType: "image/jpeg"},
}

// sdkFramedPNG is 400x300: a 300x200 gradient inside a flat green frame
// 50 pixels wide, what trim=auto and trim=color cut away.
func sdkFramedPNG(t testing.TB) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 400, 300))
	for y := range 300 {
		for x := range 400 {
			c := color.NRGBA{G: 255, A: 255}
			if x >= 50 && x < 350 && y >= 50 && y < 250 {
				c = color.NRGBA{R: uint8(x - 50), G: 0, B: uint8(y), A: 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// sdkCases are the SDK calls the edge must answer as imgix documents:
// srcsets as pages build them, then every parameter the edge reads (see
// `var params` in transform/parse.go). A parameter the edge learns is one
// more line here; imgixSize needs a case only when it changes the size.
var sdkCases = []sdkCase{
	// The fluid srcset, the SDK's default: 31 widths from 100w to 8192w,
	// the widest over the output limits.
	{src: sdkPhoto, params: `{"auto": "format"}`, srcset: true},
	{src: sdkParrots, params: `{"fit": "crop", "ar": "16:9"}`, srcset: true, opts: `{"minWidth": 200, "maxWidth": 3000, "widthTolerance": 0.2}`},
	// Fixed widths: dpr 1 to 5 with the SDK's variable quality (q=75 to
	// 20), or the qualities and ratios a page chose; w=2000 at dpr 5 is
	// past limits.max_dimension.
	{src: sdkPhoto, params: `{"w": 400, "auto": "format"}`, srcset: true},
	{src: sdkParrots, params: `{"h": 300, "fit": "max"}`, srcset: true, opts: `{"disableVariableQuality": true}`},
	{src: sdkParrots, params: `{"w": 2000, "h": 1000, "fit": "crop"}`, srcset: true, opts: `{"devicePixelRatios": [1, 1.5, 5], "variableQualities": {"1": 60, "5": 15}}`},
	{src: sdkPhoto, params: `{"w": 200, "h": 200, "fit": "crop", "crop": "entropy", "auto": "format,compress"}`, srcset: true},

	// Avatars: the face area at each dpr, and crops that follow the face.
	{src: sdkPortrait, params: `{"w": 128, "h": 128, "fit": "facearea"}`, srcset: true},
	{src: sdkPortrait, params: `{"w": 300, "h": 200, "fit": "facearea", "facepad": 1.5, "faceindex": 1}`},
	{src: sdkPortrait, params: `{"w": 300, "h": 300, "fit": "crop", "crop": "faces"}`},
	{src: sdkPortrait, params: `{"w": 300, "h": 300, "fit": "crop", "crop": "faces,top,left"}`},
	{src: sdkParrots, params: `{"w": 200, "h": 200, "fit": "facearea,fill", "bg": "0f0"}`},
	// Adjustments, fractions and the blurred fill.
	{src: sdkPortrait, params: `{"w": 300, "exp": 40, "shad": 30, "high": -30}`},
	{src: sdkPortrait, params: `{"w": 300, "vib": 60, "hue": 120}`},
	{src: sdkPortrait, params: `{"w": 300, "sepia": 80}`},
	{src: sdkPortrait, params: `{"w": 300, "monochrome": "8f80"}`},
	{src: sdkPortrait, params: `{"w": 300, "usm": 40, "usmrad": 3}`},
	{src: sdkPortrait, params: `{"w": 300, "px": 10}`},
	{src: sdkParrots, params: `{"w": 300, "h": 300, "fit": "fill", "fill": "blur"}`},
	{src: sdkParrots, params: `{"w": 0.5}`},
	{src: sdkParrots, params: `{"w": 0.25, "h": 0.5, "fit": "crop", "dpr": 2}`},

	{src: sdkParrots, params: `{"w": 300}`},
	{src: sdkParrots, params: `{"h": 300}`},
	{src: sdkParrots, params: `{"w": 1000}`},
	{src: sdkParrots, params: `{"w": 300, "h": 300, "fit": "clip"}`},
	{src: sdkParrots, params: `{"w": 1000, "h": 1000, "fit": "max"}`},
	{src: sdkParrots, params: `{"w": 300, "h": 300, "fit": "max"}`},
	{src: sdkParrots, params: `{"w": 300, "h": 300, "fit": "crop"}`},
	{src: sdkParrots, params: `{"w": 300, "h": 300, "fit": "crop", "crop": "top,left"}`},
	{src: sdkParrots, params: `{"w": 300, "h": 300, "fit": "crop", "crop": "bottom,right"}`},
	{src: sdkParrots, params: `{"w": 300, "h": 200, "fit": "crop", "crop": "edges"}`},
	{src: sdkParrots, params: `{"w": 300, "h": 200, "fit": "crop", "crop": "entropy"}`},
	{src: sdkParrots, params: `{"w": 300, "h": 200, "fit": "crop", "crop": "attention"}`},
	{src: sdkParrots, params: `{"w": 300, "h": 200, "fit": "crop", "crop": "focalpoint", "fp-x": 0.3, "fp-y": 0.6}`},
	{src: sdkParrots, params: `{"w": 300, "h": 300, "fit": "fill", "bg": "ff0000"}`},
	{src: sdkParrots, params: `{"w": 300, "h": 300, "fit": "fill", "fill": "solid", "fill-color": "00ff00"}`},
	{src: sdkParrots, params: `{"w": 1000, "h": 1000, "fit": "fillmax", "fill": "solid", "fill-color": "80ffffff"}`},
	{src: sdkParrots, params: `{"w": 300, "h": 300, "fit": "fillmax"}`},
	{src: sdkParrots, params: `{"w": 300, "h": 100, "fit": "scale"}`},
	{src: sdkParrots, params: `{"w": 300, "h": 300, "fit": "min"}`},
	{src: sdkParrots, params: `{"w": 1000, "h": 900, "fit": "min"}`},
	{src: sdkParrots, params: `{"w": 320, "fit": "crop", "ar": "16:9"}`},
	{src: sdkParrots, params: `{"h": 100, "fit": "crop", "ar": "1:2"}`},
	{src: sdkParrots, params: `{"fit": "crop", "ar": "1:1"}`},
	{src: sdkParrots, params: `{"rect": "100,50,200,100"}`},
	{src: sdkParrots, params: `{"rect": "600,400,400,300", "w": 100}`},
	{src: sdkParrots, params: `{"w": 200, "dpr": 2.5}`},
	{src: sdkParrots, params: `{"w": 200, "h": 100, "fit": "crop", "dpr": 3}`},
	{src: sdkParrots, params: `{"w": 200, "fm": "jpg"}`},
	{src: sdkParrots, params: `{"w": 200, "fm": "pjpg"}`},
	{src: sdkParrots, params: `{"w": 200, "fm": "png"}`},
	{src: sdkParrots, params: `{"w": 200, "fm": "webp"}`},
	{src: sdkParrots, params: `{"w": 200, "fm": "avif"}`},
	{src: sdkParrots, params: `{"w": 200, "fm": "jxl"}`},
	{src: sdkParrots, params: `{"w": 200, "fm": "gif"}`},
	{src: sdkParrots, params: `{"w": 200, "auto": "format,compress"}`},
	{src: sdkParrots, params: `{"w": 200, "auto": "compress"}`},
	{src: sdkParrots, params: `{"w": 200, "fm": "jpg", "q": 40}`},
	{src: sdkParrots, params: `{"w": 200, "fm": "webp", "lossless": 1}`},
	{src: sdkParrots, params: `{"w": 200, "pad": 10, "bg": "0f0"}`},
	{src: sdkParrots, params: `{"w": 200, "h": 200, "pad-left": 20, "pad-top": 5, "bg": "ff000080"}`},
	{src: sdkParrots, params: `{"w": 300, "mark": "/kodim04.png", "mark-w": 0.2, "mark-align": "bottom,right"}`},
	{src: sdkParrots, params: `{"w": 300, "mark64": "/kodim04.png", "mark-w": 0.2, "mark-h": 0.3, "mark-fit": "max", "mark-alpha": 60, "mark-pad": 5}`},
	{src: sdkParrots, params: `{"w": 300, "mark": "/kodim04.png", "mark-w": 40, "mark-align": "top,center"}`},
	{src: sdkFramed, params: `{"trim": "auto"}`},
	{src: sdkFramed, params: `{"trim": "color", "trim-color": "00ff00", "trim-tol": 10, "w": 150}`},
	{src: sdkParrots, params: `{"w": 200, "bri": 20, "con": -10, "sat": 30, "gam": 10}`},
	{src: sdkParrots, params: `{"w": 200, "invert": true}`},
	{src: sdkParrots, params: `{"w": 200, "blur": 40}`},
	{src: sdkParrots, params: `{"w": 200, "sharp": 30}`},
	{src: sdkParrots, params: `{"w": 200, "rot": 90}`},
	{src: sdkParrots, params: `{"w": 200, "rot": 180}`},
	{src: sdkParrots, params: `{"w": 200, "flip": "hv"}`},
	{src: sdkParrots, params: `{"w": 200, "frame": 1}`},
	{src: sdkParrots, params: `{"w": 200, "dl": "parrots.png"}`},
	{src: sdkParrots, params: `{"w": 200, "ch": "Width,DPR"}`},
	{src: sdkParrots, params: `{}`},
	{src: sdkSpaced, params: `{"w": 200}`},
	{src: sdkSpaced, params: `{"fit": "crop", "ar": "4:3"}`, srcset: true, opts: `{"widths": [100, 300]}`},
}

// sdkMaxOutputPixels is limits.max_output_pixels for these tests: far
// lower than the default 16 MP, so that the srcsets' widest entries (the
// fluid srcset runs to 8192w) cost little on this two-core machine while
// still being clamped: 15.6 s for TestImgixSDKURLsAsDocumented at 1 MP,
// 28 s at 4 MP.
const sdkMaxOutputPixels = 1_000_000

// imgixSize is the size imgix documents for query (as the SDK sent it) on
// src, before the edge's output limits: w, h, dpr, fit, ar, rect, pad and
// trim (docs.imgix.com/apis/rendering, Size and Rotation).
func imgixSize(src sdkSource, q url.Values) [2]int {
	num := func(k string) float64 {
		v, _ := strconv.ParseFloat(q.Get(k), 64)
		return v
	}
	sw, sh := float64(src.w), float64(src.h)
	if r := q.Get("rect"); r != "" {
		var x, y, rw, rh float64
		if _, err := fmt.Sscanf(r, "%g,%g,%g,%g", &x, &y, &rw, &rh); err != nil {
			panic(r)
		}
		sw, sh = min(rw, sw-x), min(rh, sh-y) // what lies outside the source is dropped
	}
	if q.Has("trim") {
		sw, sh = float64(src.trimW), float64(src.trimH)
	}
	w, h := num("w"), num("h")
	// imgix reads a side between 0 and 1 as a fraction of the source.
	if w > 0 && w < 1 {
		w = math.Round(w * sw)
	}
	if h > 0 && h < 1 {
		h = math.Round(h * sh)
	}
	fit := q.Get("fit")
	if ar := q.Get("ar"); ar != "" && fit == "crop" {
		var aw, ah float64
		if _, err := fmt.Sscanf(ar, "%g:%g", &aw, &ah); err != nil {
			panic(ar)
		}
		switch {
		case w > 0 && h == 0:
			h = math.Round(w * ah / aw)
		case h > 0 && w == 0:
			w = math.Round(h * aw / ah)
		case w == 0 && h == 0: // the largest crop of that shape
			w, h = sw, math.Round(sw*ah/aw)
			if h > sh {
				w, h = math.Round(sh*aw/ah), sh
			}
		}
	}
	if q.Has("dpr") {
		w, h = math.Round(w*num("dpr")), math.Round(h*num("dpr"))
	}
	// Padding is inside the box asked for (docs: pad, "the total
	// dimensions of the image will not change").
	pad := [4]float64{num("pad"), num("pad"), num("pad"), num("pad")}
	for i, side := range []string{"pad-top", "pad-right", "pad-bottom", "pad-left"} {
		if q.Has(side) {
			pad[i] = num(side)
		}
	}
	if w > 0 {
		w -= pad[1] + pad[3]
	}
	if h > 0 {
		h -= pad[0] + pad[2]
	}
	out := fitSize(fit, sw, sh, w, h)
	out[0] += int(pad[1] + pad[3])
	out[1] += int(pad[0] + pad[2])
	// rot: imgix turns the image within its frame (docs: rot, "unlike
	// orient"); the edge turns the frame, as orient does (README, Coming
	// from imgix).
	if r := q.Get("rot"); r == "90" || r == "270" {
		out[0], out[1] = out[1], out[0]
	}
	return out
}

// fitSize is the image a fit makes of a sw x sh source for a w x h box (0:
// not given), as imgix's docs for fit describe each.
func fitSize(fit string, sw, sh, w, h float64) [2]int {
	round := func(v float64) int { return max(1, int(math.Round(v))) }
	switch {
	case w == 0 && h == 0:
		return [2]int{round(sw), round(sh)}
	case w == 0 || h == 0: // one side: the aspect ratio is kept
		s := w / sw
		if w == 0 {
			s = h / sh
		}
		if fit == "max" || fit == "fillmax" {
			s = min(s, 1)
		}
		return [2]int{round(sw * s), round(sh * s)}
	}
	var s float64
	switch fit {
	case "crop", "fill", "fillmax", "scale", "facearea", "facearea,fill", "facearea,crop": // exactly the box (facearea,fill: a fill without a face)
		return [2]int{round(w), round(h)}
	case "min": // the box's shape, never larger than the source
		if max(w/sw, h/sh) <= 1 {
			return [2]int{round(w), round(h)}
		}
		k := min(sw/w, sh/h)
		return [2]int{min(round(sw), round(w*k)), min(round(sh), round(h*k))}
	case "max": // inside the box, never enlarged
		s = min(w/sw, h/sh, 1)
	default: // clip: inside the box
		s = min(w/sw, h/sh)
	}
	return [2]int{min(round(w), round(sw*s)), min(round(h), round(sh*s))}
}

// imgixType is the Content-Type imgix documents for query on src, for a
// client that accepts WebP (auto=format picks it).
func imgixType(src sdkSource, q url.Values) string {
	switch fm := q.Get("fm"); fm {
	case "jpg", "pjpg":
		return "image/jpeg"
	case "":
	default:
		return "image/" + fm
	}
	if strings.Contains(q.Get("auto"), "format") {
		return "image/webp"
	}
	return src.contentType
}

// sdkAccept is what the tests' client accepts: WebP, as every current
// browser does (AVIF and JPEG XL are Chromium's tests').
const sdkAccept = "image/webp,*/*"

// checkSDKURL fetches one URL the SDK built and checks it against imgix's
// documentation: 200, the format, the size, or for a size over the output
// limits the largest allowed of the same shape, said in Imgedge-Clamped.
func checkSDKURL(t *testing.T, h *harness, token, src, raw string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("the SDK built %q: %v", raw, err)
	}
	if u.Host != strings.TrimPrefix(h.base, "http://") {
		t.Fatalf("the SDK built %s for another host", raw)
	}
	q := u.Query()
	if q.Get("ixlib") != "js-3.8.0" || (token != "" && q.Get("s") == "") {
		t.Fatalf("%s: not as the SDK signs and marks its URLs", raw)
	}
	uri := u.RequestURI()
	r := h.get(t, uri, "Accept", sdkAccept)
	if r.status != 200 {
		t.Errorf("%s: %d %.300s", uri, r.status, r.body)
		return
	}
	source := sdkSources[src]
	if want := imgixType(source, q); r.header["content-type"] != want {
		t.Errorf("%s: Content-Type %s, want %s", uri, r.header["content-type"], want)
	}
	got := answerSize(t, h, token, r)
	want := imgixSize(source, q)
	maxDim := 8192
	shrunk := want
	limit := ""
	if long := max(want[0], want[1]); long > maxDim {
		// A dpr that takes a side past limits.max_dimension is lowered.
		f := float64(maxDim) / float64(long)
		shrunk = [2]int{int(math.Round(float64(want[0]) * f)), int(math.Round(float64(want[1]) * f))}
		limit = "limits.max_dimension"
	}
	if shrunk[0]*shrunk[1] > sdkMaxOutputPixels {
		limit = "limits.max_output_pixels"
	}
	if r.header["imgedge-clamped"] != limit {
		t.Errorf("%s: Imgedge-Clamped %q, want %q (imgix's size %v)", uri, r.header["imgedge-clamped"], limit, want)
	}
	switch limit {
	case "":
		if got != want {
			t.Errorf("%s: %dx%d, want %dx%d", uri, got[0], got[1], want[0], want[1])
		}
	default:
		// The largest of the same shape within the limits: the shape to a
		// pixel of rounding, and no more than 5 % under the pixel limit
		// when that is the one.
		px := got[0] * got[1]
		sameShape := math.Abs(float64(got[0])*float64(want[1])-float64(got[1])*float64(want[0])) <= float64(max(want[0], want[1]))
		largest := got[0] <= maxDim && got[1] <= maxDim && px <= sdkMaxOutputPixels &&
			(limit == "limits.max_output_pixels" && px >= sdkMaxOutputPixels*95/100 || max(got[0], got[1]) == maxDim)
		if !sameShape || !largest {
			t.Errorf("%s: %dx%d, want the largest %dx%d shape within %s", uri, got[0], got[1], want[0], want[1], limit)
		}
	}
}

var sdkAnswers atomic.Int64

// answerSize is the pixel size of an answer: decoded by Go for JPEG, PNG,
// GIF and WebP; for AVIF and JPEG XL, which Go cannot read, the edge's own
// fm=json of the bytes, served back to it from the test origin.
func answerSize(t *testing.T, h *harness, token string, r response) [2]int {
	t.Helper()
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(r.body)); err == nil {
		return [2]int{cfg.Width, cfg.Height}
	}
	// A path of its own: the edge caches originals by path.
	path := fmt.Sprintf("/sdk/answer-%d", sdkAnswers.Add(1))
	h.origin.bodies.Store(path, r.body)
	uri := path + "?fm=json"
	if token != "" {
		uri = imgixSign(token, uri)
	}
	facts := h.get(t, uri)
	var f struct{ PixelWidth, PixelHeight int }
	if err := json.Unmarshal(facts.body, &f); err != nil || facts.status != 200 {
		t.Fatalf("fm=json of a %s answer: %d %s (%v)", r.header["content-type"], facts.status, facts.body, err)
	}
	return [2]int{f.PixelWidth, f.PixelHeight}
}

// TestImgixSDKURLsAsDocumented: every URL imgix's JavaScript SDK builds for
// sdkCases, signed with the source's token and unsigned, answers 200 in the
// format and at the size imgix documents for it, or, past the output
// limits, the largest image of that shape with Imgedge-Clamped.
func TestImgixSDKURLsAsDocumented(t *testing.T) {
	t.Parallel()
	// Each renders on about one core: the two run at once, in this test's
	// one slot (as parallel subtests they would queue behind every other
	// parallel test and end the package's run).
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, token := range []string{"", "imgix-sdk-token-0123456789"} {
		name := "unsigned"
		env := []string{fmt.Sprintf("IMGEDGE_LIMITS_MAX_OUTPUT_PIXELS=%d", sdkMaxOutputPixels)}
		if token != "" {
			name = "signed"
			env = append(env, "IMGEDGE_SIGNING_KEYS="+token, "IMGEDGE_SIGNING_SCHEME=imgix")
		}
		wg.Go(func() { t.Run(name, func(t *testing.T) { checkSDKURLs(t, env, token) }) })
	}
}

// checkSDKURLs checks every URL imgix's SDK builds for sdkCases on an edge
// started with env, signed with token when it is set.
func checkSDKURLs(t *testing.T, env []string, token string) {
	h := start(t, env, nil)
	h.origin.bodies.Store(sdkFramed, sdkFramedPNG(t))
	h.origin.bodies.Store(sdkSpaced, readImage(t, "kodim23.png"))
	built := buildWithSDK(t, strings.TrimPrefix(h.base, "http://"), token, sdkCases)
	n := 0
	for i, b := range built {
		for _, u := range b.URLs {
			checkSDKURL(t, h, token, sdkCases[i].src, u.URL)
			n++
		}
	}
	t.Logf("%d URLs built by imgix's SDK", n)
}

// TestChromiumSDKSrcsets: a page whose srcset attributes imgix's SDK wrote
// (signed, the fluid 100w-8192w and the fixed dpr 1-5 kinds, a path that
// needs percent-encoding, a watermark in mark64), served from 127.0.0.1
// with its images from the edge, renders in a real Chromium at DPR 2 with
// no broken image: the widest entry, past the output limits, included.
func TestChromiumSDKSrcsets(t *testing.T) {
	t.Parallel()
	const token = "imgix-sdk-token-0123456789"
	h := start(t, pageLoad(fmt.Sprintf("IMGEDGE_LIMITS_MAX_OUTPUT_PIXELS=%d", sdkMaxOutputPixels), "IMGEDGE_SIGNING_KEYS="+token,
		"IMGEDGE_SIGNING_SCHEME=imgix"), nil)
	h.origin.bodies.Store(sdkSpaced, readImage(t, "kodim23.png"))
	imgs := []struct {
		id, sizes string
		c         sdkCase
	}{
		{"fluid", "100vw", sdkCase{src: sdkPhoto, params: `{"auto": "format"}`, srcset: true}},
		{"widest", "9000px", sdkCase{src: sdkPhoto, params: `{"auto": "format"}`, srcset: true}},
		{"fixed", "", sdkCase{src: sdkPhoto, params: `{"w": 300, "auto": "format"}`, srcset: true}},
		{"spaced", "40vw", sdkCase{src: sdkSpaced, params: `{"fit": "crop", "ar": "4:3", "auto": "format"}`, srcset: true}},
		{"mark", "", sdkCase{src: sdkParrots, params: `{"w": 200, "mark64": "/kodim04.png", "mark-w": 0.2}`, srcset: true}},
	}
	var cases []sdkCase
	for _, img := range imgs {
		plain := img.c
		plain.srcset, plain.opts = false, ""
		cases = append(cases, img.c, plain) // the srcset, and the src beside it
	}
	built := buildWithSDK(t, strings.TrimPrefix(h.base, "http://"), token, cases)
	var body strings.Builder
	body.WriteString("<!doctype html><body>\n")
	entries := map[string]bool{}
	for i, img := range imgs {
		srcset, src := built[2*i], built[2*i+1]
		fmt.Fprintf(&body, `<img id="%s" srcset="%s" src="%s"`, img.id, html.EscapeString(srcset.Srcset), html.EscapeString(src.URLs[0].URL))
		if img.sizes != "" {
			fmt.Fprintf(&body, ` sizes="%s"`, img.sizes)
		}
		body.WriteString(">\n")
		for _, u := range srcset.URLs {
			entries[img.id+" "+u.URL] = true
		}
	}
	page := pages(t, map[string]string{"/": body.String()}, nil)
	type shown struct {
		ID       string `json:"id"`
		Complete bool   `json:"complete"`
		W        int    `json:"w"`
		Src      string `json:"src"`
	}
	got := browse[[]shown](t, page.URL, `Promise.all([...document.images].map(i => i.complete ? 0 :
	new Promise(r => { i.addEventListener("load", r); i.addEventListener("error", r); })))
  .then(() => [...document.images].map(i => ({id: i.id, complete: i.complete, w: i.naturalWidth, src: i.currentSrc})))`,
		chromedp.Flag("force-device-scale-factor", "2"))
	if len(got) != len(imgs) {
		t.Fatalf("%d images on the page, want %d", len(got), len(imgs))
	}
	for _, img := range got {
		if !img.Complete || img.W == 0 {
			t.Errorf("%s is broken: complete %v, naturalWidth %d (%s)", img.ID, img.Complete, img.W, img.Src)
		}
		if !entries[img.ID+" "+img.Src] {
			t.Errorf("%s: Chromium showed %s, not an entry of the SDK's srcset", img.ID, img.Src)
		}
		if img.ID == "widest" && !strings.Contains(img.Src, "&w=8192&") {
			t.Errorf("widest: Chromium chose %s, want the 8192w entry", img.Src)
		}
	}
	for _, r := range browserRequests(t, h) {
		if r.Status != 200 {
			t.Errorf("Chromium's %s?%s answered %d", r.Path, r.Query, r.Status)
		}
	}
}

// TestImgixSDKSignsEncodedPaths: imgix's SDKs sign the path as the URL
// carries it, percent-encoded (imgix-blueprint, "Securing URLs": "Special
// characters in the path ... must remain percent encoded"; @imgix/js-core
// signs the path _sanitizePath encoded, imgix-go the one encodePath
// escaped), and the edge verifies exactly that: the JS SDK's own signed URL
// for a path with a space and an é answers, as do imgix-go's escapes of
// characters the JS SDK leaves alone; the same path signed decoded does not,
// and imgedge sign -scheme imgix prints the SDK's URL.
func TestImgixSDKSignsEncodedPaths(t *testing.T) {
	t.Parallel()
	const token = "imgix-sdk-token-0123456789"
	h := start(t, []string{"IMGEDGE_SIGNING_KEYS=" + token, "IMGEDGE_SIGNING_SCHEME=imgix"}, nil)
	const comma = "/sdk/a,b (1)!.png"
	h.origin.bodies.Store(sdkSpaced, readImage(t, "kodim23.png"))
	h.origin.bodies.Store(comma, readImage(t, "kodim23.png"))
	built := buildWithSDK(t, strings.TrimPrefix(h.base, "http://"), token, []sdkCase{
		{src: sdkSpaced, params: `{"w": 200}`}, {src: comma, params: `{"w": 200}`}})
	md5Sign := func(path, query string) string { return path + "?" + query + "&s=" + md5Hex(token+path+"?"+query) }
	for i, raw := range []string{sdkSpaced, comma} {
		u, err := url.Parse(built[i].URLs[0].URL)
		if err != nil {
			t.Fatal(err)
		}
		path, query := u.EscapedPath(), strings.TrimSuffix(u.RawQuery, "&s="+u.Query().Get("s"))
		if path == raw || md5Sign(path, query) != u.RequestURI() {
			t.Fatalf("the SDK's %s is not its percent-encoded path signed", u.RequestURI())
		}
		// imgix-go escapes each segment with url.PathEscape and + as %2B.
		segs := strings.Split(raw, "/")
		for j := range segs {
			segs[j] = strings.ReplaceAll(url.PathEscape(segs[j]), "+", "%2B")
		}
		goPath := strings.Join(segs, "/")
		for _, tc := range []struct {
			name, uri string
			status    int
		}{
			{"the JS SDK's", u.RequestURI(), 200},
			{"imgix-go's escapes", md5Sign(goPath, query), 200},
			{"the path signed decoded", path + "?" + query + "&s=" + md5Hex(token+raw+"?"+query), 403},
		} {
			r := fetch(t, h.base, tc.uri)
			if r.status != tc.status {
				t.Errorf("%s %s: %d, want %d (%s)", tc.name, tc.uri, r.status, tc.status, r.body)
			}
			if tc.status == 200 {
				if img, _, err := image.DecodeConfig(bytes.NewReader(r.body)); err != nil || img.Width != 200 || img.Height != 133 {
					t.Errorf("%s %s: %v %v, want parrots 200x133", tc.name, tc.uri, img, err)
				}
			}
		}
		cli, err := signing.Imgix.Sign(token, "", raw+"?"+query)
		if err != nil || cli != u.RequestURI() {
			t.Errorf("imgedge sign -scheme imgix %q: %s (%v), want the SDK's %s", raw+"?"+query, cli, err, u.RequestURI())
		}
	}
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
