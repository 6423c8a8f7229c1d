package transform

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReadJPEGProgression: the scans and coefficient buffer of a JPEG of
// several scans, read from its headers and markers alone; a JPEG of one
// scan streams and is not one.
func TestReadJPEGProgression(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file      string
		ok        bool
		scans     int
		coefBytes int64 // 128 per block of each component
		maxBlocks int64
	}{
		{"../bench/images/hopper.jpg", false, 0, 0, 0},
		{"../testdata/corpus/hostile/jpeg-2647-scans.jpg", true, 2647, 3 * 32 * 32 * 128, 32 * 32},
		{"testdata/progressive-300x200-420.jpg", true, 10, (38*25 + 2*19*13) * 128, 38 * 25},
	} {
		b, err := os.ReadFile(filepath.FromSlash(tc.file))
		if err != nil {
			t.Fatal(err)
		}
		p, ok := ReadJPEGProgression(b)
		if ok != tc.ok || p.Scans != tc.scans && tc.ok || tc.ok && (p.CoefficientBytes != tc.coefBytes || p.MaxBlocks != tc.maxBlocks) {
			t.Errorf("%s: %+v %v; want %d scans, %d coefficient bytes, %d blocks at most, %v", tc.file, p, ok, tc.scans, tc.coefBytes, tc.maxBlocks, tc.ok)
		}
	}
}
