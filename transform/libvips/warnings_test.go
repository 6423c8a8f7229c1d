package libvips

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"imgedge/transform"
)

// libvipsLog records what libvips and GLib log through Startup's logger
// (warnings and worse), for the tests that hold renders to a silent log.
var libvipsLog = &logRecorder{}

type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	line := rec.Level.String() + " " + rec.Message
	rec.Attrs(func(a slog.Attr) bool {
		line += fmt.Sprintf(" %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, line)
	return nil
}

// mark is where the log ends now; since returns what came after it.
func (r *logRecorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.lines)
}

func (r *logRecorder) since(mark int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines[mark:]...)
}

// Normal renders log nothing: every variant of a source after the first
// (the edge keeps a rung on the second, later ones start from it) used to
// log two GLib warnings, `value "0" ... for property 'tile-height'` and
// 'tile-width', because the rung's TIFF was saved with a bare
// TiffExportParams whose tile sizes libvips refuses. Each source here is
// rendered three times with one ladder: without a rung, keeping one, and
// from it. The one line allowed is libvips 8.14's heifload saying it
// ignores an AVIF's nclx colour description (a fact about the file, logged
// at each load of one; the pixels are then taken as sRGB, as browsers take
// them).
func TestRendersLogNoWarnings(t *testing.T) {
	tr := newTransformer(t)
	const nclx = "WARN heifload: ignoring nclx profile domain=VIPS"
	cases := []struct{ file, query, allowed string }{
		{file: "bench/photo-1600x1200-q85.jpg", query: "w=300&fm=webp"},
		{file: "bench/camera-4000x3000-q90.jpg", query: "w=400&fm=jpg"},
		{file: "bench/kodim23.png", query: "w=90&fm=png"},
		{file: "bench/yellow_rose.png", query: "w=150&auto=format"},
		{file: "corpus/formats/jpeg-cmyk-swop-icc.jpg", query: "w=90&fm=webp"},
		{file: "corpus/formats/jpeg-grayscale.jpg", query: "w=30&fm=png"},
		{file: "corpus/formats/webp-lossy-yellow_rose.webp", query: "w=100&fm=webp"},
		{file: "corpus/formats/avif-example.avif", query: "w=100&fm=jpg", allowed: nclx},
		{file: "corpus/formats/heic-example.heic", query: "w=400&fm=avif"},
		{file: "corpus/formats/jxl-bicycles.jxl", query: "w=200&fm=jxl"},
		{file: "corpus/formats/gif-animated-rotating-squares.gif", query: "w=100"},
		{file: "corpus/formats/svg-libvips-logo.svg", query: "w=120&fm=png"},
		{file: "corpus/formats/tiff-video-001.tiff", query: "w=100&fm=jpg"},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.file)+"?"+c.query, func(t *testing.T) {
			src := readFile(t, imagePath(c.file))
			spec := parse(t, c.query)
			start := libvipsLog.mark()
			if _, err := tr.Transform(context.Background(), src, transform.Job{Spec: spec, Ladder: &mapLadder{wantsNone: true}}); err != nil {
				t.Fatal(err)
			}
			job := transform.Job{Spec: spec, Ladder: &mapLadder{}}
			for range 2 {
				if _, err := tr.Transform(context.Background(), src, job); err != nil {
					t.Fatal(err)
				}
			}
			var lines []string
			for _, l := range libvipsLog.since(start) {
				if l != c.allowed {
					lines = append(lines, l)
				}
			}
			if len(lines) > 0 {
				t.Errorf("three renders logged %d lines; want none:\n%s", len(lines), strings.Join(lines, "\n"))
			}
		})
	}
}
