package edge

import (
	"strings"
	"sync"
)

// variantLogMax bounds the queries remembered, across every path.
const variantLogMax = 100_000

// variantLog remembers the queries this node answered for each public path,
// for a cache in front that can purge only exact keys (nginx's cache purge
// has no wildcard in Debian's build): a purge of the path is forwarded as
// one purge per query remembered. With cache.canonical_redirect on, the
// queries a cache stores images under are canonical, so they are few.
type variantLog struct {
	mu    sync.Mutex
	paths map[string]map[string]struct{}
	n     int
}

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
	for l.n >= variantLogMax {
		for p, old := range l.paths { // any one path: the map's order is random
			l.n -= len(old)
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
	l.n++
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
