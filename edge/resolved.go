package edge

import (
	"bytes"
	"hash/maphash"
	"sync/atomic"

	"imgedge/transform"
)

const (
	// resolvedSlots is how many URLs the memo holds: a page's worth of
	// image URLs many times over.
	resolvedSlots = 4096
	// resolvedMaxInput bounds the host, path, query and Accept header of a
	// request the memo keeps: image URLs are a few dozen bytes to a few
	// hundred and a browser's Accept under 100, and 4,096 entries of at
	// most about 3 KB each stay within 12 MiB whatever clients send (8 KB
	// paths that 404 once pinned 90 MiB).
	resolvedMaxInput = 512
)

// resolvedMemo remembers what resolve made of a request, by everything it
// read: the policy and flag rollouts in force (by identity: a reload or a
// PUT /flags swaps them whole, and clears the memo), the host, the path,
// the raw query, the Accept header as sent (negotiating it cost a hit more
// than comparing it) and the values of the client hints the URL names. The same inputs give the same spec and key,
// so a request seen before skips the parse and the key (about 3.8 us of a
// browser's hit, 47 % of the handler, profiled over HTTP).
//
// A URL is kept from its second sighting in a row in its slot, and a kept
// one that was used since the last URL that wanted its slot stays: a crawl
// of URLs asked once (a random ignored parameter, misses) passes through
// without allocating or displacing the hot ones. Entries are never changed
// once published but for that mark, so readers need no lock.
type resolvedMemo struct {
	seed  maphash.Seed
	slots [resolvedSlots]resolvedSlot
}

type resolvedSlot struct {
	entry atomic.Pointer[resolvedURL]
	ghost atomic.Uint64 // hash of the last URL refused the slot: seen again, it is kept
}

// resolvedURL is one memo entry: resolve's inputs, then its outputs.
type resolvedURL struct {
	pol               *policy
	flags             *flagState
	host, path, query []byte
	accept            []byte
	hintsNamed        transform.Hint        // the hints the URL names (ch=, or its preset)
	hints             transform.ClientHints // their values; the others are zero

	up        *upstream
	source    uint64
	objPath   []byte
	original  bool
	spec      transform.Spec
	vary      varyBits
	decisions flagDecisions
	key       []byte

	used atomic.Bool // answered a request since a new URL last asked for the slot
}

func newResolvedMemo() *resolvedMemo {
	return &resolvedMemo{seed: maphash.MakeSeed()}
}

// slot returns the slot of these inputs and their hash; nil for inputs
// too long to keep.
func (m *resolvedMemo) slot(host, path, query, accept []byte) (*resolvedSlot, uint64) {
	if len(host)+len(path)+len(query)+len(accept) > resolvedMaxInput {
		return nil, 0
	}
	var h maphash.Hash
	h.SetSeed(m.seed)
	h.Write(host)
	h.WriteByte(0)
	h.Write(path)
	h.WriteByte(0)
	h.Write(query)
	h.WriteByte(0)
	h.Write(accept)
	sum := h.Sum64()
	return &m.slots[sum%resolvedSlots], sum
}

// clear empties the memo, so that no entry keeps a replaced policy or
// rollout alive (a policy with thousands of presets is megabytes).
func (m *resolvedMemo) clear() {
	for i := range m.slots {
		m.slots[i].entry.Store(nil)
	}
}

// lookup returns the slot's entry when it is for these inputs, else nil.
// hints reads the request's values of the client hints named, only for an
// entry whose URL names some.
func (sl *resolvedSlot) lookup(pol *policy, fs *flagState, host, path, query, accept []byte,
	hints func(named transform.Hint) transform.ClientHints) *resolvedURL {
	e := sl.entry.Load()
	if e == nil || e.pol != pol || e.flags != fs || !bytes.Equal(e.query, query) ||
		!bytes.Equal(e.path, path) || !bytes.Equal(e.host, host) || !bytes.Equal(e.accept, accept) {
		return nil
	}
	if e.hintsNamed != 0 && hints(e.hintsNamed) != e.hints {
		return nil
	}
	if !e.used.Load() { // a write only when it changes: hot entries stay shared read-only
		e.used.Store(true)
	}
	return e
}

// admits says whether the URL hashed to sum may take the slot now: the
// slot is empty or holds an entry of a policy or rollout no longer in
// force, or the URL was the last one refused and its rival was not used
// since. A refusal takes the resident's mark, so that it keeps its place
// only while it is used.
func (sl *resolvedSlot) admits(pol *policy, fs *flagState, sum uint64) bool {
	e := sl.entry.Load()
	if e == nil || e.pol != pol || e.flags != fs {
		return sl.ghost.Swap(sum) == sum
	}
	if sl.ghost.Swap(sum) != sum {
		return false
	}
	return !e.used.Swap(false)
}

// namedHints keeps of h the hints the URL names: the parse reads no other,
// and browsers send every hint accept_ch asks for.
func namedHints(h transform.ClientHints, named transform.Hint) transform.ClientHints {
	if named&transform.HintDPR == 0 {
		h.DPR = 0
	}
	if named&transform.HintWidth == 0 {
		h.Width = 0
	}
	if named&transform.HintViewportWidth == 0 {
		h.ViewportWidth = 0
	}
	if named&transform.HintSaveData == 0 {
		h.SaveData = false
	}
	return h
}
