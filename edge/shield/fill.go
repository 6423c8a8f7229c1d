package shield

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/cespare/xxhash/v2"

	"imgedge/cache"
	"imgedge/edge/origin"
	"imgedge/transform"
)

// fillInfo travels with a fill to every request that shared it.
type fillInfo struct {
	outcome      Outcome
	sourceCached bool
	fleet        bool // another node's fill, read from the shared tier
	timings      Timings
}

// source returns the original under key. A fresh copy in the originals tier
// is used as is; otherwise one fetch runs for all concurrent callers.
func (s *Shield) source(ctx context.Context, up *Origin, key, path string, pol *Policy) (cache.Fill[fillInfo], cache.Outcome, error) {
	e, ok := s.originals.Get(key)
	switch LookupOf(e, ok, s.clock()) {
	case LookupNotFound:
		return cache.Fill[fillInfo]{}, 0, &FetchError{Path: path, Err: origin.ErrNotFound, Remembered: true}
	case LookupFresh:
		return cache.Fill[fillInfo]{Entry: e, Meta: fillInfo{outcome: Hit, sourceCached: true}}, cache.Hit, nil
	case LookupMiss:
		e = nil
	}
	stale := e
	f, o, err := s.sources.Do(ctx, key, pol.FetchTimeout, func(fctx context.Context) (cache.Fill[fillInfo], error) {
		if stale != nil { // a revalidation is cheap: every node does its own
			return s.fetch(fctx, up, key, path, stale, pol)
		}
		f, ok, release := s.fleetFill(fctx, s.fleetOriginals, key, pol.FetchTimeout, pol)
		if ok {
			return f, nil
		}
		f, err := s.fetch(fctx, up, key, path, stale, pol)
		release(f, err)
		return f, err
	})
	switch {
	case err != nil:
		return f, o, err
	case o == cache.Hit && f.Entry.NotFound:
		// The re-check found a not-found remembered since this caller looked.
		return cache.Fill[fillInfo]{}, 0, &FetchError{Path: path, Err: origin.ErrNotFound, Remembered: true}
	case o == cache.Hit:
		f.Meta = fillInfo{outcome: Hit, sourceCached: true}
	}
	return f, o, nil
}

// fetch asks the origin for the original, conditionally when a stale copy
// exists: a 304 renews that copy. A not-found is remembered for
// cache.negative_ttl. When the origin fails, a stale copy within its
// stale-if-error window is the answer (not stored again, so its horizons do
// not move), so that variants can still be rendered from it.
func (s *Shield) fetch(ctx context.Context, up *Origin, key, path string, stale *cache.Entry, pol *Policy) (cache.Fill[fillInfo], error) {
	req := origin.Request{Path: path, MaxBytes: pol.MaxSourceBytes}
	if stale != nil {
		req.ETag, req.LastModified = stale.OriginETag, stale.LastModifiedAt
	}
	seq, gen := s.purges.Mark() // before the fetch: a purge during it makes this copy a miss
	t0 := s.clock()
	obj, err := up.Fetcher.Fetch(ctx, req)
	now := s.clock()
	info := fillInfo{outcome: Miss, timings: Timings{OriginAt: t0, Origin: now.Sub(t0)}}
	s.obs.Fetched(up.ID, obj, err, info.timings.Origin)
	if err != nil {
		ferr := &FetchError{Path: path, Err: err}
		switch {
		case errors.Is(err, origin.ErrNotFound):
			if pol.NegativeTTL > 0 {
				// Counted from the request, as every answer's age (below).
				s.originals.Set(key, &cache.Entry{NotFound: true, StoredAt: t0, FreshUntil: t0.Add(pol.NegativeTTL),
					Source: SourceID(up.ID, path), PurgeSeq: seq, Gen: gen}, pol.NegativeTTL)
			}
		case servesStale(stale, ferr, now):
			info.outcome = StaleIfError
			return cache.Fill[fillInfo]{Entry: stale, Meta: info}, nil
		}
		return cache.Fill[fillInfo]{}, ferr
	}
	// An answer's age counts from the request (RFC 9111 4.2.3: the
	// response delay is part of it): the origin may have made it as soon
	// as it was asked, so bytes replaced while a slow answer was on its way
	// must be gone a lifetime after the request, not a lifetime after the
	// answer arrived (TestFreshness: they outlived the bound by the delay).
	asked := t0
	f := pol.Fresh.parse(obj.CacheControl, obj.Expires, asked)
	horizons := &cache.Entry{
		StoredAt:                  asked,
		FreshUntil:                asked.Add(f.ttl),
		StaleWhileRevalidateUntil: asked.Add(f.ttl + f.swr),
		StaleIfErrorUntil:         asked.Add(f.ttl + f.sie),
		Downstream:                f.down,
		PurgeSeq:                  seq,
		Gen:                       gen,
	}
	if obj.NotModified {
		if stale == nil {
			return cache.Fill[fillInfo]{}, &FetchError{Path: path, Err: errors.New("origin answered 304 to an unconditional request")}
		}
		if obj.CacheControl == "" && obj.Expires == "" {
			// RFC 9111 4.3.4: a 304 updates the stored headers it carries
			// and keeps the others; without freshness of its own, the
			// stored lifetime and windows hold, counted from the request.
			renewed := stale.Renewed(restarted(stale, asked, seq, gen))
			info.outcome = Revalidated
			return cache.Fill[fillInfo]{Entry: renewed, Store: true, Meta: info}, nil
		}
		renewed := stale.Renewed(horizons)
		renewed.NoStore, renewed.OriginCacheControl = f.noStore, f.header
		info.outcome = Revalidated
		return cache.Fill[fillInfo]{Entry: renewed, Store: true, Meta: info}, nil
	}
	e := horizons
	e.Body = obj.Body
	e.ContentType = ContentType(obj.Body)
	e.ETag = etag(obj.Body)
	e.OriginETag = obj.ETag
	e.NoStore, e.OriginCacheControl = f.noStore, f.header
	e.Source = SourceID(up.ID, path)
	if !obj.LastModified.IsZero() {
		e.LastModifiedAt = obj.LastModified
		e.LastModified = obj.LastModified.Format(http.TimeFormat)
	}
	return cache.Fill[fillInfo]{Entry: e, Store: true, Meta: info}, nil
}

// restarted is e's horizons and directives moved to begin at now, with the
// purge mark of a fill that began at seq and gen: what a revalidation that
// carries no freshness of its own renews e with.
func restarted(e *cache.Entry, now time.Time, seq, gen uint64) *cache.Entry {
	from := e.StoredAt
	return &cache.Entry{
		StoredAt:                  now,
		FreshUntil:                now.Add(max(e.FreshUntil.Sub(from), 0)),
		StaleWhileRevalidateUntil: now.Add(max(e.StaleWhileRevalidateUntil.Sub(from), 0)),
		StaleIfErrorUntil:         now.Add(max(e.StaleIfErrorUntil.Sub(from), 0)),
		Downstream:                e.Downstream,
		PurgeSeq:                  seq,
		Gen:                       gen,
	}
}

// render is the variant fill: the source (cached, revalidated or fetched,
// collapsed), then one transform, unless the tier still holds this variant
// rendered from the very same source bytes: then it is renewed (or, when the
// source is only usable because its origin failed, served as it is). The
// variant inherits the source's freshness horizons and its no-store, and is
// not stored when rendered from a stale source.
func (s *Shield) render(ctx context.Context, up *Origin, key, path string, spec transform.Spec, pol *Policy) (cache.Fill[fillInfo], error) {
	okey := string(AppendKey(nil, up.ID, []byte(path), true, nil))
	src, _, err := s.source(ctx, up, okey, path, pol)
	if err != nil {
		return cache.Fill[fillInfo]{}, err
	}
	info := src.Meta
	fromStale := info.outcome == StaleIfError
	if old, ok := s.variants.Get(key); ok && !old.NotFound && old.SourceTag == src.Entry.ETag {
		if fromStale {
			return cache.Fill[fillInfo]{Entry: old, Meta: info}, nil
		}
		info.outcome = Revalidated
		return cache.Fill[fillInfo]{Entry: old.Renewed(src.Entry), Store: true, Meta: info}, nil
	}
	job := transform.Job{Spec: spec}
	if spec.Mark != "" {
		// The watermark is an original of the same origin, through the same
		// cache and collapsing as any; its bytes ride along with the job.
		if job.Mark, err = s.markSource(ctx, up, spec.Mark, pol); err != nil {
			return cache.Fill[fillInfo]{}, err
		}
	}
	t0 := s.clock()
	if s.rungs != nil {
		job.Ladder = &ladder{store: s.rungs, key: okey, src: src.Entry, now: t0, mayKeep: info.sourceCached}
		if spec.NeedsFaces() {
			job.Faces = &faceMemo{store: s.rungs, key: okey, src: src.Entry, now: t0}
		}
	}
	res, err := s.tr.Transform(ctx, src.Entry.Body, job)
	if err != nil {
		return cache.Fill[fillInfo]{}, err
	}
	now := s.clock()
	info.timings.TransformAt, info.timings.Transform, info.timings.Stages = t0, now.Sub(t0), res.Timings
	s.obs.Rendered(&res, info.timings.Transform)
	info.outcome = Miss
	if fromStale {
		info.outcome = RenderedFromStale
	}
	e := &cache.Entry{
		Body:               res.Body,
		ContentType:        res.Format.ContentType(),
		ETag:               etag(res.Body),
		LastModified:       src.Entry.LastModified,
		LastModifiedAt:     src.Entry.LastModifiedAt,
		NoStore:            src.Entry.NoStore,
		OriginCacheControl: src.Entry.OriginCacheControl,
		SourceTag:          src.Entry.ETag,
		Source:             src.Entry.Source,
		Clamp:              uint8(res.Clamp),
	}
	return cache.Fill[fillInfo]{Entry: e.Renewed(src.Entry), Store: !fromStale, Meta: info}, nil
}

// markSource fetches the watermark at path. A missing or non-image mark is
// the URL's mistake: it answers 400 naming mark.
func (s *Shield) markSource(ctx context.Context, up *Origin, path string, pol *Policy) ([]byte, error) {
	key := string(AppendKey(nil, up.ID, []byte(path), true, nil))
	m, _, err := s.source(ctx, up, key, path, pol)
	switch {
	case errors.Is(err, origin.ErrNotFound):
		return nil, &transform.ParamError{Param: "mark", Value: path, Problem: "was not found at the origin", Allowed: "the path of an image at the same origin"}
	case err != nil:
		return nil, fmt.Errorf("mark %s: %w", path, err)
	case m.Entry.ContentType == "" || m.Entry.ContentType == transform.FormatSVG.ContentType():
		return nil, &transform.ParamError{Param: "mark", Value: path, Problem: "is not a raster image", Allowed: "a JPEG, PNG, WebP, AVIF, GIF or JPEG XL at the same origin"}
	}
	return m.Entry.Body, nil
}

// Preview renders r's variant as Serve would, from the original as Serve
// gets it (through the tier, collapsed, fetched when missing), without
// storing the variant, within a variant fill's bound: what /explain shows.
func (s *Shield) Preview(ctx context.Context, r *Request) (src *cache.Entry, res transform.Result, t Timings, err error) {
	pol := s.policy.Load()
	ctx, cancel := context.WithTimeout(ctx, pol.RenderTimeout)
	defer cancel()
	key := string(AppendKey(nil, r.Origin.ID, r.Path, true, nil))
	f, _, err := s.source(ctx, r.Origin, key, string(r.Path), pol)
	if err != nil {
		return nil, res, t, err
	}
	t = f.Meta.timings
	if r.Original {
		return f.Entry, res, t, nil
	}
	job := transform.Job{Spec: r.Spec}
	if r.Spec.Mark != "" {
		if job.Mark, err = s.markSource(ctx, r.Origin, r.Spec.Mark, pol); err != nil {
			return f.Entry, res, t, err
		}
	}
	t0 := s.clock()
	res, err = s.tr.Transform(ctx, f.Entry.Body, job)
	t.TransformAt, t.Transform, t.Stages = t0, s.clock().Sub(t0), res.Timings
	return f.Entry, res, t, err
}

// ContentType is the type of an original, from its magic bytes: "" when the
// bytes are not an image this edge knows. An origin's own Content-Type is
// never trusted. SVG and SVGZ (gzip) both say image/svg+xml: the edge
// rasterises them rather than serving a document that can carry scripts.
func ContentType(body []byte) string {
	switch f := transform.Sniff(body); {
	case f != transform.FormatSource:
		return f.ContentType()
	case transform.IsSVG(body), transform.IsGzip(body):
		return transform.FormatSVG.ContentType()
	}
	return ""
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

// SourceID is what entries record as their source and purges match: the
// origin's id and the path at it, so that origins never purge each other.
func SourceID(originID, path string) string { return originID + "|" + path }
