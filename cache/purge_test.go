package cache

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// TestPurgesCheck: what a node may serve, by the rules it knows and how far
// it can vouch for them, on a fake clock.
func TestPurgesCheck(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_800_000_000, 0)
	entry := func(source string, seq uint64, stored time.Time) *Entry {
		return &Entry{Source: source, PurgeSeq: seq, StoredAt: stored, Gen: 1}
	}
	for _, c := range []struct {
		name  string
		fleet bool
		setup func(p *Purges)
		e     *Entry
		now   time.Time
		want  Verdict
	}{
		{"alone, no rule", false, func(*Purges) {}, entry("o|/a.jpg", 0, t0), t0, Proven},
		{"path rule after the fill", false, func(p *Purges) { p.Apply(PurgeRule{Path: "o|/a.jpg", Seq: 3, At: t0}) },
			entry("o|/a.jpg", 2, t0), t0, Purged},
		{"path rule before the fill", false, func(p *Purges) { p.Apply(PurgeRule{Path: "o|/a.jpg", Seq: 3, At: t0}) },
			entry("o|/a.jpg", 3, t0), t0, Proven},
		{"another path", false, func(p *Purges) { p.Apply(PurgeRule{Path: "o|/a.jpg", Seq: 3, At: t0}) },
			entry("o|/a.jpg.webp", 0, t0), t0, Proven},
		{"prefix rule", false, func(p *Purges) { p.Apply(PurgeRule{Path: "o|/products/", Prefix: true, Seq: 5, At: t0}) },
			entry("o|/products/42/a.jpg", 4, t0), t0, Purged},
		{"prefix of another origin", false, func(p *Purges) { p.Apply(PurgeRule{Path: "p|/products/", Prefix: true, Seq: 5, At: t0}) },
			entry("o|/products/42/a.jpg", 4, t0), t0, Proven},
		{"shorter and longer prefixes", false, func(p *Purges) {
			p.Apply(PurgeRule{Path: "o|/p", Prefix: true, Seq: 2, At: t0}, PurgeRule{Path: "o|/products/42/a.jpg/x", Prefix: true, Seq: 9, At: t0},
				PurgeRule{Path: "o|/products/4", Prefix: true, Seq: 7, At: t0})
		}, entry("o|/products/42/a.jpg", 6, t0), t0, Purged},
		{"node-only purge after the origin answered", false, func(p *Purges) { p.ApplyLocal("o|/a.jpg", false, t0.Add(time.Second)) },
			entry("o|/a.jpg", 9, t0), t0, Purged},
		{"node-only purge before the origin answered", false, func(p *Purges) { p.ApplyLocal("o|/a.jpg", false, t0.Add(-time.Second)) },
			entry("o|/a.jpg", 0, t0), t0, Proven},
		{"node-only prefix", false, func(p *Purges) { p.ApplyLocal("o|/a", true, t0.Add(time.Second)) },
			entry("o|/a.jpg", 9, t0), t0, Purged},
		{"fleet, never synced, stored long ago", true, func(*Purges) {}, entry("o|/a.jpg", 0, t0), t0.Add(2 * time.Second), Unproven},
		{"fleet, never synced, origin answered within the bound", true, func(*Purges) {}, entry("o|/a.jpg", 0, t0), t0.Add(500 * time.Millisecond), Proven},
		{"fleet, synced within the bound", true, func(p *Purges) { p.Synced(t0.Add(9 * time.Second)) }, entry("o|/a.jpg", 0, t0), t0.Add(10 * time.Second), Proven},
		{"fleet, last sync past the bound", true, func(p *Purges) { p.Synced(t0.Add(8 * time.Second)) }, entry("o|/a.jpg", 0, t0), t0.Add(10 * time.Second), Unproven},
		{"fleet, new epoch: stored before its floor", true, func(p *Purges) {
			p.NewEpoch(t0.Add(time.Second))
			p.Synced(t0.Add(5 * time.Second))
		}, &Entry{Source: "o|/a.jpg", StoredAt: t0}, t0.Add(5 * time.Second), Unproven},
		{"fleet, new epoch: stored after its floor", true, func(p *Purges) {
			p.NewEpoch(t0.Add(time.Second))
			p.Synced(t0.Add(5 * time.Second))
		}, &Entry{Source: "o|/a.jpg", StoredAt: t0.Add(2 * time.Second), Gen: 2}, t0.Add(5 * time.Second), Proven},
		{"fleet, new epoch: filled in the old one", true, func(p *Purges) {
			p.NewEpoch(t0)
			p.Synced(t0.Add(5 * time.Second))
		}, entry("o|/a.jpg", 0, t0.Add(3*time.Second)), t0.Add(5 * time.Second), Unproven},
		{"fleet, new epoch clears the old rules", true, func(p *Purges) {
			p.Apply(PurgeRule{Path: "o|/a.jpg", Seq: 50, At: t0})
			p.NewEpoch(t0)
			p.Synced(t0.Add(5 * time.Second))
		}, &Entry{Source: "o|/a.jpg", PurgeSeq: 3, StoredAt: t0.Add(3 * time.Second), Gen: 2}, t0.Add(5 * time.Second), Proven},
		{"fleet, new epoch: a new rule purges an old entry whatever its position", true, func(p *Purges) {
			p.NewEpoch(t0.Add(time.Second))
			p.Apply(PurgeRule{Path: "o|/a.jpg", Seq: 1, At: t0})
			p.Synced(t0.Add(5 * time.Second))
		}, &Entry{Source: "o|/a.jpg", PurgeSeq: 50, StoredAt: t0}, t0.Add(5 * time.Second), Purged},
		{"fleet, a floor another node recorded", true, func(p *Purges) {
			p.RaiseFloor(t0.Add(time.Second))
			p.Apply(PurgeRule{Path: "o|/", Prefix: true, Seq: 1, At: t0})
			p.Synced(t0.Add(5 * time.Second))
		}, &Entry{Source: "o|/a.jpg", PurgeSeq: 50, StoredAt: t0}, t0.Add(5 * time.Second), Purged},
		{"alone, old entries stay proven", false, func(*Purges) {}, entry("o|/a.jpg", 0, t0), t0.Add(time.Hour), Proven},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := NewPurges(c.fleet, time.Second)
			c.setup(p)
			if got := p.Check(c.e, c.now); got != c.want {
				t.Fatalf("Check = %v, want %v", got, c.want)
			}
		})
	}
}

// TestPurgesVerificationFollowsTheRules: an entry checked once is checked
// again after every change of the rules (the stamp never hides a purge).
func TestPurgesVerificationFollowsTheRules(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_800_000_000, 0)
	p := NewPurges(false, time.Second)
	e := &Entry{Source: "o|/a.jpg", PurgeSeq: 1, StoredAt: t0}
	for i := range 3 {
		if p.Check(e, t0) != Proven {
			t.Fatalf("check %d: not proven before any rule covers it", i)
		}
	}
	p.Apply(PurgeRule{Path: "o|/b.jpg", Seq: 2, At: t0})
	if p.Check(e, t0) != Proven {
		t.Fatal("a rule for another path purged it")
	}
	p.Apply(PurgeRule{Path: "o|/", Prefix: true, Seq: 3, At: t0})
	if p.Check(e, t0) != Purged {
		t.Fatal("a prefix rule applied after the entry was verified did not purge it")
	}
}

// TestPurgesPrune: rules older than the cutoff are dropped, the prefix
// lengths with them; newer ones stay.
func TestPurgesPrune(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_800_000_000, 0)
	p := NewPurges(false, time.Second)
	p.Apply(PurgeRule{Path: "o|/old.jpg", Seq: 1, At: t0}, PurgeRule{Path: "o|/old/", Prefix: true, Seq: 2, At: t0},
		PurgeRule{Path: "o|/new.jpg", Seq: 3, At: t0.Add(time.Hour)})
	p.ApplyLocal("o|/local.jpg", false, t0)
	if n := p.Prune(t0.Add(time.Minute)); n != 3 || p.Len() != 1 {
		t.Fatalf("pruned %d, %d left; want 3 and 1", n, p.Len())
	}
	if len(p.lengths) != 0 {
		t.Fatalf("prefix lengths %v left after their rules", p.lengths)
	}
	if p.Check(&Entry{Source: "o|/new.jpg", PurgeSeq: 0}, t0) != Purged {
		t.Fatal("the newer rule was pruned")
	}
}

// TestTiersSetSkipsFillsOfAnOldEpoch: a fill that began before the purge
// history changed is answered but not stored.
func TestTiersSetSkipsFillsOfAnOldEpoch(t *testing.T) {
	t.Parallel()
	mem, err := NewMemory(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	p := NewPurges(true, time.Second)
	stale := 0
	tiers := &Tiers{Memory: mem, Purges: p, Now: time.Now, OnStale: func() { stale++ }}
	_, gen := p.Mark()
	p.NewEpoch(time.Now())
	if tiers.Set("k", &Entry{Body: []byte("x"), Gen: gen, FreshUntil: time.Now().Add(time.Minute)}, time.Minute) || stale != 1 {
		t.Fatalf("a fill of the old epoch was stored (stale counted %d)", stale)
	}
}

// TestEntryCloneCopiesEveryField: Renewed and Unproven copy field by field
// (the verification stamp is not copied): a field added to Entry must be
// added to clone.
func TestEntryCloneCopiesEveryField(t *testing.T) {
	t.Parallel()
	e := &Entry{Body: []byte("b"), ContentType: "c", ETag: "e", LastModified: "l", LastModifiedAt: time.Unix(1, 0), NoStore: true,
		OriginCacheControl: "o", StoredAt: time.Unix(2, 0), FreshUntil: time.Unix(3, 0), StaleWhileRevalidateUntil: time.Unix(4, 0),
		StaleIfErrorUntil: time.Unix(5, 0), OriginETag: "oe", SourceTag: "st", NotFound: true, Source: "s", PurgeSeq: 6, Gen: 7,
		Downstream: Downstream{ClientMaxAge: 8, ClientLimited: true, NoCache: true, MustRevalidate: true}, Clamp: 3}
	v := reflect.ValueOf(e).Elem()
	for i := range v.NumField() {
		if f := v.Type().Field(i); f.IsExported() && v.Field(i).IsZero() {
			t.Fatalf("Entry.%s is not set in this test: set it so that clone is checked for it", f.Name)
		}
	}
	if got, want := fmt.Sprintf("%+v", e.clone()), fmt.Sprintf("%+v", e); got != want {
		t.Fatalf("clone lost a field:\n got %s\nwant %s", got, want)
	}
}
