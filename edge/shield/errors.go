package shield

import (
	"errors"
	"fmt"
	"time"

	"imgedge/cache"
	"imgedge/edge/origin"
)

// FetchError is a failure to get a source from its origin. It marks the
// error as the origin's, so that the edge can tell an origin timeout from any
// other deadline.
type FetchError struct {
	Path string
	Err  error
	// Remembered: the not-found came from the tier (cache.negative_ttl),
	// not from asking the origin.
	Remembered bool
}

func (e *FetchError) Error() string { return fmt.Sprintf("fetch %s: %v", e.Path, e.Err) }
func (e *FetchError) Unwrap() error { return e.Err }

// servesStale is the one stale-if-error rule: a stale copy stands in for a
// fill that failed because the origin could not be used (a fault, an open
// breaker, this edge's pool running dry), within the copy's stale-if-error
// window. The origin's own answers (not found, too large) and failures of
// the render are never hidden by an old copy.
func servesStale(stale *cache.Entry, err error, now time.Time) bool {
	var fe *FetchError
	return stale != nil && errors.As(err, &fe) && !errors.Is(err, origin.ErrNotFound) &&
		!errors.Is(err, origin.ErrTooLarge) && now.Before(stale.StaleIfErrorUntil)
}
