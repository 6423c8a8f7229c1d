package cache

import (
	"strings"
	"sync"
	"sync/atomic"
)

// PurgeRule drops every entry whose Source is Path (Prefix false) or starts
// with Path (Prefix true) and whose fill began before sequence Seq.
type PurgeRule struct {
	Path   string
	Prefix bool
	Seq    uint64
}

// Purges is the set of purges this node knows, and the fleet's purge
// sequence as far as it has seen it. Fills record the sequence when they
// begin (Entry.PurgeSeq); an entry filled before a purge that covers its
// source is a miss in every tier. Checking costs one atomic load when there
// has been no purge, a map lookup and a short scan after.
type Purges struct {
	mu    sync.Mutex // serialises Apply
	seq   atomic.Uint64
	rules atomic.Pointer[purgeSet]
}

type purgeSet struct {
	paths    map[string]uint64 // source -> latest purge sequence
	prefixes []PurgeRule
}

// Seq is the latest purge sequence applied here: what a fill beginning now
// records.
func (p *Purges) Seq() uint64 {
	if p == nil {
		return 0
	}
	return p.seq.Load()
}

// Apply adds rules (from this node or the fleet) and advances the sequence.
func (p *Purges) Apply(rules ...PurgeRule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := &purgeSet{paths: map[string]uint64{}}
	if old := p.rules.Load(); old != nil {
		for k, v := range old.paths {
			next.paths[k] = v
		}
		next.prefixes = append(next.prefixes, old.prefixes...)
	}
	seq := p.seq.Load()
	for _, r := range rules {
		if r.Prefix {
			next.prefixes = append(next.prefixes, r)
		} else if r.Seq > next.paths[r.Path] {
			next.paths[r.Path] = r.Seq
		}
		seq = max(seq, r.Seq)
	}
	p.rules.Store(next)
	p.seq.Store(seq)
}

// Valid reports whether no known purge covers e.
func (p *Purges) Valid(e *Entry) bool {
	if p == nil {
		return true
	}
	set := p.rules.Load()
	if set == nil {
		return true
	}
	if s, ok := set.paths[e.Source]; ok && e.PurgeSeq < s {
		return false
	}
	for _, r := range set.prefixes {
		if e.PurgeSeq < r.Seq && strings.HasPrefix(e.Source, r.Path) {
			return false
		}
	}
	return true
}
