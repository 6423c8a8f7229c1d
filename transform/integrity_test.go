package transform

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"os"
	"strings"
	"testing"
)

func TestCheckIntegrity(t *testing.T) {
	t.Parallel()
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (the test reads testdata/corpus)", err)
		}
		return b
	}
	corpus := "../testdata/corpus/"
	good := map[string][]byte{
		"jpeg":                           read("../bench/images/hopper.jpg"),
		"png":                            read("../bench/images/kodim23.png"),
		"gif":                            read(corpus + "formats/gif-animated-rotating-squares.gif"),
		"webp":                           read(corpus + "formats/webp-lossy-yellow_rose.webp"),
		"jpeg with stray bytes":          read(corpus + "hostile/pillow-junk_jpeg_header.jpg"),
		"png with a bad iCCP CRC":        read(corpus + "hostile/pillow-unknown_compression_method.png"),
		"gif with a bad later frame":     read(corpus + "hostile/libvips-invalid_multiframe.gif"),
		"jpeg with an appended gain map": read(corpus + "formats/jpeg-ultrahdr.jpg"),
	}
	for name, b := range good {
		if err := CheckIntegrity(b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	bad := map[string][]byte{
		"truncated jpeg":       read(corpus + "hostile/pillow-truncated_jpeg.jpg"),
		"jpeg cut in its scan": good["jpeg"][:len(good["jpeg"])/2],
		"jpeg cut in a header": good["jpeg"][:100],
		"truncated png":        read(corpus + "hostile/sharp-truncated.png"),
		"png without IEND":     good["png"][:len(good["png"])-12],
		"png with an IDAT CRC": read(corpus + "png-conformance/xcsn0g01.png"),
		"png with an IHDR CRC": read(corpus + "png-conformance/xhdn0g08.png"),
		"truncated gif":        read(corpus + "hostile/libvips-truncated.gif"),
		"gif cut in half":      good["gif"][:len(good["gif"])/2],
		"truncated webp":       read(corpus + "hostile/truncated-yellow_rose.lossy.webp"),
	}
	for name, b := range bad {
		if err := CheckIntegrity(b); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: err = %v, want ErrUnsupported", name, err)
		}
	}
}

func FuzzCheckIntegrity(f *testing.F) {
	for _, p := range []string{"../bench/images/hopper.jpg", "../bench/images/yellow_rose.png", "../testdata/corpus/formats/gif-dispose-previous.gif"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b[:min(len(b), 4096)])
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = CheckIntegrity(b) // must not panic or loop on any input
	})
}

func TestJPEGHuffman(t *testing.T) {
	t.Parallel()
	for file, want := range map[string]bool{
		"../bench/images/hopper.jpg":                      true,
		"../testdata/corpus/formats/jpeg-progressive.jpg": true,
		"../testdata/corpus/formats/jpeg-arithmetic.jpg":  false,
		"../testdata/corpus/hostile/zero-byte.jpg":        false,
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if got := JPEGHuffman(b); got != want {
			t.Errorf("JPEGHuffman(%s) = %v, want %v", file, got, want)
		}
	}
}

// BenchmarkCheckIntegrityJPEG12MP checks the 2.5 MB benchmark photo, as
// every render of a new source does.
func BenchmarkCheckIntegrityJPEG12MP(b *testing.B) {
	src, err := os.ReadFile("../bench/images/camera-4000x3000-q90.jpg")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if err := CheckIntegrity(src); err != nil {
			b.Fatal(err)
		}
	}
}

// TestGIFDecodeWork: the frames decoded to reach frame n, their pixels and
// those restoring the previous canvas, read from the blocks.
func TestGIFDecodeWork(t *testing.T) {
	t.Parallel()
	frame := func(w, h int) *image.Paletted {
		return image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.White, color.Black})
	}
	a := &gif.GIF{Config: image.Config{Width: 500, Height: 400, ColorModel: color.Palette{color.White, color.Black}}}
	for i, d := range []byte{gif.DisposalNone, gif.DisposalPrevious, gif.DisposalBackground, 4, 0} {
		a.Image = append(a.Image, frame(10*(i+1), 10))
		a.Delay, a.Disposal = append(a.Delay, 5), append(a.Disposal, d)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, a); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		frames, restores int
		pixels           int64
	}{{1, 0, 100}, {2, 1, 300}, {3, 1, 600}, {4, 2, 1000}, {5, 2, 1500}, {99, 2, 1500}} {
		px, restores := GIFDecodeWork(buf.Bytes(), tt.frames)
		if px != tt.pixels || restores != tt.restores {
			t.Errorf("first %d frames: %d pixels, %d restores; want %d, %d", tt.frames, px, restores, tt.pixels, tt.restores)
		}
	}
}

// TestPNGCompressedText counts the chunks libpng inflates as it reads a
// PNG's header: zTXt, and iTXt marked compressed; not tEXt, nor an iTXt
// left uncompressed.
func TestPNGCompressedText(t *testing.T) {
	t.Parallel()
	var img bytes.Buffer
	if err := png.Encode(&img, image.NewGray(image.Rect(0, 0, 2, 2))); err != nil {
		t.Fatal(err)
	}
	withChunks := func(chunks ...string) []byte {
		b := img.Bytes()
		iend := bytes.Index(b, []byte("IEND")) - 4
		out := append([]byte{}, b[:iend]...)
		for _, c := range chunks {
			typ, data, _ := strings.Cut(c, ":")
			out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
			sum := crc32.NewIEEE()
			sum.Write([]byte(typ + data))
			out = append(out, typ+data...)
			out = binary.BigEndian.AppendUint32(out, sum.Sum32())
		}
		return append(out, b[iend:]...)
	}
	for _, tt := range []struct {
		chunks []string
		want   int
	}{
		{nil, 0},
		{[]string{"tEXt:Comment\x00hi"}, 0},
		{[]string{"zTXt:Comment\x00\x00x", "zTXt:a\x00\x00y"}, 2},
		{[]string{"iTXt:XML\x00\x01\x00\x00\x00z", "iTXt:XML\x00\x00\x00\x00\x00plain"}, 1},
	} {
		b := withChunks(tt.chunks...)
		if err := CheckIntegrity(b); err != nil {
			t.Fatalf("%q: the test's PNG is not whole: %v", tt.chunks, err)
		}
		if got := PNGCompressedText(b); got != tt.want {
			t.Errorf("%q: %d compressed text chunks, want %d", tt.chunks, got, tt.want)
		}
	}
}

// pngWithZTXt is a 2x2 PNG with n zTXt chunks.
func pngWithZTXt(t *testing.T, n int) []byte {
	t.Helper()
	var img bytes.Buffer
	if err := png.Encode(&img, image.NewGray(image.Rect(0, 0, 2, 2))); err != nil {
		t.Fatal(err)
	}
	b := img.Bytes()
	iend := bytes.Index(b, []byte("IEND")) - 4
	out := append([]byte{}, b[:iend]...)
	for range n {
		chunk := []byte("zTXtComment\x00\x00x")
		out = binary.BigEndian.AppendUint32(out, uint32(len(chunk)-4))
		out = append(out, chunk...)
		out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(chunk))
	}
	return append(out, b[iend:]...)
}

// TestSVGEmbeddedPNGTextBounded: a PNG embedded in an SVG has its text
// chunks inflated by gdk-pixbuf's libpng as a source's are: 40 zTXt chunks
// in a 412 KB SVG cost 2.3 s and 623 MiB priced at nothing.
func TestSVGEmbeddedPNGTextBounded(t *testing.T) {
	t.Parallel()
	svg := func(n int) []byte {
		return []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><image width="2" height="2" href="data:image/png;base64,` +
			base64.StdEncoding.EncodeToString(pngWithZTXt(t, n)) + `"/></svg>`)
	}
	if _, err := CanonicalSVG(svg(MaxPNGCompressedText), 50_000_000); err != nil {
		t.Fatalf("%d chunks: %v", MaxPNGCompressedText, err)
	}
	if _, err := CanonicalSVG(svg(MaxPNGCompressedText+1), 50_000_000); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("%d chunks: %v, want refused", MaxPNGCompressedText+1, err)
	}
}

// TestWebPFrameWork reads the frames decoded to reach frame n of an
// animated WebP from its ANMF chunks, and nothing of a still one.
func TestWebPFrameWork(t *testing.T) {
	t.Parallel()
	anim, err := os.ReadFile("../testdata/corpus/formats/webp-animated-rotating-squares.webp") // 9 frames, 80x80 canvas
	if err != nil {
		t.Fatal(err)
	}
	still, err := os.ReadFile("../testdata/corpus/formats/webp-lossy-yellow_rose.webp")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		src            []byte
		frames, wantN  int
		somePx, someBy bool
	}{{anim, 1, 1, true, true}, {anim, 5, 5, true, true}, {anim, 99, 9, true, true}, {still, 3, 0, false, false}} {
		px, coded, n := WebPFrameWork(tt.src, tt.frames)
		if n != tt.wantN || (px > 0) != tt.somePx || (coded > 0) != tt.someBy || px > int64(n)*80*80 {
			t.Errorf("first %d frames: %d frames, %d pixels, %d bytes; want %d frames", tt.frames, n, px, coded, tt.wantN)
		}
	}
}
