package libvips

import (
	"path/filepath"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"
)

// webpOf is a benchmark image as a WebP (q90), made in memory.
func webpOf(t testing.TB, name string) []byte {
	t.Helper()
	img, err := vips.LoadImageFromBuffer(readFile(t, filepath.Join(benchImages, name)), vips.NewImportParams())
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	b, _, err := img.ExportWebp(&vips.WebpExportParams{Quality: 90, ReductionEffort: 2, StripMetadata: true})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
