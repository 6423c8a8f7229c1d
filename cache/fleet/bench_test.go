package fleet_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"imgedge/cache"
	"imgedge/cache/fleet"
	"imgedge/cache/redistest"
)

// BenchmarkPurgeLogJoin is a node joining a fleet whose log holds a
// million rules within the retention: one Sync reads and applies all of
// them (in batches, each within its timeout). Reported: the join's time.
func BenchmarkPurgeLogJoin(b *testing.B) {
	srv := redistest.Start(b)
	raw := redistest.Client(b, srv.Addr)
	defer raw.Close()
	const n = 1_000_000
	logRules(b, raw, n)
	f, err := fleet.New(fleet.Config{URL: srv.URL(), Timeout: 50 * time.Millisecond, MaxValue: 1 << 20, Queue: 16})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.ResetTimer()
	for b.Loop() {
		p := cache.NewPurges(true, fleet.PurgeBound)
		if err := f.PurgeLog(p, func() time.Duration { return time.Hour }).Sync(); err != nil {
			b.Fatal(err)
		}
		if p.Len() != n {
			b.Fatalf("joined with %d rules", p.Len())
		}
	}
}

// BenchmarkPurgePublish is one purge as the admin endpoint makes it (log
// it in Redis, apply it here) on a node already holding 0 or 100,000
// rules: its cost must not grow with them.
func BenchmarkPurgePublish(b *testing.B) {
	for _, held := range []int{0, 100_000} {
		b.Run(strconv.Itoa(held), func(b *testing.B) {
			srv := redistest.Start(b)
			f, err := fleet.New(fleet.Config{URL: srv.URL(), Timeout: time.Second, MaxValue: 1 << 20, Queue: 16})
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			p := cache.NewPurges(true, fleet.PurgeBound)
			rules := make([]cache.PurgeRule, held)
			for i := range rules {
				rules[i] = cache.PurgeRule{Path: "o|/held/" + strconv.Itoa(i) + ".jpg", Seq: uint64(i + 1), At: time.Now()}
			}
			p.Apply(rules...)
			log := f.PurgeLog(p, func() time.Duration { return time.Hour })
			ctx := context.Background()
			i := 0
			b.ResetTimer()
			for b.Loop() {
				i++
				r := cache.PurgeRule{Path: "o|/new/" + strconv.Itoa(i) + ".jpg"}
				seq, err := log.Publish(ctx, r)
				if err != nil {
					b.Fatal(err)
				}
				r.Seq, r.At = seq, time.Now()
				p.Apply(r)
			}
		})
	}
}
