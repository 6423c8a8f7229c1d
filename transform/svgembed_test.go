package transform

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net/url"
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

func svgWith(href string) []byte {
	return []byte(`<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="100" height="100">` +
		`<image width="10" height="10" xlink:href="` + href + `"/></svg>`)
}

// TestSVGEmbeddedPixels: embedded rasters count with the size their header
// claims, however they are written; what cannot be accounted for is refused.
func TestSVGEmbeddedPixels(t *testing.T) {
	b64 := func(b []byte) string { return "data:image/png;base64," + base64.StdEncoding.EncodeToString(b) }
	wrapped := base64.StdEncoding.EncodeToString(pngOf(300, 200, 1<<20))
	wrapped = wrapped[:40] + "\n\t  " + wrapped[40:80] + " " + wrapped[80:]
	nestedBomb := "data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(svgWith(b64(pngOf(20000, 20000, 0))))
	nest := func(inner []byte) string { return "data:image/svg+xml," + url.PathEscape(string(inner)) }
	twoDeep := svgWith(nest(svgWith(nest(svgWith(b64(pngOf(1, 1, 0)))))))
	tooDeep := svgWith(nest(svgWith(nest(svgWith(nest(svgWith(b64(pngOf(1, 1, 0)))))))))
	for _, tt := range []struct {
		name string
		svg  []byte
		px   int64
		err  error
	}{
		{"no image", svgWith("#local"), 0, nil},
		{"a small raster", svgWith(b64(pngOf(300, 200, 0))), 60000, nil},
		{"a large body, indented base64: only the header is read", svgWith("data:image/png;base64," + wrapped), 60000, nil},
		{"percent-encoded", svgWith("data:image/png," + url.PathEscape(string(pngOf(10, 10, 0)))), 100, nil},
		{"a bomb", svgWith(b64(pngOf(20000, 20000, 0))), 0, ErrTooLarge},
		{"a bomb in a nested SVG", svgWith(nestedBomb), 0, ErrTooLarge},
		{"nested two deep", twoDeep, 1, nil},
		{"nested three deep", tooDeep, 0, ErrUnsupported},
		{"an entity", svgWith("&img;"), 0, ErrUnsupported},
		{"a size that cannot be read", svgWith("data:image/png;base64,AAAA"), 0, ErrUnsupported},
	} {
		px, err := SVGEmbeddedPixels(tt.svg, 50_000_000)
		if px != tt.px || !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
			t.Errorf("%s: %d pixels, %v; want %d, %v", tt.name, px, err, tt.px, tt.err)
		}
	}
}
