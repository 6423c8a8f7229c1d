package edge

import (
	"context"
	"encoding/hex"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fasthttp"

	"imgedge/cache"
	"imgedge/transform"
)

// scratch is per-request working memory, pooled so that a cache hit
// allocates nothing.
type scratch struct {
	b   transform.Builder
	key []byte
	hdr []byte
}

// Handle is the public request handler.
func (s *Server) Handle(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in request", "request_id", requestID(ctx), "path", string(ctx.Path()),
				"panic", p, "stack", string(debug.Stack()))
			s.fail(ctx, errPanic, false)
		}
	}()
	if !ctx.IsGet() && !ctx.IsHead() {
		s.fail(ctx, errMethod, false)
		return
	}
	sc := s.scratch.Get().(*scratch)
	defer s.scratch.Put(sc)

	// ctx.Path is percent-decoded once and has its dot segments resolved by
	// fasthttp; origins check it again against their own root.
	up, objPath := s.router.pick(ctx.Host(), ctx.Path())
	sc.b.Reset(s.parser)
	for k, v := range ctx.QueryArgs().All() {
		sc.b.Add(k, v)
	}
	original := sc.b.Empty()
	var spec transform.Spec
	if !original {
		var err error
		if spec, err = sc.b.Finish(); err != nil {
			s.fail(ctx, err, false)
			return
		}
		if spec.AutoFormat {
			spec.Accepted = transform.Negotiate(ctx.Request.Header.Peek(fasthttp.HeaderAccept))
		}
	}
	sc.key = appendKey(sc.key[:0], up.id, objPath, original, &spec)
	store := s.variants
	if original {
		store = s.originals
	}
	if e, ok := store.Get(b2s(sc.key)); ok && e.Fresh(start) {
		s.writeHit(ctx, sc, e, spec.AutoFormat, start)
		return
	}
	s.serveMiss(ctx, sc, up, objPath, original, spec, start)
}

// appendKey writes the cache key: the tier prefix, the origin, the object
// path and, for variants, the canonical spec. The raw query never enters it.
func appendKey(dst []byte, originID string, path []byte, original bool, spec *transform.Spec) []byte {
	if original {
		dst = append(dst, "o|"...)
	} else {
		dst = append(dst, "v|"...)
	}
	dst = append(dst, originID...)
	dst = append(dst, '|')
	dst = append(dst, path...)
	if !original {
		dst = append(dst, '?')
		dst = spec.AppendKey(dst)
	}
	return dst
}

// missInfo travels with a fill to every request that shared it.
type missInfo struct {
	origin       time.Duration
	transform    time.Duration
	sourceCached bool
}

func (s *Server) serveMiss(ctx *fasthttp.RequestCtx, sc *scratch, up *upstream, objPath []byte, original bool, spec transform.Spec, start time.Time) {
	// Copies: request memory is reused after the handler returns, while a
	// fill may outlive this request (habit 7 of STYLE.md).
	key, path := string(sc.key), string(objPath)
	wait, cancel := context.WithTimeout(context.Background(), s.fillWait)
	defer cancel()
	var (
		fill    cache.Fill
		outcome cache.Outcome
		err     error
	)
	if original {
		fill, outcome, err = s.source(wait, up, key, path)
	} else {
		okey := string(appendKey(nil, up.id, objPath, true, nil))
		fill, outcome, err = s.variantFills.Do(wait, key, func(fctx context.Context) (cache.Fill, error) {
			return s.renderVariant(fctx, up, okey, path, spec)
		})
	}
	if err != nil {
		s.fail(ctx, err, spec.AutoFormat)
		return
	}
	s.writeMiss(ctx, sc, fill, outcome, spec.AutoFormat, start)
}

// source returns the original under key, fetching it once for all
// concurrent callers when the originals tier does not hold it fresh.
func (s *Server) source(ctx context.Context, up *upstream, key, path string) (cache.Fill, cache.Outcome, error) {
	if e, ok := s.originals.Get(key); ok && e.Fresh(time.Now()) {
		return cache.Fill{Entry: e, Keep: time.Until(e.FreshUntil), Meta: missInfo{sourceCached: true}}, cache.Hit, nil
	}
	return s.sources.Do(ctx, key, func(fctx context.Context) (cache.Fill, error) {
		t0 := time.Now()
		obj, err := up.fetcher.Fetch(fctx, path)
		if err != nil {
			return cache.Fill{}, &fetchError{path: path, err: err}
		}
		now := time.Now()
		f := s.fresh.parse(obj.CacheControl, obj.Expires, now)
		e := &cache.Entry{
			Body:         obj.Body,
			ContentType:  passthroughType(obj.Body),
			ETag:         etag(obj.Body),
			CacheControl: s.clientCacheControl,
			StoredAt:     now,
			FreshUntil:   now.Add(f.ttl),
		}
		if !obj.LastModified.IsZero() {
			e.LastModifiedAt = obj.LastModified
			e.LastModified = obj.LastModified.Format(http.TimeFormat)
		}
		fill := cache.Fill{Entry: e, Keep: f.ttl + s.keepExtra, Meta: missInfo{origin: now.Sub(t0)}}
		if f.noStore {
			e.CacheControl, fill.Keep = f.header, 0
		}
		return fill, nil
	})
}

// renderVariant is the variant fill: source (cached or fetched, collapsed),
// then one transform. The variant inherits the source's freshness and its
// no-store.
func (s *Server) renderVariant(ctx context.Context, up *upstream, okey, path string, spec transform.Spec) (cache.Fill, error) {
	src, _, err := s.source(ctx, up, okey, path)
	if err != nil {
		return cache.Fill{}, err
	}
	info, _ := src.Meta.(missInfo)
	t0 := time.Now()
	res, err := s.transformer.Transform(ctx, src.Entry.Body, spec)
	if err != nil {
		return cache.Fill{}, err
	}
	now := time.Now()
	info.transform = now.Sub(t0)
	e := &cache.Entry{
		Body:           res.Body,
		ContentType:    res.Format.ContentType(),
		ETag:           etag(res.Body),
		LastModified:   src.Entry.LastModified,
		LastModifiedAt: src.Entry.LastModifiedAt,
		CacheControl:   src.Entry.CacheControl,
		StoredAt:       now,
		FreshUntil:     src.Entry.FreshUntil,
	}
	fill := cache.Fill{Entry: e, Meta: info}
	if src.Keep > 0 {
		fill.Keep = max(e.FreshUntil.Sub(now), 0) + s.keepExtra
	}
	return fill, nil
}

// passthroughType is the Content-Type of an original served as is, from its
// magic bytes: an image format the edge knows, else an inert octet-stream, so
// that HTML or SVG (which can carry scripts) stored under an image name is
// never served with an active type.
func passthroughType(body []byte) string {
	if f := transform.Sniff(body); f != transform.FormatSource {
		return f.ContentType()
	}
	return "application/octet-stream"
}

// etag is a strong validator from the bytes: equal bytes, equal tag, on
// every node.
func etag(body []byte) string {
	var sum [8]byte
	h := xxhash.Sum64(body)
	for i := range sum {
		sum[i] = byte(h >> (56 - 8*i))
	}
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

func (s *Server) writeHit(ctx *fasthttp.RequestCtx, sc *scratch, e *cache.Entry, vary bool, start time.Time) {
	hdr := append(sc.hdr[:0], "imgedge; hit; ttl="...)
	hdr = strconv.AppendInt(hdr, e.TTL(start), 10)
	s.writeEntry(ctx, e, vary, hdr)
	hdr = append(hdr[:0], "cache;desc=memory, total;dur="...)
	hdr = appendMillis(hdr, time.Since(start))
	ctx.Response.Header.SetBytesV("Server-Timing", hdr)
	sc.hdr = hdr
}

func (s *Server) writeMiss(ctx *fasthttp.RequestCtx, sc *scratch, fill cache.Fill, outcome cache.Outcome, vary bool, start time.Time) {
	hdr := sc.hdr[:0]
	switch outcome {
	case cache.Hit:
		hdr = append(hdr, "imgedge; hit; ttl="...)
		hdr = strconv.AppendInt(hdr, fill.Entry.TTL(start), 10)
	case cache.Stored:
		hdr = append(hdr, "imgedge; fwd=uri-miss; stored"...)
	case cache.Collapsed:
		hdr = append(hdr, "imgedge; fwd=uri-miss; collapsed"...)
	default:
		hdr = append(hdr, "imgedge; fwd=uri-miss"...)
	}
	s.writeEntry(ctx, fill.Entry, vary, hdr)
	info, _ := fill.Meta.(missInfo)
	hdr = append(hdr[:0], "origin;dur="...)
	hdr = appendMillis(hdr, info.origin)
	if info.sourceCached {
		hdr = append(hdr, ";desc=cached"...)
	}
	hdr = append(hdr, ", transform;dur="...)
	hdr = appendMillis(hdr, info.transform)
	hdr = append(hdr, ", total;dur="...)
	hdr = appendMillis(hdr, time.Since(start))
	ctx.Response.Header.SetBytesV("Server-Timing", hdr)
	sc.hdr = hdr
}

// writeEntry sets the headers every answer from an entry carries, then the
// body, or 304 when the client's validators match (RFC 9110: If-None-Match
// wins over If-Modified-Since).
func (s *Server) writeEntry(ctx *fasthttp.RequestCtx, e *cache.Entry, vary bool, cacheStatus []byte) {
	h := &ctx.Response.Header
	h.SetBytesV("Cache-Status", cacheStatus)
	h.Set(fasthttp.HeaderETag, e.ETag)
	h.Set(fasthttp.HeaderCacheControl, e.CacheControl)
	if e.LastModified != "" {
		h.Set(fasthttp.HeaderLastModified, e.LastModified)
	}
	if vary {
		h.Set(fasthttp.HeaderVary, "Accept")
	}
	if notModified(&ctx.Request.Header, e) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		ctx.Response.SkipBody = true
		return
	}
	h.SetContentType(e.ContentType)
	ctx.Response.SetBodyRaw(e.Body) // shared, never written: cached bytes are immutable
}

func notModified(req *fasthttp.RequestHeader, e *cache.Entry) bool {
	if inm := req.Peek(fasthttp.HeaderIfNoneMatch); len(inm) > 0 {
		return etagListMatches(inm, e.ETag)
	}
	if ims := req.Peek(fasthttp.HeaderIfModifiedSince); len(ims) > 0 && !e.LastModifiedAt.IsZero() {
		t, err := fasthttp.ParseHTTPDate(ims)
		return err == nil && !e.LastModifiedAt.After(t)
	}
	return false
}

// etagListMatches applies If-None-Match's weak comparison to a list of tags.
func etagListMatches(list []byte, tag string) bool {
	for len(list) > 0 {
		i := 0
		for i < len(list) && list[i] != ',' {
			i++
		}
		cand := list[:i]
		for len(cand) > 0 && (cand[0] == ' ' || cand[0] == '\t') {
			cand = cand[1:]
		}
		for len(cand) > 0 && (cand[len(cand)-1] == ' ' || cand[len(cand)-1] == '\t') {
			cand = cand[:len(cand)-1]
		}
		if len(cand) > 2 && cand[0] == 'W' && cand[1] == '/' {
			cand = cand[2:]
		}
		if string(cand) == "*" || string(cand) == tag {
			return true
		}
		if i == len(list) {
			break
		}
		list = list[i+1:]
	}
	return false
}

// appendMillis writes d in milliseconds with microsecond precision.
func appendMillis(dst []byte, d time.Duration) []byte {
	return strconv.AppendFloat(dst, float64(d.Microseconds())/1000, 'f', 3, 64)
}

func (s *Server) fail(ctx *fasthttp.RequestCtx, err error, vary bool) {
	p := classify(err)
	p.RequestID = requestID(ctx)
	switch p.Class {
	case classFatal, classOperator:
		s.log.Error("request failed", "request_id", p.RequestID, "path", string(ctx.Path()), "code", p.Code, "err", err)
	case classRetryable:
		s.log.Warn("request failed", "request_id", p.RequestID, "path", string(ctx.Path()), "code", p.Code, "err", err)
	}
	s.writeProblem(ctx, p, vary)
}

func requestID(ctx *fasthttp.RequestCtx) string {
	if id := ctx.Request.Header.Peek("X-Request-Id"); len(id) > 0 && len(id) <= 128 {
		return string(id)
	}
	return strconv.FormatUint(ctx.ConnID(), 36) + "-" + strconv.FormatUint(ctx.ConnRequestNum(), 36)
}

// b2s views b as a string without copying. Only for lookups that do not keep
// the string: ristretto's Get keeps hashes, never the key.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
