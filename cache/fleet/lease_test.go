package fleet_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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
		e, _ := b.Tier(fleet.VariantsPrefix).Await(context.Background(), "k", time.Minute)
		got <- e
	}()
	now := time.Now()
	release(&cache.Entry{Body: []byte("v"), StoredAt: now, FreshUntil: now.Add(time.Minute)}, time.Minute)
	if e := <-got; e == nil || string(e.Body) != "v" {
		t.Fatalf("the waiter got %v", e)
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
	e, gone := b.Tier(fleet.VariantsPrefix).Await(context.Background(), "k", time.Hour)
	if e != nil || !gone {
		t.Fatalf("Await = %v, gone %v; want the dead leader noticed", e, gone)
	}
}

// TestLeaseAfterAFreezeIsNotCreated: a lease command that Redis runs only
// after a freeze longer than the lease creates nothing: nobody waits on a
// lease whose request gave up long ago.
func TestLeaseAfterAFreezeIsNotCreated(t *testing.T) {
	srv := redistest.Start(t)
	a, err := fleet.New(fleet.Config{URL: srv.URL(), Timeout: 50 * time.Millisecond, MaxValue: 1 << 20, Queue: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	tier := a.Tier(fleet.VariantsPrefix)
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer raw.Close()
	if err := raw.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	srv.Pause()
	release, leader := tier.Lead("k", time.Minute)
	if !leader {
		t.Fatal("a frozen Redis must make the node its own leader")
	}
	release(nil, 0)
	time.Sleep(fleet.LeaseTTL + 100*time.Millisecond) // the freeze outlasts the lease: what this test is about
	srv.Resume()
	// The frozen command was ready before this ping: Redis' event loop
	// runs it first (epoll reports sockets in the order they became ready).
	if err := raw.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if ttl := raw.PTTL(context.Background(), "imgedge:lock:imgedge:v:k").Val(); ttl != -2*time.Nanosecond && ttl > 0 {
		t.Fatalf("a lease created after the freeze lives %v", ttl)
	}
	if n := raw.Exists(context.Background(), "imgedge:lock:imgedge:v:k").Val(); n != 0 {
		t.Fatal("a lease exists after the freeze")
	}
}
