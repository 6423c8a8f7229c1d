// Package libvips implements transform.Transformer with libvips through govips.
// It is the only package that uses cgo; it owns libvips' start-up, bounds how
// many transforms run at once, and turns a transform.Spec into one libvips
// pipeline per request.
package libvips

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/davidbyttow/govips/v2/vips"

	"imgedge/transform"
)

// Startup starts libvips once for the process, with one libvips thread per
// image (a second one measured no gain on 2 cores with about 2 transforms
// per core in flight) and
// its operation cache off: the edge caches finished variants itself, and
// libvips' cache would only hold decoded sources it never reuses.
func Startup(log *slog.Logger) {
	vips.LoggingSettings(func(domain string, level vips.LogLevel, msg string) {
		switch {
		case level <= vips.LogLevelCritical:
			log.Error(msg, "domain", domain)
		case level <= vips.LogLevelWarning:
			log.Warn(msg, "domain", domain)
		}
	}, vips.LogLevelWarning)
	vips.Startup(&vips.Config{ConcurrencyLevel: 1, MaxCacheFiles: 0, MaxCacheMem: 0, MaxCacheSize: 0})
	blockUntrustedLoaders()
}

// Shutdown stops libvips; call once at exit.
func Shutdown() { vips.Shutdown() }

// Config bounds the transformer and sets its encoder defaults.
type Config struct {
	Concurrency  int           // transforms at once (required, > 0)
	Queue        int           // transforms allowed to wait for a slot
	QueueTimeout time.Duration // longest wait for a slot
	Timeout      time.Duration // longest a transform may run
	Quality      Quality
	// MaxSourcePixels is checked from the header, before any pixel is decoded.
	MaxSourcePixels int64
	// MaxDimension caps both output sides, so that a one-sided box on a very
	// thin source cannot ask for a gigantic image.
	MaxDimension int
	// AVIFMaxPixels: under auto=format, larger outputs go to WebP instead.
	AVIFMaxPixels int64
}

// Quality is each lossy encoder's default (1..100).
type Quality struct{ JPEG, WebP, AVIF, JXL int }

// Validate reports the first unusable field.
func (c *Config) Validate() error {
	switch {
	case c.Concurrency <= 0:
		return fmt.Errorf("libvips: Concurrency must be above 0, got %d", c.Concurrency)
	case c.Queue < 0:
		return fmt.Errorf("libvips: Queue must be 0 or more, got %d", c.Queue)
	case c.QueueTimeout <= 0 || c.Timeout <= 0:
		return errors.New("libvips: QueueTimeout and Timeout must be above 0")
	case c.MaxSourcePixels <= 0 || c.MaxDimension <= 0 || c.AVIFMaxPixels < 0:
		return errors.New("libvips: MaxSourcePixels and MaxDimension must be above 0, AVIFMaxPixels 0 or more")
	}
	for _, q := range []int{c.Quality.JPEG, c.Quality.WebP, c.Quality.AVIF, c.Quality.JXL} {
		if q < 1 || q > 100 {
			return fmt.Errorf("libvips: quality %d out of 1..100", q)
		}
	}
	return nil
}

// Transformer renders specs with libvips. Startup must have been called.
type Transformer struct {
	cfg      atomic.Pointer[Config] // Update swaps it; Concurrency and Queue stay as built
	slots    chan struct{}
	queue    int
	waiting  atomic.Int64
	running  atomic.Int64
	stuck    atomic.Int64 // renders past their timeout whose slots were handed back
	progress atomic.Int64 // unix nanoseconds of the last finished transform (or of New)
	lastTrim atomic.Int64 // unix nanoseconds of the last malloc_trim

	mu   sync.Mutex    // guards idle
	idle chan struct{} // closed when no render runs; nil while none has started
}

// New validates cfg and returns a Transformer.
func New(cfg Config) (*Transformer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Transformer{slots: make(chan struct{}, cfg.Concurrency), queue: cfg.Queue}
	t.cfg.Store(&cfg)
	t.progress.Store(time.Now().UnixNano())
	return t, nil
}

// Update applies a new configuration to the transforms that start after it:
// qualities, limits and timeouts. Concurrency and Queue size the worker pool
// and keep the values New was given.
func (t *Transformer) Update(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	t.cfg.Store(&cfg)
	return nil
}

// Stalled reports a hung transformer: work is waiting, every slot is taken,
// and no transform has finished for twice the transform timeout. libvips
// cannot be interrupted, so this is how a stuck library shows.
func (t *Transformer) Stalled(now time.Time) bool {
	cfg := t.cfg.Load()
	return t.waiting.Load() > 0 && t.running.Load() >= int64(cap(t.slots)) &&
		now.Sub(time.Unix(0, t.progress.Load())) > 2*cfg.Timeout
}

// Inflight is the number of transforms running now.
func (t *Transformer) Inflight() int64 { return t.running.Load() }

// Queued is the number of transforms waiting for a slot.
func (t *Transformer) Queued() int64 { return t.waiting.Load() }

// MemoryStats reports libvips' tracked memory, its high-water mark and its
// open files (the libvips gauges of /metrics).
func (t *Transformer) MemoryStats() (mem, high, files int64) {
	var s vips.MemoryStats
	vips.ReadVipsMemStats(&s)
	return s.Mem, s.MemHigh, s.Files
}

// Stuck is the number of renders still running past their timeout.
func (t *Transformer) Stuck() int64 { return t.stuck.Load() }

// Transform waits for a slot (failing fast with transform.ErrBusy when the
// queue is full or the wait exceeds QueueTimeout), then renders spec. libvips
// cannot be interrupted: when Timeout passes first, the caller gets
// transform.ErrTimeout, the render goes on in the background and counts as
// stuck, and its slot is handed back so other requests keep flowing. At most
// Concurrency renders may be stuck at once; past that a timed-out render
// keeps its slot, the edge's capacity shrinks, and /healthz reports the
// stall rather than the edge spawning ever more busy threads.
func (t *Transformer) Transform(ctx context.Context, src []byte, spec transform.Spec) (transform.Result, error) {
	cfg := t.cfg.Load()
	if err := t.acquire(ctx, cfg); err != nil {
		return transform.Result{}, err
	}
	type outcome struct {
		res transform.Result
		err error
	}
	done := make(chan outcome, 1)
	var slotReturned atomic.Bool // by whichever of the caller and the render gets there first
	t.started()
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- outcome{err: fmt.Errorf("libvips: panic during transform: %v", p)}
			}
			t.ended()
			t.progress.Store(time.Now().UnixNano())
			if slotReturned.CompareAndSwap(false, true) {
				<-t.slots
			} else {
				t.stuck.Add(-1)
			}
			t.trimIfIdle(time.Now())
		}()
		res, err := render(src, spec, cfg)
		done <- outcome{res, err}
	}()
	timer := time.NewTimer(cfg.Timeout)
	defer timer.Stop()
	select {
	case o := <-done:
		return o.res, o.err
	case <-timer.C:
		if t.stuck.Load() < int64(cap(t.slots)) && slotReturned.CompareAndSwap(false, true) {
			t.stuck.Add(1)
			<-t.slots
		}
		return transform.Result{}, fmt.Errorf("%w after %s (transform.timeout)", transform.ErrTimeout, cfg.Timeout)
	case <-ctx.Done():
		return transform.Result{}, ctx.Err()
	}
}

// started and ended count a render in running, and open and close idle for
// Wait.
func (t *Transformer) started() {
	t.mu.Lock()
	if t.running.Add(1) == 1 {
		t.idle = make(chan struct{})
	}
	t.mu.Unlock()
}

func (t *Transformer) ended() {
	t.mu.Lock()
	if t.running.Add(-1) == 0 {
		close(t.idle)
	}
	t.mu.Unlock()
}

// Wait blocks until no render runs, including those whose callers gave up
// on them (timed out), or until ctx is done: libvips must not be shut down
// under a live render.
func (t *Transformer) Wait(ctx context.Context) error {
	t.mu.Lock()
	if t.running.Load() == 0 {
		t.mu.Unlock()
		return nil
	}
	idle := t.idle
	t.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("libvips: %d renders still running: %w", t.running.Load(), ctx.Err())
	}
}

func (t *Transformer) acquire(ctx context.Context, cfg *Config) error {
	select {
	case t.slots <- struct{}{}:
		return nil
	default:
	}
	if t.waiting.Add(1) > int64(t.queue) {
		t.waiting.Add(-1)
		return fmt.Errorf("%w: %d transforms running and %d queued (transform.concurrency, transform.queue)",
			transform.ErrBusy, cap(t.slots), t.queue)
	}
	defer t.waiting.Add(-1)
	timer := time.NewTimer(cfg.QueueTimeout)
	defer timer.Stop()
	select {
	case t.slots <- struct{}{}:
		return nil
	case <-timer.C:
		return fmt.Errorf("%w: no transform slot within %s (transform.queue_timeout)", transform.ErrBusy, cfg.QueueTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}
