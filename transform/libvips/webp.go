package libvips

import "encoding/binary"

// stripWebPMetadata removes the EXIF and XMP chunks from a WebP file and
// clears their flags. libvips 8.14's webpsave writes an EXIF chunk (with
// resolution and an orientation) even when asked to strip, from the vips
// command as well; in a 64 px thumbnail that is a tenth of the bytes. A
// file that does not parse as RIFF/WebP is returned unchanged.
func stripWebPMetadata(b []byte) []byte {
	const (
		flagEXIF = 0x08
		flagXMP  = 0x04
	)
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		return b
	}
	out := make([]byte, 12, len(b))
	copy(out, b[:12])
	for p := 12; p < len(b); {
		if p+8 > len(b) {
			return b
		}
		size := int(binary.LittleEndian.Uint32(b[p+4 : p+8]))
		end := p + 8 + size + size&1 // chunks are padded to an even size
		if size < 0 || end > len(b) {
			return b
		}
		switch string(b[p : p+4]) {
		case "EXIF", "XMP ":
		case "VP8X":
			start := len(out)
			out = append(out, b[p:end]...)
			if size > 0 {
				out[start+8] &^= flagEXIF | flagXMP
			}
		default:
			out = append(out, b[p:end]...)
		}
		p = end
	}
	binary.LittleEndian.PutUint32(out[4:8], uint32(len(out)-8))
	return out
}
