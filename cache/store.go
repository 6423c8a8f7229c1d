package cache

import "time"

// Store is one cache tier. Implementations are safe for concurrent use; Get
// may return stale entries that are still kept (see Entry.FreshUntil). An
// entry Set reports as kept is visible to Get once Set returns.
type Store interface {
	Get(key string) (*Entry, bool)
	// Set offers e for keep; false means the tier dropped it.
	Set(key string, e *Entry, keep time.Duration) bool
	Del(key string)
}

// Off is a tier that keeps nothing, for a budget of 0.
type Off struct{}

// Get always misses.
func (Off) Get(string) (*Entry, bool) { return nil, false }

// Set keeps nothing.
func (Off) Set(string, *Entry, time.Duration) bool { return false }

// Del does nothing.
func (Off) Del(string) {}
