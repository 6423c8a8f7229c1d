package edge

import (
	"strings"
	"sync"
)

// variantLogBytes bounds the memory of the cache keys remembered, across
// every path: a key is up to a request's headers, so a count alone would not.
const variantLogBytes = 16 << 20

// variantEntryOverhead is what one remembered key costs beyond its bytes
// (map slots, string headers).
const variantEntryOverhead = 64

// cacheKeyHeader is where a cache in front that can purge only exact keys
// names the key it stores an answer under (the README's nginx does: nginx's
// cache purge has no wildcard in Debian's build). The key holds whatever
// that cache varies on, Host, Accept bucket, Origin and client hints, which
// only it knows how to spell.
var cacheKeyHeader = []byte("Imgedge-Cache-Key")

// variantLog remembers, for each public path, the keys a cache in front
// stored this node's answers under: a purge of the path is forwarded as one
// purge per key remembered.
type variantLog struct {
	mu    sync.Mutex
	paths map[string]map[string]struct{}
	bytes int // held, by entryBytes
}

// entryBytes is what one remembered key of path holds.
func entryBytes(path, key string) int { return len(path) + len(key) + variantEntryOverhead }

func (l *variantLog) record(path, key []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.paths == nil {
		l.paths = map[string]map[string]struct{}{}
	}
	if _, ok := l.paths[string(path)][string(key)]; ok {
		return
	}
	for l.bytes+entryBytes(string(path), string(key)) > variantLogBytes && len(l.paths) > 0 {
		for p, old := range l.paths { // any one path: the map's order is random
			for q := range old {
				l.bytes -= entryBytes(p, q)
			}
			delete(l.paths, p)
			break
		}
	}
	// Looked up after the eviction, which may have dropped this very path.
	keys := l.paths[string(path)]
	if keys == nil {
		keys = map[string]struct{}{}
		l.paths[string(path)] = keys
	}
	keys[string(key)] = struct{}{}
	l.bytes += entryBytes(string(path), string(key))
}

// keys returns the remembered keys of path, or of every path under it when
// prefix is set.
func (l *variantLog) keys(path string, prefix bool) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for p, keys := range l.paths {
		if p != path && (!prefix || !strings.HasPrefix(p, path)) {
			continue
		}
		for k := range keys {
			out = append(out, k)
		}
	}
	return out
}
