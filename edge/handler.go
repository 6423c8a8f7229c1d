package edge

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fasthttp"

	"imgedge/cache"
	"imgedge/edge/origin"
	"imgedge/transform"
)

// scratch is per-request working memory, pooled so that a cache hit
// allocates nothing. It also carries what the access log and the metrics
// report once the answer is written.
type scratch struct {
	b       transform.Builder
	key     []byte
	hdr     []byte
	id      []byte
	outcome int
	info    missInfo
	problem problem
	spans   spanTimes // only when tracing is on
}

const requestIDHeader = "X-Request-Id"

// Header names as fasthttp stores them (canonical), so that setting them on
// a hit skips name normalisation.
var (
	hdrCacheStatus  = []byte("Cache-Status")
	hdrServerTiming = []byte("Server-Timing")
	hdrRequestID    = []byte(requestIDHeader)
	hdrETag         = []byte("Etag")
	hdrCacheControl = []byte(fasthttp.HeaderCacheControl)
	hdrLastModified = []byte(fasthttp.HeaderLastModified)
	hdrVary         = []byte(fasthttp.HeaderVary)
	valueAccept     = []byte("Accept")
)

// Handle is the public request handler.
func (s *Server) Handle(ctx *fasthttp.RequestCtx) {
	start := s.now()
	sc := s.scratch.Get().(*scratch)
	sc.outcome, sc.info, sc.problem, sc.spans = outcomeNone, missInfo{}, problem{}, spanTimes{}
	s.ensureRequestID(ctx, sc)
	defer s.finish(ctx, sc, start)
	if !ctx.IsGet() && !ctx.IsHead() {
		s.fail(ctx, sc, errMethod, false)
		return
	}
	pol := s.policy.Load()
	// The signature is checked before any other work, so an unsigned
	// request costs nothing but this.
	if pol.verifier != nil && !pol.verifier.Verify(ctx.URI().PathOriginal(), ctx.URI().QueryString()) {
		s.fail(ctx, sc, errSignature, false)
		return
	}

	// ctx.Path is percent-decoded once and has its dot segments resolved by
	// fasthttp; origins check it again against their own root.
	up, objPath := s.router.pick(ctx.Host(), ctx.Path())
	sc.b.Reset(pol.parser)
	for k, v := range ctx.QueryArgs().All() {
		sc.b.Add(k, v)
	}
	original := sc.b.Empty()
	var spec transform.Spec
	if !original {
		var err error
		if spec, err = sc.b.Finish(); err != nil {
			s.fail(ctx, sc, err, false)
			return
		}
		if spec.AutoFormat {
			spec.Accepted = transform.Negotiate(ctx.Request.Header.Peek(fasthttp.HeaderAccept))
		}
	}
	sc.key = appendKey(sc.key[:0], up.id, objPath, original, &spec)
	store, tier := s.variants, 0
	if original {
		store, tier = s.originals, 1
	}
	var stale *cache.Entry
	if s.tracing != nil {
		sc.spans.lookupStart = s.now()
	}
	e, ok := store.Get(b2s(sc.key))
	if s.tracing != nil {
		sc.spans.lookupEnd, sc.spans.lookupState = s.now(), lookupState(e, ok, start)
	}
	if ok {
		switch {
		case e.NotFound && e.Fresh(start):
			s.metrics.tierHits[tier].Inc()
			sc.outcome = outcomeHit
			s.fail(ctx, sc, &fetchError{path: string(objPath), err: origin.ErrNotFound}, false)
			return
		case e.NotFound:
		case e.Fresh(start):
			s.metrics.tierHits[tier].Inc()
			s.writeHit(ctx, sc, e, spec.AutoFormat, start)
			return
		case start.Before(e.StaleWhileRevalidateUntil):
			s.metrics.tierHits[tier].Inc()
			s.writeStale(ctx, sc, pol, e, spec.AutoFormat, start, "stale-while-revalidate")
			s.refreshLater(up, string(sc.key), string(objPath), original, spec)
			return
		default:
			stale = e
		}
	}
	s.metrics.tierMisses[tier].Inc()
	s.serveMiss(ctx, sc, pol, up, objPath, original, spec, stale, start)
}

// ensureRequestID keeps the client's X-Request-Id when it is short and plain
// (it ends up in logs), else makes one; either way sc.id holds it for every
// later step.
func (s *Server) ensureRequestID(ctx *fasthttp.RequestCtx, sc *scratch) {
	if id := ctx.Request.Header.Peek(requestIDHeader); len(id) > 0 && len(id) <= 128 && plainID(id) {
		sc.id = append(sc.id[:0], id...)
		return
	}
	sc.id = append(sc.id[:0], s.idPrefix...)
	sc.id = strconv.AppendUint(sc.id, s.idCounter.Add(1), 36)
}

func plainID(id []byte) bool {
	for _, c := range id {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// finish runs after every request: it turns a panic into 500 internal,
// echoes the request id, counts the request and writes its access log line.
func (s *Server) finish(ctx *fasthttp.RequestCtx, sc *scratch, start time.Time) {
	if p := recover(); p != nil {
		s.log.Error("panic in request", "request_id", string(sc.id), "path", string(ctx.Path()),
			"panic", p, "stack", string(debug.Stack()))
		s.fail(ctx, sc, errPanic, false)
	}
	ctx.Response.Header.SetCanonical(hdrRequestID, sc.id)
	status := ctx.Response.StatusCode()
	end := s.now()
	took := end.Sub(start)
	s.metrics.request(sc.outcome, status, took)
	traceID := ""
	if s.tracing != nil {
		traceID = s.tracing.record(ctx, sc, start, end, status)
	}
	s.accessLog(ctx, sc, status, took, traceID)
	s.scratch.Put(sc)
}

func lookupState(e *cache.Entry, ok bool, now time.Time) string {
	switch {
	case !ok:
		return "miss"
	case e.NotFound:
		return "not_found"
	case e.Fresh(now):
		return "hit"
	}
	return "stale"
}

// accessLog writes one JSON line per request; only a sample of hits
// (log.hit_sample), so that a busy edge does not drown in them.
func (s *Server) accessLog(ctx *fasthttp.RequestCtx, sc *scratch, status int, took time.Duration, traceID string) {
	if sc.outcome == outcomeHit && status < 400 {
		every := s.policy.Load().hitLogEvery
		if every == 0 || s.hitLines.Add(1)%every != 0 {
			return
		}
	}
	attrs := []slog.Attr{
		slog.String("request_id", string(sc.id)),
		slog.String("method", string(ctx.Method())),
		slog.String("path", string(ctx.Path())),
		slog.String("query", string(ctx.URI().QueryString())),
		slog.Int("status", status),
		slog.Int("bytes", len(ctx.Response.Body())),
		slog.String("cache", outcomeNames[sc.outcome]),
		slog.Float64("duration_ms", float64(took.Microseconds())/1000),
	}
	if sc.info.origin > 0 || sc.info.transform > 0 {
		attrs = append(attrs, slog.Float64("origin_ms", float64(sc.info.origin.Microseconds())/1000),
			slog.Float64("transform_ms", float64(sc.info.transform.Microseconds())/1000))
	}
	if sc.problem.Code != "" {
		attrs = append(attrs, slog.String("error_class", sc.problem.Class), slog.String("error_code", sc.problem.Code))
	}
	if traceID != "" {
		attrs = append(attrs, slog.String("trace_id", traceID))
	}
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs...)
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
	originAt     time.Time // when the fetch began (for spans)
	transformAt  time.Time // when the transform was asked for (queue wait included)
	stages       transform.Timings
	sourceCached bool
	revalidated  bool // the origin confirmed a stale copy: renewed, not recomputed
	staleSource  bool // the origin failed; rendered from a stale original (stale-if-error)
	staleHit     bool // the origin failed; the stale copy of this very entry is the answer
}

func (s *Server) serveMiss(ctx *fasthttp.RequestCtx, sc *scratch, pol *policy, up *upstream, objPath []byte,
	original bool, spec transform.Spec, stale *cache.Entry, start time.Time) {
	// Copies: request memory is reused after the handler returns, while a
	// fill may outlive this request (habit 7 of STYLE.md).
	key, path := string(sc.key), string(objPath)
	wait, cancel := context.WithTimeout(context.Background(), s.fillWait)
	defer cancel()
	fill, outcome, err := s.fill(wait, up, key, path, original, spec)
	if err != nil {
		if stale != nil && originFault(err) && start.Before(stale.StaleIfErrorUntil) {
			s.writeStale(ctx, sc, pol, stale, spec.AutoFormat, start, "stale-if-error")
			return
		}
		s.fail(ctx, sc, err, spec.AutoFormat)
		return
	}
	s.writeMiss(ctx, sc, pol, fill, outcome, spec.AutoFormat, start)
}

// fill computes the entry under key once for all concurrent callers.
func (s *Server) fill(ctx context.Context, up *upstream, key, path string, original bool, spec transform.Spec) (cache.Fill, cache.Outcome, error) {
	if original {
		return s.source(ctx, up, key, path)
	}
	okey := string(appendKey(nil, up.id, []byte(path), true, nil))
	return s.variantFills.Do(ctx, key, func(fctx context.Context) (cache.Fill, error) {
		return s.renderVariant(fctx, up, key, okey, path, spec)
	})
}

// refreshLater refreshes a stale entry in the background, collapsed with any
// other fill of the key, on a bounded number of goroutines.
func (s *Server) refreshLater(up *upstream, key, path string, original bool, spec transform.Spec) {
	select {
	case s.refreshSlots <- struct{}{}:
	default:
		return // enough refreshes running; a later stale hit tries again
	}
	s.refreshes.Add(1)
	go func() {
		defer s.refreshes.Done()
		defer func() { <-s.refreshSlots }()
		if _, _, err := s.fill(s.background, up, key, path, original, spec); err != nil && s.background.Err() == nil {
			s.log.Warn("background refresh failed", "key", key, "err", err)
		}
	}()
}

// source returns the original under key. A fresh copy in the originals tier
// is used as is; otherwise one fetch runs for all concurrent callers,
// conditional when a stale copy exists (a 304 renews it), remembering a 404
// for cache.negative_ttl, and falling back to the stale copy within its
// stale-if-error window when the origin fails.
func (s *Server) source(ctx context.Context, up *upstream, key, path string) (cache.Fill, cache.Outcome, error) {
	now := s.now()
	e, ok := s.originals.Get(key)
	if ok && e.Fresh(now) {
		if e.NotFound {
			return cache.Fill{}, 0, &fetchError{path: path, err: origin.ErrNotFound}
		}
		return cache.Fill{Entry: e, Keep: e.Keep(now), Meta: missInfo{sourceCached: true}}, cache.Hit, nil
	}
	var stale *cache.Entry
	if ok && !e.NotFound {
		stale = e
	}
	fill, outcome, err := s.sources.Do(ctx, key, func(fctx context.Context) (cache.Fill, error) {
		return s.fetchSource(fctx, up, key, path, stale)
	})
	if err == nil && fill.Entry.NotFound {
		return cache.Fill{}, 0, &fetchError{path: path, err: origin.ErrNotFound}
	}
	return fill, outcome, err
}

func (s *Server) fetchSource(ctx context.Context, up *upstream, key, path string, stale *cache.Entry) (cache.Fill, error) {
	pol := s.policy.Load()
	var v origin.Validators
	if stale != nil {
		v = origin.Validators{ETag: stale.OriginETag, LastModified: stale.LastModifiedAt}
	}
	t0 := s.now()
	obj, err := up.fetcher.Fetch(ctx, path, v)
	now := s.now()
	info := missInfo{origin: now.Sub(t0), originAt: t0}
	s.metrics.origin(up, fetchResult(obj, err), info.origin)
	switch {
	case errors.Is(err, origin.ErrNotFound):
		if pol.negativeTTL > 0 {
			s.originals.Set(key, &cache.Entry{NotFound: true, StoredAt: now, FreshUntil: now.Add(pol.negativeTTL)}, pol.negativeTTL)
		}
		return cache.Fill{}, &fetchError{path: path, err: err}
	case err != nil && stale != nil && originFault(&fetchError{err: err}) && now.Before(stale.StaleIfErrorUntil):
		// Keep working from the stale original (new variants included); it
		// is not stored again, so its horizons do not move.
		info.staleSource = true
		return cache.Fill{Entry: stale, Meta: info}, nil
	case err != nil:
		return cache.Fill{}, &fetchError{path: path, err: err}
	}
	f := pol.fresh.parse(obj.CacheControl, obj.Expires, now)
	horizons := &cache.Entry{
		FreshUntil:                now.Add(f.ttl),
		StaleWhileRevalidateUntil: now.Add(f.ttl + f.swr),
		StaleIfErrorUntil:         now.Add(f.ttl + f.sie),
	}
	if obj.NotModified {
		if stale == nil {
			return cache.Fill{}, &fetchError{path: path, err: errors.New("origin answered 304 to an unconditional request")}
		}
		info.revalidated = true
		renewed := stale.Renewed(horizons, now)
		return cache.Fill{Entry: renewed, Keep: renewed.Keep(now), Meta: info}, nil
	}
	e := horizons
	e.Body = obj.Body
	e.ContentType = passthroughType(obj.Body)
	e.ETag = etag(obj.Body)
	e.OriginETag = obj.ETag
	e.CacheControl = pol.clientCacheControl
	e.StoredAt = now
	if !obj.LastModified.IsZero() {
		e.LastModifiedAt = obj.LastModified
		e.LastModified = obj.LastModified.Format(http.TimeFormat)
	}
	fill := cache.Fill{Entry: e, Keep: e.Keep(now), Meta: info}
	if f.noStore {
		e.CacheControl, fill.Keep = f.header, 0
	}
	return fill, nil
}

// renderVariant is the variant fill: the source (cached, revalidated or
// fetched, collapsed), then one transform, unless a stale copy of this
// variant was rendered from the very same source bytes: then it is renewed.
// The variant inherits the source's freshness horizons and its no-store.
func (s *Server) renderVariant(ctx context.Context, up *upstream, key, okey, path string, spec transform.Spec) (cache.Fill, error) {
	src, _, err := s.source(ctx, up, okey, path)
	if err != nil {
		return cache.Fill{}, err
	}
	info, _ := src.Meta.(missInfo)
	now := s.now()
	if old, ok := s.variants.Get(key); ok && old.SourceTag == src.Entry.ETag && !old.NotFound {
		if info.staleSource {
			info.staleHit = true
			return cache.Fill{Entry: old, Meta: info}, nil
		}
		info.revalidated = true
		renewed := old.Renewed(src.Entry, now)
		return cache.Fill{Entry: renewed, Keep: keepIf(src, renewed, now), Meta: info}, nil
	}
	t0 := s.now()
	res, err := s.transformer.Transform(ctx, src.Entry.Body, spec)
	if err != nil {
		return cache.Fill{}, err
	}
	now = s.now()
	info.transform, info.transformAt, info.stages = now.Sub(t0), t0, res.Timings
	s.metrics.transform(res.Format, info.transform)
	e := &cache.Entry{
		Body:           res.Body,
		ContentType:    res.Format.ContentType(),
		ETag:           etag(res.Body),
		LastModified:   src.Entry.LastModified,
		LastModifiedAt: src.Entry.LastModifiedAt,
		CacheControl:   src.Entry.CacheControl,
		SourceTag:      src.Entry.ETag,
	}
	e = e.Renewed(src.Entry, now)
	return cache.Fill{Entry: e, Keep: keepIf(src, e, now), Meta: info}, nil
}

// keepIf is how long to store a variant of src: not at all when the source
// may not be stored, or was only used stale because its origin failed.
func keepIf(src cache.Fill, e *cache.Entry, now time.Time) time.Duration {
	if info, _ := src.Meta.(missInfo); src.Keep <= 0 && !info.sourceCached || info.staleSource {
		return 0
	}
	return max(e.Keep(now), 0)
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
	sc.outcome = outcomeHit
	hdr := append(sc.hdr[:0], "imgedge; hit; ttl="...)
	hdr = strconv.AppendInt(hdr, e.TTL(start), 10)
	s.writeEntry(ctx, e, vary, hdr, e.CacheControl)
	hdr = append(hdr[:0], "cache;desc=memory, total;dur="...)
	hdr = appendMillis(hdr, s.now().Sub(start))
	ctx.Response.Header.SetCanonical(hdrServerTiming, hdr)
	sc.hdr = hdr
}

// writeStale answers with a stale entry (RFC 9211: a hit with a negative ttl
// and the reason); downstream caches are told to keep it only briefly.
func (s *Server) writeStale(ctx *fasthttp.RequestCtx, sc *scratch, pol *policy, e *cache.Entry, vary bool, start time.Time, detail string) {
	sc.outcome = outcomeStale
	hdr := append(sc.hdr[:0], "imgedge; hit; ttl="...)
	hdr = strconv.AppendInt(hdr, e.TTL(start), 10)
	hdr = append(hdr, "; detail="...)
	hdr = append(hdr, detail...)
	cc := pol.staleCacheControl
	if e.CacheControl != pol.clientCacheControl {
		cc = e.CacheControl // an origin's private or no-store stays
	}
	s.writeEntry(ctx, e, vary, hdr, cc)
	hdr = append(hdr[:0], "cache;desc=memory-stale, total;dur="...)
	hdr = appendMillis(hdr, s.now().Sub(start))
	ctx.Response.Header.SetCanonical(hdrServerTiming, hdr)
	sc.hdr = hdr
}

func (s *Server) writeMiss(ctx *fasthttp.RequestCtx, sc *scratch, pol *policy, fill cache.Fill, outcome cache.Outcome, vary bool, start time.Time) {
	info, _ := fill.Meta.(missInfo)
	sc.info = info
	switch {
	case outcome == cache.Collapsed:
		sc.outcome = outcomeCollapsed
		s.metrics.collapsed.Inc()
	case outcome == cache.Hit:
		sc.outcome = outcomeHit
	case info.staleHit:
		sc.outcome = outcomeStale
	default:
		sc.outcome = outcomeMiss
	}
	hdr := sc.hdr[:0]
	switch {
	case outcome == cache.Hit:
		hdr = append(hdr, "imgedge; hit; ttl="...)
		hdr = strconv.AppendInt(hdr, fill.Entry.TTL(start), 10)
	case info.staleHit:
		hdr = append(hdr, "imgedge; hit; ttl="...)
		hdr = strconv.AppendInt(hdr, fill.Entry.TTL(start), 10)
		hdr = append(hdr, "; detail=stale-if-error"...)
	case info.staleSource:
		hdr = append(hdr, "imgedge; fwd=uri-miss; detail=stale-if-error"...)
	case info.revalidated:
		hdr = append(hdr, "imgedge; fwd=stale"...)
	default:
		hdr = append(hdr, "imgedge; fwd=uri-miss"...)
	}
	switch outcome {
	case cache.Stored:
		hdr = append(hdr, "; stored"...)
	case cache.Collapsed:
		hdr = append(hdr, "; collapsed"...)
	}
	cc := fill.Entry.CacheControl
	if info.staleSource && cc == pol.clientCacheControl {
		cc = pol.staleCacheControl
	}
	s.writeEntry(ctx, fill.Entry, vary, hdr, cc)
	hdr = append(hdr[:0], "origin;dur="...)
	hdr = appendMillis(hdr, info.origin)
	if info.sourceCached {
		hdr = append(hdr, ";desc=cached"...)
	}
	hdr = append(hdr, ", transform;dur="...)
	hdr = appendMillis(hdr, info.transform)
	hdr = append(hdr, ", total;dur="...)
	hdr = appendMillis(hdr, s.now().Sub(start))
	ctx.Response.Header.SetCanonical(hdrServerTiming, hdr)
	sc.hdr = hdr
}

// writeEntry sets the headers every answer from an entry carries, then the
// body, or 304 when the client's validators match (RFC 9110: If-None-Match
// wins over If-Modified-Since).
func (s *Server) writeEntry(ctx *fasthttp.RequestCtx, e *cache.Entry, vary bool, cacheStatus []byte, cacheControl string) {
	h := &ctx.Response.Header
	h.SetCanonical(hdrCacheStatus, cacheStatus)
	h.SetCanonical(hdrETag, s2b(e.ETag))
	h.SetCanonical(hdrCacheControl, s2b(cacheControl))
	if e.LastModified != "" {
		h.SetCanonical(hdrLastModified, s2b(e.LastModified))
	}
	if vary {
		h.SetCanonical(hdrVary, valueAccept)
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

func (s *Server) fail(ctx *fasthttp.RequestCtx, sc *scratch, err error, vary bool) {
	p := classify(err)
	p.RequestID = string(sc.id)
	sc.problem = p
	s.metrics.errors.WithLabelValues(p.Class, p.Code).Inc()
	switch p.Class {
	case classFatal, classOperator:
		s.log.Error("request failed", "request_id", p.RequestID, "path", string(ctx.Path()), "code", p.Code, "err", err)
	case classRetryable:
		s.log.Warn("request failed", "request_id", p.RequestID, "path", string(ctx.Path()), "code", p.Code, "err", err)
	}
	s.writeProblem(ctx, p, vary)
}

// fetchResult is the result label of imgedge_origin_requests_total.
func fetchResult(obj origin.Object, err error) string {
	switch {
	case err == nil && obj.NotModified:
		return "not_modified"
	case err == nil:
		return "ok"
	case errors.Is(err, origin.ErrNotFound):
		return "not_found"
	case errors.Is(err, origin.ErrTooLarge):
		return "too_large"
	case errors.Is(err, origin.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, origin.ErrUnavailable):
		return "unavailable"
	}
	return "error"
}

// s2b views s as bytes without copying, for fasthttp setters that copy
// what they are given.
func s2b(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// b2s views b as a string without copying. Only for lookups that do not keep
// the string: ristretto's Get keeps hashes, never the key.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
