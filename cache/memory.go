package cache

import (
	"fmt"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// Memory is the in-process tier: a ristretto cache whose cost is bytes held,
// so MaxBytes is a real memory budget. Sets are asynchronous and may be
// dropped under contention or by the admission policy, as ristretto does.
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

// Set offers e to the tier for keep.
func (m *Memory) Set(key string, e *Entry, keep time.Duration) bool {
	return m.c.SetWithTTL(key, e, e.Size(key), keep)
}

// Del drops key.
func (m *Memory) Del(key string) { m.c.Del(key) }

// Bytes is about how many bytes the tier holds (admitted minus evicted).
func (m *Memory) Bytes() int64 {
	return int64(m.c.Metrics.CostAdded()) - int64(m.c.Metrics.CostEvicted())
}

// Wait blocks until buffered Sets are applied; tests use it before asserting.
func (m *Memory) Wait() { m.c.Wait() }

// Close stops ristretto's goroutines.
func (m *Memory) Close() { m.c.Close() }
