// Package libvips implements transform.Transformer with libvips through govips.
// It is the only package that uses cgo; it owns libvips' start-up, bounds how
// many transforms run at once, and turns a transform.Spec into one libvips
// pipeline per request.
package libvips

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/davidbyttow/govips/v2/vips"
	"golang.org/x/sync/semaphore"

	"imgedge/internal/inflight"
	"imgedge/transform"
	"imgedge/transform/faces"
)

// Startup starts libvips once for the process, with one libvips thread per
// image (a second one measured no gain on 2 cores with about 2 transforms
// per core in flight) and
// its operation cache off: the edge caches finished variants itself, and
// libvips' cache would only hold decoded sources it never reuses.
func Startup(log *slog.Logger) {
	vipsLog.Store(log)
	vips.LoggingSettings(func(domain string, level vips.LogLevel, msg string) {
		log := vipsLog.Load()
		switch {
		case level <= vips.LogLevelCritical:
			log.Error(msg, "domain", domain)
		case level <= vips.LogLevelWarning:
			log.Warn(msg, "domain", domain)
		}
	}, vips.LogLevelWarning)
	vips.Startup(&vips.Config{ConcurrencyLevel: 1, MaxCacheFiles: 0, MaxCacheMem: 0, MaxCacheSize: 0})
	blockUntrustedLoaders()
	if !orcFreesSerialised() {
		disableVectors()
		log.Error("libvips does not call this executable's orc_program_free: its orc loops are off (misses up to 11 % slower), since libvips 8.14 frees their programs outside the lock orc allocates them under")
	}
	if !threadSetWaitsForever() {
		log.Error("libvips does not call this executable's vips_semaphore_down_timeout: its thread set stops workers idle for 15 s, which in libvips 8.14.1 can lose a render's task (a render that never ends) or write into freed memory")
	}
	if !haveImageField {
		log.Error("this govips keeps no ImageRef.image field: renders past transform.timeout run to their end, holding their slots (the kill switch was written for govips v2.16.0)")
	}
}

// vipsLog is where libvips' and GLib's warnings go: one logger for the
// process, as libvips' log handler is (set with its start-up).
var vipsLog atomic.Pointer[slog.Logger]

// SetLog sends libvips' and GLib's warnings to log from now on: the edge's
// budgeted logger, once the edge exists (a source that warns on every
// request would otherwise log a line per request).
func SetLog(log *slog.Logger) { vipsLog.Store(log) }

// Shutdown stops libvips; call once at exit.
func Shutdown() { vips.Shutdown() }

// Config bounds the transformer and sets its encoder defaults.
type Config struct {
	Concurrency  int           // transforms at once (required, > 0)
	Queue        int           // transforms allowed to wait for a slot
	QueueTimeout time.Duration // longest wait for a slot
	Timeout      time.Duration // longest a transform may run
	Quality      Quality
	// FlagQuality is the qualities flag's defaults, for specs with
	// QualitySet 1 (the edge decides which objects); zero: Quality.
	FlagQuality Quality
	// MaxSourcePixels is checked from the header, before any pixel is decoded.
	MaxSourcePixels int64
	// MaxDimension caps both output sides, so that a one-sided box on a very
	// thin source cannot ask for a gigantic image.
	MaxDimension int
	// AVIFMaxPixels: under auto=format, larger outputs go to WebP instead.
	AVIFMaxPixels int64
	WebPEffort    int // libwebp's method, 0..6
	AVIFEffort    int // libheif's effort (aom's speed 9 - effort), 1..6
	// The limits on what a request may ask for, checked from the header and
	// the plan before any pixel is decoded (cost.check).
	MaxOutputPixels       int64   // one output frame
	MaxOutputFramesPixels int64   // every frame of an animated output
	MaxUpscale            float64 // how far fit=scale may stretch an axis past the source
	MaxAVIFPixels         int64   // fm=avif
	MaxJXLPixels          int64   // fm=jxl
	// MemoryBudget is the estimated bytes all running renders may hold at
	// once; admission weighs each render by its estimate. Fixed at New.
	MemoryBudget int64
}

// negotiatedAVIFPixels is the largest output auto=format may send as AVIF:
// the negotiation threshold, never above the AVIF limit.
func (c *Config) negotiatedAVIFPixels() int64 { return min(c.AVIFMaxPixels, c.MaxAVIFPixels) }

// Quality is each lossy encoder's default (1..100).
type Quality struct{ JPEG, WebP, AVIF, JXL int }

// Transformer renders specs with libvips. Startup must have been called.
type Transformer struct {
	cfg      atomic.Pointer[Config] // Update swaps it; Concurrency, Queue and MemoryBudget stay as built
	slots    chan struct{}
	heavy    chan struct{}       // held by heavy renders (cost.heavy) besides a slot: at most half the slots
	reading  chan struct{}       // held while a large document is read and priced (readsLong): a quarter of the slots, half the cores
	memory   *semaphore.Weighted // estimated bytes of the running renders
	budget   int64
	queue    int
	waiting  atomic.Int64
	running  inflight.Count // renders started and not yet ended
	stuck    atomic.Int64   // renders killed that have not returned yet
	killed   atomic.Int64   // renders that returned because they were killed
	progress atomic.Int64   // unix nanoseconds of the last finished transform (or of New)
	lastTrim atomic.Int64   // unix nanoseconds of the last malloc_trim
	glibc    bool           // glibc allocates (not a preloaded jemalloc): trim when idle
	faces    *faces.Detector
	// work is the renders handed to the workers: one goroutine per slot,
	// each on an OS thread of its own at renderNice for the Transformer's
	// life (Close ends them). A thread per render, ended with it, ran
	// GLib's thread-exit destructors (its slice magazines) thousands of
	// times a minute, and a chaos run's edge aborted in one of them with
	// glibc's "malloc_consolidate(): unaligned fastbin chunk" (its core
	// file: start_thread, __nptl_deallocate_tsd, g_slice_free1).
	work    chan func()
	workers sync.WaitGroup

	mu   sync.Mutex        // guards jobs
	jobs map[*job]struct{} // running renders, for Cancel

	// priced, when set, is handed each render's final estimate (after any
	// re-pricing) as the render returns: the cost oracle's test compares it
	// with what the render measurably took (oracle_test.go). Nil in the edge.
	priced func(cost)
}

// New returns a Transformer for cfg, which FromConfig made of a validated
// configs.Config: the ranges are checked there, once.
func New(cfg Config) (*Transformer, error) {
	detector, err := faces.New()
	if err != nil {
		return nil, err
	}
	t := &Transformer{faces: detector, slots: make(chan struct{}, cfg.Concurrency), heavy: make(chan struct{}, max(1, cfg.Concurrency/2)), queue: cfg.Queue,
		reading: make(chan struct{}, max(1, cfg.Concurrency/4)),
		memory:  semaphore.NewWeighted(cfg.MemoryBudget), budget: cfg.MemoryBudget, jobs: map[*job]struct{}{},
		glibc: !JemallocInUse()}
	t.cfg.Store(&cfg)
	t.progress.Store(time.Now().UnixNano())
	t.work = make(chan func())
	for range cfg.Concurrency {
		t.workers.Go(func() {
			lowerPriority()
			for render := range t.work {
				render()
			}
		})
	}
	return t, nil
}

// Close ends the workers; call it once no render runs (Wait), before
// libvips shuts down.
func (t *Transformer) Close() {
	close(t.work)
	t.workers.Wait()
}

// Update applies a new configuration (from FromConfig, so validated) to the
// transforms that start after it: qualities, limits and timeouts.
// Concurrency, Queue and MemoryBudget size the worker pool and keep the
// values New was given. A reload of the whole process calls it only once
// every other part has taken the new config.
func (t *Transformer) Update(cfg Config) {
	cfg.MemoryBudget = t.budget
	t.cfg.Store(&cfg)
}

// Stalled reports a hung transformer: every slot is taken and no transform
// has finished for twice the transform timeout. Renders are killed at their
// timeout, so slots stay blocked only when libvips or a codec ignores the
// kill; /healthz reports it.
func (t *Transformer) Stalled(now time.Time) bool {
	cfg := t.cfg.Load()
	return t.running.N() >= int64(cap(t.slots)) &&
		now.Sub(time.Unix(0, t.progress.Load())) > 2*cfg.Timeout
}

// Inflight is the number of transforms running now.
func (t *Transformer) Inflight() int64 { return t.running.N() }

// Queued is the number of transforms waiting for a slot.
func (t *Transformer) Queued() int64 { return t.waiting.Load() }

// MemoryStats reports the pixel buffers libvips itself tracks, their
// high-water mark and libvips' open files. Codecs (librsvg, libheif, aom,
// libjxl, libwebp) allocate outside this count: the process's resident
// memory is the true figure.
func (t *Transformer) MemoryStats() (mem, high, files int64) {
	var s vips.MemoryStats
	vips.ReadVipsMemStats(&s)
	return s.Mem, s.MemHigh, s.Files
}

// Reserved is the estimated memory of the running renders, in bytes.
func (t *Transformer) Reserved() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n int64
	for j := range t.jobs {
		n += t.weight(j)
	}
	return n
}

// Killed is the number of renders stopped by a kill (timeout, a caller
// gone, Cancel) rather than finished.
func (t *Transformer) Killed() int64 { return t.killed.Load() }

// Stuck is the number of renders killed that have not returned yet.
func (t *Transformer) Stuck() int64 { return t.stuck.Load() }

// Transform reads the source's header, plans and prices the render (a
// request over a limit is refused here, before any pixel is decoded), waits
// for a slot and for its estimated memory within the budget (failing fast
// with transform.ErrBusy when the queue is full or the wait exceeds
// QueueTimeout), then renders. When Timeout passes or ctx is done first,
// the render is killed: libvips stops at its next tile, frees its memory
// and hands its slot back; the caller does not wait for that.
func (t *Transformer) Transform(ctx context.Context, src []byte, tj transform.Job) (transform.Result, error) {
	cfg := t.cfg.Load()
	j := newJob(src, tj, cfg)
	j.detector = t.faces
	if err := t.admit(ctx, cfg, j); err != nil {
		j.close()
		return transform.Result{}, err
	}
	// What is taken now is given back at the end, whatever a re-pricing
	// (trim) makes of the cost in between.
	j.heavy = j.cost.heavy()
	if err := t.acquire(ctx, cfg, t.weight(j), j.heavy); err != nil {
		j.close()
		return transform.Result{}, err
	}
	j.grow = func(from, to int64) bool {
		extra := min(to, t.budget) - min(from, t.budget)
		return extra <= 0 || t.memory.TryAcquire(extra)
	}
	j.takeHeavy = func() bool {
		select {
		case t.heavy <- struct{}{}:
			return true
		default:
			return false
		}
	}
	done := make(chan outcome, 1)
	t.started(j)
	t.work <- func() {
		defer func() {
			if p := recover(); p != nil {
				done <- outcome{err: fmt.Errorf("libvips: panic during transform: %v", p)}
			}
			// The render's thread-private buffers belong to its images,
			// freed next (vips_thread_shutdown).
			vips.ShutdownThread()
			j.close()
			t.ended(j)
			t.trimIfIdle(time.Now())
		}()
		res, err := j.render()
		if t.priced != nil {
			t.priced(j.cost)
		}
		if killed, _ := j.kill.wasKilled(); err != nil && killed {
			t.killed.Add(1)
		}
		done <- outcome{res, err}
	}
	timer := time.NewTimer(cfg.Timeout)
	defer timer.Stop()
	select {
	case o := <-done:
		return o.res, o.err
	case <-timer.C:
		err := fmt.Errorf("%w after %s (transform.timeout)", transform.ErrTimeout, cfg.Timeout)
		t.stop(j, done, err)
		return transform.Result{}, err
	case <-ctx.Done():
		t.stop(j, done, ctx.Err())
		return transform.Result{}, ctx.Err()
	}
}

// outcome is what a render hands back to its caller.
type outcome struct {
	res transform.Result
	err error
}

// weight is what a job holds of the memory budget: its estimate, which
// cost.check keeps within the budget.
func (t *Transformer) weight(j *job) int64 { return min(j.cost.memory, t.budget) }

// killRepeat is how often a kill is set again until the render returns:
// libvips clears the flag on the worker that picks it up.
const killRepeat = 20 * time.Millisecond

// stop kills j and keeps killing it from a goroutine until the render has
// returned, so the caller answers at once. The goroutine ends with the
// render.
func (t *Transformer) stop(j *job, done <-chan outcome, cause error) {
	t.mu.Lock()
	if _, running := t.jobs[j]; running && !j.stopped {
		j.stopped = true
		t.stuck.Add(1)
	}
	t.mu.Unlock()
	j.kill.kill(cause)
	go func() {
		tick := time.NewTicker(killRepeat)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				j.kill.kill(cause)
			}
		}
	}()
}

// errShuttingDown is what a render killed by Cancel answers: the client
// may retry, on another node or after the restart.
var errShuttingDown = fmt.Errorf("%w: the edge is shutting down", transform.ErrBusy)

// Cancel kills every running render; the edge calls it when its drain time
// is half over. Their callers get transform.ErrBusy. Renders started later
// are not affected.
func (t *Transformer) Cancel() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for j := range t.jobs {
		j.kill.kill(errShuttingDown)
	}
}

// started and ended count a render in running, hold its place in the
// budget (and Wait waits for running to reach zero).
func (t *Transformer) started(j *job) {
	t.running.Start() // before the job is listed: running never counts fewer
	t.mu.Lock()
	t.jobs[j] = struct{}{}
	t.mu.Unlock()
}

func (t *Transformer) ended(j *job) {
	// The slot and the memory first, so that whoever Wait wakes finds them
	// free.
	<-t.slots
	if j.heavy {
		<-t.heavy
	}
	t.memory.Release(t.weight(j))
	t.progress.Store(time.Now().UnixNano())
	t.mu.Lock()
	delete(t.jobs, j)
	if j.stopped {
		t.stuck.Add(-1)
	}
	t.mu.Unlock()
	t.running.Done()
}

// Wait blocks until no render runs, including those whose callers gave up
// on them, or until ctx is done: libvips must not be shut down under a live
// render.
func (t *Transformer) Wait(ctx context.Context) error {
	if err := t.running.Wait(ctx); err != nil {
		return fmt.Errorf("libvips: %d renders still running: %w", t.running.N(), err)
	}
	return nil
}

// readsLong reports a source whose reading and pricing is work of its own,
// done before the render is priced or admitted: an SVG over a quarter of
// a MiB, or any gzip data (an SVGZ inflates to up to 16 MiB). The edge
// parses the document and estimates its paths' crossings, then librsvg
// parses it again for its header: a 15 MB document of 99,000 paths took
// 1.7 s in Go alone to describe with fm=json.
func readsLong(src []byte) bool {
	return transform.IsGzip(src) || len(src) > 256<<10 && transform.IsSVG(src)
}

// admit reads and prices j. A source that reads long does so holding one
// of a quarter of the slots' places for it (half the cores, at the default
// of two slots a core), waited for as a slot is: documents sent to be
// parsed cannot take every core, and small renders do not wait behind
// them.
func (t *Transformer) admit(ctx context.Context, cfg *Config, j *job) error {
	if !readsLong(j.orig) {
		return j.admit()
	}
	select {
	case t.reading <- struct{}{}:
	default:
		// Its wait is a place in the one queue: the documents waiting,
		// each held in memory, are as many as transform.queue allows.
		if err := t.enqueue(); err != nil {
			return err
		}
		defer t.waiting.Add(-1)
		qctx, cancel := context.WithTimeout(ctx, cfg.QueueTimeout)
		defer cancel()
		select {
		case t.reading <- struct{}{}:
		case <-qctx.Done():
			return t.waitFailed(ctx, cfg, "place to read a large document (a quarter of transform.concurrency)")
		}
	}
	defer func() { <-t.reading }()
	return j.admit()
}

// acquire takes, for a heavy render, one of the heavy places (half the
// slots), then weight bytes of the memory budget, then a slot, waiting at
// most QueueTimeout for all of them in a queue of at most Queue requests.
// The budget is first-come first-served, so a large render waits for memory
// to free up rather than being starved by a stream of small ones, and two
// huge renders never run beside six small ones past the budget; heavy
// renders queue for their places first, so they never hold up small ones in
// the budget's queue, and never take every slot.
func (t *Transformer) acquire(ctx context.Context, cfg *Config, weight int64, heavy bool) error {
	if t.tryAcquire(weight, heavy) {
		return nil
	}
	if err := t.enqueue(); err != nil {
		return err
	}
	defer t.waiting.Add(-1)
	qctx, cancel := context.WithTimeout(ctx, cfg.QueueTimeout)
	defer cancel()
	if heavy {
		select {
		case t.heavy <- struct{}{}:
		case <-qctx.Done():
			return t.waitFailed(ctx, cfg, "place for a costly render (half of transform.concurrency)")
		}
	}
	if err := t.memory.Acquire(qctx, weight); err != nil {
		t.releaseHeavy(heavy)
		return t.waitFailed(ctx, cfg, "memory within transform.memory_budget")
	}
	select {
	case t.slots <- struct{}{}:
		return nil
	case <-qctx.Done():
		t.memory.Release(weight)
		t.releaseHeavy(heavy)
		return t.waitFailed(ctx, cfg, "transform slot")
	}
}

// enqueue takes a place in the queue of transform.queue requests waiting,
// given back with t.waiting.Add(-1), or answers busy when it is full.
func (t *Transformer) enqueue() error {
	if t.waiting.Add(1) > int64(t.queue) {
		t.waiting.Add(-1)
		return fmt.Errorf("%w: %d transforms running and %d queued (transform.concurrency, transform.queue)",
			transform.ErrBusy, cap(t.slots), t.queue)
	}
	return nil
}

// tryAcquire takes everything acquire would, without waiting, or nothing.
func (t *Transformer) tryAcquire(weight int64, heavy bool) bool {
	if heavy {
		select {
		case t.heavy <- struct{}{}:
		default:
			return false
		}
	}
	if t.memory.TryAcquire(weight) {
		select {
		case t.slots <- struct{}{}:
			return true
		default:
		}
		t.memory.Release(weight)
	}
	t.releaseHeavy(heavy)
	return false
}

func (t *Transformer) releaseHeavy(heavy bool) {
	if heavy {
		<-t.heavy
	}
}

func (t *Transformer) waitFailed(ctx context.Context, cfg *Config, what string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return fmt.Errorf("%w: no %s within %s (transform.queue_timeout)", transform.ErrBusy, what, cfg.QueueTimeout)
}
