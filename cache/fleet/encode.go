package fleet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"imgedge/cache"
)

// entryMagic starts every encoded entry; its last byte is the format
// version (FormatVersion): a value in the shared tier that does not start
// with it (another program's, a format this release does not read) is a
// miss. Format 2: magic, flags (the low five bits; the top three hold
// Entry.Clamp, which releases before it ignore), five varint unix-nanosecond times
// (last-modified, stored, fresh until, swr until, sie until; 0 for none),
// uvarint purge sequence, varint client max-age, seven length-prefixed
// strings (content type, ETag, Last-Modified, origin Cache-Control, origin
// ETag, source ETag, source) and the length-prefixed body, nothing after.
var entryMagic = [4]byte{'i', 'e', 'e', FormatVersion}

// ErrCorrupt means bytes do not decode as an entry.
var ErrCorrupt = errors.New("cache: corrupt entry")

const (
	flagNoStore = 1 << iota
	flagNotFound
	flagClientLimited
	flagNoCache
	flagMustRevalidate
	// clampShift places Entry.Clamp in the flags' top three bits: a format
	// 2 reader that predates it ignores them, so no new format is needed.
	clampShift = 5
	clampMask  = 7 << clampShift
)

// AppendEntry appends e's encoding to dst: what a shared tier stores.
func AppendEntry(dst []byte, e *cache.Entry) []byte {
	dst = append(dst, entryMagic[:]...)
	var flags byte
	if e.NoStore {
		flags |= flagNoStore
	}
	if e.NotFound {
		flags |= flagNotFound
	}
	d := &e.Downstream
	for _, f := range []struct {
		on  bool
		bit byte
	}{{d.ClientLimited, flagClientLimited}, {d.NoCache, flagNoCache}, {d.MustRevalidate, flagMustRevalidate}} {
		if f.on {
			flags |= f.bit
		}
	}
	flags |= e.Clamp << clampShift & clampMask
	dst = append(dst, flags)
	for _, t := range []time.Time{e.LastModifiedAt, e.StoredAt, e.FreshUntil, e.StaleWhileRevalidateUntil, e.StaleIfErrorUntil} {
		var n int64
		if !t.IsZero() {
			n = t.UnixNano()
		}
		dst = binary.AppendVarint(dst, n)
	}
	dst = binary.AppendUvarint(dst, e.PurgeSeq)
	dst = binary.AppendVarint(dst, int64(d.ClientMaxAge))
	for _, s := range []string{e.ContentType, e.ETag, e.LastModified, e.OriginCacheControl, e.OriginETag, e.SourceTag, e.Source} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(e.Body)))
	return append(dst, e.Body...)
}

// DecodeEntry reads an entry AppendEntry wrote. The entry's Body aliases b.
func DecodeEntry(b []byte) (*cache.Entry, error) {
	if len(b) < len(entryMagic)+1 || [4]byte(b[:4]) != entryMagic {
		return nil, fmt.Errorf("%w: not an imgedge entry", ErrCorrupt)
	}
	flags := b[4]
	r := b[5:]
	e := &cache.Entry{NoStore: flags&flagNoStore != 0, NotFound: flags&flagNotFound != 0, Clamp: flags & clampMask >> clampShift, Downstream: cache.Downstream{
		ClientLimited: flags&flagClientLimited != 0, NoCache: flags&flagNoCache != 0, MustRevalidate: flags&flagMustRevalidate != 0}}
	for _, t := range []*time.Time{&e.LastModifiedAt, &e.StoredAt, &e.FreshUntil, &e.StaleWhileRevalidateUntil, &e.StaleIfErrorUntil} {
		n, k := binary.Varint(r)
		if k <= 0 {
			return nil, fmt.Errorf("%w: truncated time", ErrCorrupt)
		}
		r = r[k:]
		if n != 0 {
			*t = time.Unix(0, n)
		}
	}
	seq, k := binary.Uvarint(r)
	if k <= 0 {
		return nil, fmt.Errorf("%w: truncated sequence", ErrCorrupt)
	}
	e.PurgeSeq, r = seq, r[k:]
	maxAge, k := binary.Varint(r)
	if k <= 0 {
		return nil, fmt.Errorf("%w: truncated max-age", ErrCorrupt)
	}
	e.Downstream.ClientMaxAge, r = time.Duration(maxAge), r[k:]
	field := func() ([]byte, error) {
		n, k := binary.Uvarint(r)
		if k <= 0 || n > uint64(len(r)-k) {
			return nil, fmt.Errorf("%w: truncated field", ErrCorrupt)
		}
		f := r[k : k+int(n)]
		r = r[k+int(n):]
		return f, nil
	}
	for _, s := range []*string{&e.ContentType, &e.ETag, &e.LastModified, &e.OriginCacheControl, &e.OriginETag, &e.SourceTag, &e.Source} {
		f, err := field()
		if err != nil {
			return nil, err
		}
		*s = string(f)
	}
	body, err := field()
	if err != nil {
		return nil, err
	}
	if len(r) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the body", ErrCorrupt, len(r))
	}
	if len(body) > 0 {
		e.Body = body
	}
	return e, nil
}
