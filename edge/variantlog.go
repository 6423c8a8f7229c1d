package edge

import (
	"bytes"
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
var cacheKeyHeader = []byte(cacheKeyName)

const cacheKeyName = "Imgedge-Cache-Key"

// maxKeysPerPath bounds the keys remembered for one path: a purge sends
// one request per key, and a client choosing Origin or hint values makes a
// cache in front store (and name) a key each. A path over it is marked, so
// that its purge says that some keys were not remembered.
const maxKeysPerPath = 1024

// variantLog remembers, for each public path, the keys a cache in front
// stored this node's answers under: a purge of the path is forwarded as one
// purge per key remembered. It knows only the keys named to this node since
// it started, and says when it had to forget some.
type variantLog struct {
	mu      sync.Mutex
	paths   map[string]*pathKeys
	bytes   int  // held, by entryBytes
	evicted bool // a path's keys were dropped for memory: any path may miss some
}

type pathKeys struct {
	keys     map[string]struct{}
	overflow bool // more than maxKeysPerPath were named
}

// entryBytes is what one remembered key of path holds.
func entryBytes(path, key string) int { return len(path) + len(key) + variantEntryOverhead }

func (l *variantLog) record(path, key []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.paths == nil {
		l.paths = map[string]*pathKeys{}
	}
	if pk := l.paths[string(path)]; pk != nil {
		if _, ok := pk.keys[string(key)]; ok {
			return
		}
		if len(pk.keys) >= maxKeysPerPath {
			pk.overflow = true
			return
		}
	}
	for l.bytes+entryBytes(string(path), string(key)) > variantLogBytes && len(l.paths) > 0 {
		for p, old := range l.paths { // any one path: the map's order is random
			for k := range old.keys {
				l.bytes -= entryBytes(p, k)
			}
			delete(l.paths, p)
			l.evicted = true
			break
		}
	}
	// Looked up after the eviction, which may have dropped this very path.
	pk := l.paths[string(path)]
	if pk == nil {
		pk = &pathKeys{keys: map[string]struct{}{}}
		l.paths[string(path)] = pk
	}
	pk.keys[string(key)] = struct{}{}
	l.bytes += entryBytes(string(path), string(key))
}

// keys returns the remembered keys of path, or of every path under it when
// prefix is set, and whether they are all that were named since start.
func (l *variantLog) keys(path string, prefix bool) (keys []string, complete bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	complete = !l.evicted
	for p, pk := range l.paths {
		if p != path && (!prefix || !strings.HasPrefix(p, path)) {
			continue
		}
		complete = complete && !pk.overflow
		for k := range pk.keys {
			keys = append(keys, k)
		}
	}
	return keys, complete
}

// nameable says whether key may be the cache key of a request for host,
// path and query, as the README's nginx spells it ($host$uri|$args|...):
// a client cannot make this node remember, and later purge, keys of other
// objects.
func nameable(key, host, path, query []byte) bool {
	if i := bytes.LastIndexByte(host, ':'); i >= 0 && bytes.IndexByte(host[i:], ']') < 0 {
		host = host[:i]
	}
	if len(key) < len(host) || !bytes.EqualFold(key[:len(host)], host) {
		return false
	}
	rest := key[len(host):]
	if !bytes.HasPrefix(rest, path) || len(rest) <= len(path) || rest[len(path)] != '|' {
		return false
	}
	rest = rest[len(path)+1:]
	return bytes.HasPrefix(rest, query) && len(rest) > len(query) && rest[len(query)] == '|'
}
