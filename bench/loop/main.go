// Command loop is the floor imgedge's misses are measured against: a bare
// govips loop doing an image server's least work for one variant (JPEG
// shrink-on-load, one Lanczos3 resize, one encode at libvips' default effort),
// a few at a time, with no HTTP, no cache and no checks. It walks the same
// widths and qualities as the bench's unique workloads, so both sides do the
// same work, and reports operations per second, latency percentiles and the
// mean output size.
//
//	go run ./bench/loop -src bench/images/photo-1600x1200-q85.jpg -format webp -widths 150:450 -qualities 70:90
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/davidbyttow/govips/v2/vips"
)

func main() {
	if err := run(os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "loop:", err)
		os.Exit(1)
	}
}

// report is what one run measured.
type report struct {
	Ops       int64   `json:"ops"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	MeanBytes float64 `json:"mean_bytes"`
}

func run(args []string) error {
	fs := flag.NewFlagSet("loop", flag.ContinueOnError)
	srcPath := fs.String("src", "bench/images/photo-1600x1200-q85.jpg", "JPEG source")
	format := fs.String("format", "webp", "output: webp or jpeg")
	widths := fs.String("widths", "150:450", "output widths, lo:hi inclusive, walked in order")
	qualities := fs.String("qualities", "70:90", "qualities, lo:hi inclusive, one step each time the widths wrap")
	concurrency := fs.Int("concurrency", 4, "goroutines, each one operation at a time")
	duration := fs.Duration("duration", 15*time.Second, "how long to run")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	count := fs.Int("count", 0, "stop after this many operations (the first of the walk, in order, for comparing output bytes); 0: run for -duration")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var wlo, whi, qlo, qhi int
	if _, err := fmt.Sscanf(*widths, "%d:%d", &wlo, &whi); err != nil || wlo < 1 || whi < wlo {
		return fmt.Errorf("-widths %q: want lo:hi", *widths)
	}
	if _, err := fmt.Sscanf(*qualities, "%d:%d", &qlo, &qhi); err != nil || qlo < 1 || qhi < qlo || qhi > 100 {
		return fmt.Errorf("-qualities %q: want lo:hi within 1..100", *qualities)
	}
	if *format != "webp" && *format != "jpeg" {
		return fmt.Errorf("-format %q: webp or jpeg", *format)
	}
	src, err := os.ReadFile(*srcPath)
	if err != nil {
		return err
	}
	// As image servers run it: one libvips thread per image, no operation
	// cache (it would hold decoded sources a loop never asks for twice).
	vips.LoggingSettings(nil, vips.LogLevelError)
	vips.Startup(&vips.Config{ConcurrencyLevel: 1, MaxCacheFiles: 0, MaxCacheMem: 0, MaxCacheSize: 0})
	defer vips.Shutdown()
	header, err := vips.LoadImageFromBuffer(src, vips.NewImportParams())
	if err != nil {
		return fmt.Errorf("load %s: %w", *srcPath, err)
	}
	sw := header.Width()
	header.Close()

	var (
		counter atomic.Int64
		bytes   atomic.Int64
		mu      sync.Mutex
		hist    = hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
		wg      sync.WaitGroup
		failed  atomic.Pointer[error]
	)
	deadline := time.Now().Add(*duration)
	if *count > 0 {
		deadline = time.Now().Add(24 * time.Hour)
	}
	start := time.Now()
	for range *concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && failed.Load() == nil {
				n := int(counter.Add(1) - 1)
				if *count > 0 && n >= *count {
					return
				}
				span := whi - wlo + 1
				w, q := wlo+n%span, qlo+(n/span)%(qhi-qlo+1)
				t0 := time.Now()
				size, err := once(src, sw, w, q, *format)
				if err != nil {
					failed.Store(&err)
					return
				}
				d := time.Since(t0)
				bytes.Add(int64(size))
				mu.Lock()
				_ = hist.RecordValue(d.Microseconds())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if p := failed.Load(); p != nil {
		return *p
	}
	elapsed := time.Since(start)
	r := report{Ops: hist.TotalCount(), OpsPerSec: float64(hist.TotalCount()) / elapsed.Seconds(),
		P50ms: float64(hist.ValueAtQuantile(50)) / 1000, P99ms: float64(hist.ValueAtQuantile(99)) / 1000}
	if r.Ops > 0 {
		r.MeanBytes = float64(bytes.Load()) / float64(r.Ops)
	}
	if *jsonOut {
		return json.NewEncoder(os.Stdout).Encode(r)
	}
	fmt.Printf("%d operations, %.1f/s, p50 %.1f ms, p99 %.1f ms, mean %.0f bytes\n", r.Ops, r.OpsPerSec, r.P50ms, r.P99ms, r.MeanBytes)
	return nil
}

// once renders one variant as a bare image server would: the largest JPEG
// shrink-on-load that keeps at least the width asked for, one Lanczos3
// resize to it, one encode.
func once(src []byte, sw, w, q int, format string) (int, error) {
	p := vips.NewImportParams()
	for _, s := range []int{8, 4, 2} {
		if sw/s >= w {
			p.JpegShrinkFactor.Set(s)
			break
		}
	}
	img, err := vips.LoadImageFromBuffer(src, p)
	if err != nil {
		return 0, fmt.Errorf("load: %w", err)
	}
	defer img.Close()
	if err := img.Resize(float64(w)/float64(img.Width()), vips.KernelLanczos3); err != nil {
		return 0, fmt.Errorf("resize: %w", err)
	}
	var out []byte
	if format == "webp" {
		out, _, err = img.ExportWebp(&vips.WebpExportParams{Quality: q, ReductionEffort: 4, StripMetadata: true})
	} else {
		out, _, err = img.ExportJpeg(&vips.JpegExportParams{Quality: q, StripMetadata: true})
	}
	if err != nil {
		return 0, fmt.Errorf("encode: %w", err)
	}
	return len(out), nil
}
