package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"github.com/sony/gobreaker/v2"
)

// Config is the connection to the fleet's Redis and its bounds.
type Config struct {
	URL      string        // redis://, rediss:// or unix://
	Addrs    []string      // more addresses: a cluster's seeds
	Cluster  bool          // Redis Cluster
	Timeout  time.Duration // every call on a request's path; a sick Redis must not slow the edge
	MaxValue int           // larger entries stay in memory only
	Queue    int           // writes waiting to be sent; beyond it they are dropped and counted
	// Observe hears of every call: its operation (get, set, lock, ...), how
	// long it took and whether it failed (the metrics). Nil: nobody.
	Observe func(op string, took time.Duration, failed bool)
	Log     *slog.Logger // connection state changes; nil: discarded
	// Now is the clock leases expire by and the purge log reads time
	// from (nil: time.Now); tests move it.
	Now func() time.Time
}

// Why a write did not reach Redis.
const (
	DropQueueFull   = iota // redis.queue was full
	DropBreakerOpen        // the breaker was open (Redis failed recently)
	DropFailed             // the call failed or timed out
	DropTooLarge           // above redis.max_value
	DropStaleEpoch         // filled before the purge history changed
	dropReasons
)

// DropReasons names the reasons, for metrics.
var DropReasons = [dropReasons]string{"queue_full", "breaker_open", "failed", "too_large", "stale_epoch"}

// Fleet is one node's connection to the fleet: the shared tier's client,
// its breaker and write queue, this node's identity, and the purge log's
// reader (Sync). Everything it starts ends with Close.
type Fleet struct {
	opt      rueidis.ClientOption
	cluster  bool
	client   atomic.Pointer[rueidis.Client] // nil until the first connection succeeds
	cb       *gobreaker.CircuitBreaker[any]
	timeout  time.Duration
	maxValue int
	writes   chan write
	dropped  [dropReasons]atomic.Int64
	errs     atomic.Int64
	wg       sync.WaitGroup
	closing  chan struct{}
	once     sync.Once
	observe  func(op string, took time.Duration, failed bool)
	log      *slog.Logger
	now      func() time.Time
	// timedOut: the last failed call on a request's path timed out; the
	// breaker opens on it (see New).
	timedOut atomic.Bool
	// node is random per process start: lease tokens and announcements
	// from two identically started nodes never collide.
	node   string
	tokens atomic.Uint64
}

type write struct {
	key  string
	val  []byte
	keep time.Duration
}

// errNotConnected is a call made before the first connection succeeded.
var errNotConnected = errors.New("fleet: redis not connected yet")

// New returns this node's connection to the fleet. It tries to connect
// once, within the dial timeout, and logs the outcome; on failure it tries
// again in the background every second: an edge starts and serves (from
// memory and the origin) whether Redis is up or not.
func New(cfg Config) (*Fleet, error) {
	opt, err := clientOption(cfg)
	if err != nil {
		return nil, err
	}
	f := &Fleet{opt: opt, cluster: cfg.Cluster, timeout: cfg.Timeout, maxValue: cfg.MaxValue,
		writes: make(chan write, max(cfg.Queue, 1)), closing: make(chan struct{}), observe: cfg.Observe, log: cfg.Log, now: cfg.Now}
	if f.now == nil {
		f.now = time.Now
	}
	if f.observe == nil {
		f.observe = func(string, time.Duration, bool) {}
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	f.node = hex.EncodeToString(id[:])
	f.cb = gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
		Name:    "redis",
		Timeout: 5 * time.Second,
		// A timeout opens the breaker at once: a frozen Redis otherwise
		// costs the first requests after it froze a timeout per call
		// (several per miss) until five in a row failed. Other failures
		// (a refused connection answers at once) open it after five.
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= 5 || f.timedOut.Swap(false)
		},
		// A miss is an answer; only failures to answer count.
		IsSuccessful: func(err error) bool { return err == nil || rueidis.IsRedisNil(err) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			f.log.Warn("redis: breaker "+to.String(), "from", from.String(),
				"meaning", map[gobreaker.State]string{gobreaker.StateOpen: "Redis failed 5 calls in a row: reads are misses and writes are dropped for 5 s",
					gobreaker.StateHalfOpen: "trying Redis again", gobreaker.StateClosed: "Redis answers again"}[to])
		},
	})
	addrs := opt.InitAddress
	if f.dial() {
		f.log.Info("redis: connected", "addrs", addrs, "node", f.node)
	} else {
		f.log.Warn("redis: not reachable at start; serving from memory and the origin, trying again every second", "addrs", addrs)
		f.wg.Go(f.connect)
	}
	f.wg.Go(f.writer)
	return f, nil
}

func clientOption(cfg Config) (rueidis.ClientOption, error) {
	var opt rueidis.ClientOption
	if cfg.URL != "" {
		var err error
		if opt, err = rueidis.ParseURL(cfg.URL); err != nil {
			return opt, fmt.Errorf("redis.url: %w", err)
		}
	}
	for _, a := range cfg.Addrs {
		if u, err := url.Parse(a); err == nil && u.Host != "" {
			a = u.Host
		}
		opt.InitAddress = append(opt.InitAddress, a)
	}
	if len(opt.InitAddress) == 0 {
		return opt, errors.New("redis: no address")
	}
	// The edge caches in its own memory tier; rueidis' client-side cache
	// would hold the same bytes twice.
	opt.DisableCache = true
	// A retry hides a sick Redis from the breaker and doubles the wait.
	opt.DisableRetry = true
	opt.Dialer.Timeout = 4 * cfg.Timeout
	opt.ConnWriteTimeout = max(cfg.Timeout, 250*time.Millisecond)
	if !cfg.Cluster {
		opt.ForceSingleClient = true
	}
	return opt, nil
}

// dial makes the client once; false when Redis did not answer.
func (f *Fleet) dial() bool {
	c, err := rueidis.NewClient(f.opt)
	if err != nil {
		if c != nil {
			c.Close()
		}
		return false
	}
	f.client.Store(&c)
	return true
}

// connect dials again every second until it succeeds.
func (f *Fleet) connect() {
	for {
		if f.dial() {
			f.log.Info("redis: connected", "addrs", f.opt.InitAddress, "node", f.node)
			return
		}
		select {
		case <-f.closing:
			return
		case <-time.After(time.Second):
		}
	}
}

// call runs fn within the timeout and the breaker.
func (f *Fleet) call(op string, fn func(ctx context.Context, c rueidis.Client) (any, error)) (any, error) {
	return f.cb.Execute(func() (any, error) {
		v, err := f.run(op, f.timeout, fn)
		f.timedOut.Store(isTimeout(err))
		return v, err
	})
}

// isTimeout reports whether err is a call that ran out of time.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// run is one call within timeout, counted and timed, outside the breaker.
func (f *Fleet) run(op string, timeout time.Duration, fn func(ctx context.Context, c rueidis.Client) (any, error)) (any, error) {
	c := f.client.Load()
	if c == nil {
		f.errs.Add(1)
		return nil, errNotConnected
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	t0 := time.Now()
	v, err := fn(ctx, *c)
	failed := err != nil && !rueidis.IsRedisNil(err)
	if failed {
		f.errs.Add(1)
	}
	f.observe(op, time.Since(t0), failed)
	return v, err
}

// writer sends queued writes one at a time; the request path only enqueues.
func (f *Fleet) writer() {
	for {
		select {
		case <-f.closing:
			return
		case w := <-f.writes:
			f.countFailure(f.call("set", func(ctx context.Context, c rueidis.Client) (any, error) {
				return nil, c.Do(ctx, c.B().Set().Key(w.key).Value(rueidis.BinaryString(w.val)).Px(w.keep).Build()).Error()
			}))
		}
	}
}

// countFailure counts a write that did not reach Redis, by its reason.
func (f *Fleet) countFailure(_ any, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		f.dropped[DropBreakerOpen].Add(1)
	default:
		f.dropped[DropFailed].Add(1)
	}
	return false
}

// Drop counts a write the caller decided not to send, for reason.
func (f *Fleet) Drop(reason int) { f.dropped[reason].Add(1) }

// BreakerState is 0 closed, 1 half-open, 2 open.
func (f *Fleet) BreakerState() int {
	switch f.cb.State() {
	case gobreaker.StateHalfOpen:
		return 1
	case gobreaker.StateOpen:
		return 2
	}
	return 0
}

// Dropped is the writes that did not reach Redis for reason.
func (f *Fleet) Dropped(reason int) int64 { return f.dropped[reason].Load() }

// Errors is the calls that failed (timeouts, refused connections, ...).
func (f *Fleet) Errors() int64 { return f.errs.Load() }

// Node is this process's identity in the fleet (random per start).
func (f *Fleet) Node() string { return f.node }

// Close stops the connector, the writer (dropping what is queued) and the
// connections. Sync loops end with their own context, before Close.
func (f *Fleet) Close() {
	f.once.Do(func() {
		close(f.closing)
		f.wg.Wait()
		if c := f.client.Load(); c != nil {
			(*c).Close()
		}
	})
}
