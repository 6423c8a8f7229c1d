package libvips

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"

	"imgedge/transform"
)

// mapLadder keeps rungs in a map, as the edge's originals tier does, and
// counts what the renders asked of it.
type mapLadder struct {
	mu          sync.Mutex
	rungs       map[int][]byte
	asked, kept int
	wantsNone   bool // as for a source seen once: no rung is wanted
}

func (l *mapLadder) Rung(scale int) ([]byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asked++
	return l.rungs[scale], l.rungs[scale] == nil && !l.wantsNone
}

func (l *mapLadder) Keep(scale int, rung []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rungs == nil {
		l.rungs = map[int][]byte{}
	}
	l.kept++
	l.rungs[scale] = rung
}

// A render from a rung gives the very bytes a render from the source gives:
// a rung is the source's decode at the scale the render would have used,
// already oriented and in sRGB.
func TestLadderRendersTheSameBytes(t *testing.T) {
	t.Parallel()
	tr := newTransformer(t)
	cases := []struct {
		file, query string
		scale       int // the rung kept; 0: none
	}{
		{"bench/camera-4000x3000-q90.jpg", "w=300&fm=jpg&q=80", 8},
		{"bench/camera-4000x3000-q90.jpg", "w=900&fm=webp", 4},
		{"bench/photo-1600x1200-q85.jpg", "w=300&fm=webp&q=80", 4},
		{"bench/photo-1600x1200-q85.jpg", "w=450&h=300&fit=crop&fm=png", 2},
		{"corpus/exif-orientation/Landscape_6.jpg", "w=100&fm=jpg", 8},
		{"corpus/formats/jpeg-cmyk-swop-icc.jpg", "w=90&fm=webp", 4},
		{"corpus/formats/jpeg-adobergb-icc.jpg", "w=60&auto=format", 4},
		{"corpus/formats/jpeg-grayscale.jpg", "w=30&fm=png", 4},
		{"webp/photo-1600x1200-q85.jpg", "w=300&fm=jpg", 4}, // WebP's scaled decode
		{"corpus/exif-orientation/pillow-hopper_orientation_6.webp", "w=30&fm=webp", 4},
		// rect= is cut from the source decoded at the rect's scale: the rung
		// is the whole source at that scale.
		{"bench/photo-1600x1200-q85.jpg", "rect=0,0,800,600&w=100", 8},
		{"corpus/exif-orientation/Landscape_6.jpg", "rect=12,20,300,400&w=50&fm=png", 4},
		// No rung: the source is decoded at full size, or described.
		{"bench/photo-1600x1200-q85.jpg", "w=1000&fm=webp", 0},
		{"bench/photo-1600x1200-q85.jpg", "fm=json", 0},
		// No shrink-on-load: every render reduces to 1/4 or 1/2 first (the
		// rung) when a reduce of 2x or more is left after it; else the rung
		// is the whole decode.
		{"bench/kodim23.png", "w=90&fm=webp", 4},
		{"corpus/formats/avif-example.avif", "w=100&fm=jpg", 2},
		{"bench/kodim23.png", "w=300&fm=webp", 1}, // 768 px: 1/2 would leave 1.28x
		{"corpus/formats/avif-example.avif", "w=300&fm=webp", 1},
		{"corpus/formats/heic-example.heic", "w=400&fm=jpg", 1},   // beyond its thumbnail
		{"bench/yellow_rose.png", "w=150&fm=png", 1},              // alpha
		{"corpus/png-conformance/basn2c16.png", "w=20&fm=png", 1}, // 16 bits a sample
		{"corpus/formats/png-alpha-blackbug.png", "w=300&fm=webp", 2},
		{"corpus/formats/png-alpha-blackbug.png", "w=1200&fm=webp", 0}, // 12.6 MB whole: over maxRungBytes
		// A rung over maxRungBytes: 2000x1500 at 1/2 is 9 MB.
		{"bench/camera-4000x3000-q90.jpg", "w=1500&fm=jpg", 0},
	}
	for _, c := range cases {
		t.Run(c.file+"?"+c.query, func(t *testing.T) {
			var src []byte
			if name, ok := strings.CutPrefix(c.file, "webp/"); ok {
				src = webpOf(t, name)
			} else {
				src = readFile(t, imagePath(c.file))
			}
			spec := parse(t, c.query)
			want, err := tr.Transform(context.Background(), src, transform.Job{Spec: spec})
			if err != nil {
				t.Fatal(err)
			}
			ladder := &mapLadder{}
			for i, step := range []string{"keeping the rung", "from the rung"} {
				got, err := tr.Transform(context.Background(), src, transform.Job{Spec: spec, Ladder: ladder})
				if err != nil {
					t.Fatalf("%s: %v", step, err)
				}
				if !bytes.Equal(got.Body, want.Body) || got.Width != want.Width || got.Height != want.Height {
					t.Errorf("%s: %dx%d, %d bytes; without a ladder %dx%d, %d bytes", step, got.Width, got.Height, len(got.Body), want.Width, want.Height, len(want.Body))
				}
				if c.scale == 0 {
					if ladder.kept != 0 || got.Rung != transform.RungNone {
						t.Errorf("%s: kept %d rungs, rung use %s; want none", step, ladder.kept, got.Rung)
					}
					continue
				}
				if ladder.kept != 1 || ladder.rungs[c.scale] == nil || ladder.asked != i+1 {
					t.Errorf("%s: kept %d rungs (scales %v), asked %d times; want one rung at 1/%d, kept on the first render and used by the second",
						step, ladder.kept, keys(ladder.rungs), ladder.asked, c.scale)
				}
			}
			if c.scale != 0 {
				rung, err := vips.LoadImageFromBuffer(ladder.rungs[c.scale], vips.NewImportParams())
				if err != nil {
					t.Fatal(err)
				}
				defer rung.Close()
				header, err := vips.LoadImageFromBuffer(src, vips.NewImportParams())
				if err != nil {
					t.Fatal(err)
				}
				defer header.Close()
				w, h := header.Width(), header.Height()
				if o := header.Orientation(); o >= 5 {
					w, h = h, w
				}
				// libjpeg's scaled sizes round either way.
				if rw, rh := rung.Width(), rung.Height(); rw != w/c.scale && rw != (w+c.scale-1)/c.scale || rh != h/c.scale && rh != (h+c.scale-1)/c.scale {
					t.Errorf("rung %dx%d; want the %dx%d source (as displayed) at 1/%d", rw, rh, w, h, c.scale)
				}
			}
		})
	}
}

// A rung is keyed by its scale alone, so only renders of the first frame
// use one: another frame of a multi-image HEIF is decoded.
func TestLadderOnlyForTheFirstFrame(t *testing.T) {
	for frame, want := range map[int]int{0: 2, 1: 2, 2: 0} {
		j := &job{spec: transform.Spec{Frame: frame}, ladder: &mapLadder{}, prescale: 2}
		if got := j.ladderScale(); got != want {
			t.Errorf("frame %d: rung scale %d; want %d", frame, got, want)
		}
	}
}

// A ladder that wants no rung is offered none.
func TestLadderKeepsOnlyWhatIsWanted(t *testing.T) {
	tr := newTransformer(t)
	spec := parse(t, "w=300&fm=jpg")
	ladder := &mapLadder{wantsNone: true}
	res, err := tr.Transform(context.Background(), readFile(t, filepath.Join(benchImages, "camera-4000x3000-q90.jpg")), transform.Job{Spec: spec, Ladder: ladder})
	if err != nil {
		t.Fatal(err)
	}
	if ladder.asked != 1 || ladder.kept != 0 || res.Rung != transform.RungNone {
		t.Errorf("asked %d, kept %d, rung use %s; want one question, nothing kept", ladder.asked, ladder.kept, res.Rung)
	}
}

// imagePath resolves "bench/NAME" to the benchmark images and "corpus/PATH"
// to the third-party corpus.
func imagePath(name string) string {
	if rest, ok := strings.CutPrefix(name, "bench/"); ok {
		return filepath.Join(benchImages, rest)
	}
	return filepath.Join(corpusDir, strings.TrimPrefix(name, "corpus/"))
}

func keys(m map[int][]byte) []int {
	var k []int
	for s := range m {
		k = append(k, s)
	}
	return k
}
