package shield

import (
	"time"

	"imgedge/cache"
	"imgedge/transform"
)

// Outcome is how an answer was obtained. It is the one value every writer
// reads: Cache-Status, the requests metric, the access log, traces and
// /explain.
type Outcome uint8

// Outcomes of Serve. The zero value is None: nothing was looked up.
const (
	None Outcome = iota
	// Hit: a fresh copy from the tier (or found by the fill's re-check).
	Hit
	// Negative: a remembered not-found; Serve's error says so.
	Negative
	// StaleWhileRevalidate: a stale copy served at once, refreshed in the
	// background.
	StaleWhileRevalidate
	// StaleIfError: a stale copy of this very entry served because the
	// origin failed.
	StaleIfError
	// RenderedFromStale: a new variant rendered from a stale original
	// because the origin failed; never stored.
	RenderedFromStale
	// Revalidated: the origin confirmed the bytes (304, or a variant whose
	// source bytes did not change): renewed, not fetched or rendered again.
	Revalidated
	// Miss: fetched (and rendered) now.
	Miss
	outcomeCount
)

var outcomeNames = [outcomeCount]string{"none", "hit", "negative", "stale-while-revalidate", "stale-if-error",
	"rendered-from-stale", "revalidated", "miss"}

func (o Outcome) String() string { return outcomeNames[o] }

// Stale reports an outcome that served a copy past its freshness.
func (o Outcome) Stale() bool { return o == StaleWhileRevalidate || o == StaleIfError }

// FromTier reports an outcome answered from the tier without a fill.
func (o Outcome) FromTier() bool { return o == Hit || o == Negative || o == StaleWhileRevalidate }

// Lookup is what the request's own tier held when it was asked.
type Lookup uint8

// Lookup states.
const (
	LookupMiss Lookup = iota
	LookupFresh
	LookupStale
	LookupNotFound
	lookupCount
)

var lookupNames = [lookupCount]string{"miss", "hit", "stale", "not_found"}

func (l Lookup) String() string { return lookupNames[l] }

// LookupOf is the state of a tier's answer (e, ok) at now. An expired
// not-found is a miss: it no longer says anything.
func LookupOf(e *cache.Entry, ok bool, now time.Time) Lookup {
	switch {
	case !ok:
		return LookupMiss
	case e.NotFound && e.Fresh(now):
		return LookupNotFound
	case e.NotFound:
		return LookupMiss
	case e.Fresh(now):
		return LookupFresh
	}
	return LookupStale
}

// Answer is what Serve hands back: the entry and how it was obtained.
type Answer struct {
	Entry   *cache.Entry // nil when Serve failed
	Outcome Outcome
	// Stored: this request's fill stored the entry. Collapsed: this request
	// joined a fill another request started (Outcome is that fill's).
	Stored, Collapsed bool
	Lookup            Lookup
	// Tier is the tier the lookup found the entry in (memory, redis).
	Tier cache.Tier
	// SourceCached: a variant was rendered from an original already held.
	SourceCached bool
	Timings      Timings
}

// Timings are the stages a request saw. A collapsed request sees the fill it
// joined. Zero times mean the stage did not run.
type Timings struct {
	LookupStart, LookupEnd time.Time // only when the Request asked for them (tracing)
	OriginAt               time.Time
	Origin                 time.Duration
	TransformAt            time.Time // when the transform was asked for (queue wait included)
	Transform              time.Duration
	Stages                 transform.Timings
}
