package transform

import "bytes"

// Sniff names the image format of b from its magic bytes, never from a file
// name or a Content-Type; FormatSource means "not an image this edge knows".
// It is the edge's one sniffer: the originals it names are the ones the
// renderer (transform/libvips) takes, which sniffs with it too, so an
// original is never served while every variant of it is refused. Its
// answers are therefore no wider than the loaders behind the renderer
// accept: govips v2.16's own check, which libvips' buffer loading goes
// through, takes ISO-BMFF files only with the major brands avif, heic, mif1
// and msf1 (not libheif's avis, heix, hevc, ...), and nothing under 12
// bytes. TestSniffAgreesWithLibvips in transform/libvips holds the two to
// each other over testdata/corpus and every brand.
func Sniff(b []byte) Format {
	if len(b) < 12 {
		return FormatSource
	}
	switch {
	case bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}):
		return FormatJPEG
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return FormatPNG
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return FormatGIF
	case string(b[0:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return FormatWebP
	case bytes.HasPrefix(b, []byte{0xFF, 0x0A}), bytes.HasPrefix(b, []byte("\x00\x00\x00\x0cJXL \r\n\x87\n")):
		return FormatJXL
	case bytes.HasPrefix(b, []byte("II*\x00")), bytes.HasPrefix(b, []byte("MM\x00*")):
		return FormatTIFF
	case string(b[4:8]) == "ftyp":
		switch string(b[8:12]) {
		case "avif":
			return FormatAVIF
		case "heic", "mif1", "msf1":
			return FormatHEIF
		}
	}
	return FormatSource
}

// IsSVG reports whether b looks like an SVG document: optional BOM, white
// space, XML declaration, comments or doctype, then an <svg element near the
// start. Binary formats are sniffed first by the callers, so a WebP that merely
// contains "<svg" in its pixels is never taken for SVG.
func IsSVG(b []byte) bool {
	head := b[:min(len(b), 4096)]
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	head = bytes.TrimLeft(head, " \t\r\n")
	if !bytes.HasPrefix(head, []byte("<")) {
		return false
	}
	return bytes.Contains(head, []byte("<svg"))
}

// IsGzip reports the gzip magic (SVGZ).
func IsGzip(b []byte) bool { return bytes.HasPrefix(b, []byte{0x1F, 0x8B}) }
