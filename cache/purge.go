package cache

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// PurgeRule drops every entry whose Source is Path (Prefix false) or starts
// with Path (Prefix true) and whose fill began before sequence Seq of the
// fleet's purge log. At is when the log took it (Redis' clock), from which
// the rule is pruned once no entry it covers can still be served.
type PurgeRule struct {
	Path   string
	Prefix bool
	Seq    uint64
	At     time.Time
}

// Verdict is what the purges say of an entry.
type Verdict uint8

// Verdicts.
const (
	// Proven: no purge covers the entry, as far as this node can prove.
	Proven Verdict = iota
	// Purged: a known purge covers it; it is a miss everywhere.
	Purged
	// Unproven: this node cannot prove it has seen every purge since the
	// origin last answered for the entry (the purge history was lost, or
	// the log has not been read within the bound): it may be used only
	// after the origin confirms it (a revalidation), never as fresh.
	Unproven
)

// Purges is the set of purges this node knows and how far it can vouch for
// that knowledge. Fills record Mark() when they begin; an entry filled
// before a purge covering its source is a miss in every tier.
//
// A hit costs two atomic loads and a compare: every entry remembers the
// rules version it was last checked against (Entry.verified), so the index
// (a map by path and one by prefix, looked up once per distinct prefix
// length) is read once per entry per change of the rules, whatever their
// number. Rules are pruned by age (Prune), so their number is bounded by the
// purge rate times the longest time an entry can be kept.
type Purges struct {
	mu       sync.RWMutex
	paths    map[string]ruleMark // exact source -> its latest purge
	prefixes map[string]ruleMark
	lengths  []int       // distinct prefix lengths, ascending
	byLength map[int]int // prefix rules of each length
	// Node-only purges (the fleet could not be told): they cover entries
	// whose origin answered before they were made, by this node's clock.
	localPaths, localPrefixes map[string]time.Time

	version atomic.Uint64 // changes with every change of the rules or the epoch
	seq     atomic.Uint64 // every rule up to it is applied (Advance)
	gen     atomic.Uint64 // epochs seen by this node; entries filled in an older one are unproven

	// For a fleet: the proof. floor: entries whose origin answered before
	// it are unproven (the history was lost at about that time). synced:
	// when the last complete read of the log began; past bound, only
	// entries the origin answered for since now-bound are proven.
	fleet  atomic.Bool
	floor  atomic.Int64
	synced atomic.Int64
	bound  time.Duration
}

type ruleMark struct {
	seq uint64
	at  int64 // unix nanoseconds, for pruning
}

// NewPurges returns the purges of a node alone (fleet false: its own purges
// are all there is) or of a fleet member, whose entries are proven only
// while it has read the fleet's log within bound.
func NewPurges(fleet bool, bound time.Duration) *Purges {
	p := &Purges{paths: map[string]ruleMark{}, prefixes: map[string]ruleMark{}, byLength: map[int]int{},
		localPaths: map[string]time.Time{}, localPrefixes: map[string]time.Time{}, bound: bound}
	p.fleet.Store(fleet)
	p.gen.Store(1)
	p.version.Store(1)
	return p
}

// Seq is the sequence up to which every rule is applied here.
func (p *Purges) Seq() uint64 {
	if p == nil {
		return 0
	}
	return p.seq.Load()
}

// Mark is what a fill beginning now records: the sequence (Entry.PurgeSeq)
// and the epoch generation (Entry.Gen).
func (p *Purges) Mark() (seq, gen uint64) {
	if p == nil {
		return 0, 0
	}
	return p.seq.Load(), p.gen.Load()
}

// Apply adds fleet rules of the current epoch. Rules may come in any order
// and more than once; the sequence fills record moves only by Advance.
func (p *Purges) Apply(rules ...PurgeRule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	changed := false
	for _, r := range rules {
		m := ruleMark{seq: r.Seq, at: r.At.UnixNano()}
		if r.Prefix {
			if old, ok := p.prefixes[r.Path]; !ok || r.Seq > old.seq {
				if !ok {
					p.addLength(len(r.Path))
				}
				p.prefixes[r.Path], changed = m, true
			}
		} else if old, ok := p.paths[r.Path]; !ok || r.Seq > old.seq {
			p.paths[r.Path], changed = m, true
		}
	}
	if changed {
		p.version.Add(1)
	}
}

// Advance records that every rule up to seq is applied: a fill beginning
// now is covered by rules after it only. A fill must never record a
// sequence whose rules are not all applied, or a rule that arrives late
// (logged out of order) would not cover it.
func (p *Purges) Advance(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if seq > p.seq.Load() {
		p.seq.Store(seq)
	}
}

// ApplyLocal adds a node-only purge made at (this node's clock): the fleet
// did not take it.
func (p *Purges) ApplyLocal(path string, prefix bool, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if prefix {
		p.localPrefixes[path] = at
	} else {
		p.localPaths[path] = at
	}
	p.version.Add(1)
}

// DropLocal forgets a node-only purge once the fleet's log holds it.
func (p *Purges) DropLocal(path string, prefix bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if prefix {
		delete(p.localPrefixes, path)
	} else {
		delete(p.localPaths, path)
	}
	p.version.Add(1)
}

func (p *Purges) addLength(n int) {
	if p.byLength[n]++; p.byLength[n] == 1 {
		i, _ := slices.BinarySearch(p.lengths, n)
		p.lengths = slices.Insert(p.lengths, i, n)
	}
}

func (p *Purges) dropLength(n int) {
	if p.byLength[n]--; p.byLength[n] == 0 {
		delete(p.byLength, n)
		if i, ok := slices.BinarySearch(p.lengths, n); ok {
			p.lengths = slices.Delete(p.lengths, i, i+1)
		}
	}
}

// NewEpoch is the fleet's purge history starting again (Redis lost it, or
// this node could not follow it): the rules of the old history mean nothing
// in the new one, and every entry whose origin answered before floor (now,
// plus the time the slowest node may take to notice) is unproven until the
// origin confirms it. Fills that began before the change are not stored.
func (p *Purges) NewEpoch(floor time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.paths)
	clear(p.prefixes)
	clear(p.byLength)
	p.lengths = p.lengths[:0]
	p.seq.Store(0)
	p.gen.Add(1)
	p.floor.Store(max(p.floor.Load(), floor.UnixNano()))
	p.version.Add(1)
}

// RaiseFloor makes every entry whose origin answered before floor unproven
// (the floor another node recorded when it found the history lost).
func (p *Purges) RaiseFloor(floor time.Time) {
	if n := floor.UnixNano(); !floor.IsZero() && n > p.floor.Load() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.floor.Store(max(p.floor.Load(), n))
		p.version.Add(1) // entries verified before may be of the lost history now
	}
}

// Synced records that a read of the fleet's log that began at began saw
// every rule: entries are proven until began+bound.
func (p *Purges) Synced(began time.Time) {
	if n := began.UnixNano(); n > p.synced.Load() {
		p.synced.Store(n)
	}
}

// Current reports whether a fill marked with gen may still be stored: no
// epoch change happened since it began.
func (p *Purges) Current(gen uint64) bool { return p == nil || gen == 0 || gen == p.gen.Load() }

// Prune drops the rules made before cutoff: no entry they could cover can
// still be served. It returns how many it dropped.
func (p *Purges) Prune(cutoff time.Time) int {
	c := cutoff.UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for k, m := range p.paths {
		if m.at < c {
			delete(p.paths, k)
			n++
		}
	}
	for k, m := range p.prefixes {
		if m.at < c {
			delete(p.prefixes, k)
			p.dropLength(len(k))
			n++
		}
	}
	for _, local := range []map[string]time.Time{p.localPaths, p.localPrefixes} {
		for k, at := range local {
			if at.Before(cutoff) {
				delete(local, k)
				n++
			}
		}
	}
	if n > 0 {
		p.version.Add(1)
	}
	return n
}

// Len is the number of rules held (fleet and node-only).
func (p *Purges) Len() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.paths) + len(p.prefixes) + len(p.localPaths) + len(p.localPrefixes)
}

// Check judges e at now. It allocates nothing.
func (p *Purges) Check(e *Entry, now time.Time) Verdict {
	if p == nil {
		return Proven
	}
	fleet := p.fleet.Load()
	// An entry of a lost history (filled in an older epoch, or stored
	// before the floor) records a position that means nothing in the
	// current log: any rule for its source purges it.
	old := fleet && (e.Gen != 0 && e.Gen != p.gen.Load() || e.StoredAt.UnixNano() < p.floor.Load())
	if v := p.version.Load(); e.verified.Load() != v {
		if p.covered(e, old) {
			return Purged
		}
		e.verified.Store(v)
	}
	switch {
	case !fleet:
		return Proven
	case old:
		return Unproven
	}
	stored := e.StoredAt.UnixNano()
	if n := now.UnixNano(); n-p.synced.Load() > int64(p.bound) && stored < n-int64(p.bound) {
		return Unproven
	}
	return Proven
}

// covered reports whether a rule purges e: one logged after its fill
// began, or any rule for its source when e is of a lost history (old).
func (p *Purges) covered(e *Entry, old bool) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if m, ok := p.paths[e.Source]; ok && (old || e.PurgeSeq < m.seq) {
		return true
	}
	for _, n := range p.lengths {
		if n > len(e.Source) {
			break
		}
		if m, ok := p.prefixes[e.Source[:n]]; ok && (old || e.PurgeSeq < m.seq) {
			return true
		}
	}
	if len(p.localPaths)+len(p.localPrefixes) == 0 {
		return false
	}
	if at, ok := p.localPaths[e.Source]; ok && e.StoredAt.Before(at) {
		return true
	}
	for path, at := range p.localPrefixes {
		if strings.HasPrefix(e.Source, path) && e.StoredAt.Before(at) {
			return true
		}
	}
	return false
}
