// Package inflight counts work in progress (fills, renders) so that a
// shutdown can wait for the count to reach zero while new work may still
// start: a late background refresh, a render whose caller gave up. A
// sync.WaitGroup forbids an Add that races its Wait; this allows it.
package inflight

import (
	"context"
	"sync"
	"sync/atomic"
)

// Count is the number of pieces of work running now. The zero value is
// ready to use.
type Count struct {
	n    atomic.Int64 // read without the lock (metrics, admission)
	mu   sync.Mutex   // orders the opening and closing of idle
	idle chan struct{}
}

// Start counts one more piece of work.
func (c *Count) Start() {
	c.mu.Lock()
	if c.n.Add(1) == 1 {
		c.idle = make(chan struct{})
	}
	c.mu.Unlock()
}

// Done counts one piece of work as ended; the last wakes every Wait.
func (c *Count) Done() {
	c.mu.Lock()
	if c.n.Add(-1) == 0 {
		close(c.idle)
	}
	c.mu.Unlock()
}

// N is the number of pieces of work running now.
func (c *Count) N() int64 { return c.n.Load() }

// Wait returns once nothing runs, or ctx's error when ctx ends first.
func (c *Count) Wait(ctx context.Context) error {
	c.mu.Lock()
	if c.n.Load() == 0 {
		c.mu.Unlock()
		return nil
	}
	idle := c.idle
	c.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
