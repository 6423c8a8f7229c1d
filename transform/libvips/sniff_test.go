package libvips

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"

	"imgedge/transform"
)

// originalFormat is what the edge makes of an original: transform.Sniff,
// else SVG for an SVG document or gzip (SVGZ), as shield.ContentType.
func originalFormat(b []byte) transform.Format {
	if f := transform.Sniff(b); f != transform.FormatSource {
		return f
	}
	if transform.IsSVG(b) || transform.IsGzip(b) {
		return transform.FormatSVG
	}
	return transform.FormatSource
}

// loaderFormat is the format a libvips loader reads ("" compression unless
// heifload).
func loaderFormat(loader, compression string) transform.Format {
	for prefix, f := range map[string]transform.Format{
		"VipsForeignLoadJpeg": transform.FormatJPEG, "VipsForeignLoadPng": transform.FormatPNG,
		"VipsForeignLoadGif": transform.FormatGIF, "VipsForeignLoadNsgif": transform.FormatGIF,
		"VipsForeignLoadWebp": transform.FormatWebP, "VipsForeignLoadJxl": transform.FormatJXL,
		"VipsForeignLoadTiff": transform.FormatTIFF, "VipsForeignLoadSvg": transform.FormatSVG,
	} {
		if len(loader) >= len(prefix) && loader[:len(prefix)] == prefix {
			return f
		}
	}
	if len(loader) >= len("VipsForeignLoadHeif") && loader[:len("VipsForeignLoadHeif")] == "VipsForeignLoadHeif" {
		if compression == "av1" {
			return transform.FormatAVIF
		}
		return transform.FormatHEIF
	}
	return transform.FormatSource
}

// govipsFormat is the format govips' own check (which every load through
// govips passes first) names, FormatSource for one the edge does not take.
func govipsFormat(b []byte) transform.Format {
	return map[vips.ImageType]transform.Format{
		vips.ImageTypeJPEG: transform.FormatJPEG, vips.ImageTypePNG: transform.FormatPNG, vips.ImageTypeGIF: transform.FormatGIF,
		vips.ImageTypeWEBP: transform.FormatWebP, vips.ImageTypeAVIF: transform.FormatAVIF, vips.ImageTypeHEIF: transform.FormatHEIF,
		vips.ImageTypeJXL: transform.FormatJXL, vips.ImageTypeTIFF: transform.FormatTIFF, vips.ImageTypeSVG: transform.FormatSVG,
	}[vips.DetermineImageType(b)]
}

// name is f's name, or what FormatSource means here.
func name(f transform.Format) string {
	if f == transform.FormatSource {
		return "not an image"
	}
	return f.String()
}

// refusedRe matches a MANIFEST expectation that the edge refuses the file.
var refusedRe = regexp.MustCompile(`must be rejected|must fail|^bomb|must return a clean error|-> 422|HANG HAZARD`)

// The edge's one sniffer agrees with what the renderer reads, over every
// file of the third-party corpus. A file Sniff names is one libvips (by
// itself, with the untrusted loaders blocked) reads with the loader of that
// format, or one it picks that loader for and refuses as broken, which the
// MANIFEST lists as refused; govips' own check, which every load goes
// through, names it too. A file Sniff refuses (the original answers 415,
// every variant 422) is one the MANIFEST lists as refused, or one libvips
// cannot read either. Before, Sniff took the avis brand of an
// animated AVIF that libvips 8.14 hands to ImageMagick: the original was
// served while every variant answered 422.
func TestSniffAgreesWithLibvips(t *testing.T) {
	t.Parallel()
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
	if len(rows) < 150 {
		t.Fatalf("MANIFEST.tsv lists %d files", len(rows)-1)
	}
	for _, row := range rows[1:] {
		file, expect := row[0], row[5]
		t.Run(file, func(t *testing.T) {
			b := readFile(t, filepath.Join(corpusDir, filepath.FromSlash(file)))
			sniffed := originalFormat(b)
			if transform.IsGzip(b) {
				// The renderer inflates SVGZ itself and never hands libvips
				// gzip, whose own path can spin forever
				// (hostile/libvips-truncated.svgz); an SVGZ original is only
				// ever served rasterised, so a broken one fails both ways.
				zr, err := gzip.NewReader(bytes.NewReader(b))
				if err == nil {
					b, err = io.ReadAll(io.LimitReader(zr, maxSVGBytes))
				}
				if err != nil || !transform.IsSVG(b) {
					if !refusedRe.MatchString(expect) {
						t.Errorf("gzip data that does not inflate to SVG (%v), yet the MANIFEST expects it to load: %s", err, expect)
					}
					return
				}
			}
			if g := govipsFormat(b); sniffed != transform.FormatSource && sniffed != transform.FormatSVG && g != sniffed {
				t.Errorf("Sniff says %s, govips' check %s: a load through govips refuses it", sniffed, name(g))
			}
			loader, compression, err := libvipsReads(b)
			read, refused := loaderFormat(loader, compression), refusedRe.MatchString(expect)
			if err != nil && read == transform.FormatHEIF && sniffed == transform.FormatAVIF {
				read = sniffed // no header, so no compression to tell AV1 from HEVC by
			}
			switch {
			case sniffed == transform.FormatSource && err == nil && !refused:
				t.Errorf("Sniff refuses a file libvips reads with %s and the MANIFEST expects to load: %s", loader, expect)
			case sniffed == transform.FormatSource:
				// Refused by the edge whole: 415 for the original, 422 for
				// every variant.
			case read != sniffed && err == nil:
				t.Errorf("Sniff says %s; libvips reads it with %s (%s)", sniffed, loader, read)
			case read != sniffed:
				t.Errorf("Sniff says %s, but libvips has no loader for it (its search found %q: %v): the original would be served while every variant answers 422",
					sniffed, loader, err)
			case err != nil && !refused:
				t.Errorf("libvips' %s refuses it (%v) though the MANIFEST expects it to load: %s", loader, err, expect)
			}
		})
	}
}

// Every ISO-BMFF brand, and every short buffer: Sniff names a format only
// where govips' check names the same one.
func TestSniffBrandsAgreeWithGovips(t *testing.T) {
	brands := []string{"avif", "avis", "heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs", "mif1", "msf1", "mif2", "miaf", "MA1B", "isom", "mp41", "qt  ", "crx ", "jxl "}
	for _, brand := range brands {
		b := []byte("\x00\x00\x00\x1cftyp" + brand + "\x00\x00\x00\x00mif1miafMA1B")
		if s, g := transform.Sniff(b), govipsFormat(b); s != transform.FormatSource && s != g {
			t.Errorf("brand %q: Sniff says %s, govips %s", brand, s, name(g))
		}
	}
	for _, head := range []string{"\xff\xd8\xff", "\x89PNG\r\n\x1a\n", "GIF89a", "II*\x00", "\xff\x0a"} {
		for n := len(head); n < 12; n++ {
			b := append([]byte(head), make([]byte, n-len(head))...)
			if s, g := transform.Sniff(b), govipsFormat(b); s != transform.FormatSource && s != g {
				t.Errorf("%q in %d bytes: Sniff says %s, govips %s", head, n, s, name(g))
			}
		}
	}
}
