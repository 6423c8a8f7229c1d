package edge

import (
	"strconv"
	"testing"
	"time"

	"imgedge/cache"
)

// TestDownstreamFreshness: what caches in front and browsers are told, from
// the entry's horizons and the origin's directives, at a fixed clock.
func TestDownstreamFreshness(t *testing.T) {
	stored := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	entry := func(ttl, swr, sie time.Duration, d cache.Downstream) *cache.Entry {
		return &cache.Entry{StoredAt: stored, FreshUntil: stored.Add(ttl),
			StaleWhileRevalidateUntil: stored.Add(ttl + swr), StaleIfErrorUntil: stored.Add(ttl + sie), Downstream: d}
	}
	limit := func(d time.Duration) cache.Downstream { return cache.Downstream{ClientMaxAge: d, ClientLimited: true} }
	def := downstream{clientTTL: 24 * time.Hour, stale: true, staleTTL: 10 * time.Second}
	tests := []struct {
		name   string
		d      downstream
		e      *cache.Entry
		cc     string
		expiry int64 // X-Accel-Expires, seconds after stored
	}{
		{"origin silent", def, entry(time.Hour, time.Minute, 24*time.Hour, cache.Downstream{}),
			"public, max-age=86400, s-maxage=3600, stale-while-revalidate=60, stale-if-error=86400", 3600},
		{"origin max-age=2, edge keeps min_ttl", def, entry(time.Minute, time.Minute, 24*time.Hour, limit(2*time.Second)),
			"public, max-age=2, s-maxage=60, stale-while-revalidate=60, stale-if-error=86400", 60},
		{"origin s-maxage=30", def, entry(time.Minute, time.Minute, 24*time.Hour, limit(30*time.Second)),
			"public, max-age=30, s-maxage=60, stale-while-revalidate=60, stale-if-error=86400", 60},
		{"origin stale windows", def, entry(600*time.Second, 30*time.Second, time.Hour, limit(600*time.Second)),
			"public, max-age=600, s-maxage=600, stale-while-revalidate=30, stale-if-error=3600", 600},
		{"no-cache", def, entry(0, 0, 24*time.Hour, cache.Downstream{NoCache: true, ClientLimited: true}),
			"public, max-age=0, s-maxage=0, no-cache, stale-if-error=86400", -1},
		{"must-revalidate", def, entry(600*time.Second, 0, 0, cache.Downstream{ClientMaxAge: 600 * time.Second, ClientLimited: true, MustRevalidate: true}),
			"public, max-age=600, s-maxage=600, must-revalidate", 600},
		{"cdn_ttl", downstream{clientTTL: time.Hour, cdnTTL: 7 * 24 * time.Hour, stale: true}, entry(time.Hour, time.Minute, time.Hour, cache.Downstream{}),
			"public, max-age=3600, s-maxage=604800, stale-while-revalidate=60, stale-if-error=3600", 604800},
		{"cdn_stale off", downstream{clientTTL: time.Hour}, entry(time.Hour, time.Minute, time.Hour, cache.Downstream{}),
			"public, max-age=3600, s-maxage=3600", 3600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(tt.d.appendCacheControl(nil, tt.e)); got != tt.cc {
				t.Errorf("Cache-Control %q, want %q", got, tt.cc)
			}
			// Answered 100 s after the origin's answer: the lifetime counts
			// from that answer (Age 100), or from this one with cdn_ttl
			// (Age 0), which is how long a cache in front keeps it.
			answered, counted, wantAge := stored.Add(100*time.Second), stored, 100*time.Second
			if tt.d.cdnTTL > 0 {
				counted, wantAge = answered, 0
			}
			if got := tt.d.age(tt.e, answered); got != wantAge {
				t.Errorf("Age %v, want %v", got, wantAge)
			}
			if tt.expiry >= 0 {
				// The last whole second of the lifetime: nginx keeps a
				// copy through the second it names.
				want := "@" + strconv.FormatInt(counted.Unix()+tt.expiry-1, 10)
				if got := string(tt.d.appendAccelExpires(nil, tt.e, answered)); got != want {
					t.Errorf("X-Accel-Expires %q, want %q", got, want)
				}
			}
		})
	}
}

// TestAgeCountsFromTheOriginAnswer: s-maxage minus Age is what remains of
// the entry's freshness, for a variant too (it carries its source's time).
func TestAgeCountsFromTheOriginAnswer(t *testing.T) {
	stored := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	e := &cache.Entry{StoredAt: stored, FreshUntil: stored.Add(time.Hour)}
	d := downstream{clientTTL: time.Hour}
	for _, elapsed := range []time.Duration{0, 1500 * time.Millisecond, 20 * time.Minute, 59 * time.Minute} {
		now := stored.Add(elapsed)
		remaining := d.lifetime(e) - age(e, now)
		if remaining != e.FreshUntil.Sub(now) {
			t.Errorf("after %v: lifetime - age = %v, want the remaining %v", elapsed, remaining, e.FreshUntil.Sub(now))
		}
	}
	if age(&cache.Entry{}, stored) != 0 {
		t.Error("an entry with no origin time has an age")
	}
}

// TestStaleAnswerDownstream: an answer standing in for a failed origin is
// kept briefly downstream, and stands in for errors only as long as this
// edge would.
func TestStaleAnswerDownstream(t *testing.T) {
	stored := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	e := &cache.Entry{StoredAt: stored, FreshUntil: stored.Add(time.Minute), StaleIfErrorUntil: stored.Add(time.Hour)}
	d := downstream{clientTTL: time.Hour, stale: true, staleTTL: 10 * time.Second}
	if got := string(d.appendStaleCacheControl(nil, e, stored.Add(30*time.Minute))); got != "public, max-age=10, s-maxage=10, stale-if-error=1800" {
		t.Errorf("stale, origin failing: %q", got)
	}
	e.Downstream.MustRevalidate = true
	if got := string(d.appendStaleCacheControl(nil, e, stored.Add(30*time.Minute))); got != "public, max-age=10, s-maxage=10" {
		t.Errorf("stale, must-revalidate: %q", got)
	}
}

// TestTags: one tag per source, equal for equal sources and different
// across paths and origins; one per origin.
func TestTags(t *testing.T) {
	tag := func(origin, path string) string {
		return string(appendSourceTag(nil, sourceHash(origin, []byte(path))))
	}
	a := tag("http://o1", "/a.jpg")
	if a != tag("http://o1", "/a.jpg") {
		t.Fatal("the same source has two tags")
	}
	for _, other := range []string{tag("http://o1", "/b.jpg"), tag("http://o2", "/a.jpg")} {
		if other == a {
			t.Errorf("%s names two sources", a)
		}
	}
	if o := string(appendOriginTag(nil, "http://o1")); len(o) != len(originTagPrefix)+16 || o == string(appendOriginTag(nil, "http://o2")) {
		t.Errorf("origin tag %q", o)
	}
	if len(a) != len(sourceTagPrefix)+16 {
		t.Errorf("source tag %q", a)
	}
}
