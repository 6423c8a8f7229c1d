package fleet

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"imgedge/cache"
)

// LeaseTTL is how long fill leadership outlives its holder's last renewal:
// the longest a waiter waits for a leader that died (crashed, partitioned,
// or whose Redis froze) before it fills itself. The holder renews every
// LeaseTTL/3, so a live leader keeps it through two lost renewals.
const LeaseTTL = 250 * time.Millisecond

// awaitPoll is how often a node waiting for another's fill looks for it.
const awaitPoll = 10 * time.Millisecond

// Leases expire at an absolute time (PXAT, from this node's clock): a
// command that Redis runs late, after a freeze, creates nothing or a lease
// already expired, never one that outlives the request that sent it. The
// fleet's clocks are assumed synchronised well within LeaseTTL (NTP).
var (
	renewLease = rueidis.NewLuaScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIREAT", KEYS[1], ARGV[2]) end return 0`)
	// releaseLease deletes a lease only when it is still ours: one that
	// expired and was taken by another node stays theirs.
	releaseLease = rueidis.NewLuaScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)
)

// Lead tries to become the one node of the fleet that fills key, renewing
// the lease until release or at most hold. A sick Redis makes every node
// its own leader: the fleet then fills as separate nodes would, never
// fails. release writes e (when not nil) for the waiters, then gives the
// lease back; it must be called once.
func (t *Tier) Lead(key string, hold time.Duration) (release func(e *cache.Entry, keep time.Duration), leader bool) {
	lock := leasePrefix + t.key(key)
	token := t.f.node + "-" + strconv.FormatUint(t.f.tokens.Add(1), 36)
	_, err := t.f.call("lock", func(ctx context.Context, c rueidis.Client) (any, error) {
		return nil, c.Do(ctx, c.B().Set().Key(lock).Value(token).Nx().Pxat(time.UnixMilli(t.f.expiry())).Build()).Error()
	})
	switch {
	case rueidis.IsRedisNil(err): // another node holds it
		return nil, false
	case err != nil:
		return func(e *cache.Entry, keep time.Duration) {
			if e != nil {
				t.Set(key, e, keep)
			}
		}, true
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go t.renew(lock, token, hold, stop, done)
	return func(e *cache.Entry, keep time.Duration) {
		if e != nil {
			t.SetNow(key, e, keep)
		}
		close(stop)
		<-done
		_, _ = t.f.call("unlock", func(ctx context.Context, c rueidis.Client) (any, error) {
			return nil, releaseLease.Exec(ctx, c, []string{lock}, []string{token}).Error()
		})
	}, true
}

// expiry is when a lease taken or renewed now ends, in unix milliseconds.
func (f *Fleet) expiry() int64 { return f.now().Add(LeaseTTL).UnixMilli() }

// renew keeps the lease alive every LeaseTTL/3 until stop, hold, or a
// renewal that finds the lease gone.
func (t *Tier) renew(lock, token string, hold time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(LeaseTTL / 3)
	defer tick.Stop()
	limit := time.NewTimer(hold)
	defer limit.Stop()
	for {
		select {
		case <-stop:
			return
		case <-limit.C:
			return
		case <-tick.C:
		}
		v, err := t.f.call("renew", func(ctx context.Context, c rueidis.Client) (any, error) {
			return renewLease.Exec(ctx, c, []string{lock}, []string{token, strconv.FormatInt(t.f.expiry(), 10)}).AsInt64()
		})
		if err == nil && v.(int64) == 0 {
			return // lapsed and perhaps taken: the fill goes on, its write still lands
		}
	}
}

// Await waits for another node's fill of key to show in the shared tier,
// at most wait or until ctx ends (or Redis fails: nil, false), and stops
// early when its lease is gone without an entry (nil, true: the caller may
// lead). A dead leader is noticed within LeaseTTL. The fill is an entry
// fresh at now(): the stale copy it replaces stays in the tier for its
// stale windows, and a waiter that took it for the fill would serve bytes
// past their lifetime as a fresh hit (the freshness checker's find).
func (t *Tier) Await(ctx context.Context, key string, wait time.Duration, now func() time.Time) (e *cache.Entry, leaderGone bool) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(awaitPoll)
	defer tick.Stop()
	k, lock := t.key(key), leasePrefix+t.key(key)
	for {
		v, err := t.f.call("await", func(ctx context.Context, c rueidis.Client) (any, error) {
			r := c.DoMulti(ctx, c.B().Get().Key(k).Build(), c.B().Pttl().Key(lock).Build())
			b, err := r[0].AsBytes()
			if err != nil && !rueidis.IsRedisNil(err) {
				return nil, err
			}
			ttl, err := r[1].AsInt64()
			if err != nil {
				return nil, err
			}
			return awaited{b, ttl}, nil
		})
		if err != nil {
			return nil, false
		}
		a := v.(awaited)
		if a.body != nil {
			if e, err := DecodeEntry(a.body); err == nil && e.Fresh(now()) {
				return e, false
			}
		}
		if a.ttl == -2 { // no lease: nobody is filling it
			return nil, true
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

type awaited struct {
	body []byte
	ttl  int64
}
