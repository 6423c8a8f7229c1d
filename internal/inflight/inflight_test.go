package inflight

import (
	"context"
	"errors"
	"testing"
)

// TestWaitEndsWithTheLastDone: a Wait started while work runs returns when
// the last piece ends, and not before, though work starts in between.
func TestWaitEndsWithTheLastDone(t *testing.T) {
	t.Parallel()
	var c Count
	if err := c.Wait(context.Background()); err != nil {
		t.Fatalf("idle Wait: %v", err)
	}
	c.Start()
	waited := make(chan error, 1)
	go func() { waited <- c.Wait(context.Background()) }()
	c.Start() // a late start while Wait waits
	c.Done()
	select {
	case err := <-waited:
		t.Fatalf("Wait returned (%v) with one piece of work still running", err)
	default:
	}
	if c.N() != 1 {
		t.Fatalf("N = %d, want 1", c.N())
	}
	c.Done()
	if err := <-waited; err != nil {
		t.Fatalf("Wait: %v", err)
	}
	// Idle again, then busy again: a new Wait waits for the new work.
	c.Start()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with work running and ctx done: %v", err)
	}
	c.Done()
}
