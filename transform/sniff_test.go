package transform

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSniff(t *testing.T) {
	t.Parallel()
	corpus := "../testdata/corpus"
	tests := []struct {
		file string
		want Format
	}{
		{"../bench/images/hopper.jpg", FormatJPEG},
		{"../bench/images/kodim23.png", FormatPNG},
		{corpus + "/exif-orientation/pillow-hopper_orientation_6.webp", FormatWebP},
		{corpus + "/exif-orientation/pillow-avif-rot1mir0.avif", FormatAVIF},
		{corpus + "/hostile/html-404-page.jpg", FormatSource},
		{corpus + "/hostile/zero-byte.jpg", FormatSource},
		// An AVIF image sequence: libvips 8.14 has no loader for the avis
		// brand, so the edge refuses its original as it refuses its variants.
		{corpus + "/formats/avif-animated-star.avifs", FormatSource},
	}
	for _, tt := range tests {
		b, err := os.ReadFile(filepath.FromSlash(tt.file))
		if err != nil {
			t.Fatalf("%s: %v (the test reads testdata/corpus)", tt.file, err)
		}
		if got := Sniff(b); got != tt.want {
			t.Errorf("Sniff(%s) = %q, want %q", tt.file, got, tt.want)
		}
	}
	for name, b := range map[string][]byte{
		"gif": []byte("GIF89a\x01\x00\x01\x00\x00\x00"), "jxl codestream": {0xFF, 0x0A, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "tiff": []byte("II*\x00\x08\x00\x00\x00\x00\x00\x00\x00"),
		"heic": []byte("\x00\x00\x00\x18ftypheic\x00\x00"), "svg": []byte("<svg xmlns='http://www.w3.org/2000/svg'/>"),
		"heix": []byte("\x00\x00\x00\x18ftypheix\x00\x00"), "jpeg under 12 bytes": {0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10},
	} {
		want := map[string]Format{"gif": FormatGIF, "jxl codestream": FormatJXL, "tiff": FormatTIFF, "heic": FormatHEIF, "svg": FormatSource,
			"heix": FormatSource, "jpeg under 12 bytes": FormatSource}[name]
		if got := Sniff(b); got != want {
			t.Errorf("Sniff(%s) = %q, want %q", name, got, want)
		}
	}
}
