package transform

import (
	"bytes"
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
		{"../bench/images/kodim23.png", false, 0, 0, 0},
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

// TestJPEGScansCannotHide: the scan count reads the markers as libjpeg
// does, so that stray bytes, markers without a length, arithmetic coding
// or a bad length neither hide the scans (each made the 2,647-scan file
// decode for its whole 45 s again) nor panic.
func TestJPEGScansCannotHide(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../testdata/corpus/hostile/jpeg-2647-scans.jpg")
	if err != nil {
		t.Fatal(err)
	}
	sos, sof := bytes.Index(b, []byte{0xFF, 0xDA}), bytes.Index(b, []byte{0xFF, 0xC2})
	insert := func(at int, s string) []byte { return append(append(append([]byte(nil), b[:at]...), s...), b[at:]...) }
	arith := append([]byte(nil), b...)
	arith[sof+1] = 0xCA // SOF10: progressive, arithmetic-coded
	second := sos + 2 + bytes.Index(b[sos+2:], []byte{0xFF, 0xDA})
	app := "\xff\xe1\x00\x08X\xff\xd9\xff\xda\x00" // an APP1 between scans holding an EOI and an SOS
	for name, v := range map[string][]byte{
		"an APPn between scans holding FF D9": insert(second, app),
		"stray bytes before the first scan":   insert(sos, "\x00\x00"),
		"TEM before the frame":                insert(sof, "\xff\x01"),
		"TEM and stray bytes":                 insert(sof, "\xff\x01\x00\x00"),
		"fill bytes":                          insert(sof, "\xff\xff\xff"),
		"arithmetic coding":                   arith,
	} {
		if p, ok := ReadJPEGProgression(v); !ok || p.Scans != 2647 {
			t.Errorf("%s: %+v %v, want 2647 scans", name, p, ok)
		}
	}
	// What follows the end of the image (a Motion Photo's video, an MPF
	// image) is not read by libjpeg: its FF DA bytes are no scans.
	base, err := os.ReadFile("../bench/images/hopper.jpg")
	if err != nil {
		t.Fatal(err)
	}
	trailer := bytes.Repeat([]byte("\x00\x00\xff\xda\x00\x08"), 500)
	if p, ok := ReadJPEGProgression(append(append([]byte(nil), base...), trailer...)); ok {
		t.Errorf("a baseline JPEG with a trailer holding FF DA: %+v, want one scan", p)
	}
	if p, ok := ReadJPEGProgression(append(append([]byte(nil), b...), trailer...)); !ok || p.Scans != 2647 {
		t.Errorf("2,647 scans and a trailer: %+v, want 2647", p)
	}
	for n := range min(len(b), 4096) { // every cut of the headers: no panic
		ReadJPEGProgression(b[:n])
		JPEGHuffman(b[:n])
	}
	if JPEGHuffman(arith) || !JPEGHuffman(b) {
		t.Error("JPEGHuffman: arithmetic coding taken for Huffman, or progressive Huffman not")
	}
}
