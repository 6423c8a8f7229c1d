package libvips

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func chunk(fourcc string, payload []byte) []byte {
	c := append([]byte(fourcc), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(c[4:], uint32(len(payload)))
	c = append(c, payload...)
	if len(payload)%2 == 1 {
		c = append(c, 0)
	}
	return c
}

func riff(chunks ...[]byte) []byte {
	body := []byte("WEBP")
	for _, c := range chunks {
		body = append(body, c...)
	}
	out := append([]byte("RIFF"), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(out[4:], uint32(len(body)))
	return append(out, body...)
}

func TestStripWebPMetadata(t *testing.T) {
	vp8x := func(flags byte) []byte { return chunk("VP8X", []byte{flags, 0, 0, 0, 9, 0, 0, 9, 0, 0}) }
	image := chunk("VP8 ", []byte("pixels!")) // odd size: padded
	icc := chunk("ICCP", []byte("prof"))
	tests := []struct {
		name     string
		in, want []byte
	}{
		{"exif and xmp removed, flags cleared", riff(vp8x(0x2C), icc, image, chunk("EXIF", []byte("Exif\x00\x00MM")), chunk("XMP ", []byte("<x/>"))), riff(vp8x(0x20), icc, image)},
		{"simple file unchanged", riff(image), riff(image)},
		{"not webp unchanged", []byte("\x89PNG\r\n\x1a\nrest"), []byte("\x89PNG\r\n\x1a\nrest")},
		{"truncated chunk unchanged", riff(image)[:20], riff(image)[:20]},
	}
	for _, tt := range tests {
		if got := stripWebPMetadata(tt.in); !bytes.Equal(got, tt.want) {
			t.Errorf("%s:\n got % x\nwant % x", tt.name, got, tt.want)
		}
	}
}
