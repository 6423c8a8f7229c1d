package cache

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"github.com/sony/gobreaker/v2"
)

// RedisConfig is the shared tier's connection and its bounds.
type RedisConfig struct {
	URL      string        // redis://, rediss:// or unix://
	Addrs    []string      // more addresses: a cluster's seeds
	Cluster  bool          // Redis Cluster
	Timeout  time.Duration // every call; a sick Redis must not slow the edge
	MaxValue int           // larger entries stay in memory only
	Queue    int           // writes waiting to be sent; beyond it they are dropped and counted
	// Observe hears of every call: its operation (get, set, lock, ...), how
	// long it took and whether it failed (the metrics). Nil: nobody.
	Observe func(op string, took time.Duration, failed bool)
}

// Redis is the connection to the shared tier, with its breaker and its
// write queue. Tier gives the Store of one kind of entry. The client is
// rueidis: on this path (a 30 KB entry read by 32 callers at once) its
// auto-pipelining served 1.6x the reads of go-redis v9 (bench/RESULTS.md).
type Redis struct {
	opt      rueidis.ClientOption
	client   atomic.Pointer[rueidis.Client] // nil until the first connection succeeds
	cb       *gobreaker.CircuitBreaker[any]
	timeout  time.Duration
	maxValue int
	writes   chan write
	dropped  atomic.Int64
	errs     atomic.Int64
	wg       sync.WaitGroup
	closing  chan struct{}
	once     sync.Once
	observe  func(op string, took time.Duration, failed bool)
}

type write struct {
	key  string
	val  []byte
	keep time.Duration
}

// errNotConnected is a call made before the first connection succeeded.
var errNotConnected = errors.New("cache: redis not connected yet")

// NewRedis returns the shared tier's connection. It tries to connect once,
// within the dial timeout, then in the background every second until Redis
// answers: an edge starts and serves (from memory and the origin) whether
// Redis is up or not. The connector and the writer are owned by the Redis
// and end with Close.
func NewRedis(cfg RedisConfig) (*Redis, error) {
	opt, err := clientOption(cfg)
	if err != nil {
		return nil, err
	}
	r := &Redis{opt: opt, timeout: cfg.Timeout, maxValue: cfg.MaxValue,
		writes: make(chan write, max(cfg.Queue, 1)), closing: make(chan struct{}), observe: cfg.Observe}
	if r.observe == nil {
		r.observe = func(string, time.Duration, bool) {}
	}
	r.cb = gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
		Name:    "redis",
		Timeout: 5 * time.Second,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= 5
		},
		// A miss is an answer; only failures to answer count.
		IsSuccessful: func(err error) bool { return err == nil || rueidis.IsRedisNil(err) },
	})
	if !r.dial() {
		r.wg.Go(r.connect)
	}
	r.wg.Go(r.writer)
	return r, nil
}

func clientOption(cfg RedisConfig) (rueidis.ClientOption, error) {
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
func (r *Redis) dial() bool {
	c, err := rueidis.NewClient(r.opt)
	if err != nil {
		if c != nil {
			c.Close()
		}
		return false
	}
	r.client.Store(&c)
	return true
}

// connect dials again every second until it succeeds.
func (r *Redis) connect() {
	for {
		if r.dial() {
			return
		}
		select {
		case <-r.closing:
			return
		case <-time.After(time.Second):
		}
	}
}

// call runs f within the timeout and the breaker.
func (r *Redis) call(op string, f func(ctx context.Context, c rueidis.Client) (any, error)) (any, error) {
	return r.cb.Execute(func() (any, error) { return r.run(op, f) })
}

// run is one call within the timeout, counted and timed, outside the breaker.
func (r *Redis) run(op string, f func(ctx context.Context, c rueidis.Client) (any, error)) (any, error) {
	c := r.client.Load()
	if c == nil {
		r.errs.Add(1)
		return nil, errNotConnected
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	t0 := time.Now()
	v, err := f(ctx, *c)
	failed := err != nil && !rueidis.IsRedisNil(err)
	if failed {
		r.errs.Add(1)
	}
	r.observe(op, time.Since(t0), failed)
	return v, err
}

// writer sends queued writes one at a time; the request path only enqueues.
func (r *Redis) writer() {
	for {
		select {
		case <-r.closing:
			return
		case w := <-r.writes:
			_, _ = r.call("set", func(ctx context.Context, c rueidis.Client) (any, error) {
				return nil, c.Do(ctx, c.B().Set().Key(w.key).Value(rueidis.BinaryString(w.val)).Px(w.keep).Build()).Error()
			})
		}
	}
}

// BreakerState is 0 closed, 1 half-open, 2 open.
func (r *Redis) BreakerState() int {
	switch r.cb.State() {
	case gobreaker.StateHalfOpen:
		return 1
	case gobreaker.StateOpen:
		return 2
	}
	return 0
}

// Dropped is the writes dropped because the queue was full.
func (r *Redis) Dropped() int64 { return r.dropped.Load() }

// Errors is the calls that failed (timeouts, refused connections, ...).
func (r *Redis) Errors() int64 { return r.errs.Load() }

// Do runs commands within the timeout but outside the breaker: the purge
// log, read by one background loop per node and written by admin requests,
// never by the request path the breaker protects. Behind the breaker, a
// dropped connection that failed a burst of reads kept a node from learning
// of purges for the breaker's whole open time (5 s), serving purged bytes.
func (r *Redis) Do(f func(ctx context.Context, c rueidis.Client) error) error {
	_, err := r.run("purge", func(ctx context.Context, c rueidis.Client) (any, error) { return nil, f(ctx, c) })
	return err
}

// Close stops the connector and the writer (dropping what is queued) and
// the connections.
func (r *Redis) Close() {
	r.once.Do(func() {
		close(r.closing)
		r.wg.Wait()
		if c := r.client.Load(); c != nil {
			(*c).Close()
		}
	})
}

// Tier is the Store of one kind of entry (variants, originals) under a key
// prefix of its own.
func (r *Redis) Tier(prefix string) *RedisTier { return &RedisTier{r: r, prefix: prefix} }

// RedisTier is one kind of entry in the shared tier. Get is bounded by the
// timeout and the breaker: a sick Redis is a miss, not a failure. Set
// queues the write; a full queue drops it.
type RedisTier struct {
	r      *Redis
	prefix string
}

func (t *RedisTier) key(k string) string { return t.prefix + k }

// Get reads and decodes the entry under key; anything that is not an
// entry, or any failure, is a miss.
func (t *RedisTier) Get(key string) (*Entry, bool) {
	v, err := t.r.call("get", func(ctx context.Context, c rueidis.Client) (any, error) {
		return c.Do(ctx, c.B().Get().Key(t.key(key)).Build()).AsBytes()
	})
	if err != nil {
		return nil, false
	}
	e, err := DecodeEntry(v.([]byte))
	if err != nil {
		return nil, false
	}
	return e, true
}

// Set queues e for the shared tier; entries above MaxValue and not-stored
// entries stay out.
func (t *RedisTier) Set(key string, e *Entry, keep time.Duration) bool {
	if e.NoStore || len(e.Body) > t.r.maxValue || keep <= 0 {
		return false
	}
	w := write{key: t.key(key), val: AppendEntry(nil, e), keep: keep}
	select {
	case t.r.writes <- w:
		return true
	default:
		t.r.dropped.Add(1)
		return false
	}
}

// SetNow writes e at once, for fleet fills whose waiters read it next.
func (t *RedisTier) SetNow(key string, e *Entry, keep time.Duration) bool {
	if e.NoStore || len(e.Body) > t.r.maxValue || keep <= 0 {
		return false
	}
	_, err := t.r.call("set", func(ctx context.Context, c rueidis.Client) (any, error) {
		return nil, c.Do(ctx, c.B().Set().Key(t.key(key)).Value(rueidis.BinaryString(AppendEntry(nil, e))).Px(keep).Build()).Error()
	})
	return err == nil
}

// Del drops key from the shared tier (queued as a write of nothing kept).
func (t *RedisTier) Del(key string) {
	_, _ = t.r.call("del", func(ctx context.Context, c rueidis.Client) (any, error) {
		return nil, c.Do(ctx, c.B().Del().Key(t.key(key)).Build()).Error()
	})
}

// Prefix is the tier's key prefix.
func (t *RedisTier) Prefix() string { return strings.Clone(t.prefix) }

// releaseLock deletes a fleet lock only when it is still ours: a lock that
// expired and was taken by another node stays theirs.
var releaseLock = rueidis.NewLuaScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

var lockTokens atomic.Uint64

// Lead tries to become the one node of the fleet that fills key, for at most
// ttl. A sick Redis makes every node its own leader: the fleet then fills
// as separate nodes would, never fails. release gives the lock back.
func (t *RedisTier) Lead(key string, ttl time.Duration) (leader bool, release func()) {
	lock := "imgedge:lock:" + t.key(key)
	token := fmt.Sprintf("%p-%d", t.r, lockTokens.Add(1))
	_, err := t.r.call("lock", func(ctx context.Context, c rueidis.Client) (any, error) {
		return nil, c.Do(ctx, c.B().Set().Key(lock).Value(token).Nx().Px(ttl).Build()).Error()
	})
	switch {
	case rueidis.IsRedisNil(err): // another node holds it
		return false, func() {}
	case err != nil:
		return true, func() {}
	}
	return true, func() {
		_, _ = t.r.call("unlock", func(ctx context.Context, c rueidis.Client) (any, error) {
			return nil, releaseLock.Exec(ctx, c, []string{lock}, []string{token}).Error()
		})
	}
}

// fleetPoll is how often a node waiting for another's fill looks for it.
const fleetPoll = 10 * time.Millisecond

// Await waits until another node's fill of key shows in the shared tier,
// at most wait or until ctx ends.
func (t *RedisTier) Await(ctx context.Context, key string, wait time.Duration) (*Entry, bool) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(fleetPoll)
	defer tick.Stop()
	for {
		if e, ok := t.Get(key); ok {
			return e, true
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-deadline.C:
			return nil, false
		case <-tick.C:
		}
	}
}

// Fleet is the shared tier of t, when it has one: what fleet-wide
// collapsing uses.
func (t *Tiers) Fleet() *RedisTier { return t.Shared }
