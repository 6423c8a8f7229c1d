package fleet_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"imgedge/cache"
	"imgedge/cache/fleet"
	"imgedge/cache/redistest"
	"imgedge/internal/testwait"
)

func newRedis(t *testing.T, url string) *fleet.Fleet {
	t.Helper()
	r, err := fleet.New(fleet.Config{URL: url, Timeout: 50 * time.Millisecond, MaxValue: 1 << 20, Queue: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// eventually waits for cond, which a background write makes true.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.Until(t, cond, func() string { return what })
}

// TestRedisTier: an entry written by one node is read by another; values
// over max_value, not-stored entries and foreign bytes stay out.
func TestRedisTier(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newRedis(t, srv.URL()).Tier("v:"), newRedis(t, srv.URL()).Tier("v:")
	now := time.Now()
	e := &cache.Entry{Body: []byte("webp bytes"), ContentType: "image/webp", StoredAt: now, FreshUntil: now.Add(time.Minute), Source: "o|/a.jpg"}
	if !a.Set("k", e, time.Minute) {
		t.Fatal("Set refused")
	}
	eventually(t, "the write reaching the other node", func() bool { _, ok := b.Get("k"); return ok })
	got, _ := b.Get("k")
	if !bytes.Equal(got.Body, e.Body) || got.Source != e.Source || !got.FreshUntil.Equal(e.FreshUntil) {
		t.Fatalf("read back %+v", got)
	}
	if a.Set("big", &cache.Entry{Body: make([]byte, 2<<20)}, time.Minute) || a.Set("private", &cache.Entry{Body: []byte("x"), NoStore: true}, time.Minute) {
		t.Fatal("an entry over max_value or marked no-store was queued")
	}
	raw := redistest.Client(t, srv.Addr)
	defer raw.Close()
	if err := raw.Do(context.Background(), raw.B().Set().Key("v:foreign").Value("not an entry").Ex(time.Minute).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Get("foreign"); ok {
		t.Fatal("a foreign value decoded as an entry")
	}
}

// TestTiersPromoteAndPurge: a shared-tier hit is promoted to memory; a
// purge covering the entry's source makes it a miss in both tiers, and a
// fill after the purge is valid again.
func TestTiersPromoteAndPurge(t *testing.T) {
	srv := redistest.Start(t)
	shared := newRedis(t, srv.URL()).Tier("v:")
	mem, err := cache.NewMemory(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	purges := cache.NewPurges(false, time.Second)
	tiers := &cache.Tiers{Memory: mem, Shared: shared, Purges: purges, Now: time.Now}
	now := time.Now()
	e := &cache.Entry{Body: []byte("v1"), StoredAt: now, FreshUntil: now.Add(time.Minute), Source: "o|/products/42/a.jpg", PurgeSeq: purges.Seq()}
	if !shared.SetNow("k", e, time.Minute) {
		t.Fatal("SetNow")
	}
	if _, ok, tier := tiers.GetTier("k", time.Now()); !ok || tier != cache.TierRedis {
		t.Fatalf("first read: %v from %v, want the shared tier", ok, tier)
	}
	if _, ok, tier := tiers.GetTier("k", time.Now()); !ok || tier != cache.TierMemory {
		t.Fatalf("second read: %v from %v, want memory (promoted)", ok, tier)
	}
	purges.Apply(cache.PurgeRule{Path: "o|/products/42/", Prefix: true, Seq: 1})
	purges.Advance(1)
	if _, ok := tiers.Get("k"); ok {
		t.Fatal("a purged entry still answers")
	}
	e2 := &cache.Entry{Body: []byte("v2"), StoredAt: now, FreshUntil: now.Add(time.Minute), Source: e.Source, PurgeSeq: purges.Seq()}
	tiers.Set("k", e2, time.Minute)
	if got, ok := tiers.Get("k"); !ok || string(got.Body) != "v2" {
		t.Fatalf("after the purge and a new fill: %v %q", ok, got.Body)
	}
}

// TestSickRedisIsAMiss: frozen, Redis costs one timeout, then the breaker
// is open and calls cost nothing; writes never block.
func TestSickRedisIsAMiss(t *testing.T) {
	srv := redistest.Start(t)
	r := newRedis(t, srv.URL())
	tier := r.Tier("v:")
	// A node whose write in flight waits on the frozen Redis for as long
	// as the test runs: its writer takes one write at most, so its queue
	// of 16 is full by the 18th whatever the scheduler does. (With the
	// breaker open, the writer drops each write as fast as it is queued,
	// and whether the queue ever fills is a race.)
	stuck, err := fleet.New(fleet.Config{URL: srv.URL(), Timeout: time.Hour, MaxValue: 1 << 20, Queue: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stuck.Close)
	srv.Pause()
	defer srv.Resume()
	if _, ok := tier.Get("k"); ok {
		t.Fatal("a hit from a frozen Redis")
	}
	if r.BreakerState() != 2 {
		t.Fatalf("breaker state %d after a timeout, want open: the next calls must not wait too", r.BreakerState())
	}
	stuckTier := stuck.Tier("v:")
	for range 100 { // a full queue drops, never blocks
		stuckTier.Set("k", &cache.Entry{Body: []byte("x"), FreshUntil: time.Now().Add(time.Minute)}, time.Minute)
	}
	if got := stuck.Dropped(fleet.DropQueueFull); got < 100-16-1 {
		t.Fatalf("%d of 100 writes counted as dropped (queue_full) with a frozen Redis and a queue of 16, want at least 83", got)
	}
}
