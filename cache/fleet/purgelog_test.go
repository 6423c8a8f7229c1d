package fleet_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"imgedge/cache"
	"imgedge/cache/fleet"
	"imgedge/cache/redistest"
)

// node is one fleet member's purge state: its connection, its purges and
// the log feeding them.
type node struct {
	f      *fleet.Fleet
	purges *cache.Purges
	log    *fleet.PurgeLog
}

func newNode(t *testing.T, url string) *node { return newNodeAt(t, url, time.Now) }

// newNodeAt is newNode on the clock now.
func newNodeAt(t *testing.T, url string, now func() time.Time) *node {
	t.Helper()
	f, err := fleet.New(fleet.Config{URL: url, Timeout: time.Second, MaxValue: 1 << 20, Queue: 16, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	p := cache.NewPurges(true, fleet.PurgeBound)
	return &node{f: f, purges: p, log: f.PurgeLog(p, func() time.Duration { return time.Hour })}
}

// sync reads the log as the node's loop does; the first call on a
// connection that Redis dropped (a restart) fails, and the loop's next
// read succeeds: three reads are allowed.
func (n *node) sync(t *testing.T) {
	t.Helper()
	var err error
	for range 3 {
		if err = n.log.Sync(); err == nil {
			return
		}
	}
	t.Fatalf("sync: %v", err)
}

func (n *node) publish(t *testing.T, path string) uint64 {
	t.Helper()
	seq, err := n.log.Publish(context.Background(), cache.PurgeRule{Path: path})
	if err != nil {
		t.Fatalf("publish %s: %v", path, err)
	}
	return seq
}

// filled is an entry this node fills now: marked as a fill beginning now.
func (n *node) filled(source string) *cache.Entry {
	seq, gen := n.purges.Mark()
	return &cache.Entry{Source: source, PurgeSeq: seq, Gen: gen, StoredAt: time.Now()}
}

// TestPurgeLogSurvivesAnEmptyRestart: Redis restarted empty starts the
// sequence again at 1; a node that had seen more must still apply the new
// history's rules, and what it stored before is revalidated, not served.
func TestPurgeLogSurvivesAnEmptyRestart(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newNode(t, srv.URL()), newNode(t, srv.URL())
	b.sync(t)
	before := b.filled("o|/z.jpg")
	other := b.filled("o|/other.jpg")
	for _, p := range []string{"o|/1.jpg", "o|/2.jpg", "o|/3.jpg"} {
		a.publish(t, p)
	}
	b.sync(t)
	if b.purges.Seq() != 3 {
		t.Fatalf("b at seq %d, want 3", b.purges.Seq())
	}
	srv.Kill()
	srv.Restart()
	if seq := a.publish(t, "o|/z.jpg"); seq > 3 {
		t.Fatalf("the emptied Redis gave seq %d, want at most 3 (the case under test: a sequence seen before)", seq)
	}
	b.sync(t)
	if v := b.purges.Check(before, time.Now()); v == cache.Proven {
		t.Fatal("b serves an entry the new history's purge covers")
	}
	if v := b.purges.Check(other, time.Now()); v != cache.Unproven {
		t.Fatalf("an entry stored before the history was lost: %v, want unproven (revalidate)", v)
	}
	if b.log.Epochs() != 1 {
		t.Fatalf("epochs %d, want 1", b.log.Epochs())
	}
	after := b.filled("o|/z.jpg")
	after.StoredAt = time.Now().Add(2 * time.Second) // the origin answered after the floor
	if v := b.purges.Check(after, after.StoredAt); v != cache.Proven {
		t.Fatalf("a fill after the new history: %v, want proven", v)
	}
}

// TestPurgeLogNodeOnlyPurgeTakesNoNumber: a node purging while Redis is
// down applies the purge at once, takes no sequence the fleet could hand
// out again, and applies the fleet's rules (and logs its own) when Redis
// returns from its append-only file.
func TestPurgeLogNodeOnlyPurgeTakesNoNumber(t *testing.T) {
	srv := redistest.StartAOF(t)
	a, b := newNode(t, srv.URL()), newNode(t, srv.URL())
	for _, p := range []string{"o|/1.jpg", "o|/2.jpg", "o|/3.jpg"} {
		a.publish(t, p)
	}
	a.sync(t)
	b.sync(t)
	aOld, bOld := a.filled("o|/b.jpg"), b.filled("o|/a.jpg")
	srv.Kill()
	if _, err := a.log.Publish(context.Background(), cache.PurgeRule{Path: "o|/a.jpg"}); err == nil {
		t.Fatal("a purge reached a killed Redis")
	}
	if !a.log.Pend(cache.PurgeRule{Path: "o|/a.jpg"}, time.Now().Add(time.Millisecond)) {
		t.Fatal("Pend refused")
	}
	if a.purges.Check(a.filled("o|/a.jpg"), time.Now()) != cache.Purged && a.purges.Check(&cache.Entry{Source: "o|/a.jpg", StoredAt: time.Now().Add(-time.Second)}, time.Now()) != cache.Purged {
		t.Fatal("the node-only purge did not apply on its node")
	}
	srv.Restart()
	if seq := b.publish(t, "o|/b.jpg"); seq < 4 || seq > 5 {
		t.Fatalf("after the replay the fleet's next purge is %d, want 4 (5 if a dropped connection's INCR landed)", seq)
	}
	a.sync(t) // a new epoch (the server restarted): a reads the whole log and logs its own purge
	b.sync(t)
	if a.purges.Check(aOld, time.Now()) == cache.Proven {
		t.Fatal("a never applied the fleet's purge 4")
	}
	if b.purges.Check(bOld, time.Now()) == cache.Proven {
		t.Fatal("b never applied a's node-only purge once Redis returned")
	}
	if a.log.Pending() != 0 {
		t.Fatalf("%d purges still pending", a.log.Pending())
	}
}

// TestPurgeLogPrunes: rules older than the retention leave Redis and the
// node; a node joining later reads none of them.
func TestPurgeLogPrunes(t *testing.T) {
	srv := redistest.Start(t)
	a := newNode(t, srv.URL())
	for i := range 5 {
		a.publish(t, "o|/"+strconv.Itoa(i)+".jpg")
	}
	a.sync(t)
	if a.purges.Len() != 5 {
		t.Fatalf("%d rules, want 5", a.purges.Len())
	}
	a.log.Prune(time.Now().Add(2 * time.Hour))
	raw := redistest.Client(t, srv.Addr)
	defer raw.Close()
	for _, k := range []string{"imgedge:purge:rules", "imgedge:purge:at"} {
		if n, err := raw.Do(context.Background(), raw.B().Zcard().Key(k).Build()).AsInt64(); err != nil || n != 0 {
			t.Fatalf("%s holds %d after pruning (%v)", k, n, err)
		}
	}
	if a.purges.Len() != 0 {
		t.Fatalf("the node kept %d pruned rules", a.purges.Len())
	}
	a.publish(t, "o|/new.jpg")
	c := newNode(t, srv.URL())
	c.sync(t)
	if c.purges.Len() != 1 || c.purges.Seq() != 6 {
		t.Fatalf("a joining node holds %d rules at seq %d, want 1 at 6", c.purges.Len(), c.purges.Seq())
	}
}

// TestPurgeLogCatchesUpInBatches: a node joining a log of 50,000 rules
// reads all of them in one Sync, in batches that each fit the timeout.
func TestPurgeLogCatchesUpInBatches(t *testing.T) {
	srv := redistest.Start(t)
	raw := redistest.Client(t, srv.Addr)
	defer raw.Close()
	const n = 50000
	logRules(t, raw, n)
	c := newNode(t, srv.URL())
	c.sync(t)
	if c.purges.Len() != n || c.purges.Seq() != n {
		t.Fatalf("joined with %d rules at seq %d, want %d", c.purges.Len(), c.purges.Seq(), n)
	}
}

// TestPurgeLogRuleLandingLate: two purges take sequences 1 and 2, and 2's
// rule lands first (on a Cluster the counter and the rules are written in
// two steps). A node reading the log then applies 2 at once but keeps
// recording 0 for its fills, so that rule 1, landing later, still covers
// them; a sequence whose rule never lands is passed after a grace period.
func TestPurgeLogRuleLandingLate(t *testing.T) {
	srv := redistest.Start(t)
	raw := redistest.Client(t, srv.Addr)
	defer raw.Close()
	ctx := context.Background()
	do := func(cmd rueidis.Completed) {
		t.Helper()
		if err := raw.Do(ctx, cmd).Error(); err != nil {
			t.Fatal(err)
		}
	}
	do(raw.B().Incrby().Key("imgedge:purge:seq").Increment(2).Build())
	do(raw.B().Zadd().Key("imgedge:purge:rules").ScoreMember().ScoreMember(2, "2 p o|/two.jpg").Build())
	var mu sync.Mutex
	at := time.Now()
	n := newNodeAt(t, srv.URL(), func() time.Time { mu.Lock(); defer mu.Unlock(); return at })
	n.sync(t)
	if n.purges.Check(&cache.Entry{Source: "o|/two.jpg", PurgeSeq: 1}, time.Now()) != cache.Purged {
		t.Fatal("rule 2 was not applied at once")
	}
	if n.purges.Seq() != 0 {
		t.Fatalf("fills record %d while rule 1 is missing, want 0", n.purges.Seq())
	}
	fill := n.filled("o|/one.jpg")
	do(raw.B().Zadd().Key("imgedge:purge:rules").ScoreMember().ScoreMember(1, "1 p o|/one.jpg").Build())
	n.sync(t)
	if n.purges.Check(fill, time.Now()) != cache.Purged {
		t.Fatal("rule 1, landing late, does not cover a fill that began before it")
	}
	if n.purges.Seq() != 2 {
		t.Fatalf("at %d once the log is whole, want 2", n.purges.Seq())
	}
	do(raw.B().Incrby().Key("imgedge:purge:seq").Increment(2).Build()) // 3 never lands; 4 does
	do(raw.B().Zadd().Key("imgedge:purge:rules").ScoreMember().ScoreMember(4, "4 p o|/four.jpg").Build())
	n.sync(t)
	if n.purges.Seq() != 2 {
		t.Fatalf("passed a missing sequence at once: at %d", n.purges.Seq())
	}
	mu.Lock()
	at = at.Add(time.Second) // past the grace a lost sequence gets
	mu.Unlock()
	n.sync(t)
	if n.purges.Seq() != 4 {
		t.Fatalf("a lost sequence held the log at %d, want 4", n.purges.Seq())
	}
}

// TestPurgeLogPrunesByTheFleetsLongestRetention: a node configured to keep
// entries for a second never prunes rules that a node keeping them for an
// hour still needs.
func TestPurgeLogPrunesByTheFleetsLongestRetention(t *testing.T) {
	srv := redistest.Start(t)
	long := newNode(t, srv.URL())
	short := newNode(t, srv.URL())
	short.log = short.f.PurgeLog(short.purges, func() time.Duration { return time.Second })
	long.sync(t) // announces an hour
	long.publish(t, "o|/a.jpg")
	short.sync(t)
	short.log.Prune(time.Now().Add(time.Minute))
	c := newNode(t, srv.URL())
	c.sync(t)
	if c.purges.Check(&cache.Entry{Source: "o|/a.jpg", PurgeSeq: 0, StoredAt: time.Now()}, time.Now()) != cache.Purged {
		t.Fatal("a node with a short retention pruned a rule the fleet still needs")
	}
}

// logRules writes n path rules, sequences 1..n, into the log as a
// publisher would.
func logRules(tb testing.TB, raw rueidis.Client, n int) {
	tb.Helper()
	ctx := context.Background()
	for start := 1; start <= n; start += 50_000 {
		var args []string
		for i := start; i < start+50_000 && i <= n; i++ {
			args = append(args, strconv.Itoa(i), strconv.Itoa(i)+" p o|/photos/"+strconv.Itoa(i)+".jpg")
		}
		if err := raw.Do(ctx, raw.B().Arbitrary("ZADD").Keys("imgedge:purge:rules").Args(args...).Build()).Error(); err != nil {
			tb.Fatal(err)
		}
	}
	if err := raw.Do(ctx, raw.B().Set().Key("imgedge:purge:seq").Value(strconv.Itoa(n)).Build()).Error(); err != nil {
		tb.Fatal(err)
	}
}
