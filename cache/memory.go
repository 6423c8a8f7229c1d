package cache

import (
	"fmt"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// Memory is the in-process tier: a ristretto cache whose cost is bytes held,
// so MaxBytes is a real memory budget. ristretto applies Sets on its own
// goroutine; Set here waits until that is done, so an entry is visible to Get
// once Set returns (what Group's re-check relies on). Sets may still be
// dropped by ristretto's admission policy or when its buffer is full.
type Memory struct {
	c *ristretto.Cache[string, *Entry]
}

// NewMemory returns a tier holding at most maxBytes of entries.
func NewMemory(maxBytes int64) (*Memory, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("cache: memory budget must be above 0, got %d", maxBytes)
	}
	// Ristretto wants about ten counters per item it may hold; a variant is
	// typically 10-50 KB, so assume 4 KiB per item to be generous.
	counters := max(maxBytes/4096*10, 10_000)
	c, err := ristretto.NewCache(&ristretto.Config[string, *Entry]{
		NumCounters:        counters,
		MaxCost:            maxBytes,
		BufferItems:        64,
		IgnoreInternalCost: true,
		Metrics:            true, // for Bytes; a few sharded atomic adds per operation
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return &Memory{c: c}, nil
}

// Get returns the entry under key. ristretto keeps only the key's hashes, so a
// key that aliases request memory is safe here.
func (m *Memory) Get(key string) (*Entry, bool) { return m.c.Get(key) }

// Set offers e to the tier for keep and returns once the tier has applied
// it. Waiting costs a few microseconds on a fill that took milliseconds; not
// waiting let a caller arriving right after a fill miss both its lookup and
// the Group's re-check and render the variant again.
func (m *Memory) Set(key string, e *Entry, keep time.Duration) bool {
	if !m.c.SetWithTTL(key, e, e.Size(key), keep) {
		return false
	}
	m.c.Wait()
	return true
}

// Del drops key.
func (m *Memory) Del(key string) { m.c.Del(key) }

// Bytes is about how many bytes the tier holds (admitted minus evicted).
func (m *Memory) Bytes() int64 {
	return int64(m.c.Metrics.CostAdded()) - int64(m.c.Metrics.CostEvicted())
}

// Close stops ristretto's goroutines.
func (m *Memory) Close() { m.c.Close() }
