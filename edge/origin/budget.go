package origin

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/semaphore"
)

// ErrBytesInFlight means the fetch could not get its share of
// fetch.max_bytes_in_flight in time: this edge is reading as many origin
// bytes as it may, the origin has not failed.
var ErrBytesInFlight = errors.New("origin: fetch.max_bytes_in_flight reached")

// Budget bounds the origin bytes being read at once, across every origin:
// twenty concurrent 45 MB originals must not hold 900 MB of buffers. A
// fetch reserves the size its origin announced (or what it has read, when
// nothing was announced) before reading, and gives it back when done.
type Budget struct {
	sem  *semaphore.Weighted
	size int64
}

// NewBudget returns a Budget of size bytes.
func NewBudget(size int64) *Budget {
	return &Budget{sem: semaphore.NewWeighted(size), size: size}
}

// reserve takes n bytes, waiting while ctx allows.
func (b *Budget) reserve(ctx context.Context, n int64) error {
	if b == nil || n <= 0 {
		return nil
	}
	if n > b.size {
		return fmt.Errorf("%w: %d bytes asked of a budget of %d", ErrBytesInFlight, n, b.size)
	}
	if err := b.sem.Acquire(ctx, n); err != nil {
		return fmt.Errorf("%w: %d bytes not free in time", ErrBytesInFlight, n)
	}
	return nil
}

func (b *Budget) release(n int64) {
	if b != nil && n > 0 {
		b.sem.Release(n)
	}
}
