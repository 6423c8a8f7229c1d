package transform

import (
	"os"
	"testing"
)

// TestHEIFCodedPixels reads what the AV1 and HEVC data of the corpus'
// AVIFs and HEICs decodes to for their primary image: its pixels, and its
// alpha's besides; and survives truncations of them without a panic.
func TestHEIFCodedPixels(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		file   string
		pixels int64
	}{
		{"exif-orientation/pillow-avif-rot1mir0.avif", 640 * 427},
		{"formats/avif-example.avif", 800 * 533},
		{"formats/avif-transparency.avif", 2 * 64 * 64}, // colour and alpha
		{"hostile/libvips-17000x17000.avif", 17000 * 17000},
		// The primary image, coded at 1280x856 and shown at 1280x854
		// (cropped by its clap property); the file's second image and the
		// two thumbnails are not decoded.
		{"formats/heic-example.heic", 1280 * 856},
		{"formats/heic-with-alpha-512x512.heic", 2 * 512 * 512},
	} {
		b, err := os.ReadFile("../testdata/corpus/" + tt.file)
		if err != nil {
			t.Fatal(err)
		}
		if px, ok := HEIFCodedPixels(b); !ok || px != tt.pixels {
			t.Errorf("%s: %d pixels (parsed %v), want %d", tt.file, px, ok, tt.pixels)
		}
		// Every cut within the boxes at the start, then every 97th byte.
		for n := 0; n < len(b); n += max(1, min(n/2048, 97)) {
			HEIFCodedPixels(b[:n])
		}
	}
}
