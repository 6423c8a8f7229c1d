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
// what it finds; a purged entry is a miss wherever it is, and an unproven
// one (Purges.Check) answers only as a copy to revalidate.
type Tiers struct {
	Memory Store
	Shared Store // the fleet's tier (cache/fleet); nil: this node alone
	Purges *Purges
	Now    func() time.Time
	// OnStale hears of each entry not stored because the purge history
	// changed during its fill (nil: nobody).
	OnStale func()
}

// Get is GetTier at Now, without the tier.
func (t *Tiers) Get(key string) (*Entry, bool) {
	e, ok, _ := t.GetTier(key, t.Now())
	return e, ok
}

// GetTier returns the entry under key as it may be used at now, and the
// tier that held it.
func (t *Tiers) GetTier(key string, now time.Time) (*Entry, bool, Tier) {
	if e, ok := t.Memory.Get(key); ok {
		switch t.Purges.Check(e, now) {
		case Proven:
			return e, true, TierMemory
		case Unproven:
			return e.Unproven(), true, TierMemory
		}
		t.Memory.Del(key)
	}
	if t.Shared == nil {
		return nil, false, TierNone
	}
	e, ok := t.Shared.Get(key)
	if !ok {
		return nil, false, TierNone
	}
	switch t.Purges.Check(e, now) {
	case Purged:
		return nil, false, TierNone
	case Unproven:
		return e.Unproven(), true, TierRedis
	}
	if keep := e.Keep(now); keep > 0 {
		t.Memory.Set(key, e, keep)
	}
	return e, true, TierRedis
}

// Set stores e in memory and queues it for the shared tier, unless the
// purge history changed since its fill began (its sequence means nothing
// now).
func (t *Tiers) Set(key string, e *Entry, keep time.Duration) bool {
	if !t.Purges.Current(e.Gen) {
		if t.OnStale != nil {
			t.OnStale()
		}
		return false
	}
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
