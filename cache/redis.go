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

	"github.com/redis/go-redis/v9"
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
// write queue. Tier gives the Store of one kind of entry.
type Redis struct {
	c        redis.UniversalClient
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

// NewRedis connects lazily (the first call dials) and starts the writer
// that owns the queue until Close.
func NewRedis(cfg RedisConfig) (*Redis, error) {
	opts, err := universalOptions(cfg)
	if err != nil {
		return nil, err
	}
	r := &Redis{c: redis.NewUniversalClient(opts), timeout: cfg.Timeout, maxValue: cfg.MaxValue,
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
		IsSuccessful: func(err error) bool { return err == nil || errors.Is(err, redis.Nil) },
	})
	r.wg.Go(r.writer)
	return r, nil
}

func universalOptions(cfg RedisConfig) (*redis.UniversalOptions, error) {
	o := &redis.UniversalOptions{
		DialTimeout: cfg.Timeout * 4, ReadTimeout: cfg.Timeout, WriteTimeout: cfg.Timeout,
		PoolTimeout: cfg.Timeout, MaxRetries: -1, IsClusterMode: cfg.Cluster,
		// Read and write deadlines come from the timeouts above, not from
		// each call's context, so that a hung Redis costs one timeout.
		ContextTimeoutEnabled: true,
	}
	if cfg.URL != "" {
		parsed, err := redis.ParseURL(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("redis.url: %w", err)
		}
		o.Addrs = append(o.Addrs, parsed.Addr)
		o.Username, o.Password, o.DB, o.TLSConfig = parsed.Username, parsed.Password, parsed.DB, parsed.TLSConfig
		if parsed.Network == "unix" {
			o.Addrs = []string{parsed.Addr}
		}
	}
	for _, a := range cfg.Addrs {
		if u, err := url.Parse(a); err == nil && u.Host != "" {
			a = u.Host
		}
		o.Addrs = append(o.Addrs, a)
	}
	if len(o.Addrs) == 0 {
		return nil, errors.New("redis: no address")
	}
	return o, nil
}

// call runs f within the timeout and the breaker.
func (r *Redis) call(op string, f func(ctx context.Context) (any, error)) (any, error) {
	return r.cb.Execute(func() (any, error) {
		ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
		defer cancel()
		t0 := time.Now()
		v, err := f(ctx)
		failed := err != nil && !errors.Is(err, redis.Nil)
		if failed {
			r.errs.Add(1)
		}
		r.observe(op, time.Since(t0), failed)
		return v, err
	})
}

// writer sends queued writes one at a time; the request path only enqueues.
func (r *Redis) writer() {
	for {
		select {
		case <-r.closing:
			return
		case w := <-r.writes:
			_, _ = r.call("set", func(ctx context.Context) (any, error) {
				return nil, r.c.Set(ctx, w.key, w.val, w.keep).Err()
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

// Client is the connection, for the purge log and fleet locks.
func (r *Redis) Client() redis.UniversalClient { return r.c }

// Do runs a command within the timeout and the breaker.
func (r *Redis) Do(f func(ctx context.Context, c redis.UniversalClient) error) error {
	_, err := r.call("purge", func(ctx context.Context) (any, error) { return nil, f(ctx, r.c) })
	return err
}

// Close stops the writer (dropping what is queued) and the connections.
func (r *Redis) Close() {
	r.once.Do(func() {
		close(r.closing)
		r.wg.Wait()
		_ = r.c.Close()
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
	v, err := t.r.call("get", func(ctx context.Context) (any, error) {
		return t.r.c.Get(ctx, t.key(key)).Bytes()
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
	_, err := t.r.call("set", func(ctx context.Context) (any, error) {
		return nil, t.r.c.Set(ctx, t.key(key), AppendEntry(nil, e), keep).Err()
	})
	return err == nil
}

// Del drops key from the shared tier (queued as a write of nothing kept).
func (t *RedisTier) Del(key string) {
	_, _ = t.r.call("del", func(ctx context.Context) (any, error) { return nil, t.r.c.Del(ctx, t.key(key)).Err() })
}

// Prefix is the tier's key prefix.
func (t *RedisTier) Prefix() string { return strings.Clone(t.prefix) }

// releaseLock deletes a fleet lock only when it is still ours: a lock that
// expired and was taken by another node stays theirs.
var releaseLock = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

var lockTokens atomic.Uint64

// Lead tries to become the one node of the fleet that fills key, for at most
// ttl. A sick Redis makes every node its own leader: the fleet then fills
// as separate nodes would, never fails. release gives the lock back.
func (t *RedisTier) Lead(key string, ttl time.Duration) (leader bool, release func()) {
	lock := "imgedge:lock:" + t.key(key)
	token := fmt.Sprintf("%p-%d", t.r, lockTokens.Add(1))
	v, err := t.r.call("lock", func(ctx context.Context) (any, error) {
		return t.r.c.SetNX(ctx, lock, token, ttl).Result()
	})
	if err != nil {
		return true, func() {}
	}
	if !v.(bool) {
		return false, func() {}
	}
	return true, func() {
		_, _ = t.r.call("unlock", func(ctx context.Context) (any, error) {
			return releaseLock.Run(ctx, t.r.c, []string{lock}, token).Result()
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
