package transform

import (
	"os"
	"testing"
)

// TestAVIFCodedPixels reads what the AV1 data of the corpus' AVIFs decodes
// to: the image's pixels, and its alpha's besides; and survives every
// truncation of them without a panic.
func TestAVIFCodedPixels(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		file   string
		pixels int64
	}{
		{"exif-orientation/pillow-avif-rot1mir0.avif", 640 * 427},
		{"formats/avif-example.avif", 800 * 533},
		{"formats/avif-transparency.avif", 2 * 64 * 64}, // colour and alpha
		{"hostile/libvips-17000x17000.avif", 17000 * 17000},
	} {
		b, err := os.ReadFile("../testdata/corpus/" + tt.file)
		if err != nil {
			t.Fatal(err)
		}
		if px, ok := AVIFCodedPixels(b); !ok || px != tt.pixels {
			t.Errorf("%s: %d pixels (parsed %v), want %d", tt.file, px, ok, tt.pixels)
		}
		for n := range len(b) {
			AVIFCodedPixels(b[:n])
		}
	}
}
