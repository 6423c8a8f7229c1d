package transform

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // header readers for embedded rasters
	_ "image/jpeg"
	_ "image/png"
	"io"
	"net/url"
	"strings"

	_ "golang.org/x/image/webp"
)

// SVGEmbeddedPixels reads an SVG document's embedded rasters (data: URIs in
// any href, as <image> and <feImage> use) and returns their pixels summed.
// librsvg decodes each of them whole, whatever size the document draws it
// at: a 100x100 SVG can carry a 20000x20000 PNG. It refuses, with
// ErrTooLarge, a document whose embedded pixels exceed maxPixels, and with
// ErrUnsupported one it cannot account for: an embedded raster whose size
// cannot be read from its header, SVG documents nested deeper than
// maxSVGNesting, a reference spelled with an entity, or a document that does
// not parse. A nested SVG document (an <image> or <use> of a data: URI)
// counts with its own embedded rasters.
func SVGEmbeddedPixels(svg []byte, maxPixels int64) (int64, error) {
	return svgPixels(svg, maxPixels, 0)
}

// maxSVGNesting bounds SVG documents embedded in SVG documents: each level
// is parsed again, so the depth bounds the work.
const maxSVGNesting = 2

func svgPixels(svg []byte, maxPixels int64, depth int) (int64, error) {
	d := xml.NewDecoder(bytes.NewReader(svg))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	var total int64
	for {
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return 0, fmt.Errorf("%w: the SVG document does not parse: %v", ErrUnsupported, err)
		}
		el, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		for _, a := range el.Attr {
			if a.Name.Local != "href" {
				continue
			}
			px, err := embeddedPixels(strings.TrimSpace(a.Value), maxPixels-total, depth)
			if err != nil {
				return 0, err
			}
			if total += px; total > maxPixels {
				return 0, fmt.Errorf("%w: the SVG embeds rasters of %d pixels or more, above limits.max_source_pixels (%d)",
					ErrTooLarge, total, maxPixels)
			}
		}
	}
}

// embeddedPixels sizes one href: 0 for a reference that is not a data URI
// (librsvg loads nothing external for a document read from memory).
func embeddedPixels(href string, maxPixels int64, depth int) (int64, error) {
	if strings.Contains(href, "&") {
		// An entity the parser above did not expand could expand to a data
		// URI in librsvg's parser.
		return 0, fmt.Errorf("%w: the SVG builds an image reference from an entity", ErrUnsupported)
	}
	if len(href) < 5 || !strings.EqualFold(href[:5], "data:") {
		return 0, nil
	}
	meta, payload, ok := strings.Cut(href[5:], ",")
	if !ok {
		return 0, fmt.Errorf("%w: the SVG embeds a data URI without data", ErrUnsupported)
	}
	payload, _, _ = strings.Cut(payload, "#") // <use> points at an element of the embedded document
	b64 := strings.HasSuffix(strings.ToLower(meta), ";base64")
	// A raster's size is in its first bytes: only they are decoded, so a
	// 37 MB embedded PNG costs a header read here, not a second copy.
	raw, err := dataBytes(payload, b64, headerBytes)
	if err != nil {
		return 0, err
	}
	if IsSVG(raw) && depth < maxSVGNesting && len(raw) == headerBytes {
		// A nested document is scanned whole; it is text the source holds.
		if raw, err = dataBytes(payload, b64, len(payload)); err != nil {
			return 0, err
		}
	}
	switch {
	case IsGzip(raw):
		return 0, fmt.Errorf("%w: the SVG embeds compressed data; embed it uncompressed", ErrUnsupported)
	case IsSVG(raw) && depth >= maxSVGNesting:
		return 0, fmt.Errorf("%w: the SVG nests SVG documents more than %d deep; flatten them", ErrUnsupported, maxSVGNesting)
	case IsSVG(raw):
		return svgPixels(raw, maxPixels, depth+1)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return 0, fmt.Errorf("%w: the SVG embeds an image whose size cannot be read (PNG, JPEG, GIF and WebP can be)", ErrUnsupported)
	}
	return int64(cfg.Width) * int64(cfg.Height), nil
}

// headerBytes is how much of an embedded image is decoded to read its size:
// past any EXIF, XMP and ICC segments a JPEG carries before its frame header.
const headerBytes = 256 << 10

// dataBytes decodes at most limit bytes of a data URI's payload.
func dataBytes(payload string, b64 bool, limit int) ([]byte, error) {
	if b64 {
		// Base64 in attributes is often wrapped and indented; the decoder
		// skips newlines but not spaces or tabs.
		dec := base64.NewDecoder(base64.StdEncoding, &skipBlanks{s: payload})
		raw, err := io.ReadAll(io.LimitReader(dec, int64(limit)))
		if err != nil {
			return nil, fmt.Errorf("%w: the SVG embeds a data URI that is not valid base64", ErrUnsupported)
		}
		return raw, nil
	}
	if len(payload) > limit {
		payload = payload[:limit]
		if i := strings.LastIndexByte(payload, '%'); i >= len(payload)-2 {
			payload = payload[:i] // never cut an escape in two
		}
	}
	s, err := url.PathUnescape(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: the SVG embeds a data URI that is not valid", ErrUnsupported)
	}
	return []byte(s), nil
}

// skipBlanks reads s without its spaces, tabs and line breaks.
type skipBlanks struct{ s string }

func (r *skipBlanks) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && len(r.s) > 0 {
		switch c := r.s[0]; c {
		case ' ', '\t', '\n', '\r', '\f':
		default:
			p[n] = c
			n++
		}
		r.s = r.s[1:]
	}
	if n == 0 && len(r.s) == 0 {
		return 0, io.EOF
	}
	return n, nil
}
