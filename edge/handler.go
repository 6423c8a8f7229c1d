package edge

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"imgedge/cache"
	"imgedge/edge/shield"
	"imgedge/internal/bytesconv"
	"imgedge/transform"
)

// scratch is per-request working memory, pooled so that a cache hit
// allocates nothing. It also carries what the access log, the metrics and
// the traces report once the answer is written: all of them read answer.
type scratch struct {
	b       transform.Builder
	key     []byte
	hdr     []byte
	cc      []byte // Cache-Control, then the other downstream headers
	id      []byte
	in      requestHeaders // the request's headers the handling reads
	req     shield.Request
	up      *upstream // the origin's route, for its tag
	signer  *signer   // the route's signatures
	source  uint64    // sourceHash of the origin and path
	vary    varyBits  // the request headers the answer depends on
	flags   flagDecisions
	private bool // Imgedge-Flags changed a decision: for this client only
	answer  shield.Answer
	problem problem
	err     error // what failed, for the access log only
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
	hdrNoSniff      = []byte("X-Content-Type-Options")
	hdrAge          = []byte(fasthttp.HeaderAge)
	hdrAccelExpires = []byte("X-Accel-Expires")
	hdrSurrogateKey = []byte("Surrogate-Key")
	hdrCacheTag     = []byte("Cache-Tag")
	hdrClamped      = []byte("Imgedge-Clamped")
	valueNoSniff    = []byte("nosniff")
)

// svgType is what an SVG original sniffs as; it is rasterised, never served.
var svgType = transform.FormatSVG.ContentType()

// Handle is the public request handler: parse, key, ask the shield, write
// the answer.
func (s *Server) Handle(ctx *fasthttp.RequestCtx) {
	start := s.now()
	sc := s.scratch.Get().(*scratch)
	sc.answer, sc.problem, sc.err = shield.Answer{}, problem{}, nil
	sc.req, sc.vary, sc.private = shield.Request{}, 0, false
	sc.in.read(&ctx.Request.Header)
	s.ensureRequestID(ctx, sc)
	defer s.finish(ctx, sc, start)
	pol := s.policy.Load()
	if ctx.IsOptions() {
		s.preflight(ctx, &pol.browser)
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		s.fail(ctx, sc, errMethod)
		return
	}
	// The signature is checked before any other work, so an unsigned
	// request costs nothing but this.
	// Each route checks with its own keys: a URL signed for one route never
	// verifies on another.
	sc.signer = &pol.signers[0]
	if pol.perRoute { // a lookup the hit path skips when no route has keys
		sc.signer = pol.signer(s.router.route(ctx.Host(), ctx.Path()))
	}
	if v := sc.signer.verifier; v != nil && !v.Verify(ctx.Host(), ctx.URI().PathOriginal(), ctx.URI().QueryString()) {
		s.fail(ctx, sc, &signatureError{how: v.HowToSign()})
		return
	}
	// Imgedge-Flags is honoured for a signed URL (its signer chose it) and
	// for the internal clients of flags.internal_cidrs.
	forceFlags := len(sc.in.get(inFlags)) > 0 &&
		(sc.signer.verifier != nil || s.flags.Load().isInternal(ctx.RemoteIP()))
	if err := s.resolve(sc, pol, ctx.Host(), ctx.URI(), forceFlags); err != nil {
		s.fail(ctx, sc, err)
		return
	}
	if !sc.req.Original {
		s.metrics.flagDecisions(&sc.req.Spec, &sc.flags)
	}
	if pol.cfg.Cache.CanonicalRedirect && !sc.req.Original && sc.req.Spec.Hints == 0 && s.redirectToCanonical(ctx, sc, pol) {
		return
	}
	sc.req.Now, sc.req.Trace = start, s.tracing.Load() != nil
	ans, err := s.shield.Serve(context.Background(), &sc.req)
	if err == nil && sc.req.Original && ans.Entry.ContentType == svgType {
		ans, err = s.rasterised(sc)
	}
	sc.answer = ans
	s.metrics.answered(sc.req.Original, &sc.answer)
	switch {
	case err != nil:
		s.fail(ctx, sc, err)
	case sc.req.Original && ans.Entry.ContentType == "":
		s.fail(ctx, sc, errNotImage)
	default:
		s.writeAnswer(ctx, sc, pol, start)
	}
}

// resolve turns a request into sc.req: the origin and object path by Host and
// path, the spec from the query (Accept negotiated for auto=format, the
// client hints the URL opted into, the feature flags' decisions for the
// object), and the key. uri.Path is percent-decoded once and has its dot
// segments resolved by fasthttp; origins check it again against their own
// root. The request path and /explain both go through here. forceFlags
// lets the Imgedge-Flags header override the rollouts; such a request is
// never memoised, nor answered from the memo.
func (s *Server) resolve(sc *scratch, pol *policy, host []byte, uri *fasthttp.URI, forceFlags bool) error {
	fs := s.flags.Load()
	hdr := &sc.in
	accept := hdr.get(inAccept)
	path, query := uri.Path(), uri.QueryString()
	var slot *resolvedSlot
	var sum uint64
	if !forceFlags {
		slot, sum = s.resolved.slot(host, path, query, accept)
	}
	if slot != nil {
		if e := slot.lookup(pol, fs, host, path, query, accept, func(named transform.Hint) transform.ClientHints { return readHints(hdr, named) }); e != nil {
			sc.up, sc.source = e.up, e.source
			sc.req = shield.Request{Origin: &e.up.origin, Path: e.objPath, Original: e.original, Spec: e.spec}
			sc.vary |= e.vary
			sc.flags, sc.private = e.decisions, false
			sc.key = append(sc.key[:0], e.key...)
			sc.req.Key = sc.key
			return nil
		}
	}
	up, objPath := s.router.pick(host, path)
	sc.up, sc.source = up, sourceHash(up.origin.ID, objPath)
	sc.b.Reset(pol.parser)
	for k, v := range uri.QueryArgs().All() {
		sc.b.Add(k, v)
	}
	original := sc.b.Empty()
	sc.req = shield.Request{Origin: &up.origin, Path: objPath, Original: original}
	var hints transform.ClientHints
	if !original {
		// Client hints are read only for URLs that opt in with ch=, before
		// the parse; a preset that names ch= makes it run again with them.
		hinted := sc.b.Has("ch")
		var spec transform.Spec
		for {
			if hinted {
				hints = readHints(hdr, allHints)
				sc.b.SetHints(hints)
			}
			var err error
			if spec, err = sc.b.Finish(); err != nil {
				return err
			}
			if hinted || spec.Hints == 0 {
				break
			}
			hinted = true
		}
		sc.vary |= hintVary(spec.HintsUsed)
		if spec.AutoFormat {
			spec.Accepted = transform.Negotiate(accept)
			sc.vary |= varyAccept
		}
		var force []byte
		if forceFlags {
			force = hdr.get(inFlags)
		}
		sc.flags = fs.decide(sc.source, force)
		sc.flags.apply(&spec)
		sc.private = len(force) > 0 && sc.flags.forcedChange(fs)
		sc.req.Spec = spec
	}
	// The spec is read through sc (pooled): the key writers are called
	// through a table, and a spec on the stack would escape to the heap.
	sc.key = shield.AppendKey(sc.key[:0], up.origin.ID, objPath, original, &sc.req.Spec)
	sc.req.Key = sc.key
	if slot != nil && slot.admits(pol, fs, sum) {
		named := sc.req.Spec.Hints
		slot.entry.Store(&resolvedURL{
			pol: pol, flags: fs, host: bytes.Clone(host), path: bytes.Clone(path), query: bytes.Clone(query),
			accept: bytes.Clone(accept), hintsNamed: named, hints: namedHints(hints, named),
			up: up, source: sc.source, objPath: bytes.Clone(objPath), original: original, spec: sc.req.Spec,
			vary: sc.vary, decisions: sc.flags, key: bytes.Clone(sc.key),
		})
	}
	return nil
}

// redirectToCanonical answers 308 with the canonical URL when the query is
// not already in that form (the signature aside), so that a cache in front
// keys each edge entry once. A signed request's redirect is signed again
// with the first key: the variant is the one already allowed.
func (s *Server) redirectToCanonical(ctx *fasthttp.RequestCtx, sc *scratch, pol *policy) bool {
	sc.hdr = sc.req.Spec.AppendQuery(sc.hdr[:0])
	mark := len(sc.hdr)
	sc.hdr = appendUnsigned(sc.hdr, ctx.URI().QueryString())
	if string(sc.hdr[:mark]) == string(sc.hdr[mark:]) {
		return false
	}
	uri := string(appendLocationPath(nil, ctx.Path()))
	if mark > 0 {
		uri += "?" + string(sc.hdr[:mark])
	}
	if sg := sc.signer; sg.verifier != nil {
		host := ""
		if pol.cfg.RoutesByHost() {
			host = string(ctx.Host())
		}
		signed, err := sg.scheme.Sign(sg.key, host, uri)
		if err != nil {
			return false
		}
		uri = signed
	}
	ctx.Response.Header.Set(fasthttp.HeaderLocation, uri)
	ctx.Response.Header.SetCanonical(hdrCacheControl, pol.down.appendRedirectCacheControl(sc.hdr[:0]))
	ctx.SetStatusCode(fasthttp.StatusPermanentRedirect)
	return true
}

// appendLocationPath appends path (decoded) percent-encoded so that no
// browser reads the Location it starts as another host: a second leading
// slash ("//evil.example" is protocol-relative), a backslash (browsers read
// "/\evil.example" as "//evil.example") and every control character (they
// drop tabs and newlines: "/\t/evil.example") are encoded, as is everything
// outside RFC 3986's path characters. The edge reads the encoded path back
// as the same path.
func appendLocationPath(dst, path []byte) []byte {
	const hex = "0123456789ABCDEF"
	for i, c := range path {
		switch {
		case c == '/' && i == 1 && path[0] == '/', !pathChar(c):
			dst = append(dst, '%', hex[c>>4], hex[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// pathChar says whether c may stand unencoded in a path (RFC 3986 pchar
// and "/"), '%' aside: the path is decoded, so a '%' is one.
func pathChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,;=:@/", c) >= 0
}

var ampersand = []byte{'&'}

// appendUnsigned appends the query without its s pair, in the order sent.
func appendUnsigned(dst, query []byte) []byte {
	start := len(dst)
	for len(query) > 0 {
		var pair []byte
		pair, query, _ = bytes.Cut(query, ampersand)
		if len(pair) == 0 || bytes.HasPrefix(pair, []byte("s=")) || string(pair) == "s" {
			continue
		}
		if len(dst) > start {
			dst = append(dst, '&')
		}
		dst = append(dst, pair...)
	}
	return dst
}

// rasterised answers an SVG original as the PNG of its natural size: an SVG
// can carry scripts, and an image edge serves pixels. It is the variant
// ?fm=png, and shares that entry.
func (s *Server) rasterised(sc *scratch) (shield.Answer, error) {
	sc.req.Original, sc.req.Spec = false, transform.Spec{Format: transform.FormatPNG}
	sc.key = shield.AppendKey(sc.key[:0], sc.req.Origin.ID, sc.req.Path, false, &sc.req.Spec)
	sc.req.Key = sc.key
	return s.shield.Serve(context.Background(), &sc.req)
}

// ensureRequestID keeps the client's X-Request-Id when it is short and plain
// (it ends up in logs), else makes one; either way sc.id holds it for every
// later step.
func (s *Server) ensureRequestID(ctx *fasthttp.RequestCtx, sc *scratch) {
	if id := sc.in.get(inRequestID); len(id) > 0 && len(id) <= 128 && plainID(id) {
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
// echoes the request id, marks the body as not to be sniffed, counts the
// request and writes its access log line.
func (s *Server) finish(ctx *fasthttp.RequestCtx, sc *scratch, start time.Time) {
	if p := recover(); p != nil {
		s.log.Error("panic in request", "request_id", string(sc.id), "path", string(ctx.Path()),
			"panic", p, "stack", string(debug.Stack()))
		s.fail(ctx, sc, errPanic)
	}
	s.writeBrowserHeaders(ctx, sc, &s.policy.Load().browser)
	ctx.Response.Header.SetCanonical(hdrRequestID, sc.id)
	// Browsers must take the type as given: an origin's HTML stored under an
	// image name must never become a page.
	ctx.Response.Header.SetCanonical(hdrNoSniff, valueNoSniff)
	status := ctx.Response.StatusCode()
	if isProbe(ctx) {
		// A cache's health probe, twice a second: no request of a client,
		// so neither a log line nor a sample of request latency.
		s.scratch.Put(sc)
		return
	}
	end := s.now()
	took := end.Sub(start)
	label := cacheLabel(sc.answer)
	s.metrics.request(label, status, took)
	traceID := ""
	if t := s.tracing.Load(); t != nil {
		traceID = t.record(ctx, sc, label, start, end, status)
	}
	s.accessLog(ctx, sc, label, status, took, traceID)
	s.scratch.Put(sc)
}

// accessLog writes one JSON line per request; only a sample of hits
// (log.hit_sample), so that a busy edge does not drown in them, and at most
// log.errors_per_second error lines, so that a flood of bad requests does
// not either. An error line carries the error itself (addresses, library
// text) that the public answer leaves out, under the request id; the path
// and query a client chose are cut at maxLoggedBytes.
func (s *Server) accessLog(ctx *fasthttp.RequestCtx, sc *scratch, label, status int, took time.Duration, traceID string) {
	pol := s.policy.Load()
	if label == labelHit && status < 400 {
		every := pol.hitLogEvery
		if every == 0 || s.hitLines.Add(1)%every != 0 {
			return
		}
	}
	var dropped int64
	// Errors, and answers that cost nothing to ask for again and again
	// (OPTIONS, redirects: no fill behind them), share the line budget.
	if sc.problem.Code != "" || label == labelNone {
		ok, n := s.errorLines.allow(s.now(), pol.errorsPerSecond)
		if !ok {
			return
		}
		dropped = n
	}
	a := &sc.answer
	attrs := []slog.Attr{
		slog.String("request_id", string(sc.id)),
		slog.String("client", s.proxies.client(ctx.RemoteIP(), ctx.Request.Header.Peek("X-Forwarded-For"))),
		slog.String("user_agent", capLogged(ctx.UserAgent())),
		slog.String("method", string(ctx.Method())),
		slog.String("path", capLogged(ctx.Path())),
		slog.String("query", capLogged(ctx.URI().QueryString())),
		slog.Int("status", status),
		slog.Int("bytes", len(ctx.Response.Body())),
		slog.String("cache", labelNames[label]),
		slog.String("outcome", a.Outcome.String()),
		slog.String("format", answerFormat(a)),
		slog.String("origin_status", originStatus(a, sc.err)),
		slog.Float64("duration_ms", float64(took.Microseconds())/1000),
	}
	if a.Timings.Origin > 0 || a.Timings.Transform > 0 {
		attrs = append(attrs, slog.Float64("origin_ms", float64(a.Timings.Origin.Microseconds())/1000),
			slog.Float64("transform_ms", float64(a.Timings.Transform.Microseconds())/1000))
	}
	level := slog.LevelInfo
	if sc.problem.Code != "" {
		attrs = append(attrs, slog.String("error_class", sc.problem.Class), slog.String("error_code", sc.problem.Code))
		if sc.err != nil {
			attrs = append(attrs, slog.String("error", errorText(sc.err)))
		}
		switch sc.problem.Class {
		case classFatal, classOperator:
			level = slog.LevelError
		case classRetryable:
			level = slog.LevelWarn
		}
	}
	if dropped > 0 {
		attrs = append(attrs, slog.Int64("error_lines_dropped", dropped))
	}
	if traceID != "" {
		attrs = append(attrs, slog.String("trace_id", traceID))
	}
	s.log.LogAttrs(context.Background(), level, "request", attrs...)
}

// writeAnswer writes an entry the shield answered with, and the headers that
// say how: Cache-Status (RFC 9211), Server-Timing, the freshness headers for
// browsers and caches in front, and the tags those caches purge by.
func (s *Server) writeAnswer(ctx *fasthttp.RequestCtx, sc *scratch, pol *policy, start time.Time) {
	a := &sc.answer
	e := a.Entry
	now := s.now()
	hdr := appendCacheStatus(sc.hdr[:0], a, start)
	h := &ctx.Response.Header
	cc := sc.cc[:0]
	switch {
	case e.NoStore:
		cc = append(cc, e.OriginCacheControl...) // an origin's private or no-store passes through
	case sc.private:
		cc = append(cc, "private, no-store"...) // flags forced for this client: no cache may share it
	case a.Outcome == shield.StaleIfError || a.Outcome == shield.RenderedFromStale:
		cc = pol.down.appendStaleCacheControl(cc, e, now)
	default:
		cc = pol.down.appendCacheControl(cc, e)
	}
	s.writeEntry(ctx, &sc.in, e, hdr, cc)
	if limit := clampedLimit(sc.req.Spec.Clamp, e.Clamp); limit != "" {
		h.SetCanonical(hdrClamped, bytesconv.Bytes(limit))
	}
	if name := sc.req.Spec.Download; name != "" {
		h.Set(fasthttp.HeaderContentDisposition, contentDisposition(name, e.ContentType))
	}
	if pol.logVariants {
		// Every answer, hits too: a cache in front may store one entry
		// here under many keys of its own (an Origin, a client hint).
		// Only from a cache this edge trusts (loopback, server.trusted_proxies),
		// and only a key of this very request: no client may fill the log
		// or have other objects' keys purged.
		if key := sc.in.get(inCacheKey); len(key) > 0 &&
			nameable(key, ctx.Host(), ctx.Path(), ctx.URI().QueryString()) && s.proxies.cacheInFront(ctx.RemoteIP()) {
			s.variantLog.record(ctx.Path(), key)
		}
	}
	// A stale-while-revalidate answer says what the entry is, a copy past
	// its lifetime (its Age is more than its s-maxage), so that a cache in
	// front serves it only within the same stale window as this edge.
	if !e.NoStore && !sc.private && a.Outcome != shield.StaleIfError && a.Outcome != shield.RenderedFromStale {
		// Age in whole seconds, rounded up: a cache in front then expires
		// its copy up to a second early, never late (rounded down, a copy
		// 1.9 s old said Age: 1 and outlived the edge's own by 0.9 s).
		if age := pol.down.age(e, now); age > 0 {
			cc = appendSeconds(cc[:0], age+time.Second-1)
			h.SetCanonical(hdrAge, cc)
		}
		if !e.Downstream.NoCache {
			cc = pol.down.appendAccelExpires(cc[:0], e, now)
			h.SetCanonical(hdrAccelExpires, cc)
		}
	}
	cc = appendSourceTag(cc[:0], sc.source)
	mark := len(cc)
	cc = append(cc, ' ')
	cc = append(cc, sc.up.tag...)
	h.SetCanonical(hdrSurrogateKey, cc)
	cc[mark] = ','
	h.SetCanonical(hdrCacheTag, cc)
	sc.cc = cc
	hdr = hdr[:0]
	switch a.Outcome {
	case shield.Hit, shield.StaleWhileRevalidate, shield.StaleIfError:
		hdr = append(hdr, "cache;desc="...)
		hdr = append(hdr, a.Tier.String()...)
		if a.Outcome != shield.Hit {
			hdr = append(hdr, "-stale"...)
		}
	default:
		hdr = append(hdr, "origin;dur="...)
		hdr = appendMillis(hdr, a.Timings.Origin)
		if a.SourceCached {
			hdr = append(hdr, ";desc=cached"...)
		}
		hdr = append(hdr, ", transform;dur="...)
		hdr = appendMillis(hdr, a.Timings.Transform)
	}
	hdr = append(hdr, ", total;dur="...)
	hdr = appendMillis(hdr, now.Sub(start))
	ctx.Response.Header.SetCanonical(hdrServerTiming, hdr)
	sc.hdr = hdr
}

// appendCacheStatus writes the Cache-Status of an answer: a hit with its
// remaining freshness (negative when stale, with the reason), or how the
// request went forward and whether the result was stored or shared.
func appendCacheStatus(dst []byte, a *shield.Answer, now time.Time) []byte {
	switch a.Outcome {
	case shield.Hit, shield.StaleWhileRevalidate, shield.StaleIfError:
		dst = append(dst, "imgedge; hit; ttl="...)
		dst = strconv.AppendInt(dst, a.Entry.TTL(now), 10)
		if a.Outcome != shield.Hit {
			dst = append(dst, "; detail="...)
			dst = append(dst, a.Outcome.String()...)
		} else if a.Tier == cache.TierRedis {
			dst = append(dst, "; detail=redis"...)
		}
	case shield.Revalidated:
		dst = append(dst, "imgedge; fwd=stale"...)
	case shield.RenderedFromStale:
		dst = append(dst, "imgedge; fwd=uri-miss; detail=stale-if-error"...)
	default:
		dst = append(dst, "imgedge; fwd=uri-miss"...)
	}
	if a.Stored {
		dst = append(dst, "; stored"...)
	}
	if a.Collapsed {
		dst = append(dst, "; collapsed"...)
	}
	return dst
}

// clampedLimit is the limit that set an answer's size: the render's when
// it clamped (the output past a pixel limit for the source's shape, kept
// with the entry; it comes last, so it is the one that set the size), else
// the URL's own (a dpr past limits.max_dimension). "" when neither.
func clampedLimit(url transform.Clamp, rendered uint8) string {
	if rendered != 0 {
		return transform.Clamp(rendered).Limit()
	}
	return url.Limit()
}

// writeEntry sets the headers every answer from an entry carries, then the
// body, or 304 when the client's validators match (RFC 9110: If-None-Match
// wins over If-Modified-Since).
func (s *Server) writeEntry(ctx *fasthttp.RequestCtx, in *requestHeaders, e *cache.Entry, cacheStatus, cacheControl []byte) {
	h := &ctx.Response.Header
	h.SetCanonical(hdrCacheStatus, cacheStatus)
	h.SetCanonical(hdrETag, bytesconv.Bytes(e.ETag))
	h.SetCanonical(hdrCacheControl, cacheControl)
	if e.LastModified != "" {
		h.SetCanonical(hdrLastModified, bytesconv.Bytes(e.LastModified))
	}
	if notModified(in, e) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		ctx.Response.SkipBody = true
		return
	}
	h.SetContentType(e.ContentType)
	ctx.Response.SetBodyRaw(e.Body) // shared, never written: cached bytes are immutable
}

func notModified(req *requestHeaders, e *cache.Entry) bool {
	if inm := req.get(inIfNoneMatch); len(inm) > 0 {
		return etagListMatches(inm, e.ETag)
	}
	if ims := req.get(inIfModifiedSince); len(ims) > 0 && !e.LastModifiedAt.IsZero() {
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

func (s *Server) fail(ctx *fasthttp.RequestCtx, sc *scratch, err error) {
	p := classify(err)
	p.RequestID = string(sc.id)
	sc.problem, sc.err = p, err
	s.metrics.errors.WithLabelValues(p.Class, p.Code).Inc()
	s.writeProblem(ctx, p)
}

// answerFormat is the Content-Type of the image answered, "" for none.
func answerFormat(a *shield.Answer) string {
	if a.Entry == nil {
		return ""
	}
	return a.Entry.ContentType
}

// errorText is err for the log, with a library's own message when there is
// one, cut so that an origin's answer quoted in it cannot fill the log.
func errorText(err error) string {
	msg := err.Error()
	var le *transform.LibraryError
	if errors.As(err, &le) {
		msg += " (" + le.Detail + ")"
	}
	return capLogged([]byte(msg))
}
