package edge

import (
	"strings"
	"sync"
)

// variantLogBytes bounds the memory of the queries remembered, across every
// path: a path is up to the 8 KiB request line, so a count alone would not.
const variantLogBytes = 16 << 20

// variantEntryOverhead is what one remembered query costs beyond its bytes
// (map slots, string headers).
const variantEntryOverhead = 64

// variantLog remembers the queries this node answered for each public path,
// for a cache in front that can purge only exact keys (nginx's cache purge
// has no wildcard in Debian's build): a purge of the path is forwarded as
// one purge per query remembered. With cache.canonical_redirect on, the
// queries a cache stores images under are canonical, so they are few.
type variantLog struct {
	mu    sync.Mutex
	paths map[string]map[string]struct{}
	bytes int // held, by entryBytes
}

// entryBytes is what one remembered query of path holds.
func entryBytes(path, query string) int { return len(path) + len(query) + variantEntryOverhead }

type variantKey struct{ path, query string }

func (l *variantLog) record(path, query []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.paths == nil {
		l.paths = map[string]map[string]struct{}{}
	}
	if _, ok := l.paths[string(path)][string(query)]; ok {
		return
	}
	for l.bytes+entryBytes(string(path), string(query)) > variantLogBytes && len(l.paths) > 0 {
		for p, old := range l.paths { // any one path: the map's order is random
			for q := range old {
				l.bytes -= entryBytes(p, q)
			}
			delete(l.paths, p)
			break
		}
	}
	// Looked up after the eviction, which may have dropped this very path.
	qs := l.paths[string(path)]
	if qs == nil {
		qs = map[string]struct{}{}
		l.paths[string(path)] = qs
	}
	qs[string(query)] = struct{}{}
	l.bytes += entryBytes(string(path), string(query))
}

// keys returns the remembered path and query pairs of path, or of every
// path under it when prefix is set; the original (no query) is always one.
func (l *variantLog) keys(path string, prefix bool) []variantKey {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []variantKey
	if !prefix {
		out = append(out, variantKey{path: path})
	}
	for p, qs := range l.paths {
		if p != path && (!prefix || !strings.HasPrefix(p, path)) {
			continue
		}
		for q := range qs {
			if q != "" || prefix {
				out = append(out, variantKey{path: p, query: q})
			}
		}
	}
	return out
}
