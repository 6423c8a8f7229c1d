package cache

import "time"

// Tier names the tier an answer came from.
type Tier uint8

// Tiers.
const (
	TierNone Tier = iota
	TierMemory
	TierRedis
)

func (t Tier) String() string {
	switch t {
	case TierMemory:
		return "memory"
	case TierRedis:
		return "redis"
	}
	return "none"
}

// Tiers is the memory tier over the shared one (nil: none), with the
// purges both obey. A memory miss looks in the shared tier and promotes
// what it finds; a purged entry is a miss wherever it is.
type Tiers struct {
	Memory Store
	Shared *RedisTier // nil: this node alone
	Purges *Purges
	Now    func() time.Time
}

// Get is GetTier without the tier.
func (t *Tiers) Get(key string) (*Entry, bool) {
	e, ok, _ := t.GetTier(key)
	return e, ok
}

// GetTier returns the entry under key and the tier that held it.
func (t *Tiers) GetTier(key string) (*Entry, bool, Tier) {
	if e, ok := t.Memory.Get(key); ok {
		if t.Purges.Valid(e) {
			return e, true, TierMemory
		}
		t.Memory.Del(key)
	}
	if t.Shared == nil {
		return nil, false, TierNone
	}
	e, ok := t.Shared.Get(key)
	if !ok || !t.Purges.Valid(e) {
		return nil, false, TierNone
	}
	if keep := e.Keep(t.Now()); keep > 0 {
		t.Memory.Set(key, e, keep)
	}
	return e, true, TierRedis
}

// Set stores e in memory and queues it for the shared tier.
func (t *Tiers) Set(key string, e *Entry, keep time.Duration) bool {
	ok := t.Memory.Set(key, e, keep)
	if t.Shared != nil && t.Shared.Set(key, e, keep) {
		ok = true
	}
	return ok
}

// Del drops key from both tiers.
func (t *Tiers) Del(key string) {
	t.Memory.Del(key)
	if t.Shared != nil {
		t.Shared.Del(key)
	}
}

// Bytes is what the memory tier holds, when it can say.
func (t *Tiers) Bytes() int64 {
	if bc, ok := t.Memory.(interface{ Bytes() int64 }); ok {
		return bc.Bytes()
	}
	return 0
}
