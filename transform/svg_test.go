package transform

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net/url"
	"strings"
	"testing"
)

// pngOf is a PNG's signature and IHDR claiming w x h, then padding: what a
// header reader sees of an embedded raster.
func pngOf(w, h uint32, pad int) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := append([]byte("IHDR"), 0, 0, 0, 0, 0, 0, 0, 0, 8, 6, 0, 0, 0)
	binary.BigEndian.PutUint32(ihdr[4:], w)
	binary.BigEndian.PutUint32(ihdr[8:], h)
	_ = binary.Write(&b, binary.BigEndian, uint32(13))
	b.Write(ihdr)
	_ = binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(ihdr))
	b.Write(make([]byte, pad))
	return b.Bytes()
}

const svgOpen = `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="100" height="100">`

func svgWith(href string) []byte {
	return []byte(svgOpen + `<image width="10" height="10" xlink:href="` + href + `"/></svg>`)
}

func b64png(w, h uint32) string {
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(pngOf(w, h, 0))
}

// TestSVGEmbeddedPixels: embedded rasters count with the size their header
// claims, however they are written, and are written back as base64 of the
// bytes that were read; what cannot be accounted for is refused; what is
// not a raster is not drawn.
func TestSVGEmbeddedPixels(t *testing.T) {
	t.Parallel()
	wrapped := base64.StdEncoding.EncodeToString(pngOf(300, 200, 1<<20))
	wrapped = wrapped[:40] + "\n\t  " + wrapped[40:80] + " " + wrapped[80:]
	nestedBomb := "data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(svgWith(b64png(20000, 20000)))
	nest := func(inner []byte) string { return "data:image/svg+xml," + url.PathEscape(string(inner)) }
	gif := []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00" + // a 1x1 screen, then two 100x100 frames
		"\x2c\x00\x00\x00\x00\x64\x00\x64\x00\x00\x02\x02\x44\x01\x00" +
		"\x2c\x00\x00\x00\x00\x64\x00\x64\x00\x00\x02\x02\x44\x01\x00\x3b")
	for _, tt := range []struct {
		name  string
		svg   []byte
		px    int64
		err   error
		image bool // an <image> is in the canonical document
	}{
		{"no image", svgWith("#local"), 0, nil, false},
		{"a small raster", svgWith(b64png(300, 200)), 60000, nil, true},
		{"a large body, indented base64", svgWith("data:image/png;base64," + wrapped), 60000, nil, true},
		{"percent-encoded", svgWith("data:image/png," + url.PathEscape(string(pngOf(10, 10, 0)))), 100, nil, true},
		{"declared as JPEG, a PNG", svgWith("data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(pngOf(10, 10, 0))), 100, nil, true},
		{"a GIF's frames count too", svgWith("data:image/gif;base64," + base64.StdEncoding.EncodeToString(gif)), 1 + 2*10000, nil, true},
		{"a bomb", svgWith(b64png(20000, 20000)), 0, ErrTooLarge, false},
		{"a bomb in a nested SVG is not drawn", svgWith(nestedBomb), 0, nil, false},
		{"nested SVG documents are not drawn", svgWith(nest(svgWith(nest(svgWith(b64png(1, 1)))))), 0, nil, false},
		{"an entity", svgWith("&img;"), 0, ErrUnsupported, false},
		{"a size that cannot be read", svgWith("data:image/png;base64,AAAA"), 0, ErrUnsupported, false},
		{"not base64", svgWith("data:image/png;base64,!!!!"), 0, ErrUnsupported, false},
		{"a BMP is not drawn", svgWith("data:image/bmp;base64,Qk0="), 0, nil, false},
		{"http is not followed", svgWith("http://127.0.0.1:9/x.png"), 0, nil, false},
		{"file is not followed", svgWith("file:///etc/passwd"), 0, nil, false},
		{"relative is not followed", svgWith("../x.png"), 0, nil, false},
	} {
		s, err := CanonicalSVG(tt.svg, 50_000_000)
		if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("%s: %v; want %v", tt.name, err, tt.err)
			continue
		}
		if err != nil {
			if errors.Is(err, ErrTooLarge) && !strings.Contains(err.Error(), "limits.max_source_pixels") {
				t.Errorf("%s: %v does not name the limit", tt.name, err)
			}
			continue
		}
		if s.EmbeddedPixels != tt.px {
			t.Errorf("%s: %d pixels; want %d", tt.name, s.EmbeddedPixels, tt.px)
		}
		if got := bytes.Contains(s.Doc, []byte("<image")); got != tt.image {
			t.Errorf("%s: image kept %v; want %v:\n%s", tt.name, got, tt.image, s.Doc)
		}
		if tt.image && !bytes.Contains(s.Doc, []byte(`xlink:href="data:image/`)) {
			t.Errorf("%s: the raster is not written back as a data URI: %.200s", tt.name, s.Doc)
		}
	}
}

// TestSVGTricks: every way of hiding markup from a scanner or of building
// it from declarations is refused or dropped; what is drawn is what the
// parser saw.
func TestSVGTricks(t *testing.T) {
	t.Parallel()
	huge := b64png(12000, 12000)
	img := `<image width="100" height="100" xlink:href="` + huge + `"/>`
	for _, tt := range []struct {
		name string
		doc  string
		err  error  // nil: accepted
		says string // in the refusal
	}{
		{"entity expanding into <image>",
			`<!DOCTYPE svg [<!ENTITY img "<image width='1' height='1' xlink:href='` + huge + `'/>">]>` + svgOpen + `&img;</svg>`,
			ErrUnsupported, "DOCTYPE"},
		{"DOCTYPE with attribute defaults",
			`<!DOCTYPE svg [<!ATTLIST image xlink:href CDATA "` + huge + `">]>` + svgOpen + `<image width="1" height="1"/></svg>`,
			ErrUnsupported, "DOCTYPE"},
		{"PI holding a quote inside the DOCTYPE",
			`<!DOCTYPE svg [<?hide "?>]>` + svgOpen + img + `</svg>`,
			ErrUnsupported, "DOCTYPE"},
		{"a quote in a comment before the DOCTYPE",
			`<!-- " --><!DOCTYPE svg SYSTEM "x]" [<!ENTITY e "f">]>` + svgOpen + `</svg>`,
			ErrUnsupported, "DOCTYPE"},
		{"an undeclared entity", svgOpen + `<text>&hidden;</text></svg>`, ErrUnsupported, "entity"},
		{"a declaration outside the DOCTYPE", `<!ENTITY x "y">` + svgOpen + `</svg>`, ErrUnsupported, ""},
		{"a plain DOCTYPE is dropped",
			`<?xml version="1.0" encoding="UTF-8" standalone="no"?><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">` + svgOpen + `</svg>`,
			nil, ""},
		{"CDATA hiding markup is text", svgOpen + `<text><![CDATA[` + img + `]]></text></svg>`, nil, ""},
		{"comments hiding markup", svgOpen + `<!-- ` + img + ` --><!--><image xlink:href="` + huge + `"/>--></svg>`, nil, ""},
		{"xlink prefix rebound: priced",
			`<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://example.com/x" xmlns:l="http://www.w3.org/1999/xlink"><image l:href="` + huge + `"/></svg>`,
			ErrTooLarge, "limits.max_source_pixels"},
		{"svg: prefix on the image: priced",
			svgOpen + `<s:image xmlns:s="http://www.w3.org/2000/svg" xlink:href="` + huge + `"/></svg>`,
			ErrTooLarge, "limits.max_source_pixels"},
		{"another default namespace: not SVG, dropped",
			svgOpen + `<g xmlns="http://example.com/not-svg">` + strings.Replace(img, "xlink:href", "href", 1) + `</g></svg>`, nil, ""},
		{"a fake xlink namespace: dropped",
			svgOpen + `<image xmlns:xlink="http://example.com/x" xlink:href="` + huge + `"/></svg>`, nil, ""},
		{"root in another namespace", `<svg xmlns="http://example.com/x"></svg>`, ErrUnsupported, "root"},
		{"no namespace at all: drawn as SVG, as librsvg does", `<svg width="1" height="1"><g xmlns=""><rect width="1" height="1"/></g></svg>`, nil, ""},
		{"root is not svg", `<html xmlns="http://www.w3.org/2000/svg"><svg/></html>`, ErrUnsupported, "root"},
		{"a repeated attribute", svgOpen + `<image href="#a" href="` + huge + `"/></svg>`, ErrUnsupported, "repeats"},
		{"deep nesting", svgOpen + strings.Repeat("<g>", 1000) + strings.Repeat("</g>", 1000) + `</svg>`, ErrUnsupported, "deep"},
		{"elements after the root", svgOpen + `</svg>` + img, ErrUnsupported, ""},
		{"not well-formed", svgOpen + `<g></svg>`, ErrUnsupported, "well-formed"},
		{"script, foreignObject and handlers", svgOpen + `<script>alert(1)</script><foreignObject><div xmlns="http://www.w3.org/1999/xhtml">x</div></foreignObject><rect onload="alert(2)" width="1" height="1"/></svg>`, nil, ""},
	} {
		s, err := CanonicalSVG([]byte(tt.doc), 50_000_000)
		if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("%s: %v; want %v", tt.name, err, tt.err)
			continue
		}
		if err != nil {
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("%s: %q does not say %q", tt.name, err, tt.says)
			}
			if strings.Contains(err.Error(), "hidden") || strings.Contains(err.Error(), "example.com") {
				t.Errorf("%s: the refusal quotes the document: %v", tt.name, err)
			}
			continue
		}
		checkCanonical(t, tt.name, s)
		if s.EmbeddedPixels != 0 || bytes.Contains(s.Doc, []byte("<image")) {
			t.Errorf("%s: an image is drawn: %d pixels in\n%.300s", tt.name, s.EmbeddedPixels, s.Doc)
		}
		for _, bad := range []string{"script", "alert", "foreignObject", "onload", "example.com"} {
			if bytes.Contains(s.Doc, []byte(bad)) {
				t.Errorf("%s: %q kept in %s", tt.name, bad, s.Doc)
			}
		}
	}
}

// checkCanonical: the document holds no declaration, entity, instruction,
// comment or CDATA section, and is its own canonical form.
func checkCanonical(t *testing.T, name string, s *SVG) {
	t.Helper()
	for _, bad := range []string{"<!", "<?", "]]>"} {
		if bytes.Contains(s.Doc, []byte(bad)) {
			t.Errorf("%s: %q in the canonical document", name, bad)
		}
	}
	again, err := CanonicalSVG(s.Doc, 50_000_000)
	if err != nil {
		t.Errorf("%s: the canonical document is refused: %v", name, err)
		return
	}
	if !bytes.Equal(again.Doc, s.Doc) || again.EmbeddedPixels != s.EmbeddedPixels || again.Instances != s.Instances {
		t.Errorf("%s: canonicalising twice changes the document:\n%s\n%s", name, s.Doc, again.Doc)
	}
}

// TestSVGReferencesBounded: <use> chains (billion laughs), loops, masks,
// markers and nested translucent groups are counted as librsvg draws them,
// and refused over their bounds.
func TestSVGReferencesBounded(t *testing.T) {
	t.Parallel()
	chain := func(levels, fan int) string {
		var b strings.Builder
		b.WriteString(svgOpen + `<defs><rect id="l0" width="1" height="1"/>`)
		for i := 1; i <= levels; i++ {
			b.WriteString(`<g id="l` + itoa(i) + `">` + strings.Repeat(`<use xlink:href="#l`+itoa(i-1)+`"/>`, fan) + `</g>`)
		}
		b.WriteString(`</defs><use xlink:href="#l` + itoa(levels) + `"/></svg>`)
		return b.String()
	}
	for _, tt := range []struct {
		name              string
		doc               string
		err               error
		instances, layers int64
		masks             int64
		layerDepth        int
	}{
		{"a use chain within bounds", chain(3, 10), nil, 1 + 1 + (1 + 10*(1+(1+10*(1+(1+10*2))))), 0, 0, 0},
		{"billion laughs through <use>", chain(9, 10), ErrTooLarge, 0, 0, 0, 0},
		{"a use loop", svgOpen + `<g id="a"><use xlink:href="#b"/></g><g id="b"><use xlink:href="#a"/></g></svg>`, ErrUnsupported, 0, 0, 0, 0},
		{"a use of itself", svgOpen + `<use id="u" xlink:href="#u"/></svg>`, ErrUnsupported, 0, 0, 0, 0},
		{"a mask loop", svgOpen + `<mask id="m"><rect mask="url(#m)" width="1" height="1"/></mask><rect mask="url(#m)" width="1" height="1"/></svg>`, ErrUnsupported, 0, 0, 0, 0},
		{"masks and translucency counted",
			svgOpen + `<mask id="m"><rect width="1" height="1" fill="white"/></mask><g opacity="0.5"><rect mask="url(#m)" width="1" height="1"/><rect style="opacity:50%" width="1" height="1"/></g><rect opacity="1" width="1" height="1"/></svg>`,
			nil, 1 + 1 + 2 + 1 + 1 + 1, 2, 1, 1 + 2 + 1},
		{"a stylesheet's opacity counts for every element it may match",
			svgOpen + `<style>.t { opacity: .5 } g > rect.u#v, circle { fill: red }</style><rect class="t" width="1" height="1"/><circle class="x t" r="1"/><rect width="1" height="1"/></svg>`,
			nil, 4, 2, 0, 1},
		{"markers drawn at every vertex, inherited",
			svgOpen + `<marker id="k"><circle r="1"/><circle r="2"/></marker><g style="marker-end:url(#k)"><path d="M0 0L1 1L2 2"/></g></svg>`,
			nil, 1 + 1 + 1 + (1+2)*9, 0, 0, 0}, // 9: six numbers, three commands
		{"a <text> too long to lay out", svgOpen + `<text>` + strings.Repeat("A", 3000) + `<tspan>` + strings.Repeat("B", 1001) + `</tspan></text></svg>`, ErrTooLarge, 0, 0, 0, 0},
		{"nested translucent groups", svgOpen + strings.Repeat(`<g opacity=".9">`, 40) + strings.Repeat(`</g>`, 40) + `</svg>`, ErrTooLarge, 0, 0, 0, 0},
	} {
		s, err := CanonicalSVG([]byte(tt.doc), 50_000_000)
		if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("%s: %v; want %v", tt.name, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		checkCanonical(t, tt.name, s)
		if s.Instances != tt.instances || s.Layers != tt.layers || s.Masks != tt.masks || s.LayerDepth != tt.layerDepth {
			t.Errorf("%s: %d instances, %d layers, %d masks, %d deep; want %d, %d, %d, %d",
				tt.name, s.Instances, s.Layers, s.Masks, s.LayerDepth, tt.instances, tt.layers, tt.masks, tt.layerDepth)
		}
	}
}

func itoa(i int) string { return string(rune('0' + i)) }

// TestSVGStyles: style attributes and <style> rules keep what they can vet
// and drop references out of the document, imports and unknown properties.
func TestSVGStyles(t *testing.T) {
	t.Parallel()
	doc := svgOpen + `<style>@import url(http://127.0.0.1:9/a.css); @font-face { src: url(x.woff) }
.a { fill: url(#g) red; stroke: url(http://127.0.0.1:9/p.svg#p) } /* comment } */ rect { filter: url(#f); stroke-width: 2 }
svg|rect { fill: blue } .b { fill: \75 rl(http://127.0.0.1:9/) } .c { fill: var(--x) }</style>
<linearGradient id="g"><stop offset="0" stop-color="red"/></linearGradient>
<rect class="a" width="10" height="10" style="fill: url('#g'); mask: url(file:///etc/passwd#m); behavior: url(x.htc); stroke: rgb(1, 2, 3) !important"/>
<rect width="10" height="10" fill="url(http://127.0.0.1:9/p#x)" stroke="url(#g) none" filter="url(#f)" transform="translate(1 2) evil(3)"/>
</svg>`
	s, err := CanonicalSVG([]byte(doc), 50_000_000)
	if err != nil {
		t.Fatal(err)
	}
	checkCanonical(t, "styles", s)
	for _, bad := range []string{"127.0.0.1", "file:", "@import", "font-face", "x.woff", "filter", "behavior", "svg|rect", `\75`, "var(", "evil", "comment"} {
		if bytes.Contains(s.Doc, []byte(bad)) {
			t.Errorf("%q kept:\n%s", bad, s.Doc)
		}
	}
	for _, good := range []string{".a{fill:url(#g) red}", "rect{stroke-width:2}", `style="fill:url(#g);stroke:rgb(1, 2, 3)!important"`, `stroke="url(#g) none"`} {
		if !bytes.Contains(s.Doc, []byte(good)) {
			t.Errorf("%q dropped:\n%s", good, s.Doc)
		}
	}
}

// TestSVGKeepsWhatIsDrawn: a document of the allowlist comes out the same
// but for its namespace declarations, comments and white space between
// elements.
func TestSVGKeepsWhatIsDrawn(t *testing.T) {
	t.Parallel()
	in := `<?xml version="1.0" encoding="ISO-8859-1"?>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="http://www.w3.org/1999/xlink" viewBox="0 0 10 10" width="10" height="10">
  <!-- a comment -->
  <defs><linearGradient id="g" x1="0" x2="1"><stop offset="0" stop-color="#f00"/><stop offset="1" stop-color="#00f"/></linearGradient>
  <clipPath id="c"><circle cx="5" cy="5" r="4"/></clipPath><symbol id="s" viewBox="0 0 2 2"><rect width="2" height="2"/></symbol></defs>
  <rect width="10" height="10" fill="url(#g)" clip-path="url(#c)" transform="rotate(45 5 5)"/>
  <use x:href="#s" x="1" y="1" width="2" height="2"/>
  <text x="1" y="9" xml:space="preserve" font-family="'DejaVu Sans'">caf` + "\xe9" + ` &amp; <tspan fill="red">&lt;b&gt;</tspan>&#x263A;</text>
  <a href="https://example.com/"><path d="M0,0 L10,10" stroke="black"/></a>
</svg>`
	s, err := CanonicalSVG([]byte(in), 50_000_000)
	if err != nil {
		t.Fatal(err)
	}
	want := `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 10 10" width="10" height="10">` +
		`<defs><linearGradient id="g" x1="0" x2="1"><stop offset="0" stop-color="#f00"/><stop offset="1" stop-color="#00f"/></linearGradient>` +
		`<clipPath id="c"><circle cx="5" cy="5" r="4"/></clipPath><symbol id="s" viewBox="0 0 2 2"><rect width="2" height="2"/></symbol></defs>` +
		`<rect width="10" height="10" fill="url(#g)" clip-path="url(#c)" transform="rotate(45 5 5)"/>` +
		`<use x="1" y="1" width="2" height="2" xlink:href="#s"/>` +
		`<text x="1" y="9" xml:space="preserve" font-family="'DejaVu Sans'">café &amp; <tspan fill="red">&lt;b&gt;</tspan>☺</text>` +
		`<g><path d="M0,0 L10,10" stroke="black"/></g></svg>`
	if string(s.Doc) != want {
		t.Errorf("canonical document:\n%s\nwant\n%s", s.Doc, want)
	}
	if s.Elements != 15 || s.Instances != 1+1+2+1+2+2+2 || s.TextWork != 11*11 {
		t.Errorf("%d elements, %d instances, text work %d", s.Elements, s.Instances, s.TextWork)
	}
	// The path's data "M0,0 L10,10" counts 6 (two letters, four numbers).
	if s.PathVerts != 6 || s.PathWork != 14 {
		t.Errorf("path counts %d, path work %d; want 6 and 14 (6·√6)", s.PathVerts, s.PathWork)
	}
}

// TestSVGPathWork: a path's data is counted where it is drawn, as often as
// it is drawn: a <use> draws its target again, a symbol or definition
// alone draws nothing.
func TestSVGPathWork(t *testing.T) {
	open := `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10" height="10">`
	path := `<path id="p" d="M 0 0 L 1 1 L 2 0 L 3 1 Z"/>` // 13 counted: 5 letters, 8 numbers
	for _, tt := range []struct {
		name        string
		doc         string
		verts, work int64
	}{
		{"drawn once", open + path + `</svg>`, 13, 46},
		{"used three more times", open + path + strings.Repeat(`<use xlink:href="#p"/>`, 3) + `</svg>`, 52, 184},
		{"defined, not drawn", open + `<defs>` + path + `</defs></svg>`, 0, 0},
		{"defined, used twice", open + `<defs>` + path + `</defs><use xlink:href="#p"/><use xlink:href="#p"/></svg>`, 26, 92},
		{"a polyline", open + `<polyline points="0,0 1,1 2,0"/></svg>`, 6, 14},
	} {
		s, err := CanonicalSVG([]byte(tt.doc), 1<<20)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if s.PathVerts != tt.verts || s.PathWork != tt.work {
			t.Errorf("%s: path counts %d, work %d; want %d, %d", tt.name, s.PathVerts, s.PathWork, tt.verts, tt.work)
		}
	}
}

// FuzzCanonicalSVG: whatever the input, an accepted document is canonical:
// no declaration, instruction, comment or CDATA, and it canonicalises to
// itself.
func FuzzCanonicalSVG(f *testing.F) {
	f.Add([]byte(svgOpen + `<rect width="1" height="1" style="fill:url(#a)"/><text>a&amp;b</text></svg>`))
	f.Add([]byte(`<!DOCTYPE svg [<?x "?>]>` + svgOpen + `</svg>`))
	f.Add(svgWith(b64png(10, 10)))
	f.Add([]byte(svgOpen + `<style>.a>b{opacity:.5}</style><g class="a"><use xlink:href="#x"/></g></svg>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		s, err := CanonicalSVG(doc, 1_000_000)
		if err != nil {
			if !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		checkCanonical(t, "fuzz", s)
	})
}

// TestSVGPaintServers counts the drawn shapes painted with a gradient (the
// paint server the canonical document keeps), each priced as covering the
// canvas: 200 canvas-sized rectangles
// with a radial gradient drew for 11.1 s against 1.2 s priced as shapes.
func TestSVGPaintServers(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, body string
		paints     int64
	}{
		{"a gradient fill", `<linearGradient id="g"/><rect fill="url(#g)" width="1" height="1"/>`, 1},
		{"a gradient stroke", `<linearGradient id="p"/><circle stroke="url(#p)" r="1"/>`, 1},
		{"a pattern, which is not drawn", `<pattern id="p"/><circle stroke="url(#p)" r="1"/>`, 0},
		{"in a style", `<radialGradient id="g"/><rect style="fill:url(#g)" width="1" height="1"/>`, 1},
		{"a solid fill", `<rect fill="red" width="1" height="1"/>`, 0},
		{"a reference to no paint server", `<rect id="x" width="1" height="1"/><rect fill="url(#x)" width="1" height="1"/>`, 0},
		{"inherited from a group", `<linearGradient id="g"/><g fill="url(#g)"><rect width="1" height="1"/><rect width="1" height="1"/><circle r="1"/></g>`, 4},
		{"set by a rule on a group", `<style>g { fill: url(#g) }</style><linearGradient id="g"/><g><rect width="1" height="1"/><rect width="1" height="1"/></g>`, 3},
		{"each use drawn", `<defs><radialGradient id="g"/><rect id="r" fill="url(#g)" width="1" height="1"/></defs><use xlink:href="#r"/><use xlink:href="#r"/>`, 2},
	} {
		s, err := CanonicalSVG([]byte(svgOpen+tt.body+`</svg>`), 50_000_000)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if s.Paints != tt.paints {
			t.Errorf("%s: %d painted with a gradient, want %d", tt.name, s.Paints, tt.paints)
		}
	}
}
