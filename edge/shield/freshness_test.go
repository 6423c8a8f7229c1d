package shield

import (
	"net/http"
	"testing"
	"time"
)

func TestFreshnessRules(t *testing.T) {
	r := Rules{Default: time.Hour, Min: time.Minute, Max: 720 * time.Hour, SWR: time.Minute, SIE: 24 * time.Hour}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		cc, expires string
		want        freshness
	}{
		{"", "", freshness{ttl: time.Hour, swr: time.Minute, sie: 24 * time.Hour}},
		{"max-age=300", "", freshness{ttl: 300 * time.Second, swr: time.Minute, sie: 24 * time.Hour}},
		{"public, max-age=60, s-maxage=120", "", freshness{ttl: 120 * time.Second, swr: time.Minute, sie: 24 * time.Hour}},
		{"s-maxage=0, max-age=900", "", freshness{ttl: time.Minute, swr: time.Minute, sie: 24 * time.Hour}}, // clamped up to min_ttl
		{"max-age=999999999", "", freshness{ttl: 720 * time.Hour, swr: time.Minute, sie: 24 * time.Hour}},
		{"", now.Add(200 * time.Second).Format(http.TimeFormat), freshness{ttl: 200 * time.Second, swr: time.Minute, sie: 24 * time.Hour}},
		{"max-age=300", now.Add(time.Hour).Format(http.TimeFormat), freshness{ttl: 300 * time.Second, swr: time.Minute, sie: 24 * time.Hour}},
		{"max-age=600, stale-while-revalidate=30, stale-if-error=90", "", freshness{ttl: 600 * time.Second, swr: 30 * time.Second, sie: 90 * time.Second}},
		{"no-cache", "", freshness{revalidation: true, sie: 24 * time.Hour}},
		{"no-cache, stale-while-revalidate=60", "", freshness{revalidation: true, sie: 24 * time.Hour}},
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
