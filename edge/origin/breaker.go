package origin

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// BreakerConfig is when a breaker trips and how long it stays open.
type BreakerConfig struct {
	Failures int           // consecutive failures that trip it
	Ratio    float64       // failure ratio that trips it, once Failures requests were counted
	OpenFor  time.Duration // open time before one probe is let through
	// Window is how long closed-state counts accumulate before they reset;
	// 0 means 30 s.
	Window time.Duration
}

// Breaker is a Fetcher behind a circuit breaker (sony/gobreaker): while it is
// open no request reaches the origin, and callers get an *UnavailableError
// at once. Only origin faults (Fault) count against it: a 4xx the path
// chose, a too-large object, an answer nobody waits for any more and a busy
// local pool do not, so clients asking for missing names cannot open it for
// everyone.
type Breaker struct {
	cb       *gobreaker.CircuitBreaker[Object]
	next     Fetcher
	openFor  time.Duration
	openedAt atomic.Int64 // unix nanoseconds of the last trip
}

// WithBreaker puts f behind a breaker named name (the origin).
func WithBreaker(f Fetcher, name string, c BreakerConfig) *Breaker {
	b := &Breaker{next: f, openFor: c.OpenFor}
	window := c.Window
	if window == 0 {
		window = 30 * time.Second
	}
	failures := uint32(max(c.Failures, 1))
	b.cb = gobreaker.NewCircuitBreaker[Object](gobreaker.Settings{
		Name:        name,
		MaxRequests: 1, // one probe while half-open
		Interval:    window,
		Timeout:     c.OpenFor,
		ReadyToTrip: func(n gobreaker.Counts) bool {
			return n.ConsecutiveFailures >= failures ||
				n.Requests >= failures && float64(n.TotalFailures)/float64(n.Requests) >= c.Ratio
		},
		OnStateChange: func(_ string, _, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				b.openedAt.Store(time.Now().UnixNano())
			}
		},
		IsSuccessful: func(err error) bool { return !Fault(err) },
		// Neither a success nor a failure: the origin was not asked, or its
		// answer was not waited for.
		IsExcluded: func(err error) bool {
			return errors.Is(err, context.Canceled) || errors.Is(err, ErrNoConnection) || errors.Is(err, ErrBytesInFlight)
		},
	})
	return b
}

// Fetch runs f's Fetch through the breaker.
func (b *Breaker) Fetch(ctx context.Context, r Request) (Object, error) {
	obj, err := b.cb.Execute(func() (Object, error) { return b.next.Fetch(ctx, r) })
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return Object{}, &UnavailableError{RetryAfter: b.retryAfter(time.Now())}
	}
	return obj, err
}

func (b *Breaker) retryAfter(now time.Time) time.Duration {
	left := b.openFor - now.Sub(time.Unix(0, b.openedAt.Load()))
	return min(max(left, time.Second), b.openFor) // Retry-After counts whole seconds
}

// State is 0 closed, 1 half-open, 2 open (the breaker_state metric).
func (b *Breaker) State() int {
	switch b.cb.State() {
	case gobreaker.StateHalfOpen:
		return 1
	case gobreaker.StateOpen:
		return 2
	}
	return 0
}
