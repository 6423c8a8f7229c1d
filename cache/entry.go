package cache

import (
	"sync/atomic"
	"time"
)

// Entry is one stored response. It is immutable once stored: readers share
// it and must never write to Body or any field (the groupcache ByteView rule).
type Entry struct {
	Body         []byte
	ContentType  string
	ETag         string // strong validator, quoted, from Body
	LastModified string // the origin's, as an HTTP date; "" when unknown
	// LastModifiedAt is LastModified parsed, for If-Modified-Since.
	LastModifiedAt time.Time
	// NoStore marks an entry the origin forbade storing (no-store or
	// private): it answers the requests that shared its fill and is dropped.
	// A variant inherits it from its source. OriginCacheControl then holds
	// the origin's header, passed through to clients verbatim.
	NoStore            bool
	OriginCacheControl string
	// StoredAt is when the edge sent the request the origin last answered
	// for the object (a fetch or a revalidation: the answer's delay is part
	// of its age); a variant has its source's. The Age sent downstream
	// counts from it (RFC 9111 4.2.3).
	StoredAt time.Time
	// FreshUntil ends freshness; the tier keeps the entry longer so that it
	// can be served stale or revalidated.
	FreshUntil time.Time
	// Past freshness, the entry may be served while it is refreshed in the
	// background until StaleWhileRevalidateUntil, and instead of an origin
	// failure until StaleIfErrorUntil (RFC 5861).
	StaleWhileRevalidateUntil time.Time
	StaleIfErrorUntil         time.Time
	// OriginETag is the origin's own validator of an original, sent back to
	// revalidate it (LastModifiedAt is the other).
	OriginETag string
	// SourceTag is the ETag of the original a variant was rendered from: when
	// a revalidated original still has it, the variant is renewed without
	// rendering it again.
	SourceTag string
	// NotFound marks a remembered origin 404 (an original, for
	// cache.negative_ttl): no Body, served as not found.
	NotFound bool
	// Source is the request path of the original the entry is (or was
	// rendered from), and PurgeSeq the fleet's purge sequence when its fill
	// began: a purge of that path (or a prefix of it) with a later sequence
	// makes the entry a miss on every node.
	Source   string
	PurgeSeq uint64
	// Gen is this node's epoch generation when the fill began (Purges.Mark);
	// 0 for entries read from the shared tier. Not part of the encoding.
	Gen uint64
	// Downstream is what the origin said that browsers and caches in front
	// must hear again; a variant inherits its source's.
	Downstream Downstream
	// Clamp is the limit a variant's size was brought within (a
	// transform.Clamp; 0: rendered as asked), for the Imgedge-Clamped
	// header of every answer from the entry.
	Clamp uint8

	// unproven marks a copy to revalidate before use (Unproven).
	unproven bool
	// verified is the purge rules' version this entry was last found
	// uncovered by (Purges.Check): a hit reads the index only after the
	// rules change. The one field written after the entry is stored.
	verified atomic.Uint64
}

// Downstream holds the origin's directives that outlive its header.
type Downstream struct {
	// ClientMaxAge is the most the origin let a client keep the object (its
	// max-age, else its explicit lifetime); it applies when ClientLimited.
	ClientMaxAge  time.Duration
	ClientLimited bool
	// NoCache: every use must be revalidated first (RFC 9111 5.2.2.4).
	NoCache bool
	// MustRevalidate: must-revalidate or proxy-revalidate; never served
	// stale (RFC 9111 5.2.2.2, 5.2.2.8).
	MustRevalidate bool
}

// Fresh reports whether e is still fresh at now: never for a copy to
// revalidate (Unproven).
func (e *Entry) Fresh(now time.Time) bool { return !e.unproven && now.Before(e.FreshUntil) }

// ServesWhileRevalidating reports whether e may answer at now while it is
// refreshed in the background (stale-while-revalidate): not when unproven.
func (e *Entry) ServesWhileRevalidating(now time.Time) bool {
	return !e.unproven && now.Before(e.StaleWhileRevalidateUntil)
}

// TTL is the remaining freshness in whole seconds at now (negative when stale).
func (e *Entry) TTL(now time.Time) int64 {
	d := e.FreshUntil.Sub(now)
	if d < 0 {
		return -int64((-d + time.Second - 1) / time.Second)
	}
	return int64(d / time.Second)
}

// Renewed returns a copy of e with the freshness horizons, directives,
// origin answer time and purge mark of from: the same bytes, confirmed by
// the origin again (from's fill is the proof).
func (e *Entry) Renewed(from *Entry) *Entry {
	c := e.clone()
	c.StoredAt = from.StoredAt
	c.FreshUntil = from.FreshUntil
	c.StaleWhileRevalidateUntil = from.StaleWhileRevalidateUntil
	c.StaleIfErrorUntil = from.StaleIfErrorUntil
	c.Downstream = from.Downstream
	c.PurgeSeq, c.Gen = from.PurgeSeq, from.Gen
	return c
}

// Unproven returns a copy of e that is not fresh and not servable while it
// revalidates: a lookup must ask the origin before it answers. Only when
// the origin fails is it served, within its stale-if-error window (an
// origin down and Redis lost is no reason to fail every request). Its
// horizons stay: a revalidation that carries no freshness keeps them.
func (e *Entry) Unproven() *Entry {
	c := e.clone()
	c.unproven = true
	return c
}

// clone copies every field but verified, which is the copy's own, and
// unproven: a renewed copy is proven by its renewal.
func (e *Entry) clone() *Entry {
	return &Entry{Body: e.Body, ContentType: e.ContentType, ETag: e.ETag, LastModified: e.LastModified,
		LastModifiedAt: e.LastModifiedAt, NoStore: e.NoStore, OriginCacheControl: e.OriginCacheControl,
		StoredAt: e.StoredAt, FreshUntil: e.FreshUntil, StaleWhileRevalidateUntil: e.StaleWhileRevalidateUntil,
		StaleIfErrorUntil: e.StaleIfErrorUntil, OriginETag: e.OriginETag, SourceTag: e.SourceTag,
		NotFound: e.NotFound, Source: e.Source, PurgeSeq: e.PurgeSeq, Gen: e.Gen, Downstream: e.Downstream, Clamp: e.Clamp}
}

// Keep is how long a tier should hold e from now: until its last stale
// horizon, so that stale serving and revalidation remain possible.
func (e *Entry) Keep(now time.Time) time.Duration {
	last := e.FreshUntil
	for _, t := range []time.Time{e.StaleWhileRevalidateUntil, e.StaleIfErrorUntil} {
		if t.After(last) {
			last = t
		}
	}
	return last.Sub(now)
}

// Size is what the entry costs a tier: its bytes plus a fixed overhead for
// the strings and bookkeeping.
func (e *Entry) Size(key string) int64 {
	return int64(len(e.Body)+len(key)+len(e.ContentType)+len(e.ETag)+len(e.LastModified)+len(e.OriginCacheControl)+len(e.OriginETag)+len(e.SourceTag)+len(e.Source)) + entryOverhead
}

const entryOverhead = 256
