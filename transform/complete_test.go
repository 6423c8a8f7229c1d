package transform

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCompleteTellsPrefixes: every container file of the corpus is whole,
// and its prefixes (what a reader sees of a file being written in place)
// are not, at a cut in the middle of its data and one just before its end.
func TestCompleteTellsPrefixes(t *testing.T) {
	t.Parallel()
	for _, name := range []string{
		"avif-example.avif", "avif-transparency.avif", "heic-example.heic", "heic-with-alpha-512x512.heic",
		"jxl-bicycles.jxl", "tiff-video-001.tiff", "tiff-video-001-tile-64x64.tiff",
		"tiff-video-001-16bit.tiff", "svg-libvips-logo.svg", "svg-w3c-struct-image-04-t.svg",
	} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "corpus", "formats", name))
		if err != nil {
			t.Fatal(err)
		}
		if !Complete(b) {
			t.Errorf("%s: the whole file is not complete", name)
		}
		for n := 0; n < len(b); n += max(1, len(b)/500) { // no cut panics
			Complete(b[:n])
		}
		if Sniff(b) == FormatJXL && !isJXLContainer(b) {
			continue // a bare codestream cannot tell, nor a last box sized "to the end"
		}
		for _, cut := range []int{len(b) / 2, len(b) - 10} {
			if Complete(b[:cut]) {
				t.Errorf("%s: its first %d of %d bytes are taken as complete", name, cut, len(b))
			}
		}
	}
}

func isJXLContainer(b []byte) bool { return len(b) > 8 && string(b[4:8]) == "JXL " }

// TestCompleteSVGAndOpenBoxes: a prefix of an SVG cut just after a nested
// </svg> or a comment is not whole, nor a container whose last box runs
// "to the end of the file" (the review's stalled writers got a cacheable
// 422 for both).
func TestCompleteSVGAndOpenBoxes(t *testing.T) {
	t.Parallel()
	for doc, want := range map[string]bool{
		`<svg xmlns="http://www.w3.org/2000/svg"><svg><rect/></svg><!-- x --></svg>`: true,
		`<svg xmlns="http://www.w3.org/2000/svg"><svg><rect/></svg>`:                 false,
		`<svg xmlns="http://www.w3.org/2000/svg"><svg><rect/></svg><!-- x -->`:       false,
		`<svg xmlns="http://www.w3.org/2000/svg"><svg width="1"/><rect/></svg>`:      true,
	} {
		if got := Complete([]byte(doc)); got != want {
			t.Errorf("%s: complete %v, want %v", doc, got, want)
		}
	}
	b, err := os.ReadFile(filepath.Join("..", "testdata", "corpus", "formats", "avif-example.avif"))
	if err != nil {
		t.Fatal(err)
	}
	// The last box's size made 0, "to the end of the file".
	last := 0
	for p := 0; p < len(b); p += int(uint32(b[p])<<24 | uint32(b[p+1])<<16 | uint32(b[p+2])<<8 | uint32(b[p+3])) {
		last = p
	}
	open := append([]byte(nil), b...)
	copy(open[last:], []byte{0, 0, 0, 0})
	if Complete(open) {
		t.Error("a container whose last box runs to the end of the file is taken as complete")
	}
}
