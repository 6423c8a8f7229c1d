package shield

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"imgedge/cache"
)

// freshness is how long an object stays fresh, how long it may be served
// stale, and whether it may be stored.
type freshness struct {
	ttl          time.Duration
	swr, sie     time.Duration // stale-while-revalidate, stale-if-error windows
	noStore      bool          // no-store or private: never stored, passed through
	header       string        // the client Cache-Control when noStore
	revalidation bool          // no-cache: store, but revalidate before each use
	down         cache.Downstream
}

// Rules are the cache.* settings that apply to origin headers.
type Rules struct {
	Default, Min, Max time.Duration // cache.ttl, cache.min_ttl, cache.max_ttl
	SWR, SIE          time.Duration // cache.stale_while_revalidate and cache.stale_if_error: when the origin says nothing
}

// parse reads an origin's Cache-Control and Expires as a shared cache does
// (RFC 9111, RFC 5861): s-maxage over max-age over Expires, else the
// default, clamped to [min, max]; no-cache stores but makes every use a
// revalidation; no-store and private forbid storing; stale-while-revalidate
// and stale-if-error override the configured windows; must-revalidate and
// proxy-revalidate forbid stale use. What clients and caches in front must
// hear again (the origin's max-age, no-cache, must-revalidate) is kept.
func (r Rules) parse(cacheControl, expires string, now time.Time) freshness {
	f := freshness{swr: r.SWR, sie: r.SIE}
	maxAge, sMaxAge := -1, -1
	for part := range strings.SplitSeq(cacheControl, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch strings.ToLower(name) {
		case "no-store", "private":
			f.noStore = true
		case "no-cache":
			f.revalidation = true
		case "must-revalidate", "proxy-revalidate":
			f.down.MustRevalidate = true
		case "max-age":
			maxAge = seconds(value, -1)
		case "s-maxage":
			sMaxAge = seconds(value, -1)
		case "stale-while-revalidate":
			f.swr = time.Duration(seconds(value, int(r.SWR/time.Second))) * time.Second
		case "stale-if-error":
			f.sie = time.Duration(seconds(value, int(r.SIE/time.Second))) * time.Second
		}
	}
	if f.noStore {
		f.header = strings.TrimSpace(cacheControl)
		return f
	}
	// Stale windows end within max_ttl: an entry is kept at most twice
	// max_ttl, which bounds how long a fleet must remember a purge.
	f.swr, f.sie = min(f.swr, r.Max), min(f.sie, r.Max)
	if f.down.MustRevalidate {
		f.swr, f.sie = 0, 0
	}
	if f.revalidation {
		// Fresh for no time at all, and never served before revalidating
		// (RFC 9111 5.2.2.4): no stale-while-revalidate either; min_ttl does
		// not override the origin here.
		f.swr = 0
		f.down.NoCache, f.down.ClientLimited = true, true
		return f
	}
	explicit := true
	switch {
	case sMaxAge >= 0:
		f.ttl = time.Duration(sMaxAge) * time.Second
	case maxAge >= 0:
		f.ttl = time.Duration(maxAge) * time.Second
	case expires != "":
		if t, err := http.ParseTime(expires); err == nil {
			f.ttl = max(t.Sub(now), 0)
		}
	default:
		f.ttl, explicit = r.Default, false
	}
	// A browser may keep the object no longer than the origin allowed one:
	// its max-age, else the lifetime it gave shared caches; cache.min_ttl
	// stretches this edge's copy only.
	switch {
	case maxAge >= 0:
		f.down.ClientMaxAge, f.down.ClientLimited = time.Duration(maxAge)*time.Second, true
	case explicit:
		f.down.ClientMaxAge, f.down.ClientLimited = f.ttl, true
	}
	f.ttl = min(max(f.ttl, r.Min), r.Max)
	return f
}

func seconds(s string, def int) int {
	n, err := strconv.Atoi(strings.Trim(s, `"`))
	if err != nil || n < 0 {
		return def
	}
	return n
}
