package shield

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"imgedge/cache"
	"imgedge/edge/origin"
	"imgedge/internal/bytesconv"
	"imgedge/transform"
)

// Fetcher gets sources from one origin (edge/origin behind its breaker).
type Fetcher interface {
	Fetch(ctx context.Context, r origin.Request) (origin.Object, error)
}

// Origin is one configured origin: its id is part of every key, so origins
// never share entries.
type Origin struct {
	ID      string
	Fetcher Fetcher
}

// Observer hears of the work fills do, once per fetch or render however many
// requests shared it (the metrics).
type Observer interface {
	Fetched(originID string, obj origin.Object, err error, took time.Duration)
	Rendered(res *transform.Result, took time.Duration)
}

// Config is what a Shield is built from. Everything is required except
// Observer and Now.
type Config struct {
	Variants, Originals cache.Store
	Transformer         transform.Transformer
	Observer            Observer         // nil: nobody listens
	Now                 func() time.Time // nil: time.Now
	// Refreshers bounds background refreshes (stale-while-revalidate); more
	// stale hits than this at once skip theirs, and a later one tries again.
	Refreshers int
	Log        *slog.Logger
	// Purges gives the purge sequence a fill records (nil: never purged
	// here); the tiers check entries against it.
	Purges *cache.Purges
	// Rungs is where sources' rungs are kept (see ladder): this node's
	// memory tier for originals. nil: every render decodes its source.
	Rungs cache.Store
	// FleetVariants and FleetOriginals collapse fills of each kind across
	// a fleet sharing Redis (cache/fleet); nil: this node alone.
	FleetVariants, FleetOriginals Collapser
}

// Collapser collapses fills of one kind of entry across a fleet: one node
// leads, the others wait for the entry it writes to the shared tier.
type Collapser interface {
	// Lead tries to become the one filler of key, for at most hold;
	// release writes e (when not nil, for keep) for the waiters and gives
	// leadership back.
	Lead(key string, hold time.Duration) (release func(e *cache.Entry, keep time.Duration), leader bool)
	// Await waits at most wait for the leader's entry, one fresh at now
	// (not the stale copy the fill replaces); leaderGone: nobody is filling
	// key any more (the caller may lead).
	Await(ctx context.Context, key string, wait time.Duration, now func() time.Time) (e *cache.Entry, leaderGone bool)
}

// tierGetter is a store that can say which of its tiers answered and
// judges entries at the request's time (cache.Tiers).
type tierGetter interface {
	GetTier(key string, now time.Time) (*cache.Entry, bool, cache.Tier)
}

// Policy is the part of the rules a reload may change while serving.
type Policy struct {
	Fresh       Rules
	NegativeTTL time.Duration // cache.negative_ttl; 0 remembers no not-found
	// FetchTimeout bounds a source fill; RenderTimeout a variant fill (its
	// source, the wait for a transform slot and the render).
	FetchTimeout, RenderTimeout time.Duration
	MaxSourceBytes              int64 // limits.max_source_bytes
	// FleetWait bounds how long a node waits for another node's fill of the
	// same key before filling it itself (transform.queue_timeout).
	FleetWait time.Duration
}

// Shield runs the entry lifecycle over two tiers (variants and originals).
type Shield struct {
	variants, originals cache.Store
	rungs               cache.Store // nil: no ladder
	renders             *cache.Group[fillInfo]
	sources             *cache.Group[fillInfo]
	tr                  transform.Transformer
	obs                 Observer
	log                 *slog.Logger
	purges              *cache.Purges
	fleetVariants       Collapser // nil: alone
	fleetOriginals      Collapser
	policy              atomic.Pointer[Policy]
	now                 atomic.Pointer[func() time.Time] // tests move it

	// Background refreshes run on at most cap(refreshSlots) goroutines,
	// owned by the Shield and ended by Close.
	refreshSlots chan struct{}
	mu           sync.Mutex // orders refreshes.Add before Close's Wait
	closed       bool
	refreshes    sync.WaitGroup
	background   context.Context
	stop         context.CancelFunc
}

// New returns a Shield following p.
func New(c Config, p Policy) (*Shield, error) {
	if c.Variants == nil || c.Originals == nil || c.Transformer == nil || c.Log == nil || c.Refreshers <= 0 {
		return nil, errors.New("shield: New needs both stores, a transformer, a logger and Refreshers above 0")
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	s := &Shield{variants: c.Variants, originals: c.Originals, tr: c.Transformer, obs: c.Observer, log: c.Log,
		refreshSlots: make(chan struct{}, c.Refreshers), purges: c.Purges, rungs: c.Rungs,
		fleetVariants: c.FleetVariants, fleetOriginals: c.FleetOriginals}
	if s.obs == nil {
		s.obs = nobody{}
	}
	s.SetClock(c.Now)
	s.policy.Store(&p)
	clock := func() time.Time { return s.clock() }
	var err error
	if s.renders, err = cache.NewGroup[fillInfo](c.Variants, clock); err != nil {
		return nil, err
	}
	if s.sources, err = cache.NewGroup[fillInfo](c.Originals, clock); err != nil {
		return nil, err
	}
	s.background, s.stop = context.WithCancel(context.Background())
	return s, nil
}

func (p *Policy) validate() error {
	if p.FetchTimeout <= 0 || p.RenderTimeout <= 0 || p.MaxSourceBytes <= 0 {
		return errors.New("shield: fetch and render timeouts and the source byte limit must be above 0")
	}
	return nil
}

// SetPolicy applies p to the requests that start after it.
func (s *Shield) SetPolicy(p Policy) error {
	if err := p.validate(); err != nil {
		return err
	}
	s.policy.Store(&p)
	return nil
}

// CheckPolicy says whether SetPolicy would take p, without taking it.
func CheckPolicy(p Policy) error { return p.validate() }

// SetClock makes the shield judge freshness by now (nil: time.Now).
func (s *Shield) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	s.now.Store(&now)
}

func (s *Shield) clock() time.Time { return (*s.now.Load())() }

// Request is one lookup. Key and Path may alias request memory: they are
// read during Serve only, and copied when a fill needs them.
type Request struct {
	Origin   *Origin
	Key      []byte
	Path     []byte
	Original bool           // the original bytes, not a variant
	Spec     transform.Spec // the variant; ignored for originals
	Now      time.Time      // when the request began: freshness is judged then
	Trace    bool           // record lookup timestamps (tracing)
}

// Serve answers r from the tier, or fills it. A fresh entry, or a stale one
// within its stale-while-revalidate window, answers at once without
// allocating. Otherwise one fill runs for every concurrent request of the key
// and the request waits for it within the policy's bounds; when the origin
// fails, a stale copy within its stale-if-error window answers instead.
// The Answer is meaningful with an error too (Negative, Lookup, Timings).
func (s *Shield) Serve(ctx context.Context, r *Request) (Answer, error) {
	store := s.variants
	if r.Original {
		store = s.originals
	}
	var a Answer
	if r.Trace {
		a.Timings.LookupStart = s.clock()
	}
	var e *cache.Entry
	var ok bool
	if tg, tiered := store.(tierGetter); tiered {
		// Views of the request: ristretto keeps only a key's hashes and the
		// shared tier reads under its own prefixed copy.
		e, ok, a.Tier = tg.GetTier(bytesconv.String(r.Key), r.Now)
	} else if e, ok = store.Get(bytesconv.String(r.Key)); ok {
		a.Tier = cache.TierMemory
	}
	if r.Trace {
		a.Timings.LookupEnd = s.clock()
	}
	a.Lookup = LookupOf(e, ok, r.Now)
	switch {
	case a.Lookup == LookupNotFound:
		a.Outcome = Negative
		return a, &FetchError{Path: string(r.Path), Err: origin.ErrNotFound, Remembered: true}
	case a.Lookup == LookupFresh:
		a.Entry, a.Outcome = e, Hit
		return a, nil
	case a.Lookup == LookupStale && e.ServesWhileRevalidating(r.Now):
		a.Entry, a.Outcome = e, StaleWhileRevalidate
		s.refreshLater(r)
		return a, nil
	case a.Lookup == LookupStale:
		return s.miss(ctx, r, e, a)
	}
	return s.miss(ctx, r, nil, a)
}

// miss fills r's key, waiting at most for the fill's own bound plus a
// second of slack, and falls back to stale on an origin failure.
func (s *Shield) miss(ctx context.Context, r *Request, stale *cache.Entry, a Answer) (Answer, error) {
	pol := s.policy.Load()
	bound := pol.FetchTimeout
	if !r.Original {
		bound = pol.RenderTimeout
	}
	wait, cancel := context.WithTimeout(ctx, bound+time.Second)
	defer cancel()
	spec := r.Spec
	f, o, err := s.fill(wait, r.Origin, string(r.Key), string(r.Path), r.Original, spec, pol)
	if err == nil && (s.purges.Check(f.Entry, s.clock()) == cache.Purged || outlived(f, r.Now)) {
		// This request joined a fill that began before a purge applied
		// since, or one so slow that its bytes were past their stale
		// window when this request arrived (the source was fresh when the
		// fill began): either way they may be bytes the origin has
		// replaced. One fill more, which begins after this request.
		f, o, err = s.fill(wait, r.Origin, string(r.Key), string(r.Path), r.Original, spec, pol)
	}
	if err != nil {
		var fe *FetchError
		switch {
		case servesStale(stale, err, s.clock()):
			a.Entry, a.Outcome = stale, StaleIfError
			return a, nil
		case errors.As(err, &fe) && fe.Remembered:
			a.Outcome = Negative // the variant's original is a remembered not-found
		}
		return a, err
	}
	a.Entry, a.Outcome, a.SourceCached = f.Entry, f.Meta.outcome, f.Meta.sourceCached
	if f.Meta.fleet {
		a.Tier = cache.TierRedis // another node's fill, read from the shared tier
	}
	if o == cache.Hit {
		// The Group's re-check found the entry a fill stored after this
		// request looked: to this request it is a hit.
		a.Outcome = Hit
	}
	a.Stored, a.Collapsed = o == cache.Stored, o == cache.Collapsed
	if a.Outcome != RenderedFromStale && a.Outcome != StaleIfError && f.Entry.StoredAt.Before(r.Now) && !f.Entry.Fresh(r.Now) {
		// A fill this request joined, whose bytes were already past their
		// lifetime when it arrived (within their stale window, or the
		// re-fill above would have run): what it is, a stale answer, with
		// a refresh behind it as for any other.
		a.Outcome = StaleWhileRevalidate
		s.refreshLater(r)
	}
	lookup := a.Timings
	a.Timings = f.Meta.timings // the fill's stages, with this request's own lookup
	a.Timings.LookupStart, a.Timings.LookupEnd = lookup.LookupStart, lookup.LookupEnd
	return a, nil
}

// outlived says whether a fill's entry, from an origin answer to a request
// made before now, was past its stale-while-revalidate window at now, so
// that it may not answer a request that arrived then. An answer the origin
// gave after now is as fresh as any (a no-cache one included), and an entry
// that stands in for a failed origin is judged by its own window.
func outlived(f cache.Fill[fillInfo], now time.Time) bool {
	if f.Meta.outcome == RenderedFromStale || f.Meta.outcome == StaleIfError || f.Entry.NotFound || !f.Entry.StoredAt.Before(now) {
		return false
	}
	return !f.Entry.Fresh(now) && !f.Entry.ServesWhileRevalidating(now)
}

// fill computes the entry under key once for all concurrent callers: an
// original is fetched; a variant is rendered from its original.
func (s *Shield) fill(ctx context.Context, up *Origin, key, path string, original bool, spec transform.Spec, pol *Policy) (cache.Fill[fillInfo], cache.Outcome, error) {
	if original {
		return s.source(ctx, up, key, path, pol)
	}
	return s.renders.Do(ctx, key, pol.RenderTimeout, func(fctx context.Context) (cache.Fill[fillInfo], error) {
		f, ok, release := s.fleetFill(fctx, s.fleetVariants, key, pol.RenderTimeout, pol)
		if ok {
			return f, nil
		}
		f, err := s.render(fctx, up, key, path, spec, pol)
		release(f, err)
		return f, err
	})
}

// fleetFill collapses a fill across the fleet: one node leads (a lease in
// the shared tier, renewed while it fills), the others wait for its entry
// there, at most pol.FleetWait, and fill themselves if it does not come or
// its leader is gone (noticed within the lease). ok is true when another
// node's entry is the answer; otherwise the caller fills and then calls
// release with the fill, which the leader writes to the shared tier before
// it lets the lease go: a node arriving after the lease must find the
// entry, not an empty tier and no lease (it would fill again).
func (s *Shield) fleetFill(ctx context.Context, c Collapser, key string, hold time.Duration, pol *Policy) (f cache.Fill[fillInfo], ok bool, release func(cache.Fill[fillInfo], error)) {
	none := func(cache.Fill[fillInfo], error) {}
	if c == nil {
		return f, false, none
	}
	// A leader that gave up hands over to one waiter; twice is enough:
	// after that this node fills without leading.
	for range 2 {
		if lead, leader := c.Lead(key, hold); leader {
			return f, false, func(f cache.Fill[fillInfo], err error) {
				if err == nil && f.Store && f.Entry != nil && s.purges.Current(f.Entry.Gen) {
					lead(f.Entry, f.Entry.Keep(s.clock()))
					return
				}
				lead(nil, 0)
			}
		}
		e, gone := c.Await(ctx, key, pol.FleetWait, s.clock)
		if e != nil {
			if s.purges.Check(e, s.clock()) != cache.Proven {
				// The leader's fill began before a purge this node knows
				// (or cannot vouch for): fill again, after it.
				return f, false, none
			}
			return cache.Fill[fillInfo]{Entry: e, Meta: fillInfo{outcome: Hit, fleet: true}}, true, none
		}
		if !gone {
			break
		}
	}
	return f, false, none
}

// Refreshing is how many background refreshes run now. Each holds its
// place from the stale answer that started it (before that answer is
// written) to its end, so once it is zero every refresh the answers so
// far started has ended.
func (s *Shield) Refreshing() int { return len(s.refreshSlots) }

// refreshLater refreshes a stale entry in the background, collapsed with any
// other fill of the key, on a bounded number of goroutines.
func (s *Shield) refreshLater(r *Request) {
	select {
	case s.refreshSlots <- struct{}{}:
	default:
		return // enough refreshes running; a later stale hit tries again
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.refreshSlots
		return
	}
	s.refreshes.Add(1)
	s.mu.Unlock()
	// Copies: the request's memory is reused once it is answered.
	up, key, path, original, spec := r.Origin, string(r.Key), string(r.Path), r.Original, r.Spec
	go func() {
		defer s.refreshes.Done()
		defer func() { <-s.refreshSlots }()
		pol := s.policy.Load()
		if _, _, err := s.fill(s.background, up, key, path, original, spec, pol); err != nil && s.background.Err() == nil {
			s.log.Warn("background refresh failed", "key", key, "err", err)
		}
	}()
}

// Close stops new background refreshes and waits, within ctx, for those
// running and for every fill still running, so that what fills use
// (libvips) can be shut down after it. When ctx ends first, the refreshes
// still waiting give up (their fills run on, each bounded by its timeout)
// and Close reports it.
func (s *Shield) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	defer s.stop()
	refreshed := make(chan struct{})
	go func() { // ends with the last refresh, each bounded by its fill's timeout
		s.refreshes.Wait()
		close(refreshed)
	}()
	select {
	case <-refreshed:
	case <-ctx.Done():
		return fmt.Errorf("shield: refreshes still running: %w", ctx.Err())
	}
	if err := s.renders.Wait(ctx); err != nil {
		return fmt.Errorf("shield: %w", err)
	}
	if err := s.sources.Wait(ctx); err != nil {
		return fmt.Errorf("shield: %w", err)
	}
	return nil
}

// Tier is the state of key in the variants tier (original false) or the
// originals tier at now, for /explain.
func (s *Shield) Tier(key string, original bool, now time.Time) (*cache.Entry, Lookup, cache.Tier) {
	store := s.variants
	if original {
		store = s.originals
	}
	if tg, ok := store.(tierGetter); ok {
		e, found, tier := tg.GetTier(key, now)
		return e, LookupOf(e, found, now), tier
	}
	e, ok := store.Get(key)
	return e, LookupOf(e, ok, now), cache.TierMemory
}

type nobody struct{}

func (nobody) Fetched(string, origin.Object, error, time.Duration) {}
func (nobody) Rendered(*transform.Result, time.Duration)           {}
