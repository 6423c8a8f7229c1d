package edge

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"imgedge/configs"
	"imgedge/internal/bytesconv"
	"imgedge/transform"
)

// originList is cors.allow_origins or timing.allow_origins: every origin
// ("*"), or these.
type originList struct {
	any     bool
	origins [][]byte
}

func newOriginList(list []string) originList {
	var l originList
	for _, o := range list {
		if o == "*" {
			l.any = true
		}
		l.origins = append(l.origins, []byte(o))
	}
	return l
}

func (l *originList) empty() bool { return !l.any && len(l.origins) == 0 }

// allow returns the value to send for a request from origin: "*", the
// origin itself when listed, or nil.
func (l *originList) allow(origin []byte) []byte {
	if l.any {
		return valueStar
	}
	for _, o := range l.origins {
		if bytes.Equal(o, origin) {
			return origin
		}
	}
	return nil
}

// The headers of the browser-facing parts, as fasthttp stores them.
var (
	hdrAllowOrigin    = []byte(fasthttp.HeaderAccessControlAllowOrigin)
	hdrExposeHeaders  = []byte(fasthttp.HeaderAccessControlExposeHeaders)
	hdrTimingAllow    = []byte("Timing-Allow-Origin")
	hdrAcceptCH       = []byte("Accept-Ch")
	valueStar         = []byte("*")
	valueExposed      = []byte("Cache-Status, Server-Timing, ETag, Age, X-Request-Id, Imgedge-Clamped")
	valuePreflightTTL = []byte("86400")
)

// varyBits are the request headers an answer depends on, written as one
// Vary header when the answer is complete.
type varyBits uint8

const (
	varyAccept varyBits = 1 << iota
	varyOrigin
	varyDPR
	varyWidth
	varyViewportWidth
	varySaveData
)

// varyNames are the request headers behind each bit. A hint comes by its
// name or its old one (RFC 8942's Sec-CH- names, the older DPR, Width,
// Viewport-Width) and either changes the answer, so Vary names both: naming
// only the one that came, a cache in front matches a later request that
// sends the other to the wrong copy.
var varyNames = [...]struct {
	bit  varyBits
	name string
}{
	{varyAccept, "Accept"}, {varyOrigin, "Origin"},
	{varyDPR, "Sec-CH-DPR, DPR"}, {varyWidth, "Sec-CH-Width, Width"},
	{varyViewportWidth, "Sec-CH-Viewport-Width, Viewport-Width"}, {varySaveData, "Save-Data"},
}

func appendVary(dst []byte, v varyBits) []byte {
	for _, n := range varyNames {
		if v&n.bit != 0 {
			if len(dst) > 0 {
				dst = append(dst, ", "...)
			}
			dst = append(dst, n.name...)
		}
	}
	return dst
}

// allHints is every client hint the edge reads.
const allHints = transform.HintDPR | transform.HintWidth | transform.HintViewportWidth | transform.HintSaveData

// readHints reads the client hint headers (RFC 8942), or their old names,
// of the hints in named, without allocating; the others stay zero.
func readHints(h *requestHeaders, named transform.Hint) (hints transform.ClientHints) {
	num := func(name, old int) []byte {
		if v := h.get(name); len(v) > 0 {
			return v
		}
		return h.get(old)
	}
	if named&transform.HintDPR != 0 {
		if v := num(inDPR, inDPROld); len(v) > 0 {
			if f, err := strconv.ParseFloat(bytesconv.String(v), 64); err == nil && f > 0 {
				hints.DPR = f
			}
		}
	}
	if named&transform.HintWidth != 0 {
		if v := num(inWidth, inWidthOld); len(v) > 0 {
			hints.Width = positiveInt(v)
		}
	}
	if named&transform.HintViewportWidth != 0 {
		if v := num(inViewportWidth, inViewportWidthOld); len(v) > 0 {
			hints.ViewportWidth = positiveInt(v)
		}
	}
	if named&transform.HintSaveData != 0 {
		hints.SaveData = bytes.EqualFold(bytes.TrimSpace(h.get(inSaveData)), []byte("on"))
	}
	return hints
}

func positiveInt(v []byte) int {
	n, err := strconv.Atoi(bytesconv.String(bytes.TrimSpace(v)))
	if err != nil || n < 0 {
		return 0
	}
	return min(n, 1<<20)
}

// hintVary is the Vary of the hints a spec used.
func hintVary(used transform.Hint) varyBits {
	var v varyBits
	if used&transform.HintDPR != 0 {
		v |= varyDPR
	}
	if used&transform.HintWidth != 0 {
		v |= varyWidth
	}
	if used&transform.HintViewportWidth != 0 {
		v |= varyViewportWidth
	}
	if used&transform.HintSaveData != 0 {
		v |= varySaveData
	}
	return v
}

// browserHeaders are the policy's parts that browsers read.
type browserHeaders struct {
	cors     originList
	timing   []byte // Timing-Allow-Origin: "*" or the whole list; nil: none
	acceptCH []byte
}

func newBrowserHeaders(cfg *configs.Config) browserHeaders {
	b := browserHeaders{cors: newOriginList(cfg.CORS.AllowOrigins), acceptCH: []byte(cfg.Hints.AcceptCH)}
	// An <img> without crossorigin sends no Origin, yet the browser checks
	// its page's origin against Timing-Allow-Origin: the whole list goes,
	// the same for every request.
	if len(cfg.Timing.AllowOrigins) > 0 {
		b.timing = []byte(strings.Join(cfg.Timing.AllowOrigins, ", "))
		if slices.Contains(cfg.Timing.AllowOrigins, "*") {
			b.timing = valueStar
		}
	}
	return b
}

// writeBrowserHeaders adds CORS (Fetch standard), Timing-Allow-Origin and
// Vary to every answer, errors, 304s and preflights included: a page that
// may read an image may also read why it failed.
func (s *Server) writeBrowserHeaders(ctx *fasthttp.RequestCtx, sc *scratch, b *browserHeaders) {
	h := &ctx.Response.Header
	origin := sc.in.get(inOrigin)
	switch {
	case b.cors.any:
		// "*" answers every request alike, with an Origin or without: the
		// browser's copy from an <img> (no Origin) and a cache's copy in
		// front both serve a later fetch(), which needs the header.
		h.SetCanonical(hdrAllowOrigin, valueStar)
		h.SetCanonical(hdrExposeHeaders, valueExposed)
	case !b.cors.empty():
		sc.vary |= varyOrigin // the answer names the origin, or not: also without one
		if v := b.cors.allow(origin); v != nil && len(origin) > 0 {
			h.SetCanonical(hdrAllowOrigin, v)
			h.SetCanonical(hdrExposeHeaders, valueExposed)
		}
	}
	if b.timing != nil {
		h.SetCanonical(hdrTimingAllow, b.timing)
	}
	if sc.req.Spec.Hints != 0 && len(b.acceptCH) > 0 {
		h.SetCanonical(hdrAcceptCH, b.acceptCH)
	}
	if sc.vary != 0 {
		sc.hdr = appendVary(sc.hdr[:0], sc.vary)
		h.SetCanonical(hdrVary, sc.hdr)
	}
}

// isProbe says whether the request is OPTIONS *, which asks about the
// server itself (RFC 9110 9.3.7): a cache's health probe.
func isProbe(ctx *fasthttp.RequestCtx) bool {
	return ctx.IsOptions() && string(ctx.Request.Header.RequestURI()) == "*"
}

// preflight answers OPTIONS: the methods this edge serves and, for an
// allowed origin, the CORS preflight (the headers it asked for, for a day).
func (s *Server) preflight(ctx *fasthttp.RequestCtx, b *browserHeaders) {
	h := &ctx.Response.Header
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	h.Set(fasthttp.HeaderAllow, "GET, HEAD, OPTIONS")
	if isProbe(ctx) {
		// OPTIONS * asks about the server itself (RFC 9110 9.3.7): the
		// health probe of a cache in front, on the address it sends images
		// to, which can never name an image.
		if !s.serving(time.Now()) {
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		}
		return
	}
	origin := ctx.Request.Header.Peek(fasthttp.HeaderOrigin)
	if len(origin) == 0 || b.cors.allow(origin) == nil {
		return
	}
	h.Set(fasthttp.HeaderAccessControlAllowMethods, "GET, HEAD, OPTIONS")
	if asked := ctx.Request.Header.Peek(fasthttp.HeaderAccessControlRequestHeaders); len(asked) > 0 && len(asked) <= 1024 {
		h.SetBytesV(fasthttp.HeaderAccessControlAllowHeaders, asked)
	}
	h.SetCanonical([]byte(fasthttp.HeaderAccessControlMaxAge), valuePreflightTTL)
}
