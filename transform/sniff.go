package transform

import "bytes"

// Sniff names the image format of b from its magic bytes, never from a file
// name or a Content-Type; FormatSource means "not an image this edge knows".
func Sniff(b []byte) Format {
	switch {
	case bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}):
		return FormatJPEG
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return FormatPNG
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return FormatGIF
	case len(b) >= 12 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return FormatWebP
	case bytes.HasPrefix(b, []byte{0xFF, 0x0A}), bytes.HasPrefix(b, []byte("\x00\x00\x00\x0cJXL \r\n\x87\n")):
		return FormatJXL
	case bytes.HasPrefix(b, []byte("II*\x00")), bytes.HasPrefix(b, []byte("MM\x00*")):
		return FormatTIFF
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		switch string(b[8:12]) {
		case "avif", "avis":
			return FormatAVIF
		case "heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1":
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
