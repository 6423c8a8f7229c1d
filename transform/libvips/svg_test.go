package libvips

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"hash/crc32"
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
// list, for the rest of the test.
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
		_, err := tr.Transform(context.Background(), []byte(doc), parse(t, "w=50&fm=png"))
		if !errors.Is(err, transform.ErrUnsupported) && !errors.Is(err, transform.ErrTooLarge) {
			t.Errorf("%s: %v; want a refusal", name, err)
		}
		if got := loads(); len(got) != 0 {
			t.Errorf("%s: refused, yet libvips was given %d buffers", name, len(got))
		}
	}
	// A watermark is a raster or nothing: its bytes are never given to
	// librsvg, whatever the caller checked.
	spec := parse(t, "w=50&fm=png&mark=/m.svg")
	spec.MarkImage = &transform.Source{Body: readFile(t, filepath.Join(corpusDir, "formats/svg-libvips-logo.svg"))}
	if _, err := tr.Transform(context.Background(), readFile(t, filepath.Join(benchImages, "kodim23.png")), spec); !errors.Is(err, transform.ErrUnsupported) {
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
	tr := newTransformer(t)
	for _, file := range corpusSVGs {
		orig := readFile(t, filepath.Join(corpusDir, file))
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
			res, err := tr.Transform(context.Background(), orig, parse(t, "fm=jpg"))
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
