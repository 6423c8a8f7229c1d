package edge

import (
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"

	"imgedge/cache"
	"imgedge/configs"
)

// downstream is what the edge tells browsers and the caches in front of it
// about an answer's freshness (RFC 9111, RFC 5861).
type downstream struct {
	clientTTL time.Duration // cache.client_ttl: browsers' max-age, at most the origin's
	cdnTTL    time.Duration // cache.cdn_ttl: s-maxage; 0: the entry's own lifetime
	stale     bool          // cache.cdn_stale: pass the stale windows on
	staleTTL  time.Duration // lifetime of an answer that was itself stale here
}

func newDownstream(c *configs.Cache) downstream {
	return downstream{
		clientTTL: c.ClientTTL.D(),
		cdnTTL:    c.CDNTTL.D(),
		stale:     c.StaleDownstream(),
		staleTTL:  min(c.NegativeTTL.D(), c.ClientTTL.D()),
	}
}

// appendCacheControl writes the Cache-Control of a fresh, storable entry at
// now. s-maxage is the entry's freshness lifetime counted from the origin's
// answer, sent together with Age (appendAge): a cache in front keeps what
// remains of it, never more (RFC 9111 4.2.3). Browsers get cache.client_ttl,
// never more than the origin allowed them. The origin's no-cache and
// must-revalidate pass on, and so do the stale windows unless they forbid
// them.
func (d *downstream) appendCacheControl(dst []byte, e *cache.Entry) []byte {
	ds := &e.Downstream
	browser := d.clientTTL
	if ds.ClientLimited {
		browser = min(browser, ds.ClientMaxAge)
	}
	dst = append(dst, "public, max-age="...)
	dst = appendSeconds(dst, browser)
	dst = append(dst, ", s-maxage="...)
	dst = appendSeconds(dst, d.lifetime(e))
	if ds.NoCache {
		dst = append(dst, ", no-cache"...)
	}
	if ds.MustRevalidate {
		return append(dst, ", must-revalidate"...)
	}
	if !d.stale {
		return dst
	}
	if w := e.StaleWhileRevalidateUntil.Sub(e.FreshUntil); w >= time.Second && !ds.NoCache {
		dst = append(dst, ", stale-while-revalidate="...)
		dst = appendSeconds(dst, w)
	}
	if w := e.StaleIfErrorUntil.Sub(e.FreshUntil); w >= time.Second {
		dst = append(dst, ", stale-if-error="...)
		dst = appendSeconds(dst, w)
	}
	return dst
}

// appendStaleCacheControl writes the Cache-Control of an answer that stands
// in for an origin that failed: kept downstream for cache.negative_ttl (so
// that a cache does not ask again at once), and longer only to stand in for
// errors while this edge would. Not 0: Varnish's built-in VCL turns a zero
// lifetime into two minutes of passes to the edge.
func (d *downstream) appendStaleCacheControl(dst []byte, e *cache.Entry, now time.Time) []byte {
	dst = append(dst, "public, max-age="...)
	dst = appendSeconds(dst, d.staleTTL)
	dst = append(dst, ", s-maxage="...)
	dst = appendSeconds(dst, d.staleTTL)
	if w := e.StaleIfErrorUntil.Sub(now); d.stale && !e.Downstream.MustRevalidate && w >= time.Second {
		dst = append(dst, ", stale-if-error="...)
		dst = appendSeconds(dst, w)
	}
	return dst
}

// appendRedirectCacheControl writes the lifetime of a redirect to the
// canonical URL: it depends on the URL alone, so it is kept as long as
// browsers keep images.
func (d *downstream) appendRedirectCacheControl(dst []byte) []byte {
	dst = append(dst, "public, max-age="...)
	return appendSeconds(dst, d.clientTTL)
}

// lifetime is the freshness lifetime sent as s-maxage: cache.cdn_ttl when
// set, else the entry's own from the origin's answer.
func (d *downstream) lifetime(e *cache.Entry) time.Duration {
	if d.cdnTTL > 0 {
		return d.cdnTTL
	}
	if e.Downstream.NoCache {
		return 0
	}
	return max(e.FreshUntil.Sub(e.StoredAt), 0)
}

// age is the entry's Age at now: the time since the origin answered.
func age(e *cache.Entry, now time.Time) time.Duration {
	if e.StoredAt.IsZero() {
		return 0
	}
	return max(now.Sub(e.StoredAt), 0)
}

// appendAccelExpires writes the absolute expiry nginx reads from
// X-Accel-Expires: nginx (through 1.27) ignores Age and would keep the copy
// for a whole s-maxage from its own fetch. nginx keeps a copy fresh through
// the whole second it names (it compares whole seconds), so the header names
// the last second that ends within the lifetime: nginx may drop a copy up to
// a second early, never keep it late. nginx never forwards the header.
func (d *downstream) appendAccelExpires(dst []byte, e *cache.Entry, now time.Time) []byte {
	dst = append(dst, '@')
	return strconv.AppendInt(dst, d.counted(e, now).Add(d.lifetime(e)).Unix()-1, 10)
}

// counted is when the lifetime sent downstream starts: the origin's answer,
// or, with cache.cdn_ttl, this answer: cdn_ttl is how long a cache in front
// keeps what it gets, whatever the entry's age (with the entry's Age, a
// cdn_ttl below it arrived already expired, and nothing was kept).
func (d *downstream) counted(e *cache.Entry, now time.Time) time.Time {
	if d.cdnTTL > 0 {
		return now
	}
	return e.StoredAt
}

// age is the Age sent downstream: the entry's, or 0 with cache.cdn_ttl.
func (d *downstream) age(e *cache.Entry, now time.Time) time.Duration {
	if d.cdnTTL > 0 {
		return 0
	}
	return age(e, now)
}

func appendSeconds(dst []byte, d time.Duration) []byte {
	return strconv.AppendInt(dst, int64(d/time.Second), 10)
}

// Tags name what a cache in front can drop at once: every variant of one
// source (its origin and path), or everything from one origin. They are
// hashes, so that any path fits the token syntax of Surrogate-Key (space
// separated) and Cache-Tag (comma separated), and equal on every node.
const (
	sourceTagPrefix = "imgedge-src-"
	originTagPrefix = "imgedge-origin-"
)

// sourceHash names a source (origin and path) the same way on every node
// and after every restart: its downstream tag, and where it falls in each
// feature flag's rollout. It does not allocate.
func sourceHash(originID string, path []byte) uint64 {
	var d xxhash.Digest
	d.Reset()
	_, _ = d.WriteString(originID)
	_, _ = d.WriteString("|")
	_, _ = d.Write(path)
	return d.Sum64()
}

// appendSourceTag writes the tag of the source hashed to h.
func appendSourceTag(dst []byte, h uint64) []byte { return appendTag(dst, sourceTagPrefix, h) }

// appendOriginTag writes the tag of everything from originID.
func appendOriginTag(dst []byte, originID string) []byte {
	return appendTag(dst, originTagPrefix, xxhash.Sum64String(originID))
}

func appendTag(dst []byte, prefix string, h uint64) []byte {
	dst = append(dst, prefix...)
	for shift := 60; shift >= 0; shift -= 4 {
		dst = append(dst, hexDigit[(h>>uint(shift))&15])
	}
	return dst
}

const hexDigit = "0123456789abcdef"
