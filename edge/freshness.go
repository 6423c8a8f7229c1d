package edge

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// freshness is how long an object stays fresh, and whether it may be stored.
type freshness struct {
	ttl     time.Duration
	noStore bool   // no-store or private: never stored, passed through
	header  string // the client Cache-Control when noStore
}

// freshnessRules are the cache.* settings that apply to origin headers.
type freshnessRules struct {
	def, min, max time.Duration
}

// parse reads an origin's Cache-Control and Expires as a shared cache does
// (RFC 9111): s-maxage over max-age over Expires, else the default; clamped to
// [min, max]. no-store and private forbid storing.
func (r freshnessRules) parse(cacheControl, expires string, now time.Time) freshness {
	var f freshness
	maxAge, sMaxAge := -1, -1
	for part := range strings.SplitSeq(cacheControl, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch strings.ToLower(name) {
		case "no-store", "private":
			f.noStore = true
		case "max-age":
			maxAge = atoiOr(value, -1)
		case "s-maxage":
			sMaxAge = atoiOr(value, -1)
		}
	}
	if f.noStore {
		f.header = strings.TrimSpace(cacheControl)
		return f
	}
	switch {
	case sMaxAge >= 0:
		f.ttl = time.Duration(sMaxAge) * time.Second
	case maxAge >= 0:
		f.ttl = time.Duration(maxAge) * time.Second
	case expires != "":
		if t, err := http.ParseTime(expires); err == nil {
			f.ttl = t.Sub(now)
		}
	default:
		f.ttl = r.def
	}
	f.ttl = min(max(f.ttl, r.min), r.max)
	return f
}

func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(strings.Trim(s, `"`))
	if err != nil || n < 0 {
		return def
	}
	return n
}
