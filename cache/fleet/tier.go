package fleet

import (
	"context"
	"time"

	"github.com/redis/rueidis"

	"imgedge/cache"
)

// The keyspace. Every key the fleet uses starts with "imgedge:"; these
// names, the entry encoding (FormatVersion) and the purge log's member
// format are the protocol that every release reading the same Redis
// shares, so they change only by expand and contract (see doc.go).
const (
	// VariantsPrefix and OriginalsPrefix name the two kinds of entry: the
	// cache key follows.
	VariantsPrefix  = "imgedge:v:"
	OriginalsPrefix = "imgedge:o:"
	// leasePrefix + an entry's full key is its fill lease.
	leasePrefix = "imgedge:lock:"
)

// Tier is one kind of entry in the shared tier: a cache.Store whose reads
// are bounded by the timeout and the breaker (a sick Redis is a miss) and
// whose writes are queued (a full queue drops and counts them).
type Tier struct {
	f      *Fleet
	prefix string
}

// Tier is the Store of the entries under prefix (VariantsPrefix or
// OriginalsPrefix).
func (f *Fleet) Tier(prefix string) *Tier { return &Tier{f: f, prefix: prefix} }

func (t *Tier) key(k string) string { return t.prefix + k }

// Get reads and decodes the entry under key; anything that is not an
// entry of a format this release reads, or any failure, is a miss.
func (t *Tier) Get(key string) (*cache.Entry, bool) {
	v, err := t.f.call("get", func(ctx context.Context, c rueidis.Client) (any, error) {
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

// storable reports whether e belongs in the shared tier, counting the ones
// too large for it.
func (t *Tier) storable(e *cache.Entry, keep time.Duration) bool {
	if e.NoStore || keep <= 0 {
		return false // not meant to be kept: no write was lost
	}
	if len(e.Body) > t.f.maxValue {
		t.f.dropped[DropTooLarge].Add(1)
		return false
	}
	return true
}

// Set queues e for the shared tier.
func (t *Tier) Set(key string, e *cache.Entry, keep time.Duration) bool {
	if !t.storable(e, keep) {
		return false
	}
	w := write{key: t.key(key), val: AppendEntry(nil, e), keep: keep}
	select {
	case t.f.writes <- w:
		return true
	default:
		t.f.dropped[DropQueueFull].Add(1)
		return false
	}
}

// SetNow writes e at once, for fleet fills whose waiters read it next.
func (t *Tier) SetNow(key string, e *cache.Entry, keep time.Duration) bool {
	if !t.storable(e, keep) {
		return false
	}
	return t.f.countFailure(t.f.call("set", func(ctx context.Context, c rueidis.Client) (any, error) {
		return nil, c.Do(ctx, c.B().Set().Key(t.key(key)).Value(rueidis.BinaryString(AppendEntry(nil, e))).Px(keep).Build()).Error()
	}))
}

// Del drops key from the shared tier.
func (t *Tier) Del(key string) {
	_, _ = t.f.call("del", func(ctx context.Context, c rueidis.Client) (any, error) {
		return nil, c.Do(ctx, c.B().Del().Key(t.key(key)).Build()).Error()
	})
}
