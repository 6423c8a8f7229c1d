package shield

import (
	"net/http"
	"testing"
	"time"

	"imgedge/cache"
)

func TestFreshnessRules(t *testing.T) {
	r := Rules{Default: time.Hour, Min: time.Minute, Max: 720 * time.Hour, SWR: time.Minute, SIE: 24 * time.Hour}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	limit := func(d time.Duration) cache.Downstream { return cache.Downstream{ClientMaxAge: d, ClientLimited: true} }
	tests := []struct {
		cc, expires string
		want        freshness
	}{
		{"", "", freshness{ttl: time.Hour, swr: time.Minute, sie: 24 * time.Hour}},
		{"max-age=300", "", freshness{ttl: 300 * time.Second, swr: time.Minute, sie: 24 * time.Hour, down: limit(300 * time.Second)}},
		{"public, max-age=60, s-maxage=120", "", freshness{ttl: 120 * time.Second, swr: time.Minute, sie: 24 * time.Hour, down: limit(time.Minute)}},
		// clamped up to min_ttl here; a browser still gets no more than 900 s
		{"s-maxage=0, max-age=900", "", freshness{ttl: time.Minute, swr: time.Minute, sie: 24 * time.Hour, down: limit(900 * time.Second)}},
		// only shared caches were told: browsers get no more than they did
		{"s-maxage=30", "", freshness{ttl: time.Minute, swr: time.Minute, sie: 24 * time.Hour, down: limit(30 * time.Second)}},
		{"max-age=2", "", freshness{ttl: time.Minute, swr: time.Minute, sie: 24 * time.Hour, down: limit(2 * time.Second)}},
		{"max-age=999999999", "", freshness{ttl: 720 * time.Hour, swr: time.Minute, sie: 24 * time.Hour, down: limit(999999999 * time.Second)}},
		{"", now.Add(200 * time.Second).Format(http.TimeFormat), freshness{ttl: 200 * time.Second, swr: time.Minute, sie: 24 * time.Hour, down: limit(200 * time.Second)}},
		{"", now.Add(-time.Hour).Format(http.TimeFormat), freshness{ttl: time.Minute, swr: time.Minute, sie: 24 * time.Hour, down: limit(0)}},
		{"max-age=300", now.Add(time.Hour).Format(http.TimeFormat), freshness{ttl: 300 * time.Second, swr: time.Minute, sie: 24 * time.Hour, down: limit(300 * time.Second)}},
		{"max-age=600, stale-while-revalidate=30, stale-if-error=90", "", freshness{ttl: 600 * time.Second, swr: 30 * time.Second, sie: 90 * time.Second, down: limit(600 * time.Second)}},
		{"no-cache", "", freshness{revalidation: true, sie: 24 * time.Hour, down: cache.Downstream{NoCache: true, ClientLimited: true}}},
		{"no-cache, stale-while-revalidate=60", "", freshness{revalidation: true, sie: 24 * time.Hour, down: cache.Downstream{NoCache: true, ClientLimited: true}}},
		{"max-age=600, must-revalidate, stale-if-error=90", "", freshness{ttl: 600 * time.Second, down: cache.Downstream{ClientMaxAge: 600 * time.Second, ClientLimited: true, MustRevalidate: true}}},
		{"s-maxage=600, proxy-revalidate", "", freshness{ttl: 600 * time.Second, down: cache.Downstream{ClientMaxAge: 600 * time.Second, ClientLimited: true, MustRevalidate: true}}},
		{"private, max-age=60", "", freshness{noStore: true, header: "private, max-age=60", swr: time.Minute, sie: 24 * time.Hour}},
		{"No-Store", "", freshness{noStore: true, header: "No-Store", swr: time.Minute, sie: 24 * time.Hour}},
		{"max-age=garbage", "", freshness{ttl: time.Hour, swr: time.Minute, sie: 24 * time.Hour}},
	}
	for _, tt := range tests {
		if got := r.parse(tt.cc, tt.expires, now); got != tt.want {
			t.Errorf("parse(%q, %q) = %+v, want %+v", tt.cc, tt.expires, got, tt.want)
		}
	}
}
