package fleet_test

import (
	"context"
	"testing"
	"time"

	"imgedge/cache"
	"imgedge/cache/fleet"
	"imgedge/cache/redistest"
)

// TestLeaseHandsTheEntryToWaiters: one node leads, another waits and gets
// the leader's entry; nodes started alike never share a lease token.
func TestLeaseHandsTheEntryToWaiters(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newRedis(t, srv.URL()), newRedis(t, srv.URL())
	if a.Node() == b.Node() {
		t.Fatal("two nodes started alike have the same identity (lease tokens would collide)")
	}
	release, leader := a.Tier(fleet.VariantsPrefix).Lead("k", time.Minute)
	if !leader {
		t.Fatal("the first node did not lead")
	}
	if _, leader := b.Tier(fleet.VariantsPrefix).Lead("k", time.Minute); leader {
		t.Fatal("two leaders")
	}
	got := make(chan *cache.Entry)
	go func() {
		e, _ := b.Tier(fleet.VariantsPrefix).Await(context.Background(), "k", time.Minute, time.Now)
		got <- e
	}()
	now := time.Now()
	release(&cache.Entry{Body: []byte("v"), StoredAt: now, FreshUntil: now.Add(time.Minute)}, time.Minute)
	if e := <-got; e == nil || string(e.Body) != "v" {
		t.Fatalf("the waiter got %v", e)
	}
}

// TestAwaitIsNotTheStaleCopy: the stale copy a leader is replacing stays
// in the tier for its stale windows; a waiter waits for the leader's fresh
// entry instead of taking it, and hears the leader is gone when it
// releases without one.
func TestAwaitIsNotTheStaleCopy(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newRedis(t, srv.URL()).Tier(fleet.VariantsPrefix), newRedis(t, srv.URL()).Tier(fleet.VariantsPrefix)
	now := time.Now()
	a.Set("k", &cache.Entry{Body: []byte("old"), StoredAt: now.Add(-time.Minute), FreshUntil: now.Add(-time.Second),
		StaleWhileRevalidateUntil: now.Add(time.Hour)}, time.Hour)
	eventually(t, "the stale copy in the tier", func() bool { _, ok := b.Get("k"); return ok })
	for _, fill := range []*cache.Entry{{Body: []byte("new"), StoredAt: now, FreshUntil: now.Add(time.Hour)}, nil} {
		release, leader := a.Lead("k", time.Minute)
		if !leader {
			t.Fatal("no lease")
		}
		type awaited struct {
			e    *cache.Entry
			gone bool
		}
		got := make(chan awaited, 1)
		// The waiter asks the clock each time it has read the stale copy:
		// twice means it has judged it, and passed it over, on two polls.
		judged := make(chan struct{}, 1)
		clock := func() time.Time {
			select {
			case judged <- struct{}{}:
			default:
			}
			return time.Now()
		}
		go func() {
			e, gone := b.Await(context.Background(), "k", time.Minute, clock)
			got <- awaited{e, gone}
		}()
		for polls := 0; polls < 2; {
			select {
			case w := <-got:
				t.Fatalf("the waiter took %q (gone %v) while the leader fills", w.e.Body, w.gone)
			case <-judged:
				polls++
			}
		}
		release(fill, time.Hour)
		w := <-got
		switch {
		case fill != nil && (w.e == nil || string(w.e.Body) != "new"):
			t.Fatalf("the waiter got %v, gone %v; want the leader's entry", w.e, w.gone)
		case fill == nil && (w.e != nil || !w.gone):
			t.Fatalf("the waiter got %v, gone %v; want the leader gone", w.e, w.gone)
		}
		if fill != nil { // the stale copy again, for the leader that fills nothing
			a.Set("k", &cache.Entry{Body: []byte("old"), StoredAt: now.Add(-time.Minute), FreshUntil: now.Add(-time.Second),
				StaleWhileRevalidateUntil: now.Add(time.Hour)}, time.Hour)
			eventually(t, "the stale copy in the tier", func() bool { e, ok := b.Get("k"); return ok && string(e.Body) == "old" })
		}
	}
}

// TestLeaseDiesWithItsHolder: a leader that stops renewing (its node lost
// its connections: it died or was cut off) loses the lease within
// LeaseTTL, however long it asked to hold it, and a waiter hears that
// nobody is filling instead of waiting out its bound.
func TestLeaseDiesWithItsHolder(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newRedis(t, srv.URL()), newRedis(t, srv.URL())
	release, leader := a.Tier(fleet.VariantsPrefix).Lead("k", time.Hour)
	if !leader {
		t.Fatal("no lease")
	}
	defer release(nil, 0)
	a.Close() // the holder is gone: its renewals fail from now on
	e, gone := b.Tier(fleet.VariantsPrefix).Await(context.Background(), "k", time.Hour, time.Now)
	if e != nil || !gone {
		t.Fatalf("Await = %v, gone %v; want the dead leader noticed", e, gone)
	}
}

// TestLeaseRunLateIsNotCreated: a lease command that Redis runs after the
// lease would have ended (it waited in a frozen Redis's socket, say)
// creates nothing: nobody waits on a lease whose request gave up long
// ago. The node's clock lagging a second behind Redis' is that command,
// run a second late.
func TestLeaseRunLateIsNotCreated(t *testing.T) {
	srv := redistest.Start(t)
	late, err := fleet.New(fleet.Config{URL: srv.URL(), Timeout: time.Second, MaxValue: 1 << 20, Queue: 16,
		Now: func() time.Time { return time.Now().Add(-time.Second) }})
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	release, leader := late.Tier(fleet.VariantsPrefix).Lead("k", time.Minute)
	if !leader {
		t.Fatal("no node holds the lease: this one must lead")
	}
	defer release(nil, 0)
	raw := redistest.Client(t, srv.Addr)
	defer raw.Close()
	ctx, key := context.Background(), "imgedge:lock:imgedge:v:k"
	if n, err := raw.Do(ctx, raw.B().Exists().Key(key).Build()).AsInt64(); err != nil || n != 0 {
		pttl, _ := raw.Do(ctx, raw.B().Pttl().Key(key).Build()).AsInt64()
		t.Fatalf("a lease command run after its end created a lease (EXISTS %d, %v; PTTL %d ms)", n, err, pttl)
	}
}
