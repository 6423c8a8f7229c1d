package libvips

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"imgedge/transform"
)

// FuzzTransform feeds arbitrary bytes to the transform entry point, seeded
// from the corpus (every file under 64 KiB, hostile ones included). Any input
// must end in a result or a classified error: never a panic, a crash or an
// unclassified failure.
func FuzzTransform(f *testing.F) {
	for _, dir := range []string{"hostile", "formats", "png-conformance", "exif-orientation"} {
		entries, _ := os.ReadDir(filepath.Join(corpusDir, dir))
		for _, e := range entries {
			if info, err := e.Info(); err == nil && info.Size() <= 64<<10 {
				if b, err := os.ReadFile(filepath.Join(corpusDir, dir, e.Name())); err == nil {
					f.Add(b, uint8(0))
				}
			}
		}
	}
	cfg := testConfig()
	cfg.Timeout = 2 * time.Second
	cfg.MaxSourcePixels = 4_000_000 // keep each execution small
	// The ceiling: what the renders of one process may hold, estimated.
	cfg.MemoryBudget = 256 << 20
	tr, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(tr.Close)
	queries := []string{"w=32", "w=32&h=32&fit=crop&crop=attention&fm=png", "fm=webp&w=16", "w=20&fm=gif", "h=24&fit=fill&bg=80ff0000&fm=avif",
		// What an attacker asks of any file: every one must end in a limit.
		"w=8192&h=8192&fit=scale&fm=avif", "w=4096&blur=2000&fm=jpg", "w=8192&fm=jxl", "w=2000&rot=90&fm=gif"}
	p, err := transform.NewParser(transform.Limits{MaxDimension: 8192}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src []byte, which uint8) {
		spec, _, err := p.ParseQuery(queries[int(which)%len(queries)])
		if err != nil {
			t.Fatal(err)
		}
		res, err := tr.Transform(context.Background(), src, transform.Job{Spec: spec})
		switch {
		case err == nil:
			if len(res.Body) == 0 || res.Width <= 0 || res.Height <= 0 {
				t.Fatalf("success without an image: %+v", res)
			}
		case errors.Is(err, transform.ErrUnsupported), errors.Is(err, transform.ErrTooLarge),
			errors.Is(err, transform.ErrTimeout), errors.Is(err, transform.ErrBusy):
		default:
			t.Fatalf("unclassified error: %v", err)
		}
	})
}
