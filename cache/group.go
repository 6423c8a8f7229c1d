package cache

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/singleflight"
)

// Fill is what a Loader produces.
type Fill struct {
	Entry *Entry
	// Keep is how long the tier may hold the entry; 0 means do not store it
	// (the origin said no-store or private).
	Keep time.Duration
	// Meta is passed unchanged to every caller that shared this fill (the edge
	// keeps its stage timings there).
	Meta any
}

// Loader computes a missing entry. Its context is detached from the caller
// that started the fill and carries the Group's timeout.
type Loader func(ctx context.Context) (Fill, error)

// Outcome says how a Group.Do caller got its entry.
type Outcome uint8

// Outcomes of Group.Do.
const (
	Hit       Outcome = iota // another fill stored it just before this one began
	Stored                   // this caller's fill computed and stored it
	NotStored                // this caller's fill computed it; it was not stored
	Collapsed                // joined a fill started by another caller
)

// Group collapses concurrent fills of one key into one Loader call.
type Group struct {
	flights singleflight.Group
	store   Store
	timeout time.Duration
	now     func() time.Time
}

// NewGroup returns a Group that fills store, giving each fill at most
// timeout. now tells the time freshness is judged by (nil: time.Now).
func NewGroup(store Store, timeout time.Duration, now func() time.Time) (*Group, error) {
	if store == nil || timeout <= 0 {
		return nil, fmt.Errorf("cache: NewGroup needs a store and a timeout above 0")
	}
	if now == nil {
		now = time.Now
	}
	return &Group{store: store, timeout: timeout, now: now}, nil
}

type flightResult struct {
	fill    Fill
	outcome Outcome
}

// Do returns the fresh entry under key, running load at most once across all
// concurrent callers. The store is checked again inside the flight, since a
// caller arriving just after another fill stored the key would otherwise fill
// it a second time. The fill runs detached from ctx: a caller that gives up
// (ctx done) gets ctx.Err() while the others still get the result. A panic in
// load becomes an error for every caller instead of a crash.
func (g *Group) Do(ctx context.Context, key string, load Loader) (Fill, Outcome, error) {
	leader := false
	ch := g.flights.DoChan(key, func() (v any, err error) {
		leader = true
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("cache: fill of %q panicked: %v", key, p)
			}
		}()
		if e, ok := g.store.Get(key); ok && e.Fresh(g.now()) {
			return flightResult{Fill{Entry: e}, Hit}, nil
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.timeout)
		defer cancel()
		f, err := load(fctx)
		if err != nil {
			return nil, err
		}
		if f.Keep > 0 && g.store.Set(key, f.Entry, f.Keep) {
			return flightResult{f, Stored}, nil
		}
		return flightResult{f, NotStored}, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return Fill{}, 0, r.Err
		}
		fr := r.Val.(flightResult)
		// leader was written by the flight goroutine before the result was
		// sent on ch, so reading it after the receive is ordered.
		if !leader {
			return fr.fill, Collapsed, nil
		}
		return fr.fill, fr.outcome, nil
	case <-ctx.Done():
		return Fill{}, 0, ctx.Err()
	}
}
