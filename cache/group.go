package cache

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/singleflight"

	"imgedge/internal/inflight"
)

// Fill is what a Loader produces: the entry, whether the tier may keep it, and
// what the loader wants every caller that shared the fill to know (stage
// timings, say), typed by the Group's user.
type Fill[M any] struct {
	Entry *Entry
	// Store asks the Group to offer Entry to its tier (for Entry.Keep); false
	// answers the callers without storing (no-store, or a render from a copy
	// only usable because the origin failed).
	Store bool
	Meta  M
}

// Loader computes a missing entry. Its context is detached from the caller
// that started the fill and carries the timeout given to Do.
type Loader[M any] func(ctx context.Context) (Fill[M], error)

// Outcome says how a Group.Do caller got its entry.
type Outcome uint8

// Outcomes of Group.Do.
const (
	// Hit: the tier held a fresh copy when the flight began (another fill
	// stored it after this caller's own lookup). The Fill has no Meta.
	Hit       Outcome = iota
	Stored            // this caller's fill computed and stored it
	NotStored         // this caller's fill computed it; it was not stored
	Collapsed         // joined a fill started by another caller
)

// Group collapses concurrent fills of one key into one Loader call. It counts
// the fills it runs, so that an owner can wait for them before releasing what
// they use (libvips at exit).
type Group[M any] struct {
	flights singleflight.Group
	store   Store
	now     func() time.Time
	running inflight.Count // fills, waited for by Wait while new ones may start
}

// NewGroup returns a Group that fills store. now tells the time freshness is
// judged by (nil: time.Now).
func NewGroup[M any](store Store, now func() time.Time) (*Group[M], error) {
	if store == nil {
		return nil, fmt.Errorf("cache: NewGroup needs a store")
	}
	if now == nil {
		now = time.Now
	}
	return &Group[M]{store: store, now: now}, nil
}

type flightResult[M any] struct {
	fill    Fill[M]
	outcome Outcome
}

// Do returns the fresh entry under key, running load at most once across all
// concurrent callers, giving it at most timeout.
//
// The store is checked again inside the flight. singleflight only merges
// calls that overlap: a caller whose own lookup missed just before another
// fill stored the key arrives after that flight ended and starts a new one.
// The re-check holds because the tier's Set is visible to Get once it
// returns (Store's contract), and the fill stores before its flight ends.
//
// The fill runs detached from ctx: a caller that gives up (ctx done) gets
// ctx.Err() while the others still get the result. A panic in load becomes
// an error for every caller instead of a crash.
func (g *Group[M]) Do(ctx context.Context, key string, timeout time.Duration, load Loader[M]) (Fill[M], Outcome, error) {
	leader := false
	ch := g.flights.DoChan(key, func() (v any, err error) {
		leader = true
		g.running.Start()
		defer g.running.Done()
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("cache: fill of %q panicked: %v", key, p)
			}
		}()
		if e, ok := g.store.Get(key); ok && e.Fresh(g.now()) {
			return flightResult[M]{Fill[M]{Entry: e}, Hit}, nil
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		f, err := load(fctx)
		if err != nil {
			return nil, err
		}
		if f.Store && !f.Entry.NoStore {
			if keep := f.Entry.Keep(g.now()); keep > 0 && g.store.Set(key, f.Entry, keep) {
				return flightResult[M]{f, Stored}, nil
			}
		}
		return flightResult[M]{f, NotStored}, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			var zero Fill[M]
			return zero, 0, r.Err
		}
		fr := r.Val.(flightResult[M])
		// leader was written by the flight goroutine before the result was
		// sent on ch, so reading it after the receive is ordered.
		if !leader {
			return fr.fill, Collapsed, nil
		}
		return fr.fill, fr.outcome, nil
	case <-ctx.Done():
		var zero Fill[M]
		return zero, 0, ctx.Err()
	}
}

// Wait blocks until the fills running now have ended, or ctx is done.
func (g *Group[M]) Wait(ctx context.Context) error {
	if err := g.running.Wait(ctx); err != nil {
		return fmt.Errorf("cache: fills still running: %w", err)
	}
	return nil
}
