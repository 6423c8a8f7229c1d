package transform

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unique"

	"github.com/agnivade/levenshtein"

	"imgedge/internal/bytesconv"
)

// Limits bounds what a request may ask for.
type Limits struct {
	MaxDimension int   // largest w or h after dpr
	Widths       []int // when not empty, w and h snap up to the next of these (sorted)
	// PresetsOnly accepts p (and s) alone: every variant is one an operator
	// named, so unsigned URLs cannot mint new ones with q, blur, bg or fp-x.
	PresetsOnly bool
	// Ignore names parameters accepted and left out of the spec and the key
	// (an SDK's ixlib=, a cache buster's v=): they never make an entry of
	// their own. IgnoreUnknown does that for every unknown name.
	Ignore        []string
	IgnoreUnknown bool
}

// Parser turns URL parameters into Specs. It is immutable after NewParser and
// safe for concurrent use.
type Parser struct {
	limits  Limits
	presets map[string][]pair
}

// pair is one query parameter; idx is its row in params, once known.
type pair struct {
	k, v []byte
	idx  int
}

// NewParser checks every preset's parameters (naming the preset and parameter
// on error) and returns a Parser.
func NewParser(limits Limits, presets map[string]map[string]string) (*Parser, error) {
	if limits.MaxDimension <= 0 {
		return nil, fmt.Errorf("transform: MaxDimension must be above 0, got %d", limits.MaxDimension)
	}
	widths := append([]int(nil), limits.Widths...)
	sort.Ints(widths)
	limits.Widths = widths
	// Presets are checked as ordinary parameters; PresetsOnly applies to
	// requests once they all are.
	presetsOnly := limits.PresetsOnly
	limits.PresetsOnly = false
	p := &Parser{limits: limits, presets: make(map[string][]pair, len(presets))}
	for name, params := range presets {
		keys := make([]string, 0, len(params))
		for k := range params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var pairs []pair
		for _, k := range keys {
			if k == "p" || k == "s" {
				return nil, fmt.Errorf("presets.%s.%s: a preset cannot name %q", name, k, k)
			}
			_, idx, _ := paramBit([]byte(k))
			pairs = append(pairs, pair{k: []byte(k), v: []byte(params[k]), idx: idx})
		}
		p.presets[name] = pairs
		var b Builder
		b.Reset(p)
		if _, err := b.finishPairs(pairs); err != nil {
			return nil, fmt.Errorf("presets.%s: %w", name, err)
		}
	}
	p.limits.PresetsOnly = presetsOnly
	return p, nil
}

// maxParams bounds the pairs a Builder holds; there are fewer known names
// (paramBits holds one bit each), so a longer query necessarily repeats or
// invents one.
const maxParams = 64

// Builder collects the query pairs of one request without allocating: the
// caller feeds every pair with Add, then calls Finish. Pairs may point into
// request memory; they are only read until Finish returns. A zero Builder must
// be Reset before use.
type Builder struct {
	parser *Parser
	pairs  [maxParams]pair
	n      int
	extra  []byte      // first pair past maxParams, for the error message
	hints  ClientHints // what the request's headers say, for ch=
	// st is the state being built. It lives in the Builder (pooled by the
	// edge) because the parameter setters are called through the params
	// table, which escape analysis cannot follow: a local state would be
	// moved to the heap on every request.
	st state
}

// Reset prepares b for a new request.
func (b *Builder) Reset(p *Parser) {
	b.parser = p
	b.n = 0
	b.extra = nil
	b.hints = ClientHints{}
}

// ClientHints are the values of a request's client hint headers (0 and
// false: not sent). They apply only to the hints the URL names in ch=.
type ClientHints struct {
	DPR           float64 // Sec-CH-DPR (or DPR)
	Width         int     // Sec-CH-Width (or Width): the image's width in device pixels
	ViewportWidth int     // Sec-CH-Viewport-Width (or Viewport-Width), CSS pixels
	SaveData      bool    // Save-Data: on
}

// SetHints records the request's client hints for Finish.
func (b *Builder) SetHints(h ClientHints) { b.hints = h }

// Add records one query pair.
func (b *Builder) Add(key, value []byte) {
	if b.n == maxParams {
		if b.extra == nil {
			b.extra = key
		}
		return
	}
	b.pairs[b.n] = pair{k: key, v: value}
	b.n++
}

// Has reports whether the parameter name was given (a preset's aside).
func (b *Builder) Has(name string) bool {
	for i := range b.n {
		if string(b.pairs[i].k) == name {
			return true
		}
	}
	return false
}

// Empty reports whether no parameter other than the signature and ignored
// ones was given: the request is for the original bytes.
func (b *Builder) Empty() bool {
	for i := range b.n {
		if k := b.pairs[i].k; string(k) != "s" && !b.parser.ignored(k) {
			return false
		}
	}
	return true
}

// base64Param reads imgix's *64 form of a parameter (mark64, dl64, ...):
// the parameter's name, and whether k was one. Every parameter has it: its
// value is the parameter's, in URL-safe base64, so that any bytes survive a
// URL and an SDK's escaping.
func base64Param(k []byte) ([]byte, bool) {
	if n := len(k) - 2; n > 0 && string(k[n:]) == "64" {
		if _, _, known := paramBit(k[:n]); known {
			return k[:n], true
		}
	}
	return k, false
}

// decodeBase64Param decodes a *64 value, with or without padding (imgix's
// SDKs strip it).
func decodeBase64Param(v []byte) ([]byte, error) {
	v = bytes.TrimRight(v, "=")
	out := make([]byte, base64.RawURLEncoding.DecodedLen(len(v)))
	n, err := base64.RawURLEncoding.Decode(out, v)
	return out[:n], err
}

// ignored reports whether k is left out: listed in params.ignore, or
// unknown while params.unknown is ignore.
func (p *Parser) ignored(k []byte) bool {
	k, _ = base64Param(k)
	for _, name := range p.limits.Ignore {
		if string(k) == name {
			return true
		}
	}
	if p.limits.IgnoreUnknown {
		_, _, known := paramBit(k)
		return !known
	}
	return false
}

// Finish validates the collected pairs and returns the Spec.
func (b *Builder) Finish() (Spec, error) {
	if b.extra != nil {
		return Spec{}, &ParamError{Param: string(b.extra), Problem: "repeated", Allowed: "each parameter at most once"}
	}
	return b.finishPairs(b.pairs[:b.n])
}

type paramBits uint64

// Every parameter has its bit in a paramBits (maxParams is 64 at most), and
// a query naming each once fits a Builder.
var _ [maxParams - len(params)]struct{}
var _ [64 - maxParams]struct{}

func (b *Builder) finishPairs(pairs []pair) (Spec, error) {
	var seen paramBits
	var preset []pair
	for i := range pairs {
		if name, ok := base64Param(pairs[i].k); ok {
			v, err := decodeBase64Param(pairs[i].v)
			if err != nil {
				return Spec{}, &ParamError{Param: string(pairs[i].k), Value: string(pairs[i].v), Problem: "is not URL-safe base64",
					Allowed: "the value of " + string(name) + " in URL-safe base64 (RFC 4648 section 5, padding optional), as imgix's *64 parameters"}
			}
			pairs[i].k, pairs[i].v = name, v
		}
		if b.parser.ignored(pairs[i].k) {
			pairs[i].idx = -1
			continue
		}
		bit, idx, ok := paramBit(pairs[i].k)
		if !ok {
			return Spec{}, unknownParam(pairs[i].k)
		}
		if seen&bit != 0 {
			return Spec{}, &ParamError{Param: string(pairs[i].k), Problem: "repeated"}
		}
		seen |= bit
		pairs[i].idx = idx
		if name := params[idx].name; b.parser.limits.PresetsOnly && name != "p" && name != "s" {
			return Spec{}, &ParamError{Param: name, Problem: "is not accepted by this edge",
				Allowed: "only p=<preset> (params.presets_only); presets: " + b.parser.presetNames()}
		}
		if params[idx].name == "p" {
			ps, ok := b.parser.presets[string(pairs[i].v)]
			if !ok {
				return Spec{}, &ParamError{Param: "p", Value: string(pairs[i].v), Problem: "is not a configured preset", Allowed: b.parser.presetNames()}
			}
			preset = ps
		}
	}
	st := &b.st
	*st = state{fpx: math.NaN(), fpy: math.NaN()}
	for i := range preset {
		if err := st.set(preset[i]); err != nil {
			return Spec{}, err
		}
	}
	for i := range pairs {
		if pairs[i].idx < 0 {
			continue
		}
		if err := st.set(pairs[i]); err != nil {
			return Spec{}, err
		}
	}
	st.hints = b.hints
	return st.finish(&b.parser.limits)
}

func (p *Parser) presetNames() string {
	if len(p.presets) == 0 {
		return "none are configured (presets in the config)"
	}
	names := make([]string, 0, len(p.presets))
	for n := range p.presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// ParseQuery parses a raw query string (without '?'), in the order given. The
// edge feeds a Builder from its own parsed arguments instead; this is for
// tools, tests and the explain endpoint.
func (p *Parser) ParseQuery(raw string) (Spec, bool, error) {
	var b Builder
	b.Reset(p)
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		uk, err1 := url.QueryUnescape(k)
		uv, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return Spec{}, false, &ParamError{Param: k, Value: v, Problem: "is not valid percent-encoding"}
		}
		b.Add([]byte(uk), []byte(uv))
	}
	s, err := b.Finish()
	return s, b.Empty(), err
}

// param is one URL parameter, declared once: its name, how its value is read
// into the state, how its canonical value is written into the cache key (nil:
// it never enters the key itself, as dpr folds into w and h), and what it
// allows. The table is sorted by name, which is also the order of the key.
type param struct {
	name    string
	set     func(st *state, v []byte, allowed string) *ParamError
	key     func(dst []byte, s *Spec) ([]byte, bool)
	allowed string
}

var params = [...]param{
	{"ar", setAR, keyAR, "W:H with fit=crop, between 1:100 and 100:1, e.g. 16:9 or 1.91:1"},
	{"auto", setAuto, keyAuto, "format, compress, or both comma separated"},
	{"bg", setBG, keyBG, colorAllowed},
	{"blur", setBlur, keyInt(func(s *Spec) int { return s.Blur }), "an integer from 0 to 2000"},
	{"bri", setBri, keyInt(func(s *Spec) int { return s.Bri }), "an integer from -100 to 100"},
	{"ch", setCH, nil, "Width, DPR, Viewport-Width and Save-Data, comma separated"}, // resolved into w, h and auto=compress
	{"con", setCon, keyInt(func(s *Spec) int { return s.Con }), "an integer from -100 to 100"},
	{"crop", setCrop, keyCrop, gravityAllowed},
	{"dl", setDL, nil, "a file name for the download"}, // a header only: the bytes are the same
	{"dpr", setDPR, keyDPR, "a number from 1 to 5, e.g. 2 or 1.5"},
	{"exp", setExp, keyInt(func(s *Spec) int { return s.Exp }), "an integer from -100 to 100"},
	{"faceindex", setFaceIndex, keyFaceIndex, "an integer from 1 (the largest face) to 32, with fit=facearea or crop=faces"},
	{"facepad", setFacePad, keyFacePad, "a number from 0.01 to 10 (default 1), with fit=facearea"},
	{"faces", setFaces, keyFaces, "1 with fm=json: the faces found, listed"},
	{"fill", setFill, keyFill, "solid (fill-color, else bg) or blur (a blurred copy of the image), with fit=fill or fillmax"},
	{"fill-color", setFillColor, nil, colorAllowed}, // folds into bg's key
	{"fit", setFit, keyFit, "clip, max, crop, fill, fillmax, scale, min, or facearea (with a fallback fit after a comma, e.g. facearea,fill)"},
	{"flip", setFlip, keyFlip, "h, v or hv"},
	{"fm", setFormat, keyFormat, formatAllowed},
	{"fp-x", setFPX, keyFocal(func(s *Spec) float64 { return s.FocalX }), "a number from 0 to 1"},
	{"fp-y", setFPY, keyFocal(func(s *Spec) float64 { return s.FocalY }), "a number from 0 to 1"},
	{"frame", setFrame, keyInt(func(s *Spec) int { return s.Frame }), "an integer from 1 (the first frame)"},
	{"gam", setGam, keyInt(func(s *Spec) int { return s.Gam }), "an integer from -100 to 100"},
	{"h", setH, keySide(func(s *Spec) (int, float64) { return s.Height, s.HeightFrac }), sideAllowed},
	{"high", setHigh, keyInt(func(s *Spec) int { return s.High }), "an integer from -100 to 0"},
	{"hue", setHue, keyInt(func(s *Spec) int { return s.Hue }), "an integer from 0 to 360 (degrees)"},
	{"invert", setInvert, keyBool(func(s *Spec) bool { return s.Invert }), "true or false"},
	{"lossless", setLossless, keyLossless, "0 or 1"},
	{"mark", setMark, keyMark, "the path of an image at the same origin, e.g. /logo.png"},
	{"mark-align", setMarkAlign, keyMarkAlign, "top, middle, bottom with left, center, right, e.g. bottom,right"},
	{"mark-alpha", setMarkAlpha, keyMarkInt(func(s *Spec) int { return s.MarkAlpha }), "an integer from 0 to 100"},
	{"mark-fit", setMarkFit, keyMarkFit, "clip, max, crop, fill, scale"},
	{"mark-h", setMarkH, keyMarkSide(func(s *Spec) (int, float64) { return s.MarkH, s.MarkHFrac }), "pixels from 1 to limits.max_dimension, or a fraction of the image between 0 and 1"},
	{"mark-pad", setMarkPad, keyMarkInt(func(s *Spec) int { return s.MarkPad }), "an integer from 0 to 1000"},
	{"mark-w", setMarkW, keyMarkSide(func(s *Spec) (int, float64) { return s.MarkW, s.MarkWFrac }), "pixels from 1 to limits.max_dimension, or a fraction of the image between 0 and 1"},
	{"monochrome", setMonochrome, keyMonochrome, colorAllowed + " (the alpha is the effect's intensity)"},
	{"p", nil, nil, "a configured preset"}, // resolved before the others, in finishPairs
	{"pad", setPad(-1), keyPad, "an integer from 0 to 1000 (pixels of bg around the image)"},
	{"pad-bottom", setPad(2), nil, "an integer from 0 to 1000"}, // the key writes pad= with all four sides
	{"pad-left", setPad(3), nil, "an integer from 0 to 1000"},
	{"pad-right", setPad(1), nil, "an integer from 0 to 1000"},
	{"pad-top", setPad(0), nil, "an integer from 0 to 1000"},
	{"px", setPx, keyInt(func(s *Spec) int { return s.Px }), "an integer from 0 to 100 (the blocks' side in pixels)"},
	{"q", setQuality, keyInt(func(s *Spec) int { return s.Quality }), "an integer from 1 to 100"},
	{"rect", setRect, keyRect, "x,y,w,h in source pixels, e.g. 0,0,400,300"},
	{"rot", setRot, keyInt(func(s *Spec) int { return s.Rotate }), "0, 90, 180 or 270"},
	{"s", nil, nil, "the URL signature"}, // checked by the edge before parsing
	{"sat", setSat, keyInt(func(s *Spec) int { return s.Sat }), "an integer from -100 to 100"},
	{"sepia", setSepia, keyInt(func(s *Spec) int { return s.Sepia }), "an integer from 0 to 100"},
	{"shad", setShad, keyInt(func(s *Spec) int { return s.Shad }), "an integer from 0 to 100"},
	{"sharp", setSharp, keyInt(func(s *Spec) int { return s.Sharp }), "an integer from 0 to 100"},
	{"trim", setTrim, keyTrim, "auto or color"},
	{"trim-color", setTrimColor, keyTrimColor, colorAllowed},
	{"trim-tol", setTrimTol, keyInt(func(s *Spec) int { return s.TrimTol }), "an integer from 1 to 100"},
	{"usm", setUSM, keyInt(func(s *Spec) int { return s.USM }), "an integer from -100 to 100"},
	{"usmrad", setUSMRad, keyUSMRad, "a number above 0 and up to 100 (pixels), e.g. 2.5"},
	{"vib", setVib, keyInt(func(s *Spec) int { return s.Vib }), "an integer from -100 to 100"},
	{"w", setW, keySide(func(s *Spec) (int, float64) { return s.Width, s.WidthFrac }), sideAllowed},
}

const sideAllowed = "an integer from 1 to limits.max_dimension, or a fraction of the source between 0 and 1 (0.5: half its size)"

// keySide writes w or h: pixels, or a fraction of the source.
func keySide(side func(*Spec) (int, float64)) func([]byte, *Spec) ([]byte, bool) {
	return func(dst []byte, s *Spec) ([]byte, bool) {
		px, frac := side(s)
		if frac > 0 {
			return strconv.AppendFloat(dst, frac, 'f', -1, 64), true
		}
		if px == 0 {
			return dst, false
		}
		return strconv.AppendInt(dst, int64(px), 10), true
	}
}

// keyDPR writes the dpr a fraction of the source is resolved with; in
// pixels it is folded into w and h.
func keyDPR(dst []byte, s *Spec) ([]byte, bool) {
	if s.DPR == 0 {
		return dst, false
	}
	return strconv.AppendFloat(dst, s.DPR, 'f', -1, 64), true
}

func keyAR(dst []byte, s *Spec) ([]byte, bool) {
	if s.ARW == 0 {
		return dst, false
	}
	return strconv.AppendInt(append(strconv.AppendInt(dst, int64(s.ARW), 10), ':'), int64(s.ARH), 10), true
}

func keyMark(dst []byte, s *Spec) ([]byte, bool) {
	if s.Mark == "" {
		return dst, false
	}
	return appendEscaped(dst, s.Mark), true
}

// appendEscaped percent-encodes what would end a key or query pair (& = #
// + % space and controls), so that no path can pass for other parameters.
func appendEscaped(dst []byte, v string) []byte {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c <= ' ' || c >= 0x7f || c == '&' || c == '=' || c == '#' || c == '+' || c == '%' || c == '?':
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

const upperHex = "0123456789ABCDEF"

// keyMarkInt writes a watermark setting only with a watermark.
func keyMarkInt(field func(*Spec) int) func([]byte, *Spec) ([]byte, bool) {
	return func(dst []byte, s *Spec) ([]byte, bool) {
		if s.Mark == "" {
			return dst, false
		}
		return strconv.AppendInt(dst, int64(field(s)), 10), true
	}
}

// keyMarkSide writes mark-w or mark-h, pixels or a fraction, only with a
// watermark.
func keyMarkSide(side func(*Spec) (int, float64)) func([]byte, *Spec) ([]byte, bool) {
	return func(dst []byte, s *Spec) ([]byte, bool) {
		if s.Mark == "" {
			return dst, false
		}
		px, frac := side(s)
		if frac > 0 {
			return strconv.AppendFloat(dst, frac, 'f', -1, 64), true
		}
		return strconv.AppendInt(dst, int64(px), 10), true
	}
}

func keyMarkAlign(dst []byte, s *Spec) ([]byte, bool) {
	if s.Mark == "" {
		return dst, false
	}
	if s.MarkAlign == GravityCenter {
		return append(dst, "middle"...), true
	}
	return s.MarkAlign.appendTo(dst), true
}

func keyMarkFit(dst []byte, s *Spec) ([]byte, bool) {
	if s.Mark == "" {
		return dst, false
	}
	return append(dst, fitNames[s.MarkFit]...), true
}

func keyTrim(dst []byte, s *Spec) ([]byte, bool) {
	switch s.Trim {
	case TrimAuto:
		return append(dst, "auto"...), true
	case TrimColor:
		return append(dst, "color"...), true
	}
	return dst, false
}

// keyTrimColor writes the colour only where it is read: trim=color.
func keyTrimColor(dst []byte, s *Spec) ([]byte, bool) {
	if s.Trim != TrimColor {
		return dst, false
	}
	c := s.TrimWith
	return appendHex(appendHex(appendHex(appendHex(dst, c.A), c.R), c.G), c.B), true
}

func keyPad(dst []byte, s *Spec) ([]byte, bool) {
	if s.Pad == [4]int{} {
		return dst, false
	}
	return appendInts(dst, s.Pad[:]), true
}

func keyRect(dst []byte, s *Spec) ([]byte, bool) {
	if s.Rect[2] == 0 {
		return dst, false
	}
	return appendInts(dst, s.Rect[:]), true
}

func keyBool(field func(*Spec) bool) func([]byte, *Spec) ([]byte, bool) {
	return func(dst []byte, s *Spec) ([]byte, bool) {
		if !field(s) {
			return dst, false
		}
		return append(dst, "true"...), true
	}
}

func appendInts(dst []byte, v []int) []byte {
	for i, n := range v {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, int64(n), 10)
	}
	return dst
}

// paramBit is the bit of parameter k in a paramBits set.
func paramBit(k []byte) (paramBits, int, bool) {
	for i := range params {
		if params[i].name == string(k) {
			return 1 << i, i, true
		}
	}
	return 0, 0, false
}

func paramNames() string {
	var b strings.Builder
	for i := range params {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(params[i].name)
	}
	return b.String()
}

// aliases are names from other image APIs that people type by habit, in a
// fixed order so that suggestions are deterministic.
var aliases = [...]struct{ alias, name string }{
	{"width", "w"}, {"height", "h"}, {"format", "fm"}, {"fmt", "fm"}, {"f", "fm"}, {"quality", "q"},
	{"gravity", "crop"}, {"g", "crop"}, {"rotate", "rot"}, {"or", "rot"}, {"background", "bg"},
	{"page", "frame"}, {"preset", "p"}, {"sig", "s"}, {"signature", "s"}, {"resize", "fit"},
	{"mono", "monochrome"}, // imgix's own alias
}

// imgixNames are imgix's rendering API parameters: one this edge lacks is
// said to be unsupported, never "corrected" to a parameter that means
// something else (ar is no rot, dl no dpr).
var imgixNames = strings.Fields(`ar auto bg blend blend-align blend-alpha blend-color blend-crop blend-fit
	blend-h blend-mode blend-pad blend-size blend-w blend-x blend-y blur border border-bottom border-left
	border-radius border-radius-inner border-right border-top bri ch chromasub colorquant con corner-radius
	crop cs dl dpi dpr duotone duotone-alpha exp expires faceindex facepad faces fill fill-color fit flip fm
	fp-debug fp-x fp-y fp-z fps frame gam high htn hue hue-set invert lossless loop mark mark-align mark-alpha
	mark-base mark-fit mark-h mark-pad mark-rot mark-scale mark-tile mark-w mark-x mark-y mask mask-bg max-h
	max-w min-h min-w monochrome nr nrs orient pad pad-bottom pad-left pad-right pad-top palette prefix px q
	rect reverse rot s sat sepia shad sharp skip trim trim-color trim-md trim-pad trim-sd trim-tol txt
	txt-align txt-clip txt-color txt-fit txt-font txt-lig txt-line txt-line-color txt-pad txt-shad txt-size
	txt-width txt-x txt-y usm usmrad vib w`)

const unsupportedImgix = "is an imgix parameter this edge does not support (README: Coming from imgix)"

func unknownParam(k []byte) *ParamError {
	name := string(k)
	e := &ParamError{Param: name, Problem: "unknown", Allowed: paramNames()}
	for _, a := range aliases {
		if strings.EqualFold(name, a.alias) {
			e.Suggest = a.name
			return e
		}
	}
	lower := strings.ToLower(name)
	if slices.Contains(imgixNames, lower) {
		e.Problem = unsupportedImgix
		return e
	}
	// The nearest known name or habitual alias, when it is close in spelling:
	// one edit for names of up to three letters (every short name is two
	// edits from every other), two for longer ones, and never an edit that
	// changes most of the name.
	best, bestD := "", 3
	consider := func(candidate, target string) {
		d := levenshtein.ComputeDistance(lower, candidate)
		limit := 2
		if min(len(lower), len(candidate)) <= 3 {
			limit = 1
		}
		if d <= limit && d < bestD && 2*d < max(len(lower), len(candidate)) {
			best, bestD = target, d
		}
	}
	for i := range params {
		consider(params[i].name, params[i].name)
	}
	for _, a := range aliases {
		consider(a.alias, a.name)
	}
	e.Suggest = best
	return e
}

// state accumulates parameters; later sets override earlier ones (explicit
// parameters over a preset's).
type state struct {
	spec     Spec
	w, h     int
	wf, hf   float64 // w and h as fractions of the source; 0: not so
	dpr      float64
	fpx, fpy float64 // NaN until given
	hints    ClientHints
	padSet   [4]bool // pad-top and friends given, so pad= leaves them alone
	// The watermark's defaults apply to what was not given.
	markAlignSet, markAlphaSet, markPadSet bool
	// fillColor is imgix's fill-color: the colour a fill pads with, where
	// bg is the colour behind transparency; the edge draws both with one.
	fillColor Color
	// ar is ar='s w/h as given. The side it makes from w or h comes from
	// it, not from the key's ten-thousandths: with those, ar=1:3&w=3000
	// made h=9001 and ar=16:9&w=200 made h=112 (112.5 rounds to 113).
	ar       float64
	fillBlur bool // fill=blur (false: solid, the default)
}

// set reads one parameter, whose row finishPairs found, into st.
func (st *state) set(p pair) error {
	if set := params[p.idx].set; set != nil {
		if err := set(st, p.v, params[p.idx].allowed); err != nil {
			return err
		}
	}
	return nil
}

func setW(st *state, v []byte, allowed string) (err *ParamError) {
	st.w, st.wf, err = pixelsOrFraction("w", v, math.MaxInt32, allowed)
	return err
}

func setH(st *state, v []byte, allowed string) (err *ParamError) {
	st.h, st.hf, err = pixelsOrFraction("h", v, math.MaxInt32, allowed)
	return err
}

func setDPR(st *state, v []byte, allowed string) (err *ParamError) {
	st.dpr, err = floatParam("dpr", v, 1, 5, allowed)
	return err
}

func setFit(st *state, v []byte, allowed string) *ParamError {
	name, fallback, hasFallback := bytes.Cut(v, []byte(","))
	fit, ok := fitNamed(name)
	if !ok || hasFallback && fit != FitFaceArea {
		return badValue("fit", v, allowed)
	}
	st.spec.Fit, st.spec.FaceFallback = fit, FitCrop
	if hasFallback {
		// imgix's fit=facearea,fill: the fit to use when no face is found.
		if st.spec.FaceFallback, ok = fitNamed(fallback); !ok || st.spec.FaceFallback == FitFaceArea {
			return badValue("fit", v, allowed)
		}
	}
	return nil
}

func fitNamed(v []byte) (Fit, bool) {
	for f := range fitCount {
		if string(v) == fitNames[f] {
			return f, true
		}
	}
	return 0, false
}

// setCrop reads crop=: faces may lead a list whose rest is the fallback
// (crop=faces,top,right; crop=faces,entropy), as imgix reads it.
func setCrop(st *state, v []byte, _ string) (err *ParamError) {
	rest, faces := bytes.CutPrefix(v, []byte("faces"))
	switch {
	case faces && len(rest) == 0:
		st.spec.CropFaces, st.spec.Gravity = true, GravityCenter
		return nil
	case faces && rest[0] == ',':
		st.spec.CropFaces = true
		if st.spec.Gravity, err = parseGravity(rest[1:]); err != nil {
			err.Value = string(v)
		}
		return err
	}
	st.spec.CropFaces = false
	st.spec.Gravity, err = parseGravity(v)
	return err
}

func setFaceIndex(st *state, v []byte, allowed string) (err *ParamError) {
	st.spec.FaceIndex, err = intParam("faceindex", v, 1, 32, allowed)
	return err
}

func setFacePad(st *state, v []byte, allowed string) *ParamError {
	pad, err := floatParam("facepad", v, 0.01, 10, allowed)
	if err != nil {
		return err
	}
	st.spec.FacePad = math.Round(pad*100) / 100
	return nil
}

func setFaces(st *state, v []byte, allowed string) (err *ParamError) {
	st.spec.FacesJSON, err = boolParam("faces", v, allowed)
	return err
}

func setFPX(st *state, v []byte, allowed string) (err *ParamError) {
	st.fpx, err = floatParam("fp-x", v, 0, 1, allowed)
	return err
}

func setFPY(st *state, v []byte, allowed string) (err *ParamError) {
	st.fpy, err = floatParam("fp-y", v, 0, 1, allowed)
	return err
}

func setFormat(st *state, v []byte, _ string) (err *ParamError) {
	st.spec.Format, err = parseFormat(v)
	return err
}

func setAuto(st *state, v []byte, allowed string) *ParamError {
	s := &st.spec
	s.AutoFormat, s.AutoCompress = false, false
	for part := range bytes.SplitSeq(v, []byte(",")) {
		switch string(part) {
		case "format":
			s.AutoFormat = true
		case "compress":
			s.AutoCompress = true
		default:
			return badValue("auto", v, allowed)
		}
	}
	return nil
}

func setQuality(st *state, v []byte, allowed string) (err *ParamError) {
	st.spec.Quality, err = intParam("q", v, 1, 100, allowed)
	return err
}

func setLossless(st *state, v []byte, allowed string) (err *ParamError) {
	st.spec.Lossless, err = boolParam("lossless", v, allowed)
	return err
}

func setBlur(st *state, v []byte, allowed string) (err *ParamError) {
	st.spec.Blur, err = intParam("blur", v, 0, 2000, allowed)
	return err
}

func setCH(st *state, v []byte, allowed string) *ParamError {
	st.spec.Hints = 0
	for part := range bytes.SplitSeq(v, []byte(",")) {
		part = bytes.TrimSpace(part)
		switch {
		case equalFold(part, "width"):
			st.spec.Hints |= HintWidth
		case equalFold(part, "dpr"):
			st.spec.Hints |= HintDPR
		case equalFold(part, "viewport-width"):
			st.spec.Hints |= HintViewportWidth
		case equalFold(part, "save-data"):
			st.spec.Hints |= HintSaveData
		default:
			return badValue("ch", v, allowed)
		}
	}
	return nil
}

func setAR(st *state, v []byte, allowed string) *ParamError {
	a, b, ok := bytes.Cut(v, []byte(":"))
	w, err1 := floatParam("ar", a, 0, 1e6, allowed)
	h, err2 := floatParam("ar", b, 0, 1e6, allowed)
	if !ok || err1 != nil || err2 != nil || !(w > 0 && h > 0 && w/h >= 0.01 && w/h <= 100) {
		return badValue("ar", v, allowed)
	}
	// Kept as a ratio of integers in ten-thousandths, so that 16:9 and
	// 1.7778:1 differ only past that precision and share nothing else.
	r := math.Round(w / h * 1e4)
	st.spec.ARW, st.spec.ARH = int(r), 10000
	st.ar = w / h
	return nil
}

func adjustment(field func(*Spec) *int, name string) func(*state, []byte, string) *ParamError {
	return adjustmentIn(field, name, -100, 100)
}

// adjustmentIn is an adjustment over imgix's range for it, lo..hi.
func adjustmentIn(field func(*Spec) *int, name string, lo, hi int) func(*state, []byte, string) *ParamError {
	return func(st *state, v []byte, allowed string) (err *ParamError) {
		*field(&st.spec), err = intParam(name, v, lo, hi, allowed)
		return err
	}
}

var (
	setBri  = adjustment(func(s *Spec) *int { return &s.Bri }, "bri")
	setCon  = adjustment(func(s *Spec) *int { return &s.Con }, "con")
	setSat  = adjustment(func(s *Spec) *int { return &s.Sat }, "sat")
	setGam  = adjustment(func(s *Spec) *int { return &s.Gam }, "gam")
	setExp  = adjustment(func(s *Spec) *int { return &s.Exp }, "exp")
	setHigh = adjustmentIn(func(s *Spec) *int { return &s.High }, "high", -100, 0)
	setShad = adjustmentIn(func(s *Spec) *int { return &s.Shad }, "shad", 0, 100)
)

// imgix's hue is an angle: 360 would be a second spelling of 0.
var (
	setVib   = adjustment(func(s *Spec) *int { return &s.Vib }, "vib")
	setUSM   = adjustment(func(s *Spec) *int { return &s.USM }, "usm")
	setHue   = adjustmentIn(func(s *Spec) *int { return &s.Hue }, "hue", 0, 360)
	setSepia = adjustmentIn(func(s *Spec) *int { return &s.Sepia }, "sepia", 0, 100)
	setPx    = adjustmentIn(func(s *Spec) *int { return &s.Px }, "px", 0, 100)
)

// setUSMRad reads usmrad in steps of 0.01, so that its spellings are one
// key. imgix takes any positive radius; past 100 (blur=2000's sigma) the
// gaussian is refused here rather than by its cost.
func setUSMRad(st *state, v []byte, allowed string) *ParamError {
	r, err := floatParam("usmrad", v, 0, 100, allowed)
	if err != nil {
		return err
	}
	if r = math.Round(r*100) / 100; r <= 0 {
		return &ParamError{Param: "usmrad", Value: string(v), Problem: "is out of range", Allowed: allowed}
	}
	st.spec.USMRad = r
	return nil
}

// keyUSMRad writes the radius, which finish makes explicit with usm.
func keyUSMRad(dst []byte, s *Spec) ([]byte, bool) {
	if s.USMRad == 0 {
		return dst, false
	}
	return strconv.AppendFloat(dst, s.USMRad, 'f', -1, 64), true
}

// setMonochrome reads imgix's monochrome colour; its alpha is the effect's
// intensity, so a colour of alpha 0 changes nothing and is no colour.
func setMonochrome(st *state, v []byte, _ string) (err *ParamError) {
	st.spec.Monochrome, err = parseColor("monochrome", v)
	if st.spec.Monochrome.A == 0 {
		st.spec.Monochrome = Color{}
	}
	return err
}

func keyMonochrome(dst []byte, s *Spec) ([]byte, bool) {
	if !s.Monochrome.Set {
		return dst, false
	}
	c := s.Monochrome
	return appendHex(appendHex(appendHex(appendHex(dst, c.A), c.R), c.G), c.B), true
}

func setInvert(st *state, v []byte, allowed string) (err *ParamError) {
	st.spec.Invert, err = boolParam("invert", v, allowed)
	return err
}

// maxDownloadName bounds dl=: the name ends up in a response header.
const maxDownloadName = 200

func setDL(st *state, v []byte, allowed string) *ParamError {
	if len(v) == 0 || len(v) > maxDownloadName {
		return badValue("dl", v, allowed+" of 1 to 200 bytes")
	}
	st.spec.Download = owned(v)
	return nil
}

// setPad sets one side (0 top, 1 right, 2 bottom, 3 left) or, with -1,
// all four; a side named on its own wins over pad= whatever the order.
func setPad(side int) func(*state, []byte, string) *ParamError {
	return func(st *state, v []byte, allowed string) *ParamError {
		n, err := intParam("pad", v, 0, 1000, allowed)
		if err != nil {
			if side >= 0 {
				err.Param = [...]string{"pad-top", "pad-right", "pad-bottom", "pad-left"}[side]
			}
			return err
		}
		if side < 0 {
			for i := range st.padSet {
				if !st.padSet[i] {
					st.spec.Pad[i] = n
				}
			}
			return nil
		}
		st.spec.Pad[side], st.padSet[side] = n, true
		return nil
	}
}

func setRect(st *state, v []byte, allowed string) *ParamError {
	var r [4]int
	i := 0
	for part := range bytes.SplitSeq(v, []byte(",")) {
		n, err := intParam("rect", bytes.TrimSpace(part), 0, 1<<20, allowed)
		if i == 4 || err != nil || (i >= 2 && n == 0) {
			return badValue("rect", v, allowed+"; w and h above 0")
		}
		r[i] = n
		i++
	}
	if i != 4 {
		return badValue("rect", v, allowed)
	}
	st.spec.Rect = r
	return nil
}

// owned is v as a string the spec may keep: the Builder is fed views of
// request memory, reused once the request is answered. The string is
// interned (unique.Make copies it the first time and finds that copy
// afterwards, without allocating), so a cache hit for a URL with mark= or
// dl= allocates nothing; interned strings are dropped by the garbage
// collector once no spec holds them, so hostile values cannot pile up.
func owned(v []byte) string { return unique.Make(bytesconv.String(v)).Value() }

// maxMarkPath bounds mark=: it is fetched from the origin like a request path.
const maxMarkPath = 1024

func setMark(st *state, v []byte, allowed string) *ParamError {
	// A path at the same origin, no query: a watermark is not itself a
	// variant (no recursion), and the edge never fetches a URL a request names.
	if len(v) == 0 || len(v) > maxMarkPath || v[0] != '/' || bytes.ContainsAny(v, "?#\x00") || bytes.HasPrefix(v, []byte("//")) {
		return badValue("mark", v, allowed+", without a query")
	}
	for seg := range bytes.SplitSeq(v, []byte("/")) {
		if string(seg) == ".." {
			return badValue("mark", v, allowed+", inside the origin")
		}
	}
	st.spec.Mark = owned(v)
	return nil
}

func setMarkAlign(st *state, v []byte, allowed string) *ParamError {
	var g Gravity
	for part := range bytes.SplitSeq(v, []byte(",")) {
		switch string(part) {
		case "top":
			g |= GravityTop
		case "bottom":
			g |= GravityBottom
		case "left":
			g |= GravityLeft
		case "right":
			g |= GravityRight
		case "middle", "center":
		default:
			return badValue("mark-align", v, allowed)
		}
	}
	if g&GravityTop != 0 && g&GravityBottom != 0 || g&GravityLeft != 0 && g&GravityRight != 0 {
		return badValue("mark-align", v, allowed+"; not two opposite edges")
	}
	st.spec.MarkAlign, st.markAlignSet = g, true
	return nil
}

func setMarkAlpha(st *state, v []byte, allowed string) (err *ParamError) {
	st.spec.MarkAlpha, err = intParam("mark-alpha", v, 0, 100, allowed)
	st.markAlphaSet = true
	return err
}

func setMarkFit(st *state, v []byte, allowed string) *ParamError {
	for _, f := range [...]Fit{FitClip, FitMax, FitCrop, FitFill, FitScale} {
		if string(v) == fitNames[f] {
			st.spec.MarkFit = f
			return nil
		}
	}
	return badValue("mark-fit", v, allowed)
}

func setMarkW(st *state, v []byte, allowed string) (err *ParamError) {
	st.spec.MarkW, st.spec.MarkWFrac, err = pixelsOrFraction("mark-w", v, 65535, allowed)
	return err
}

func setMarkH(st *state, v []byte, allowed string) (err *ParamError) {
	st.spec.MarkH, st.spec.MarkHFrac, err = pixelsOrFraction("mark-h", v, 65535, allowed)
	return err
}

// pixelsOrFraction reads a side as imgix does: pixels, or, written with a
// point and between 0 and 1 (both excluded: 1 is a pixel, and the whole is
// the side left out), a fraction of what it sizes: w=0.5 is half the
// source's width, mark-w=0.2 a fifth of the image the mark is drawn on. A
// fraction is kept in steps of 0.0001, so that its spellings are one key.
func pixelsOrFraction(name string, v []byte, maxPx int, allowed string) (px int, frac float64, err *ParamError) {
	if bytes.IndexByte(v, '.') < 0 {
		px, err = intParam(name, v, 1, maxPx, allowed)
		return px, 0, err
	}
	f, err := floatParam(name, v, 0, 1, allowed)
	if err != nil {
		return 0, 0, err
	}
	if f = math.Round(f*1e4) / 1e4; f <= 0 || f >= 1 {
		return 0, 0, &ParamError{Param: name, Value: string(v), Problem: "is out of range", Allowed: allowed}
	}
	return 0, f, nil
}

func setMarkPad(st *state, v []byte, allowed string) (err *ParamError) {
	st.spec.MarkPad, err = intParam("mark-pad", v, 0, 1000, allowed)
	st.markPadSet = true
	return err
}

func setTrim(st *state, v []byte, allowed string) *ParamError {
	switch string(v) {
	case "auto":
		st.spec.Trim = TrimAuto
	case "color":
		st.spec.Trim = TrimColor
	default:
		return badValue("trim", v, allowed)
	}
	return nil
}

func setTrimColor(st *state, v []byte, _ string) (err *ParamError) {
	st.spec.TrimWith, err = parseColor("trim-color", v)
	return err
}

func setTrimTol(st *state, v []byte, allowed string) (err *ParamError) {
	st.spec.TrimTol, err = intParam("trim-tol", v, 1, 100, allowed)
	return err
}

func setSharp(st *state, v []byte, allowed string) (err *ParamError) {
	st.spec.Sharp, err = intParam("sharp", v, 0, 100, allowed)
	return err
}

func setRot(st *state, v []byte, allowed string) *ParamError {
	r, err := intParam("rot", v, 0, 270, allowed)
	if err == nil && r%90 != 0 {
		err = badValue("rot", v, allowed)
	}
	st.spec.Rotate = r
	return err
}

func setFlip(st *state, v []byte, allowed string) *ParamError {
	switch string(v) {
	case "h":
		st.spec.Flip = FlipH
	case "v":
		st.spec.Flip = FlipV
	case "hv", "vh":
		st.spec.Flip = FlipH | FlipV
	default:
		return badValue("flip", v, allowed)
	}
	return nil
}

func setBG(st *state, v []byte, _ string) (err *ParamError) {
	st.spec.Background, err = parseColor("bg", v)
	return err
}

func setFill(st *state, v []byte, allowed string) *ParamError {
	switch string(v) {
	case "solid":
		st.fillBlur = false
	case "blur":
		st.fillBlur = true
	default:
		return badValue("fill", v, allowed)
	}
	return nil
}

// keyFill writes fill=blur; solid, the default, is what no key says.
func keyFill(dst []byte, s *Spec) ([]byte, bool) {
	return append(dst, "blur"...), s.FillBlur
}

func setFillColor(st *state, v []byte, _ string) (err *ParamError) {
	st.fillColor, err = parseColor("fill-color", v)
	return err
}

func setFrame(st *state, v []byte, allowed string) (err *ParamError) {
	st.spec.Frame, err = intParam("frame", v, 1, 1<<16, allowed)
	return err
}

func (st *state) finish(l *Limits) (Spec, error) {
	s := st.spec
	// fill-color is the colour of a solid fill; a blurred one has none.
	// A blurred fill fills only a box of both sides; px=1 is blocks of one
	// pixel, no change; hue=360 is a full turn: each folds into the key of
	// the variant it draws.
	s.FillBlur = st.fillBlur && s.Fit.Fills() && (st.w > 0 || st.wf > 0) && (st.h > 0 || st.hf > 0)
	if s.Px == 1 {
		s.Px = 0
	}
	if s.Hue == 360 {
		s.Hue = 0
	}
	if st.fillColor.Set && s.Fit.Fills() && !s.FillBlur {
		s.Background = st.fillColor
	}
	if err := st.finishMark(&s, l); err != nil {
		return Spec{}, err
	}
	if s.USM == 0 {
		s.USMRad = 0 // read only by usm: one key either way
	} else if s.USMRad == 0 {
		s.USMRad = DefaultUSMRad
	}
	if s.Trim == TrimColor && !s.TrimWith.Set {
		return Spec{}, &ParamError{Param: "trim", Value: "color", Problem: "needs trim-color", Allowed: "trim=color with trim-color=<hex>, or trim=auto"}
	}
	if s.Trim != TrimColor {
		s.TrimWith = Color{} // read only by trim=color: one key either way
	}
	if err := finishFaces(&s, st); err != nil {
		return Spec{}, err
	}
	hintWidth := st.applyHints(&s, l)
	if err := st.finishAR(&s); err != nil {
		return Spec{}, err
	}
	dpr := st.dpr
	if dpr == 0 {
		dpr = 1
	}
	scale := func(name string, v int) (int, error) {
		if v == 0 {
			return 0, nil
		}
		if v > l.MaxDimension {
			return 0, &ParamError{Param: name, Value: strconv.Itoa(v), Problem: "is too large",
				Allowed: "an integer from 1 to " + strconv.Itoa(l.MaxDimension) + " (limits.max_dimension)"}
		}
		return min(int(math.Round(float64(v)*dpr)), l.MaxDimension), nil
	}
	// A dpr that takes a side past limits.max_dimension is lowered until
	// the longer side fits (a srcset's dpr=5 on a wide box): the shape
	// stays, and the answer says so (Clamp).
	if side := max(st.w, st.h); float64(side)*dpr > float64(l.MaxDimension) {
		dpr = float64(l.MaxDimension) / float64(side)
		s.Clamp = ClampDimension
	}
	if st.wf > 0 || st.hf > 0 {
		return st.fractions(s, dpr, l)
	}
	var err error
	if s.Width, err = scale("w", st.w); err != nil {
		return Spec{}, err
	}
	if s.Height, err = scale("h", st.h); err != nil {
		return Spec{}, err
	}
	if hintWidth > 0 {
		s.Width = hintWidth
	}
	if len(l.Widths) > 0 {
		// Both sides snap: with h free, every height would still be a new
		// variant.
		s.Width, s.Height = snapUp(l.Widths, s.Width), snapUp(l.Widths, s.Height)
	}
	s.Gravity, s.FocalX, s.FocalY = st.gravity(s)
	if s.Format != FormatSource {
		s.AutoFormat = false // an explicit fm wins, as in imgix
	}
	return s, nil
}

// finishMark gives a watermark its defaults, or clears the mark parameters
// of a spec without one (one key either way).
func (st *state) finishMark(s *Spec, l *Limits) error {
	if s.Mark == "" {
		s.MarkW, s.MarkH, s.MarkFit, s.MarkAlign, s.MarkPad, s.MarkAlpha = 0, 0, 0, 0, 0, 0
		s.MarkWFrac, s.MarkHFrac = 0, 0
		return nil
	}
	if !st.markAlignSet {
		s.MarkAlign = DefaultMarkAlign
	}
	if !st.markAlphaSet {
		s.MarkAlpha = DefaultMarkAlpha
	}
	if !st.markPadSet {
		s.MarkPad = DefaultMarkPad
	}
	if s.MarkW > l.MaxDimension || s.MarkH > l.MaxDimension {
		return &ParamError{Param: "mark-w", Value: strconv.Itoa(max(s.MarkW, s.MarkH)), Problem: "is too large",
			Allowed: "at most " + strconv.Itoa(l.MaxDimension) + " (limits.max_dimension)"}
	}
	return nil
}

// finishAR makes the side ar implies. With one side given, ar makes the
// other; with both, ar has no say. A fraction of the source makes the
// other side when the source is known (ResolveFractions).
func (st *state) finishAR(s *Spec) error {
	if s.ARW == 0 {
		return nil
	}
	if s.Fit != FitCrop {
		return &ParamError{Param: "ar", Value: strconv.FormatFloat(float64(s.ARW)/float64(s.ARH), 'g', 5, 64) + ":1",
			Problem: "needs fit=crop", Allowed: "ar with fit=crop and w or h (or neither: the largest such crop), as in imgix"}
	}
	switch {
	case (st.w > 0 || st.wf > 0) && (st.h > 0 || st.hf > 0):
		s.ARW, s.ARH = 0, 0
	case st.w > 0:
		st.h = max(1, int(math.Round(float64(st.w)/st.ar)))
		s.ARW, s.ARH = 0, 0
	case st.h > 0:
		st.w = max(1, int(math.Round(float64(st.h)*st.ar)))
		s.ARW, s.ARH = 0, 0
	}
	return nil
}

// gravity is the crop's gravity and focal point, as far as they matter.
func (st *state) gravity(s Spec) (g Gravity, fx, fy float64) {
	switch {
	case s.Fit != FitCrop:
		// Gravity only matters when cropping; dropping it keeps one cache
		// entry for requests that differ only in an ignored parameter.
		return GravityCenter, 0, 0
	case s.Gravity == GravityFocalPoint:
		// Each coordinate defaults to the centre; quantised so that
		// near-identical focal points share an entry.
		fx, fy = 0.5, 0.5
		if !math.IsNaN(st.fpx) {
			fx = math.Round(st.fpx*1e4) / 1e4
		}
		if !math.IsNaN(st.fpy) {
			fy = math.Round(st.fpy*1e4) / 1e4
		}
		return s.Gravity, fx, fy
	}
	return s.Gravity, s.FocalX, s.FocalY
}

// fractions finishes a spec with w or h given as a fraction of the source,
// whose size the parser does not know: the fractions, a side in pixels and
// the dpr are kept as given, and resolved with the source
// (Spec.ResolveFractions). Folded into pixels, w=0.5&h=300&dpr=2 would
// have a canonical query (h=600) that parses to another spec. dpr is kept
// in steps of 0.0001 (down, when lowered to fit limits.max_dimension), so
// that its spellings are one key. limits.widths bounds the sizes a URL can
// ask for; a fraction's would be known only with the source, so it is
// refused there rather than snapped after the key is made.
func (st *state) fractions(s Spec, dpr float64, l *Limits) (Spec, error) {
	for _, side := range [...]struct {
		name string
		px   int
		frac float64
	}{{"w", st.w, st.wf}, {"h", st.h, st.hf}} {
		if side.px > l.MaxDimension {
			return Spec{}, &ParamError{Param: side.name, Value: strconv.Itoa(side.px), Problem: "is too large",
				Allowed: "an integer from 1 to " + strconv.Itoa(l.MaxDimension) + " (limits.max_dimension)"}
		}
		if side.frac > 0 && len(l.Widths) > 0 {
			return Spec{}, &ParamError{Param: side.name, Value: strconv.FormatFloat(side.frac, 'f', -1, 64), Problem: "is a fraction of the source",
				Allowed: "pixels on this edge, which sizes to limits.widths (" + joinInts(l.Widths) + ")"}
		}
	}
	s.Width, s.Height, s.WidthFrac, s.HeightFrac = st.w, st.h, st.wf, st.hf
	if s.Clamp == ClampDimension {
		dpr = math.Floor(dpr*1e4) / 1e4
	}
	if dpr = math.Round(dpr*1e4) / 1e4; dpr != 1 {
		s.DPR = dpr
	}
	s.Gravity, s.FocalX, s.FocalY = st.gravity(s)
	if s.Format != FormatSource {
		s.AutoFormat = false
	}
	return s, nil
}

func joinInts(v []int) string {
	var b []byte
	for i, n := range v {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendInt(b, int64(n), 10)
	}
	return string(b)
}

// applyHints resolves the client hints the URL opted into, as imgix does:
// an explicit parameter wins over its hint. DPR stands in for dpr; Width
// (device pixels) for w, returned to replace the scaled width;
// Viewport-Width caps w; Save-Data: on compresses like auto=compress.
// Values are clamped and bucketed, so that headers cannot mint variants:
// DPR to hintDPRs, widths to limits.widths or hintWidths, never past
// limits.max_dimension. One URL's hints make at most len(hintWidths) x
// len(hintDPRs) x 2 (Save-Data) = 64 variants (Width and Viewport-Width
// never both apply: one needs w, the other its absence). s.HintsUsed records
// the hints that could change the answer, whether or not their header came:
// the answer varies on them.
func (st *state) applyHints(s *Spec, l *Limits) (width int) {
	h := st.hints
	if s.Hints&HintDPR != 0 && st.dpr == 0 {
		s.HintsUsed |= HintDPR
		if h.DPR > 0 {
			st.dpr = hintDPRs[len(hintDPRs)-1]
			for _, d := range hintDPRs {
				if d >= h.DPR {
					st.dpr = d
					break
				}
			}
			// A dpr past limits.max_dimension is lowered in finish, for
			// hints and URLs alike: a header never makes a 400.
		}
	}
	if s.Hints&HintWidth != 0 && st.w == 0 && st.wf == 0 && st.hf == 0 {
		s.HintsUsed |= HintWidth
		if h.Width > 0 {
			width = hintSize(h.Width, l)
		}
	}
	if s.Hints&HintViewportWidth != 0 && st.w != 0 {
		s.HintsUsed |= HintViewportWidth
		if h.ViewportWidth > 0 {
			st.w = min(st.w, hintSize(h.ViewportWidth, l))
		}
	}
	if s.Hints&HintSaveData != 0 {
		s.HintsUsed |= HintSaveData
		s.AutoCompress = s.AutoCompress || h.SaveData
	}
	return width
}

// hintDPRs are the device pixel ratios a DPR hint is rounded up to: the
// screens sold (1, 1.5 and 2, 3 on phones); a 4x screen gets 3x.
var hintDPRs = [...]float64{1, 1.5, 2, 3}

// hintWidths are the widths a Width or Viewport-Width hint is rounded up to
// when limits.widths is not set: at most half again what was asked, up to
// a 4K screen's width.
var hintWidths = []int{320, 480, 640, 960, 1280, 1920, 2560, 3840}

// hintSize buckets a width from a header: up to limits.widths when set,
// else to hintWidths, within limits.max_dimension.
func hintSize(v int, l *Limits) int {
	sizes := hintWidths
	if len(l.Widths) > 0 {
		sizes = l.Widths
	}
	return min(snapUp(sizes, v), l.MaxDimension)
}

// snapUp rounds a side up to the next allowed size (the largest when it is
// above all); 0 (not given) stays 0.
func snapUp(sizes []int, v int) int {
	if v == 0 {
		return 0
	}
	i := sort.SearchInts(sizes, v)
	if i == len(sizes) {
		i--
	}
	return sizes[i]
}

func badValue(name string, v []byte, allowed string) *ParamError {
	return &ParamError{Param: name, Value: string(v), Problem: "is not allowed", Allowed: allowed}
}

// boolParam reads imgix's booleans: 1 or true, 0 or false.
func boolParam(name string, v []byte, allowed string) (bool, *ParamError) {
	switch string(v) {
	case "1", "true":
		return true, nil
	case "0", "false":
		return false, nil
	}
	return false, badValue(name, v, allowed)
}

func intParam(name string, v []byte, lo, hi int, allowed string) (int, *ParamError) {
	neg := lo < 0 && len(v) > 1 && v[0] == '-'
	digits := v
	if neg {
		digits = v[1:]
	}
	if len(digits) == 0 || len(digits) > 9 {
		return 0, &ParamError{Param: name, Value: string(v), Problem: "is not an integer in range", Allowed: allowed}
	}
	n := 0
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, &ParamError{Param: name, Value: string(v), Problem: "is not an integer", Allowed: allowed}
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	if n < lo || n > hi {
		return 0, &ParamError{Param: name, Value: string(v), Problem: "is out of range", Allowed: allowed}
	}
	return n, nil
}

// floatParam parses a plain decimal (digits, one optional point) without
// allocating; exponents and signs are not part of the URL API.
func floatParam(name string, v []byte, lo, hi float64, allowed string) (float64, *ParamError) {
	var whole, frac, scale float64 = 0, 0, 1
	point, digits := false, 0
	for _, c := range v {
		switch {
		case c == '.' && !point:
			point = true
		case c >= '0' && c <= '9' && digits < 15:
			digits++
			if point {
				scale *= 10
				frac = frac*10 + float64(c-'0')
			} else {
				whole = whole*10 + float64(c-'0')
			}
		default:
			return 0, &ParamError{Param: name, Value: string(v), Problem: "is not a number", Allowed: allowed}
		}
	}
	if digits == 0 {
		return 0, &ParamError{Param: name, Value: string(v), Problem: "is not a number", Allowed: allowed}
	}
	f := whole + frac/scale
	if f < lo || f > hi {
		return 0, &ParamError{Param: name, Value: string(v), Problem: "is out of range", Allowed: allowed}
	}
	return f, nil
}

const formatAllowed = "jpg, pjpg, png, webp, avif, jxl, gif, json (facts about the source), blurhash (a placeholder string)"

func parseFormat(v []byte) (Format, *ParamError) {
	switch string(v) {
	case "jpg", "jpeg":
		return FormatJPEG, nil
	case "pjpg":
		return FormatPJPEG, nil
	case "png":
		return FormatPNG, nil
	case "webp":
		return FormatWebP, nil
	case "avif":
		return FormatAVIF, nil
	case "jxl":
		return FormatJXL, nil
	case "gif":
		return FormatGIF, nil
	case "json":
		return FormatJSON, nil
	case "blurhash":
		return FormatBlurHash, nil
	}
	return 0, badValue("fm", v, formatAllowed)
}

const gravityAllowed = "faces (first in a list, the rest its fallback: faces,top,left), center, top, bottom, left, right (two sides combine: top,left), entropy, edges, attention, focalpoint"

func parseGravity(v []byte) (Gravity, *ParamError) {
	var g Gravity
	n := 0
	for part := range bytes.SplitSeq(v, []byte(",")) {
		n++
		var bit Gravity
		switch string(part) {
		case "center":
			bit = GravityCenter
		case "top":
			bit = GravityTop
		case "bottom":
			bit = GravityBottom
		case "left":
			bit = GravityLeft
		case "right":
			bit = GravityRight
		case "entropy", "edges", "attention", "focalpoint":
			if len(v) != len(part) {
				return 0, badValue("crop", v, "entropy, edges, attention and focalpoint stand alone; "+gravityAllowed)
			}
			switch part[0] {
			case 'e':
				// imgix's edges keeps the area of most edge detail; libvips'
				// entropy crop keeps the area of most detail, the same
				// choice on photographs (one cache entry for both).
				return GravityEntropy, nil
			case 'a':
				return GravityAttention, nil
			}
			return GravityFocalPoint, nil
		default:
			return 0, badValue("crop", v, gravityAllowed)
		}
		g |= bit
	}
	if n == 0 || g&GravityTop != 0 && g&GravityBottom != 0 || g&GravityLeft != 0 && g&GravityRight != 0 {
		return 0, badValue("crop", v, gravityAllowed+"; not two opposite edges")
	}
	return g, nil
}

const colorAllowed = "hex RGB, ARGB, RRGGBB or AARRGGBB, e.g. fff, 8fff, ff8800 or 80ff8800"

// parseColor reads imgix's hex colours for the parameter name: RGB, ARGB,
// RRGGBB or AARRGGBB, with or without a leading #.
func parseColor(name string, v []byte) (Color, *ParamError) {
	s := v
	if len(s) > 0 && s[0] == '#' {
		s = s[1:]
	}
	var nib [8]uint8
	if len(s) != 3 && len(s) != 4 && len(s) != 6 && len(s) != 8 {
		return Color{}, badValue(name, v, colorAllowed)
	}
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
			nib[i] = c - '0'
		case c >= 'a' && c <= 'f':
			nib[i] = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			nib[i] = c - 'A' + 10
		default:
			return Color{}, badValue(name, v, colorAllowed)
		}
	}
	switch len(s) {
	case 3:
		return Color{R: nib[0] * 17, G: nib[1] * 17, B: nib[2] * 17, A: 255, Set: true}, nil
	case 4:
		return Color{A: nib[0] * 17, R: nib[1] * 17, G: nib[2] * 17, B: nib[3] * 17, Set: true}, nil
	case 6:
		return Color{R: nib[0]<<4 | nib[1], G: nib[2]<<4 | nib[3], B: nib[4]<<4 | nib[5], A: 255, Set: true}, nil
	}
	return Color{A: nib[0]<<4 | nib[1], R: nib[2]<<4 | nib[3], G: nib[4]<<4 | nib[5], B: nib[6]<<4 | nib[7], Set: true}, nil
}

// finishFaces keeps the face parameters only where they are read, so that
// one variant has one key, and refuses fit=facearea without its box.
func finishFaces(s *Spec, st *state) *ParamError {
	if s.Fit != FitCrop {
		s.CropFaces = false
	}
	if s.Fit == FitFaceArea {
		if st.w == 0 && st.wf == 0 || st.h == 0 && st.hf == 0 {
			return &ParamError{Param: "fit", Value: "facearea", Problem: "needs w and h",
				Allowed: "fit=facearea with w and h: the face area is scaled to that box"}
		}
		if s.FacePad == 0 {
			s.FacePad = DefaultFacePad
		}
	} else {
		s.FaceFallback, s.FacePad = 0, 0
	}
	if !s.usesFaces() {
		s.FaceIndex = 0
	}
	if s.Format != FormatJSON {
		s.FacesJSON = false
	}
	return nil
}
