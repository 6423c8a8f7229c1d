// Package signing signs and verifies imgedge URLs: the hex
// HMAC-SHA256, under any configured key, of the request path plus "?" plus
// the query without its s pair, in the order sent. When the edge routes by
// Host, the message starts with the host (lower case, without a port), so a
// URL signed for one tenant's host does not serve another's object under
// the same path. The imgix scheme is the other one: the hex MD5 of the
// token followed by the same path and query, as imgix's SDKs sign URLs.
package signing

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"hash"
	"strings"
	"sync"
)

// Scheme is how a URL is signed.
type Scheme uint8

const (
	// HMACSHA256 is imgedge's own: HMAC-SHA256 under the key.
	HMACSHA256 Scheme = iota
	// Imgix is imgix's: MD5 of the token, the path and the query. MD5 with a
	// secret prefix is weaker than an HMAC (length extension can append to
	// the query, though only past the signed pairs, which the s pair must
	// end); it is offered so that URLs signed by imgix's SDKs verify.
	Imgix
)

// ParseScheme reads signing.scheme.
func ParseScheme(s string) (Scheme, error) {
	switch s {
	case "", "hmac-sha256":
		return HMACSHA256, nil
	case "imgix":
		return Imgix, nil
	}
	return 0, errors.New(`signing: scheme must be hmac-sha256 or imgix`)
}

func (s Scheme) hash(key []byte) hash.Hash {
	if s == Imgix {
		return &prefixed{Hash: md5.New(), prefix: key}
	}
	return hmac.New(sha256.New, key)
}

// prefixed is a hash that starts every message with prefix (the imgix
// token): Reset writes it again.
type prefixed struct {
	hash.Hash
	prefix []byte
}

func (p *prefixed) Reset() {
	p.Hash.Reset()
	p.Hash.Write(p.prefix)
}

// Verifier checks signatures against one or more keys (several allow
// rotation). It is safe for concurrent use and allocates nothing per check.
type Verifier struct {
	keys     [][]byte
	withHost bool
	scheme   Scheme
	size     int       // digest bytes
	macs     sync.Pool // *macSet
}

// macSet is one HMAC state per key and a digest buffer: pooled, because a
// buffer handed to hash.Hash's Sum escapes and would allocate per check.
type macSet struct {
	hs   []hash.Hash
	sum  []byte
	host []byte // the host, lower-cased
}

// NewVerifier returns a Verifier for keys, or nil when there are none (URLs
// are then not signed). withHost makes the host part of what is signed
// (imgedge's scheme only: imgix's never signs the host).
func NewVerifier(keys []string, withHost bool, scheme Scheme) *Verifier {
	if len(keys) == 0 {
		return nil
	}
	v := &Verifier{withHost: withHost && scheme == HMACSHA256, scheme: scheme, size: scheme.hash(nil).Size()}
	for _, k := range keys {
		v.keys = append(v.keys, []byte(k))
	}
	v.macs.New = func() any {
		m := &macSet{hs: make([]hash.Hash, len(v.keys)), sum: make([]byte, 0, sha256.Size), host: make([]byte, 0, 64)}
		for i, k := range v.keys {
			m.hs[i] = scheme.hash(k)
		}
		return m
	}
	return v
}

// HowToSign tells a person what s must be under v: the message and the
// digest of v's scheme, for the 403 of a URL that fails.
func (v *Verifier) HowToSign() string {
	switch {
	case v.scheme == Imgix:
		return "s, the hex MD5 of this route's token followed by the path and query as sent (without s), as imgix signs (secureURLToken in imgix's SDKs)"
	case v.withHost:
		return "s, the hex HMAC-SHA256 of the host (lower case, no port) followed by the path and query as sent, without s (see `imgedge sign -host`)"
	}
	return "s, the hex HMAC-SHA256 of the path and query as sent, without s (see `imgedge sign`)"
}

// Verify reports whether rawQuery carries an s pair that signs path and the
// rest of rawQuery (after host, when the Verifier signs hosts). host is the
// Host header; path and rawQuery are the request's, as sent (not decoded).
func (v *Verifier) Verify(host, path, rawQuery []byte) bool {
	var want [sha256.Size]byte
	sig, ok := findSig(rawQuery)
	if !ok || len(sig) != hex.EncodedLen(v.size) {
		return false
	}
	if _, err := hex.Decode(want[:v.size], sig); err != nil {
		return false
	}
	m := v.macs.Get().(*macSet)
	defer v.macs.Put(m)
	m.host = m.host[:0]
	if v.withHost {
		m.host = appendHost(m.host, host)
	}
	match := 0
	for _, h := range m.hs {
		h.Reset()
		h.Write(m.host)
		writeMessage(h, path, rawQuery)
		// Every key is tried, so the time taken does not tell which matched.
		m.sum = h.Sum(m.sum[:0])
		match |= subtle.ConstantTimeCompare(m.sum, want[:v.size])
	}
	return match == 1
}

// nextPair splits the first key=value pair off a raw query.
func nextPair(q []byte) (pair, rest []byte) {
	if i := bytes.IndexByte(q, '&'); i >= 0 {
		return q[:i], q[i+1:]
	}
	return q, nil
}

// isSig reports the s pair.
func isSig(pair []byte) bool {
	return len(pair) > 0 && pair[0] == 's' && (len(pair) == 1 || pair[1] == '=')
}

// findSig returns the value of the s pair.
func findSig(q []byte) ([]byte, bool) {
	for len(q) > 0 {
		var pair []byte
		pair, q = nextPair(q)
		if isSig(pair) && len(pair) >= 2 {
			return pair[2:], true
		}
	}
	return nil, false
}

// writeMessage writes path, then "?" and the pairs other than s joined by
// "&", when there are any.
func writeMessage(h hash.Hash, path, q []byte) {
	h.Write(path)
	first := true
	for len(q) > 0 {
		var pair []byte
		pair, q = nextPair(q)
		if len(pair) == 0 || isSig(pair) {
			continue
		}
		if first {
			h.Write(questionMark)
			first = false
		} else {
			h.Write(ampersand)
		}
		h.Write(pair)
	}
}

// Separators as package values: a literal passed to hash.Hash's Write
// escapes and would allocate on every check.
var questionMark, ampersand = []byte{'?'}, []byte{'&'}

// appendHost appends host lower-cased and without its port.
func appendHost(dst, host []byte) []byte {
	if i := bytes.LastIndexByte(host, ':'); i >= 0 && bytes.IndexByte(host[i:], ']') < 0 {
		host = host[:i]
	}
	for _, c := range host {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// Sign returns uri signed with imgedge's scheme (see Scheme.Sign).
func Sign(key, host, uri string) (string, error) { return HMACSHA256.Sign(key, host, uri) }

// Sign returns uri (a path with an optional query, as it will be sent) with
// its s pair appended. A non-empty host is signed with it, for an edge that
// routes by Host (imgedge's scheme only).
func (sc Scheme) Sign(key, host, uri string) (string, error) {
	if key == "" {
		return "", errors.New("signing: empty key")
	}
	if !strings.HasPrefix(uri, "/") {
		return "", errors.New("signing: the URL must start with its path, e.g. /photos/cat.jpg?w=300")
	}
	uri = sendable(uri)
	path, query, _ := strings.Cut(uri, "?")
	if _, ok := findSig([]byte(query)); ok {
		return "", errors.New("signing: the URL already has an s parameter")
	}
	h := sc.hash([]byte(key))
	h.Reset()
	if sc == HMACSHA256 {
		h.Write(appendHost(nil, []byte(host)))
	}
	writeMessage(h, []byte(path), []byte(query))
	sig := hex.EncodeToString(h.Sum(nil))
	if query == "" {
		return path + "?s=" + sig, nil
	}
	return uri + "&s=" + sig, nil
}

// sendable percent-encodes what a URL cannot carry as it is, or what
// imgix's SDKs encode in a path: controls, space, bytes past ASCII, and
// "#<>[\]^`{|}. A signature covers the URL as sent, and a client sends
// /my photo.jpg as /my%20photo.jpg: signed as typed, it was refused.
// imgix's SDKs encode a path so before they sign it (encodeURI in
// @imgix/js-core, url.PathEscape in imgix-go; both agree on these bytes),
// so Sign prints their URL. A percent sign is left as it is: a URI already
// encoded stays the same.
func sendable(uri string) string {
	var b strings.Builder
	encoded := false
	for i := 0; i < len(uri); i++ {
		c := uri[i]
		if c > ' ' && c < 0x7f && !strings.ContainsRune("\"#<>[\\]^`{|}", rune(c)) {
			if encoded {
				b.WriteByte(c)
			}
			continue
		}
		if !encoded {
			b.WriteString(uri[:i])
			encoded = true
		}
		b.WriteByte('%')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&15])
	}
	if !encoded {
		return uri
	}
	return b.String()
}

const upperHex = "0123456789ABCDEF"
