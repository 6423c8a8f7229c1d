package transform

import (
	"errors"
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
		if px, err := HEIFCodedPixels(b); err != nil || px != tt.pixels {
			t.Errorf("%s: %d pixels (%v), want %d", tt.file, px, err, tt.pixels)
		}
		// Every cut within the boxes at the start, then every 97th byte.
		for n := 0; n < len(b); n += max(1, min(n/2048, 97)) {
			HEIFCodedPixels(b[:n])
		}
	}
}

// TestHEIFLiesSeenThrough: files crafted to be priced small and decode
// large (testdata/heif, from an adversarial review) are refused, or read at
// what they decode to: ispe claiming 100x100 over a 12000x12000 frame, the
// frame's data split in two extents, an item located twice, a grid and an
// overlay of 100x100 claiming tiles drawn on a canvas of 12288 and 12000 a
// side, and a HEIC whose sequence parameter set sits in an hvcC array
// labelled otherwise.
func TestHEIFLiesSeenThrough(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		file    string
		atLeast int64 // pixels at least; 0: refused
	}{
		{"ispe100-12k.avif", 12000 * 12000},
		{"split.avif", 12000 * 12000},
		{"dup.avif", 0},
		{"grid.avif", 12288 * 12288},
		{"iovl.avif", 12000 * 12000},
		{"h7label.heic", 7168 * 7168},
	} {
		b, err := os.ReadFile("testdata/heif/" + tt.file)
		if err != nil {
			t.Fatal(err)
		}
		px, err := HEIFCodedPixels(b)
		switch {
		case tt.atLeast == 0 && !errors.Is(err, ErrUnsupported):
			t.Errorf("%s: %d pixels (%v), want refused", tt.file, px, err)
		case tt.atLeast > 0 && (err != nil || px < tt.atLeast):
			t.Errorf("%s: %d pixels (%v), want at least %d", tt.file, px, err, tt.atLeast)
		}
	}
}

// TestHEIFPixelsNeverWrap: a crafted canvas or parameter set claims up to
// 2^32 a side, and thousands of grid references may name it; the sums
// stay positive and over every limit instead of wrapping past them.
func TestHEIFPixelsNeverWrap(t *testing.T) {
	t.Parallel()
	huge := []byte{0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff} // a grid with 32-bit sides
	if px := heifCanvas(huge, "grid"); px <= 1<<40 {
		t.Fatalf("a 2^32-a-side grid canvas: %d pixels", px)
	}
	sum := int64(0)
	for range 100_000 {
		sum = addPixels(sum, 1<<48)
	}
	if sum < 1<<48 {
		t.Fatalf("100,000 tiles of 2^48 pixels sum to %d", sum)
	}
}
