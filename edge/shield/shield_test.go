package shield_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"imgedge/cache"
	"imgedge/edge/origin"
	"imgedge/edge/shield"
	"imgedge/transform"
)

// The shield's rules, with a fake clock, origin and transformer and the real
// memory tier: no sockets, no libvips, no sleeps.

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeOrigin answers every path with body and the headers it is set to, or
// with err; validators matching etag get a 304. gate, when set, holds every
// fetch until the test closes it.
type fakeOrigin struct {
	mu           sync.Mutex
	body         []byte
	etag         string
	cacheControl string
	err          error
	gate         chan struct{}
	fetches      int
	conditional  int
	bare304      bool   // a 304 without Cache-Control (RFC 9111 4.3.4: keep the stored freshness)
	answering    func() // called while each fetch is on its way (a slow origin moves the clock)
}

func (o *fakeOrigin) Fetch(ctx context.Context, r origin.Request) (origin.Object, error) {
	o.mu.Lock()
	gate, answering := o.gate, o.answering
	o.fetches++
	o.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if answering != nil {
		answering()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return origin.Object{}, o.err
	}
	if r.ETag != "" && r.ETag == o.etag {
		o.conditional++
		if o.bare304 {
			return origin.Object{NotModified: true, ETag: o.etag}, nil
		}
		return origin.Object{NotModified: true, ETag: o.etag, CacheControl: o.cacheControl}, nil
	}
	return origin.Object{Body: o.body, ETag: o.etag, CacheControl: o.cacheControl}, nil
}

func (o *fakeOrigin) set(f func(o *fakeOrigin)) {
	o.mu.Lock()
	f(o)
	o.mu.Unlock()
}

func (o *fakeOrigin) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.fetches
}

// fakeRenderer "renders" by prefixing the source bytes.
type fakeRenderer struct{ renders atomic.Int32 }

func (r *fakeRenderer) Transform(_ context.Context, src []byte, _ transform.Job) (transform.Result, error) {
	r.renders.Add(1)
	return transform.Result{Body: append([]byte("webp:"), src...), Format: transform.FormatWebP}, nil
}

type rig struct {
	sh                  *shield.Shield
	clock               *clock
	origin              *fakeOrigin
	up                  *shield.Origin
	tr                  *fakeRenderer
	variants, originals cache.Store
}

var jpeg = []byte("\xff\xd8\xff source bytes")

func newRig(t *testing.T, wrapOriginals func(cache.Store) cache.Store) *rig {
	return newRigWrapped(t, wrapOriginals, nil)
}

// newRigWrapped is newRig with the variants tier wrapped too.
func newRigWrapped(t *testing.T, wrapOriginals, wrapVariants func(cache.Store) cache.Store) *rig {
	t.Helper()
	r := &rig{clock: &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, origin: &fakeOrigin{body: jpeg, etag: `"v1"`}, tr: &fakeRenderer{}}
	r.up = &shield.Origin{ID: "test", Fetcher: r.origin}
	mem := func() *cache.Memory {
		m, err := cache.NewMemory(16 << 20)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Close)
		return m
	}
	r.variants, r.originals = mem(), mem()
	if wrapVariants != nil {
		r.variants = wrapVariants(r.variants)
	}
	if wrapOriginals != nil {
		r.originals = wrapOriginals(r.originals)
	}
	var err error
	r.sh, err = shield.New(shield.Config{Variants: r.variants, Originals: r.originals, Transformer: r.tr, Now: r.clock.now,
		Refreshers: 2, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, shield.Policy{
		Fresh:       shield.Rules{Default: time.Hour, Min: time.Second, Max: 24 * time.Hour, SWR: time.Minute, SIE: time.Hour},
		NegativeTTL: 10 * time.Second, FetchTimeout: time.Second, RenderTimeout: 2 * time.Second, MaxSourceBytes: 1 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.sh.Close(context.Background()) })
	return r
}

func (r *rig) serve(original bool) (shield.Answer, error) {
	spec := transform.Spec{Width: 100, Format: transform.FormatWebP}
	req := &shield.Request{Origin: r.up, Path: []byte("/a.jpg"), Original: original, Spec: spec, Now: r.clock.now()}
	req.Key = shield.AppendKey(nil, r.up.ID, req.Path, original, &spec)
	return r.sh.Serve(context.Background(), req)
}

// step is one request in a lifecycle: what happens first, then what the
// answer must be.
type step struct {
	advance  time.Duration
	origin   func(o *fakeOrigin)
	original bool
	outcome  shield.Outcome
	stored   bool
	err      error // errors.Is target; nil: success
	fetches  int   // origin fetches so far
	renders  int32 // renders so far
}

var errDown = errors.New("connection refused")

func down(o *fakeOrigin)              { o.err = errDown }
func up(o *fakeOrigin)                { o.err = nil }
func notFound(o *fakeOrigin)          { o.err = origin.ErrNotFound }
func cc(v string) func(o *fakeOrigin) { return func(o *fakeOrigin) { o.cacheControl = v } }
func body(b string) func(o *fakeOrigin) {
	return func(o *fakeOrigin) { o.body, o.etag = []byte(b), `"`+b+`"` }
}

func TestLifecycle(t *testing.T) {
	for _, tt := range []struct {
		name  string
		steps []step
	}{
		{"miss then hit", []step{
			{outcome: shield.Miss, stored: true, fetches: 1, renders: 1},
			{outcome: shield.Hit, fetches: 1, renders: 1},
			{original: true, outcome: shield.Hit, fetches: 1, renders: 1},
		}},
		{"stale-if-error within its window, an error past it", []step{
			{outcome: shield.Miss, stored: true, fetches: 1, renders: 1},
			{advance: time.Hour + 2*time.Minute, origin: down, outcome: shield.StaleIfError, fetches: 2, renders: 1},
			{original: true, outcome: shield.StaleIfError, fetches: 3, renders: 1},
			{advance: time.Hour, err: errDown, fetches: 4, renders: 1},
		}},
		{"a 304 renews the original and its variant without rendering", []step{
			{outcome: shield.Miss, stored: true, fetches: 1, renders: 1},
			{advance: time.Hour + 2*time.Minute, outcome: shield.Revalidated, stored: true, fetches: 2, renders: 1},
			{outcome: shield.Hit, fetches: 2, renders: 1},
		}},
		{"changed bytes are rendered again", []step{
			{outcome: shield.Miss, stored: true, fetches: 1, renders: 1},
			{advance: time.Hour + 2*time.Minute, origin: body("\xff\xd8\xff new"), outcome: shield.Miss, stored: true, fetches: 2, renders: 2},
		}},
		{"a new variant from a stale original when the origin fails is not stored", []step{
			{original: true, outcome: shield.Miss, stored: true, fetches: 1},
			{advance: time.Hour + 2*time.Minute, origin: down, outcome: shield.RenderedFromStale, fetches: 2, renders: 1},
			{outcome: shield.RenderedFromStale, fetches: 3, renders: 2},
		}},
		{"not found is remembered for negative_ttl", []step{
			{origin: notFound, err: origin.ErrNotFound, fetches: 1},
			{outcome: shield.Negative, err: origin.ErrNotFound, fetches: 1},
			{advance: 11 * time.Second, origin: up, outcome: shield.Miss, stored: true, fetches: 2, renders: 1},
		}},
		{"no-store passes through and is never kept", []step{
			{origin: cc("no-store"), outcome: shield.Miss, fetches: 1, renders: 1},
			{outcome: shield.Miss, fetches: 2, renders: 2},
		}},
		{"not found is never hidden by a stale copy", []step{
			{outcome: shield.Miss, stored: true, fetches: 1, renders: 1},
			{advance: time.Hour + 2*time.Minute, origin: notFound, err: origin.ErrNotFound, fetches: 2, renders: 1},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, nil)
			for i, st := range tt.steps {
				r.clock.advance(st.advance)
				if st.origin != nil {
					r.origin.set(st.origin)
				}
				a, err := r.serve(st.original)
				switch {
				case st.err != nil && !errors.Is(err, st.err):
					t.Fatalf("step %d: err %v, want %v", i, err, st.err)
				case st.err == nil && err != nil:
					t.Fatalf("step %d: %v", i, err)
				case a.Outcome != st.outcome || a.Stored != st.stored:
					t.Fatalf("step %d: outcome %v stored %v, want %v stored %v", i, a.Outcome, a.Stored, st.outcome, st.stored)
				case r.origin.count() != st.fetches || r.tr.renders.Load() != st.renders:
					t.Fatalf("step %d: %d fetches and %d renders, want %d and %d", i, r.origin.count(), r.tr.renders.Load(), st.fetches, st.renders)
				}
			}
		})
	}
}

// TestStaleWhileRevalidate: a stale entry within its window answers at once
// and is refreshed once in the background.
func TestStaleWhileRevalidate(t *testing.T) {
	r := newRig(t, nil)
	if _, err := r.serve(false); err != nil {
		t.Fatal(err)
	}
	r.clock.advance(time.Hour + 30*time.Second)
	r.origin.set(body("\xff\xd8\xff new"))
	a, err := r.serve(false)
	if err != nil || a.Outcome != shield.StaleWhileRevalidate || string(a.Entry.Body) != "webp:"+string(jpeg) {
		t.Fatalf("stale hit: %v %v", a.Outcome, err)
	}
	// Close waits for the refresh it owns.
	if err := r.sh.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	a, err = r.serve(false)
	if err != nil || a.Outcome != shield.Hit || string(a.Entry.Body) != "webp:\xff\xd8\xff new" {
		t.Fatalf("after the refresh: %v %q %v", a.Outcome, a.Entry.Body, err)
	}
}

// TestCollapsedFill: concurrent requests for one missing variant make one
// fetch and one render; every one of them is answered.
func TestCollapsedFill(t *testing.T) {
	r := newRig(t, nil)
	gate := make(chan struct{})
	r.origin.set(func(o *fakeOrigin) { o.gate = gate })
	const n = 20
	answers := make(chan shield.Answer, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := r.serve(false)
			if err != nil {
				t.Error(err)
			}
			answers <- a
		}()
	}
	close(gate)
	wg.Wait()
	close(answers)
	led, joined := 0, 0
	for a := range answers {
		switch {
		case a.Collapsed || a.Outcome == shield.Hit:
			joined++
		case a.Outcome == shield.Miss && a.Stored:
			led++
		}
	}
	if led != 1 || joined != n-1 || r.origin.count() != 1 || r.tr.renders.Load() != 1 {
		t.Fatalf("%d led, %d joined or hit; %d fetches, %d renders; want 1, %d, 1, 1", led, joined, r.origin.count(), r.tr.renders.Load(), n-1)
	}
}

// racedStore misses the first lookup of each key, as a lookup does that
// raced another fill's store: the Group's re-check then finds the entry.
type racedStore struct {
	cache.Store
	mu   sync.Mutex
	seen map[string]bool
}

func (s *racedStore) Get(key string) (*cache.Entry, bool) {
	s.mu.Lock()
	first := !s.seen[key]
	s.seen[key] = true
	s.mu.Unlock()
	if first {
		return nil, false
	}
	return s.Store.Get(key)
}

// TestSourceFoundByRecheckKeepsVariantStorable: when the source lookup
// misses and the source fill's re-check finds it, the variant rendered from
// it is stored. Before, that path dropped the fill's keep time and the
// variant was rendered again on every request.
func TestSourceFoundByRecheckKeepsVariantStorable(t *testing.T) {
	r := newRig(t, func(s cache.Store) cache.Store { return &racedStore{Store: s, seen: map[string]bool{}} })
	if a, err := r.serve(true); err != nil || !a.Stored {
		t.Fatalf("original: %v %v", a, err)
	}
	// The originals tier now hides the first lookup of the key.
	r.originals.(*racedStore).seen = map[string]bool{}
	a, err := r.serve(false)
	if err != nil || a.Outcome != shield.Miss || !a.Stored || !a.SourceCached {
		t.Fatalf("variant from a source found by the re-check: outcome %v stored %v source cached %v, %v", a.Outcome, a.Stored, a.SourceCached, err)
	}
	if a, _ := r.serve(false); a.Outcome != shield.Hit || r.tr.renders.Load() != 1 {
		t.Fatalf("second request: %v after %d renders", a.Outcome, r.tr.renders.Load())
	}
}

// TestVariantFoundByRecheckIsAHit: a request whose lookup raced the store
// of the fill it would have joined finds the entry in the Group's re-check:
// to it that is a hit, not an answer without an outcome. Before, such a
// request reported no outcome (seen as a flaky TestCollapsedFill).
func TestVariantFoundByRecheckIsAHit(t *testing.T) {
	raced := func(s cache.Store) cache.Store { return &racedStore{Store: s, seen: map[string]bool{}} }
	r := newRigWrapped(t, nil, raced)
	if a, err := r.serve(false); err != nil || a.Outcome != shield.Miss || !a.Stored {
		t.Fatalf("first request: %v %v", a.Outcome, err)
	}
	r.variants.(*racedStore).seen = map[string]bool{} // the next lookup misses the stored variant
	a, err := r.serve(false)
	if err != nil || a.Outcome != shield.Hit || a.Stored || a.Collapsed || r.tr.renders.Load() != 1 {
		t.Fatalf("found by the re-check: outcome %v stored %v collapsed %v renders %d, %v", a.Outcome, a.Stored, a.Collapsed, r.tr.renders.Load(), err)
	}
}

// TestTimingsFromTheFill: a miss reports when the fetch and the render ran.
func TestTimingsFromTheFill(t *testing.T) {
	r := newRig(t, nil)
	a, err := r.serve(false)
	if err != nil || a.Timings.OriginAt.IsZero() || a.Timings.TransformAt.IsZero() {
		t.Fatalf("miss timings %+v, %v", a.Timings, err)
	}
	if a, _ := r.serve(false); !a.Timings.OriginAt.IsZero() || a.Lookup != shield.LookupFresh {
		t.Fatalf("hit: timings %+v lookup %v", a.Timings, a.Lookup)
	}
}

func TestLookupOf(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	later, earlier := now.Add(time.Second), now.Add(-time.Second)
	for _, tt := range []struct {
		e    *cache.Entry
		ok   bool
		want shield.Lookup
	}{
		{nil, false, shield.LookupMiss},
		{&cache.Entry{FreshUntil: later}, true, shield.LookupFresh},
		{&cache.Entry{FreshUntil: earlier}, true, shield.LookupStale},
		{&cache.Entry{NotFound: true, FreshUntil: later}, true, shield.LookupNotFound},
		{&cache.Entry{NotFound: true, FreshUntil: earlier}, true, shield.LookupMiss},
	} {
		if got := shield.LookupOf(tt.e, tt.ok, now); got != tt.want {
			t.Errorf("LookupOf(%+v, %v) = %v, want %v", tt.e, tt.ok, got, tt.want)
		}
	}
}

// gatedRenderer holds every render until the test opens its gate.
type gatedRenderer struct {
	fakeRenderer
	started chan struct{}
	gate    chan struct{}
}

func (g *gatedRenderer) Transform(ctx context.Context, src []byte, job transform.Job) (transform.Result, error) {
	close(g.started)
	<-g.gate
	return g.fakeRenderer.Transform(ctx, src, job)
}

// TestCloseWaitsForFills: Close returns only when no fill runs, so that the
// caller may shut libvips down after it. Before, it returned while detached
// fills were still rendering.
func TestCloseWaitsForFills(t *testing.T) {
	r := newRig(t, nil)
	g := &gatedRenderer{started: make(chan struct{}), gate: make(chan struct{})}
	sh, err := shield.New(shield.Config{Variants: r.variants, Originals: r.originals, Transformer: g, Now: r.clock.now,
		Refreshers: 1, Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		shield.Policy{Fresh: shield.Rules{Default: time.Hour, Max: time.Hour}, FetchTimeout: time.Minute, RenderTimeout: time.Minute, MaxSourceBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	spec := transform.Spec{Width: 10}
	req := &shield.Request{Origin: r.up, Path: []byte("/a.jpg"), Spec: spec, Now: r.clock.now()}
	req.Key = shield.AppendKey(nil, r.up.ID, req.Path, false, &spec)
	served := make(chan error, 1)
	go func() {
		_, err := sh.Serve(context.Background(), req)
		served <- err
	}()
	<-g.started
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sh.Close(expired); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close under a running render = %v, want the context's error", err)
	}
	close(g.gate)
	if err := sh.Close(context.Background()); err != nil {
		t.Fatalf("Close after the render: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

// TestRevalidationMergesFreshness: a 304 updates the freshness it carries
// and keeps the stored one otherwise (RFC 9111 4.3.4), counted from the
// revalidation: an object stored with max-age=5 stays at 5 s after a 304
// that says nothing, instead of falling back to cache.ttl.
func TestRevalidationMergesFreshness(t *testing.T) {
	for _, tt := range []struct {
		name        string
		stored, not string // the 200's Cache-Control and the 304's ("-": none)
		ttl         int64
	}{
		{"a 304 without Cache-Control keeps max-age=5", "max-age=5", "-", 5},
		{"a 304 with its own max-age", "max-age=5", "max-age=60", 60},
		{"neither says: the default", "", "-", 3600},
		{"a 304 without Cache-Control keeps no-cache", "no-cache", "-", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, nil)
			r.origin.set(cc(tt.stored))
			if a, err := r.serve(true); err != nil || a.Outcome != shield.Miss {
				t.Fatalf("first: %v %v", a.Outcome, err)
			}
			r.clock.advance(2 * time.Hour) // past every freshness and stale window here
			r.origin.set(func(o *fakeOrigin) {
				o.bare304 = tt.not == "-"
				if !o.bare304 {
					o.cacheControl = tt.not
				}
			})
			a, err := r.serve(true)
			if err != nil || a.Outcome != shield.Revalidated {
				t.Fatalf("revalidation: %v %v", a.Outcome, err)
			}
			if got := a.Entry.TTL(r.clock.now()); got != tt.ttl {
				t.Fatalf("after the 304: ttl %d, want %d", got, tt.ttl)
			}
		})
	}
}

// TestAgeCountsFromTheRequest: an answer's age includes its delay (RFC 9111
// 4.2.3): an origin that takes 3 s to answer max-age=5 leaves 2 s of
// freshness, whether it sends the bytes, a 304 with its own max-age or a
// 304 that keeps the stored one. Counted from the answer's arrival, bytes
// replaced while it was on its way would outlive their promised lifetime.
func TestAgeCountsFromTheRequest(t *testing.T) {
	for _, tt := range []struct {
		name         string
		revalidation bool
		bare304      bool
	}{
		{"a fetch", false, false},
		{"a 304 with max-age", true, false},
		{"a 304 keeping the stored freshness", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, nil)
			r.origin.set(cc("max-age=5"))
			if tt.revalidation {
				if _, err := r.serve(true); err != nil {
					t.Fatal(err)
				}
				r.clock.advance(2 * time.Hour) // past every window
			}
			asked := r.clock.now()
			r.origin.set(func(o *fakeOrigin) {
				o.bare304 = tt.bare304
				o.answering = func() { r.clock.advance(3 * time.Second) }
			})
			a, err := r.serve(true)
			if err != nil {
				t.Fatal(err)
			}
			if e := a.Entry; !e.StoredAt.Equal(asked) || !e.FreshUntil.Equal(asked.Add(5*time.Second)) || e.TTL(r.clock.now()) != 2 {
				t.Fatalf("%v: stored at %v, fresh until %v (ttl %d); want %v, %v (ttl 2)", a.Outcome,
					e.StoredAt, e.FreshUntil, e.TTL(r.clock.now()), asked, asked.Add(5*time.Second))
			}
		})
	}
}

// slowRenderer holds every render until the test releases it, and says
// when each one has started.
type slowRenderer struct {
	fakeRenderer
	started chan struct{}
	release chan struct{}
}

func (g *slowRenderer) Transform(ctx context.Context, src []byte, job transform.Job) (transform.Result, error) {
	g.started <- struct{}{}
	<-g.release
	return g.fakeRenderer.Transform(ctx, src, job)
}

// signalingStore says when a lookup of the variants tier has happened.
type signalingStore struct {
	cache.Store
	looked chan struct{}
}

func (s signalingStore) Get(key string) (*cache.Entry, bool) {
	e, ok := s.Store.Get(key)
	select {
	case s.looked <- struct{}{}:
	default:
	}
	return e, ok
}

// TestJoinerOfAnOutlivedFillFillsAgain: a request that joins a render so
// slow that its bytes are past their stale window by the time the request
// arrives (the source was fresh when the render began, and has been replaced
// since) is not answered with those bytes: it fills again, from a
// revalidated source. Before, it got them, labelled a fresh miss.
func TestJoinerOfAnOutlivedFillFillsAgain(t *testing.T) {
	looked := make(chan struct{}, 1)
	r := newRigWrapped(t, nil, func(s cache.Store) cache.Store { return signalingStore{s, looked} })
	g := &slowRenderer{started: make(chan struct{}, 2), release: make(chan struct{})}
	sh, err := shield.New(shield.Config{Variants: r.variants, Originals: r.originals, Transformer: g, Now: r.clock.now,
		Refreshers: 1, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, shield.Policy{
		Fresh:       shield.Rules{Default: time.Hour, Max: time.Hour, SWR: time.Second, SIE: time.Hour},
		NegativeTTL: time.Second, FetchTimeout: time.Minute, RenderTimeout: time.Minute, MaxSourceBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sh.Close(context.Background()) })
	r.origin.set(cc("max-age=10"))
	serve := func() chan shield.Answer {
		spec := transform.Spec{Width: 100, Format: transform.FormatWebP}
		req := &shield.Request{Origin: r.up, Path: []byte("/a.jpg"), Spec: spec, Now: r.clock.now()}
		req.Key = shield.AppendKey(nil, r.up.ID, req.Path, false, &spec)
		out := make(chan shield.Answer, 1)
		go func() {
			a, err := sh.Serve(context.Background(), req)
			if err != nil {
				t.Error(err)
			}
			out <- a
		}()
		return out
	}
	leader := serve()
	<-looked
	<-g.started
	// The source is replaced, and the render outlives its lifetime and
	// stale window: a request arriving now must not get its bytes.
	r.origin.set(body("v2"))
	r.clock.advance(12 * time.Second)
	joiner := serve()
	<-looked
	waitForWaiters(2) // the leader and the joiner, on the one render
	close(g.release)
	if a := <-leader; !bytes.HasSuffix(a.Entry.Body, jpeg) {
		t.Fatalf("the leader, which asked while the source was fresh: %q", a.Entry.Body)
	}
	if a := <-joiner; string(a.Entry.Body) != "webp:v2" {
		t.Fatalf("a request arriving 12 s later, past max-age=10 and 1 s of stale-while-revalidate: %q (%v), want the replacement", a.Entry.Body, a.Outcome)
	}
}

// waitForWaiters returns once n goroutines wait in cache.Group.Do for a
// fill: the only sign that a request has joined a flight, which
// singleflight does not expose.
func waitForWaiters(n int) {
	buf := make([]byte, 1<<20)
	for {
		waiting := 0
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, "[select") && strings.Contains(g, "cache.(*Group[...]).Do(") {
				waiting++
			}
		}
		if waiting >= n {
			return
		}
		runtime.Gosched()
	}
}
