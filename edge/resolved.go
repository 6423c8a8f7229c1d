package edge

import (
	"bytes"
	"hash/maphash"
	"sync/atomic"

	"imgedge/transform"
)

// resolvedSlots is how many URLs the memo holds: a page's worth of image
// URLs many times over, at about 400 bytes each.
const resolvedSlots = 4096

// resolvedMemo remembers what resolve made of a request, by everything it
// read: the policy and flag rollouts in force (by identity: a reload or a
// PUT /flags swaps them whole), the host, the path, the raw query, the
// formats the Accept header allows and, when the URL asked for client
// hints, their values. The same inputs give the same spec and key, so a
// request seen before skips the parse and the key (about 3.8 us of a
// browser's hit, 47 % of the handler, profiled over HTTP). A slot holds one
// URL; one that was used since the last URL that wanted its slot keeps it,
// so a stream of new URLs (a crawl, misses) passes through without
// displacing the hot ones or allocating. Entries are never changed once
// published but for that mark, so readers need no lock.
type resolvedMemo struct {
	seed  maphash.Seed
	slots [resolvedSlots]atomic.Pointer[resolvedURL]
}

// resolvedURL is one memo entry: resolve's inputs, then its outputs.
type resolvedURL struct {
	pol               *policy
	flags             *flagState
	host, path, query []byte
	accepted          transform.Accepted
	hinted            bool                  // the hints below were read
	hints             transform.ClientHints // when hinted

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

func (m *resolvedMemo) slot(host, path, query []byte, accepted transform.Accepted) *atomic.Pointer[resolvedURL] {
	var h maphash.Hash
	h.SetSeed(m.seed)
	h.Write(host)
	h.WriteByte(0)
	h.Write(path)
	h.WriteByte(0)
	h.Write(query)
	h.WriteByte(byte(accepted))
	return &m.slots[h.Sum64()%resolvedSlots]
}

// lookup returns the slot's entry when it is for these inputs, else nil.
// hints reads the request's client hints, only for an entry that used them.
func lookupResolved(slot *atomic.Pointer[resolvedURL], pol *policy, fs *flagState, host, path, query []byte,
	accepted transform.Accepted, hints func() transform.ClientHints) *resolvedURL {
	e := slot.Load()
	if e == nil || e.pol != pol || e.flags != fs || e.accepted != accepted ||
		!bytes.Equal(e.query, query) || !bytes.Equal(e.path, path) || !bytes.Equal(e.host, host) {
		return nil
	}
	if e.hinted && hints() != e.hints {
		return nil
	}
	if !e.used.Load() { // a write only when it changes: hot entries stay shared read-only
		e.used.Store(true)
	}
	return e
}

// admits says whether a new URL may take the slot: it is empty, its entry
// is from a policy or rollout no longer in force, or unused since the last
// ask (which it now loses the mark of, and its place at the next).
func admits(slot *atomic.Pointer[resolvedURL], pol *policy, fs *flagState) bool {
	e := slot.Load()
	if e == nil || e.pol != pol || e.flags != fs {
		return true
	}
	return !e.used.Swap(false)
}
