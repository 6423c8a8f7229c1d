package libvips

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/davidbyttow/govips/v2/vips"

	"imgedge/transform"
)

// corpusSVGs are the corpus' ordinary SVG documents (the hostile ones are
// walked by the corpus tests).
var corpusSVGs = []string{
	"formats/svg-libvips-logo.svg",
	"formats/svgz-libvips-logo.svgz",
	"formats/svg-w3c-struct-image-04-t.svg",
	"formats/svg-script-imgproxy-test1.svg",
	"formats/svg-script-imgproxy-test1.sanitized.svg",
	"formats/svg-external-ref-w3c-struct-image-01-t.svg",
}

// recordLoads makes every buffer libvips is given land in the returned
// list, for the rest of the test. It swaps the package's loader, so a
// test that records stays serial: Go starts the parallel tests only after
// every serial one has returned, and no render elsewhere reads the swap.
func recordLoads(t *testing.T) func() [][]byte {
	var (
		mu  sync.Mutex
		got [][]byte
	)
	real := vipsLoadBuffer
	vipsLoadBuffer = func(b []byte, p *vips.ImportParams) (*vips.ImageRef, error) {
		mu.Lock()
		got = append(got, bytes.Clone(b))
		mu.Unlock()
		return real(b, p)
	}
	t.Cleanup(func() { vipsLoadBuffer = real })
	return func() [][]byte {
		mu.Lock()
		defer mu.Unlock()
		out := got
		got = nil
		return out
	}
}

// TestSVGRendersOnlyCanonicalDocument: whatever an SVG source holds, the
// only SVG bytes libvips (and so librsvg) is given are the document
// transform.CanonicalSVG wrote from it; a document the canonicaliser
// refuses never reaches libvips, and neither does an SVG watermark.
func TestSVGRendersOnlyCanonicalDocument(t *testing.T) {
	tr := newTransformer(t)
	loads := recordLoads(t)
	cfg := testConfig()
	for _, file := range corpusSVGs {
		orig := readFile(t, filepath.Join(corpusDir, file))
		src, _, err := prepare(orig)
		if err != nil {
			t.Fatal(err)
		}
		canon, err := transform.CanonicalSVG(src, cfg.MaxSourcePixels)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, q := range []string{"fm=png", "w=300&fm=webp", "w=50&h=50&fit=crop&fm=jpg"} {
			render1(t, tr, orig, q)
			got := loads()
			if len(got) == 0 {
				t.Fatalf("%s %s: libvips was given nothing", file, q)
			}
			for _, b := range got {
				if transform.Sniff(b) != transform.FormatSource {
					continue // a rung or a scaled decode
				}
				if !bytes.Equal(b, canon.Doc) {
					t.Errorf("%s %s: libvips was given %d bytes that are not the canonical document: %.120q", file, q, len(b), b)
				}
			}
		}
	}
	huge := "data:image/png;base64," + base64.StdEncoding.EncodeToString(pngHeaderOf(12000, 12000))
	open := `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="100" height="100">`
	for name, doc := range map[string]string{
		"entity into <image>": `<!DOCTYPE svg [<!ENTITY i "<image width='1' height='1' xlink:href='` + huge + `'/>">]>` + open + `&i;</svg>`,
		"PI quote in DOCTYPE": `<!DOCTYPE svg [<?x "?>]>` + open + `<image width="1" height="1" xlink:href="` + huge + `"/></svg>`,
		"huge embedded PNG":   open + `<image width="1" height="1" xlink:href="` + huge + `"/></svg>`,
		"use loop":            open + `<g id="a"><use xlink:href="#a"/></g></svg>`,
		"not well-formed":     open + `<g></svg>`,
	} {
		_, err := tr.Transform(context.Background(), []byte(doc), transform.Job{Spec: parse(t, "w=50&fm=png")})
		if !errors.Is(err, transform.ErrUnsupported) && !errors.Is(err, transform.ErrTooLarge) {
			t.Errorf("%s: %v; want a refusal", name, err)
		}
		if got := loads(); len(got) != 0 {
			t.Errorf("%s: refused, yet libvips was given %d buffers", name, len(got))
		}
	}
	// A watermark is a raster or nothing: its bytes are never given to
	// librsvg, whatever the caller checked.
	job := transform.Job{Spec: parse(t, "w=50&fm=png&mark=/m.svg"), Mark: readFile(t, filepath.Join(corpusDir, "formats/svg-libvips-logo.svg"))}
	if _, err := tr.Transform(context.Background(), readFile(t, filepath.Join(benchImages, "kodim23.png")), job); !errors.Is(err, transform.ErrUnsupported) {
		t.Errorf("an SVG mark: %v; want ErrUnsupported", err)
	}
	for _, b := range loads() {
		if transform.IsSVG(b) {
			t.Error("an SVG mark reached libvips")
		}
	}
}

// pngHeaderOf is a PNG signature and an IHDR claiming w x h: all a header
// reader sees.
func pngHeaderOf(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32([]byte("IHDR"), w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0)
	b := binary.BigEndian.AppendUint32([]byte("\x89PNG\r\n\x1a\n"), 13)
	b = append(b, ihdr...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(ihdr))
}

// TestSVGRenderUnchanged: the corpus SVGs draw the same from their
// canonical document as librsvg drew them from the original bytes (what the
// edge rendered before it parsed SVG itself), at their natural size and at
// twice it. One difference is on purpose: an embedded raster is labelled
// with the type its bytes have, so the W3C test's JPEG declared as
// "image/jpg", which gdk-pixbuf has no loader for and left out, is drawn
// now, as browsers draw it (the test passes "if two identical images are
// shown"); the reference is the original with that label corrected.
func TestSVGRenderUnchanged(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	for _, file := range append(corpusSVGs, "illustrator", "inkscape") {
		orig, ok := editorSVGs[file]
		if !ok {
			orig = readFile(t, filepath.Join(corpusDir, file))
		}
		src, _, err := prepare(orig)
		if err != nil {
			t.Fatal(err)
		}
		src = bytes.ReplaceAll(src, []byte("data:image/jpg;"), []byte("data:image/jpeg;"))
		for _, dpi := range []int{72, 144} {
			p := vips.NewImportParams()
			p.Density.Set(dpi)
			ref, err := vips.LoadImageFromBuffer(src, p) // the original bytes, as before
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			want, _, err := ref.ExportPng(vips.NewPngExportParams())
			width := ref.Width()
			ref.Close()
			if err != nil {
				t.Fatal(err)
			}
			query := "fm=png"
			if dpi != 72 {
				query = "fm=png&w=" + strconv.Itoa(width)
			}
			got := render1(t, tr, orig, query)
			a, b := decode(t, want), decode(t, got.Body)
			if d := meanAbsDiff(toRGBA(a), toRGBA(b)); d > 0.5 {
				t.Errorf("%s at %d dpi: differs from the original's render by %.2f per channel (%v, %v)", file, dpi, d, a.Bounds(), b.Bounds())
			}
			if s := ssim(lumaOfPNG(t, want), lumaOfPNG(t, got.Body)); s < 0.995 {
				t.Errorf("%s at %d dpi: SSIM %.4f against the original's render", file, dpi, s)
			}
		}
	}
}

// TestSVGCorpusTricks walks the corpus' generated SVGs (hostile/svg-*.svg)
// as MANIFEST.tsv describes them: one it lists as rejected is refused fast,
// naming the limit when the row names one, and libvips is given nothing of
// it; one it lists as loading is drawn at its listed size from its
// canonical document alone.
func TestSVGCorpusTricks(t *testing.T) {
	tr := newTransformer(t)
	loads := recordLoads(t)
	f, err := os.Open(filepath.Join(corpusDir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma, r.LazyQuotes = '\t', true
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	naming := regexp.MustCompile(`naming ([a-z_.]+)`)
	header := regexp.MustCompile(`header (\d+)x(\d+) `)
	seen := 0
	for _, row := range rows[1:] {
		file, expect := row[0], row[5]
		if !strings.HasPrefix(file, "hostile/svg-") {
			continue
		}
		seen++
		t.Run(file, func(t *testing.T) {
			orig := readFile(t, filepath.Join(corpusDir, file))
			start := time.Now()
			res, err := tr.Transform(context.Background(), orig, transform.Job{Spec: parse(t, "fm=jpg")})
			took := time.Since(start)
			got := loads()
			if refusedRe.MatchString(expect) {
				if !errors.Is(err, transform.ErrUnsupported) && !errors.Is(err, transform.ErrTooLarge) {
					t.Fatalf("%v; want a refusal (%s)", err, expect)
				}
				if m := naming.FindStringSubmatch(expect); m != nil && !strings.Contains(err.Error(), m[1]) {
					t.Errorf("%q does not name %s", err, m[1])
				}
				if took > time.Second {
					t.Errorf("refused after %s", took)
				}
				canon, cerr := transform.CanonicalSVG(orig, testConfig().MaxSourcePixels)
				for _, b := range got {
					if cerr != nil || !bytes.Equal(b, canon.Doc) {
						t.Errorf("libvips was given %d bytes of a refused document", len(b))
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("%v; want it drawn (%s)", err, expect)
			}
			m := header.FindStringSubmatch(expect)
			if m == nil || strconv.Itoa(res.Width) != m[1] || strconv.Itoa(res.Height) != m[2] {
				t.Errorf("drawn %dx%d; the row lists %v", res.Width, res.Height, m)
			}
			canon, err := transform.CanonicalSVG(orig, testConfig().MaxSourcePixels)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range got {
				if transform.Sniff(b) == transform.FormatSource && !bytes.Equal(b, canon.Doc) {
					t.Errorf("libvips was given %d bytes that are not the canonical document", len(b))
				}
			}
			if canon.EmbeddedPixels != 0 || bytes.Contains(canon.Doc, []byte("<image")) || bytes.Contains(canon.Doc, []byte("127.0.0.1")) {
				t.Errorf("the hidden or external content is in the canonical document:\n%.300s", canon.Doc)
			}
		})
	}
	if seen != 16 {
		t.Fatalf("MANIFEST.tsv lists %d generated SVGs; want 16", seen)
	}
}

// editorSVGs are written as Illustrator and Inkscape write them: a
// stylesheet of classes in CDATA-free <style>, a gradient, a clip path
// through <use>, dashes, text with a transform; editor namespaces,
// markers, a mask, a translucent element, style attributes.
var editorSVGs = map[string][]byte{
	"illustrator": []byte(`<?xml version="1.0" encoding="UTF-8"?>
<!-- Generator: Adobe Illustrator 27.0.0, SVG Export Plug-In . SVG Version: 6.00 Build 0)  -->
<svg version="1.1" id="Layer_1" xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" x="0px" y="0px"
	 viewBox="0 0 200 120" style="enable-background:new 0 0 200 120;" xml:space="preserve" width="400" height="240">
<style type="text/css">
	.st0{fill:url(#SVGID_1_);}
	.st1{opacity:0.5;fill:#E30613;}
	.st2{fill:none;stroke:#1D1D1B;stroke-width:2;stroke-miterlimit:10;stroke-dasharray:4,2;}
	.st3{font-family:'DejaVuSans-Bold', 'DejaVu Sans';font-weight:700; font-size:14px;}
	.st4{clip-path:url(#SVGID_2_);fill:#009640;}
</style>
<linearGradient id="SVGID_1_" gradientUnits="userSpaceOnUse" x1="0" y1="60" x2="200" y2="60">
	<stop  offset="0" style="stop-color:#FFED00"/>
	<stop  offset="1" style="stop-color:#E6007E"/>
</linearGradient>
<rect class="st0" width="200" height="120"/>
<circle class="st1" cx="60" cy="60" r="40"/>
<polyline class="st2" points="10,110 50,70 90,100 130,20 190,60 "/>
<defs><rect id="SVGID_3_" x="120" y="10" width="60" height="60"/></defs>
<clipPath id="SVGID_2_"><use xlink:href="#SVGID_3_"  style="overflow:visible;"/></clipPath>
<circle class="st4" cx="150" cy="40" r="40"/>
<text transform="matrix(1 0 0 1 20 30)" class="st3">Hello, SVG</text>
<g><path d="M150,100c0,5.5-4.5,10-10,10s-10-4.5-10-10s4.5-10,10-10S150,94.5,150,100z" fill="#312783"/></g>
</svg>
`),
	"inkscape": []byte(`<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<svg xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:svg="http://www.w3.org/2000/svg" xmlns="http://www.w3.org/2000/svg"
   xmlns:sodipodi="http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd" xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape"
   width="300" height="200" viewBox="0 0 79.375 52.916666" version="1.1" id="svg8" inkscape:version="1.0" sodipodi:docname="x.svg">
  <defs id="defs2">
    <marker style="overflow:visible" id="Arrow1Lend" refX="0" refY="0" orient="auto" inkscape:stockid="Arrow1Lend">
      <path transform="matrix(-0.8,0,0,-0.8,-10,0)" style="fill:#000000;fill-rule:evenodd;stroke:#000000;stroke-width:1pt" d="M 0,0 5,-5 -12.5,0 5,5 Z" id="path1"/>
    </marker>
    <radialGradient inkscape:collect="always" id="rg" cx="40" cy="26" fx="40" fy="26" r="30" gradientUnits="userSpaceOnUse">
      <stop style="stop-color:#00ff00;stop-opacity:1" offset="0" id="s1"/><stop style="stop-color:#00ff00;stop-opacity:0" offset="1" id="s2"/>
    </radialGradient>
    <mask maskUnits="userSpaceOnUse" id="mask1"><circle style="fill:#ffffff" cx="40" cy="26" r="20"/></mask>
  </defs>
  <sodipodi:namedview id="base" pagecolor="#ffffff"/>
  <g inkscape:label="Layer 1" inkscape:groupmode="layer" id="layer1">
    <rect style="fill:url(#rg);stroke:#0000ff;stroke-width:0.5" id="rect1" width="70" height="40" x="5" y="5" ry="4"/>
    <path style="fill:none;stroke:#000000;stroke-width:0.5;marker-end:url(#Arrow1Lend)" d="M 10,45 C 20,30 40,50 60,20" id="path2" sodipodi:nodetypes="cc"/>
    <rect style="fill:#ff0000;opacity:0.7" mask="url(#mask1)" width="30" height="30" x="25" y="11"/>
    <text xml:space="preserve" style="font-size:6px;line-height:1.25;font-family:sans-serif;stroke-width:0.26" x="8" y="50" id="text1"><tspan sodipodi:role="line" id="ts1" x="8" y="50" style="font-weight:bold">Inkscape  text</tspan></text>
  </g>
</svg>
`),
}

// TestSVGTrim: trim on an SVG searches the drawing, which is drawn once
// for it (svgload draws on demand, and trim reads the image three times),
// and cuts its border as it would a raster's.
func TestSVGTrim(t *testing.T) {
	tr := newTransformer(t)
	doc := `<svg xmlns="http://www.w3.org/2000/svg" width="400" height="300">` +
		`<rect width="400" height="300" fill="white"/><rect x="100" y="50" width="120" height="80" fill="black"/></svg>`
	res := render1(t, tr, []byte(doc), "trim=auto&fm=png")
	if res.Width < 119 || res.Width > 121 || res.Height < 79 || res.Height > 81 {
		t.Errorf("trimmed to %dx%d; want the 120x80 rect", res.Width, res.Height)
	}
}

// TestSVGPathCrossingsArePriced: 25,000 random points joined by one
// polyline drew for 30.7 s at 100x67 (priced 5.3 s): Cairo's tessellator
// stops at every crossing of its segments, and librsvg cannot be stopped
// inside a tile. Priced by its crossings, it is past transform.timeout and
// refused at once; a circle of as many points renders.
func TestSVGPathCrossingsArePriced(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	svg := func(points func(i int) (float64, float64)) []byte {
		var b strings.Builder
		b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" width="600" height="400"><polyline fill="none" stroke="black" stroke-width="0.1" points="`)
		for i := range 25000 {
			x, y := points(i)
			fmt.Fprintf(&b, "%.2f,%.2f ", x, y)
		}
		b.WriteString(`"/></svg>`)
		return []byte(b.String())
	}
	rng := uint32(1)
	scribble := svg(func(int) (float64, float64) {
		rng = rng*1664525 + 1013904223
		return float64(rng >> 20 % 600), float64(rng >> 8 % 400)
	})
	_, err := tr.Transform(context.Background(), scribble, transform.Job{Spec: parse(t, "w=100&fm=png")})
	if !errors.Is(err, transform.ErrTooLarge) || !strings.Contains(err.Error(), "transform.timeout") {
		t.Fatalf("25,000 random points: %v, want ErrTooLarge past transform.timeout", err)
	}
	circle := svg(func(i int) (float64, float64) {
		a := 2 * math.Pi * float64(i) / 25000
		return 300 + 200*math.Cos(a), 200 + 200*math.Sin(a)
	})
	if _, err := tr.Transform(context.Background(), circle, transform.Job{Spec: parse(t, "w=100&fm=png")}); err != nil {
		t.Fatalf("a circle of 25,000 points: %v", err)
	}
}
