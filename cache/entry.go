package cache

import "time"

// Entry is one stored response. It is immutable once stored: readers share
// it and must never write to Body or any field (the groupcache ByteView rule).
type Entry struct {
	Body         []byte
	ContentType  string
	ETag         string // strong validator, quoted, from Body
	LastModified string // the origin's, as an HTTP date; "" when unknown
	// LastModifiedAt is LastModified parsed, for If-Modified-Since.
	LastModifiedAt time.Time
	// CacheControl is the header sent to clients, computed once at fill time.
	CacheControl string
	StoredAt     time.Time
	// FreshUntil ends freshness; the tier may keep the entry longer so that it
	// can be served stale or revalidated.
	FreshUntil time.Time
}

// Fresh reports whether e is still fresh at now.
func (e *Entry) Fresh(now time.Time) bool { return now.Before(e.FreshUntil) }

// TTL is the remaining freshness in whole seconds at now (negative when stale).
func (e *Entry) TTL(now time.Time) int64 {
	d := e.FreshUntil.Sub(now)
	if d < 0 {
		return -int64((-d + time.Second - 1) / time.Second)
	}
	return int64(d / time.Second)
}

// Size is what the entry costs a tier: its bytes plus a fixed overhead for
// the strings and bookkeeping.
func (e *Entry) Size(key string) int64 {
	return int64(len(e.Body)+len(key)+len(e.ContentType)+len(e.ETag)+len(e.LastModified)+len(e.CacheControl)) + entryOverhead
}

const entryOverhead = 256
