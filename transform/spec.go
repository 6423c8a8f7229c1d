package transform

import (
	"math"
	"net/url"
	"strconv"
)

// Format is an output (or source) image format.
type Format uint8

// Formats. FormatSource means "the source's own format" when no fm is given and
// auto=format does not apply.
const (
	FormatSource Format = iota
	FormatJPEG
	FormatPJPEG // progressive JPEG
	FormatPNG
	FormatWebP
	FormatAVIF
	FormatJXL
	FormatGIF
	// Source-only formats: decoded, never produced.
	FormatTIFF
	FormatHEIF
	FormatSVG
	// Facts about the source instead of pixels: fm=json (size, format,
	// orientation, colour space, alpha, frames) and fm=blurhash (a BlurHash
	// placeholder string).
	FormatJSON
	FormatBlurHash
	formatCount
)

var formatNames = [formatCount]string{"", "jpg", "pjpg", "png", "webp", "avif", "jxl", "gif", "tiff", "heif", "svg", "json", "blurhash"}

var contentTypes = [formatCount]string{
	"", "image/jpeg", "image/jpeg", "image/png", "image/webp", "image/avif", "image/jxl", "image/gif",
	"image/tiff", "image/heif", "image/svg+xml", "application/json", "text/plain; charset=utf-8",
}

// String is the fm= name of f.
func (f Format) String() string {
	if f >= formatCount {
		return "unknown"
	}
	return formatNames[f]
}

// ContentType is the MIME type of f.
func (f Format) ContentType() string {
	if f >= formatCount {
		return ""
	}
	return contentTypes[f]
}

// Encodable reports whether f can be produced as an output image.
func (f Format) Encodable() bool { return f >= FormatJPEG && f <= FormatGIF }

// Facts reports fm=json and fm=blurhash: answers about the image, not one.
func (f Format) Facts() bool { return f == FormatJSON || f == FormatBlurHash }

// Fit is how the image is fitted to the w x h box.
type Fit uint8

// Fits; FitClip is the default.
const (
	FitClip Fit = iota
	FitMax
	FitCrop
	FitFill
	FitScale
	FitMin
	FitFillMax // fill without enlarging: the image at most its size, padded to the box
	// FitFaceArea crops to the area of the faces (or the one FaceIndex
	// picks), grown by FacePad and widened to the box's shape, and scales
	// that to the box; without faces the fit is FaceFallback.
	FitFaceArea
	fitCount
)

var fitNames = [fitCount]string{"clip", "max", "crop", "fill", "scale", "min", "fillmax", "facearea"}

// Fills reports the fits that pad the image out to the box.
func (f Fit) Fills() bool { return f == FitFill || f == FitFillMax }

func (f Fit) String() string { return fitNames[f] }

// Gravity picks the part of the image kept by fit=crop. The edge gravities are
// bits and combine (top|left); the others stand alone.
type Gravity uint8

// Gravities; GravityCenter (zero) is the default.
const (
	GravityCenter Gravity = 0
	GravityTop    Gravity = 1 << iota
	GravityBottom
	GravityLeft
	GravityRight
	GravityEntropy
	GravityAttention
	GravityFocalPoint
)

// Edges reports whether g is the center or a combination of edges.
func (g Gravity) Edges() bool { return g&(GravityEntropy|GravityAttention|GravityFocalPoint) == 0 }

func (g Gravity) appendTo(dst []byte) []byte {
	switch g {
	case GravityCenter:
		return append(dst, "center"...)
	case GravityEntropy:
		return append(dst, "entropy"...)
	case GravityAttention:
		return append(dst, "attention"...)
	case GravityFocalPoint:
		return append(dst, "focalpoint"...)
	}
	first := true
	for _, e := range [...]struct {
		bit  Gravity
		name string
	}{{GravityBottom, "bottom"}, {GravityLeft, "left"}, {GravityRight, "right"}, {GravityTop, "top"}} {
		if g&e.bit != 0 {
			if !first {
				dst = append(dst, ',')
			}
			dst = append(dst, e.name...)
			first = false
		}
	}
	return dst
}

// Flip mirrors the image.
type Flip uint8

// Flip directions; they combine.
const (
	FlipH Flip = 1 << iota
	FlipV
)

// Color is an sRGB color with alpha; the zero value means "not given".
type Color struct {
	R, G, B, A uint8
	Set        bool
}

// Accepted is what the client's Accept header allows, as far as auto=format cares.
type Accepted uint8

// Accepted formats beyond the legacy JPEG/PNG/GIF every client takes.
const (
	AcceptAVIF Accepted = 1 << iota
	AcceptWebP
	// AcceptJXL counts only while the edge's jxl flag is on for the object;
	// the edge clears it otherwise, so that the key stays what it was.
	AcceptJXL
)

// Spec is a parsed, defaulted request for one variant: the variant's
// identity, which AppendKey writes in canonical form. It is a comparable
// value that owns all it holds (its strings are copies, never views of the
// request), so it may be kept, compared and used as a map key. What a
// render needs besides it travels in a Job.
type Spec struct {
	// Width and Height are the target box in device pixels (w, h times dpr);
	// 0 means unconstrained in that direction. With a fraction of the
	// source (WidthFrac, HeightFrac) they are in CSS pixels, times DPR when
	// the source is known (ResolveFractions).
	Width, Height int
	Fit           Fit
	Gravity       Gravity
	// CropFaces is crop=faces: fit=crop centres its box on the faces found
	// (on the one FaceIndex picks, or the first, when they do not all fit);
	// Gravity places it when there is none.
	CropFaces bool
	// FaceFallback is the fit a fit=facearea without faces takes
	// (fit=facearea,fill): FitCrop unless given.
	FaceFallback Fit
	// FaceIndex picks one face, 1 the largest, for fit=facearea and
	// crop=faces; 0: all of them.
	FaceIndex int
	// FacePad is fit=facearea's room around the faces, in multiples of
	// their size, in steps of 0.01; 1 unless given.
	FacePad float64
	// FacesJSON is faces=1 with fm=json: the answer lists the faces found.
	FacesJSON    bool
	FocalX       float64 // 0..1 in steps of 0.0001, for GravityFocalPoint
	FocalY       float64
	Format       Format // explicit fm; FormatSource when none
	AutoFormat   bool   // auto=format and no fm: pick from Accepted
	AutoCompress bool
	Accepted     Accepted // filled by the edge from Accept when AutoFormat
	Quality      int      // 0: the format's configured default
	Lossless     bool
	Blur         int // 0..2000, sigma = Blur/20
	Sharp        int // 0..100
	Rotate       int // 0, 90, 180, 270
	Flip         Flip
	Background   Color
	Frame        int // 1-based; 0: keep animation where possible
	// WidthFrac and HeightFrac are w and h given as fractions of the
	// source as displayed (imgix's 0 < value < 1), in steps of 0.0001; 0:
	// not given so. DPR is the dpr they and a side in pixels beside them
	// are resolved with, in steps of 0.0001; 0 when it is 1 or folded into
	// Width and Height.
	WidthFrac, HeightFrac float64
	DPR                   float64
	// ARW:ARH is ar= with fit=crop and neither w nor h: the largest such
	// crop of the source (with w or h, the parser turns it into the other;
	// with one side a fraction, ResolveFractions does).
	ARW, ARH int
	// Rect crops the source before anything else (x, y, w, h; W 0: none).
	Rect [4]int
	// FillBlur is fill=blur with a fit that fills: the box around the
	// image is a blurred, enlarged copy of it, not Background.
	FillBlur bool
	// Pad adds borders of Background after resizing (top, right, bottom, left).
	Pad [4]int
	// Trim cuts away a border of one colour before anything else: 0 none,
	// TrimAuto (the top-left pixel's colour) or TrimColor (TrimWith).
	Trim     uint8
	TrimWith Color
	TrimTol  int // 0 means the default tolerance
	// Mark is the path of a watermark image at the same origin ("" none),
	// drawn over the result: MarkW x MarkH (0: its own size, within the
	// result), fitted by MarkFit, placed by MarkAlign (default bottom-right)
	// MarkPad pixels from the edges, at MarkAlpha percent opacity.
	Mark         string
	MarkW, MarkH int
	// MarkWFrac and MarkHFrac are mark-w and mark-h given as fractions of
	// the image the mark is drawn on (imgix's 0 < value < 1), in steps of
	// 0.0001; 0: not given so (MarkW, MarkH in pixels, or nothing).
	MarkWFrac, MarkHFrac float64
	MarkFit              Fit
	MarkAlign            Gravity
	MarkPad              int
	MarkAlpha            int
	// Adjustments in imgix's ranges: -100..100, 0 unchanged.
	Bri, Con, Sat, Gam int
	Invert             bool
	// Exp, High and Shad are imgix's exposure (-100..100), highlights
	// (-100..0) and shadows (0..100), drawn as one tone curve; 0 unchanged.
	Exp, High, Shad int
	// Vib is imgix's vibrance (-100..100): chroma moved most near grey.
	Vib int
	// USM is imgix's unsharp mask (-100..100, 0 none) and USMRad its
	// radius, the gaussian's sigma in pixels (0 < r <= 100, in steps of
	// 0.01; DefaultUSMRad when not given, 0 without usm).
	USM    int
	USMRad float64
	// Px is imgix's pixellate: blocks of Px x Px output pixels, each of
	// one colour, from the top left (0, and 1, none).
	Px int
	// Hue turns every colour about the grey axis (0..359 degrees), Sepia
	// tones it (0..100) and Monochrome tints its luma with a colour whose
	// alpha is the intensity (not Set: none): one colour matrix.
	Hue, Sepia int
	Monochrome Color
	// Download is dl=: a file name for Content-Disposition: attachment. The
	// bytes are the same, so it is not in the key.
	Download string
	// QualitySet picks the default qualities: 0 the configured ones, 1 the
	// qualities flag's. Set by the edge, never by the URL.
	QualitySet uint8
	// Hints is the client hints the URL opted into (ch=); HintsUsed those
	// that could change this answer, for Vary. Neither enters the key: the
	// values they resolved to are in Width, Height and AutoCompress.
	Hints, HintsUsed Hint
	// Clamp is the limit the parser brought the size within (a dpr above
	// limits.max_dimension); the render may clamp further (Result.Clamp).
	// Not in the key: Width and Height hold what it made of them.
	Clamp Clamp
}

// DefaultFacePad is imgix's facepad.
const DefaultFacePad = 1.0

// DefaultUSMRad is imgix's usmrad when usm is given without one.
const DefaultUSMRad = 2.5

// Watermark defaults, as imgix's.
const (
	DefaultMarkPad   = 10
	DefaultMarkAlpha = 100
	DefaultMarkAlign = GravityBottom | GravityRight
)

// Trim modes.
const (
	TrimAuto  = 1
	TrimColor = 2
)

// Hint is a set of client hints (RFC 8942).
type Hint uint8

// The client hints ch= may name.
const (
	HintWidth Hint = 1 << iota
	HintDPR
	HintViewportWidth
	HintSaveData
)

// Resizes reports whether the spec asks for a box.
func (s *Spec) Resizes() bool {
	return s.Width > 0 || s.Height > 0 || s.WidthFrac > 0 || s.HeightFrac > 0
}

// ResolveFractions turns w and h given as fractions of the source into
// device pixels, now that the source's size as displayed (ow x oh) is
// known: each fraction of its side, times dpr, as a side in pixels beside
// it; ar= makes the side not given, as the parser does in pixels. Past
// maxDim both sides shrink by one factor, keeping the shape, as the parser
// lowers a dpr, and it reports that they did. A spec without fractions is
// left as it is.
func (s *Spec) ResolveFractions(ow, oh, maxDim int) (clamped bool) {
	if s.WidthFrac == 0 && s.HeightFrac == 0 {
		return false
	}
	dpr := s.DPR
	if dpr == 0 {
		dpr = 1
	}
	w, h := float64(s.Width)*dpr, float64(s.Height)*dpr
	if s.WidthFrac > 0 {
		w = s.WidthFrac * float64(ow) * dpr
	}
	if s.HeightFrac > 0 {
		h = s.HeightFrac * float64(oh) * dpr
	}
	if s.ARW > 0 {
		if h == 0 {
			h = w * float64(s.ARH) / float64(s.ARW)
		} else if w == 0 {
			w = h * float64(s.ARW) / float64(s.ARH)
		}
		s.ARW, s.ARH = 0, 0
	}
	if m := max(w, h); m > float64(maxDim) {
		w, h = w*float64(maxDim)/m, h*float64(maxDim)/m
		clamped = true
	}
	side := func(v float64) int {
		if v == 0 {
			return 0
		}
		return max(1, int(math.Round(v)))
	}
	s.Width, s.Height = side(w), side(h)
	s.WidthFrac, s.HeightFrac, s.DPR = 0, 0, 0
	return clamped
}

// AppendKey appends the canonical form of s: each parameter's key writer (see
// params) in name order, values normalised, defaults made explicit where
// they change the output. Two requests that must produce the same bytes
// produce the same key; the raw Accept header never enters it, only the
// negotiation result.
func (s *Spec) AppendKey(dst []byte) []byte {
	dst = s.appendParamsKey(dst)
	if s.QualitySet != 0 {
		dst = append(dst, "&qset="...)
		dst = strconv.AppendUint(dst, uint64(s.QualitySet), 10)
	}
	return dst
}

func (s *Spec) appendParamsKey(dst []byte) []byte {
	// Every parameter is written after a '&' (one append of its prefix; the
	// writers return at once for a default value, as most are), and the
	// first '&' is taken out at the end: the key is on every cache hit.
	start := len(dst)
	for i := range params {
		p := &params[i]
		if p.key == nil {
			continue
		}
		mark := len(dst)
		dst = append(dst, keyPrefixes[i]...)
		var wrote bool
		if dst, wrote = p.key(dst, s); !wrote {
			dst = dst[:mark]
		}
	}
	if len(dst) > start {
		dst = append(dst[:start], dst[start+1:]...)
	}
	return dst
}

// keyPrefixes holds "&name=" of each parameter, in the order of params.
var keyPrefixes = func() (prefixes [len(params)]string) {
	for i, p := range params {
		prefixes[i] = "&" + p.name + "="
	}
	return prefixes
}()

// AppendQuery appends s as the canonical query of the URL API: the
// parameters in name order, dpr folded into w and h, sizes snapped, values
// in one spelling, defaults left out. Parsed again it gives s (Accepted
// aside, which comes from the Accept header): a cache in front that keys on
// the URL sees one key per entry here. It does not allocate beyond dst.
func (s *Spec) AppendQuery(dst []byte) []byte {
	start := len(dst)
	for i := range params {
		p := &params[i]
		write := p.key
		switch p.name {
		case "auto":
			write = queryAuto
		case "dl":
			write = queryDL
		case "ch":
			write = queryCH
		case "pad", "pad-top", "pad-right", "pad-bottom", "pad-left":
			write = queryPads[p.name]
		}
		if write == nil || p.name == "fit" && s.Fit == FitClip || p.name == "crop" && s.Gravity == GravityCenter && !s.CropFaces ||
			p.name == "mark-w" && s.MarkW == 0 && s.MarkWFrac == 0 || p.name == "mark-h" && s.MarkH == 0 && s.MarkHFrac == 0 {
			continue
		}
		mark := len(dst)
		if len(dst) > start {
			dst = append(dst, '&')
		}
		dst = append(dst, p.name...)
		dst = append(dst, '=')
		var wrote bool
		dst, wrote = write(dst, s)
		if !wrote {
			dst = dst[:mark]
		}
	}
	return dst
}

// queryCH writes the client hints the URL opted into.
func queryCH(dst []byte, s *Spec) ([]byte, bool) {
	if s.Hints == 0 {
		return dst, false
	}
	first := true
	for _, h := range [...]struct {
		bit  Hint
		name string
	}{{HintWidth, "Width"}, {HintDPR, "DPR"}, {HintViewportWidth, "Viewport-Width"}, {HintSaveData, "Save-Data"}} {
		if s.Hints&h.bit != 0 {
			if !first {
				dst = append(dst, ',')
			}
			dst, first = append(dst, h.name...), false
		}
	}
	return dst, true
}

// queryDL writes dl= escaped: it is the one free-text parameter.
func queryDL(dst []byte, s *Spec) ([]byte, bool) {
	if s.Download == "" {
		return dst, false
	}
	return append(dst, url.QueryEscape(s.Download)...), true
}

// queryPads write pad=N when every side is N, else each side that is set.
var queryPads = map[string]func([]byte, *Spec) ([]byte, bool){
	"pad": func(dst []byte, s *Spec) ([]byte, bool) {
		p := s.Pad
		if p == [4]int{} || p[0] != p[1] || p[1] != p[2] || p[2] != p[3] {
			return dst, false
		}
		return strconv.AppendInt(dst, int64(p[0]), 10), true
	},
	"pad-top":    queryPadSide(0),
	"pad-right":  queryPadSide(1),
	"pad-bottom": queryPadSide(2),
	"pad-left":   queryPadSide(3),
}

func queryPadSide(side int) func([]byte, *Spec) ([]byte, bool) {
	return func(dst []byte, s *Spec) ([]byte, bool) {
		p := s.Pad
		if p[side] == 0 || p[0] == p[1] && p[1] == p[2] && p[2] == p[3] {
			return dst, false
		}
		return strconv.AppendInt(dst, int64(p[side]), 10), true
	}
}

func queryAuto(dst []byte, s *Spec) ([]byte, bool) {
	switch {
	case s.AutoFormat && s.AutoCompress:
		return append(dst, "format,compress"...), true
	case s.AutoFormat:
		return append(dst, "format"...), true
	case s.AutoCompress:
		return append(dst, "compress"...), true
	}
	return dst, false
}

func keyAuto(dst []byte, s *Spec) ([]byte, bool) {
	if !s.AutoFormat && !s.AutoCompress {
		return dst, false
	}
	// The key records everything the format choice reads from Accept: both
	// bits, not the best one. Above transform.avif_max_pixels, and for
	// animations, an AVIF-accepting client gets WebP only if it accepts WebP
	// too; keyed on "avif" alone, a client accepting AVIF but not WebP was
	// answered the WebP a Chrome request had stored.
	switch {
	case !s.AutoFormat:
	case s.Accepted&AcceptAVIF != 0 && s.Accepted&AcceptWebP != 0:
		dst = append(dst, "avif+webp"...)
	case s.Accepted&AcceptAVIF != 0:
		dst = append(dst, "avif"...)
	case s.Accepted&AcceptWebP != 0:
		dst = append(dst, "webp"...)
	case s.Accepted&AcceptJXL == 0:
		dst = append(dst, "legacy"...)
	}
	if s.AutoFormat && s.Accepted&AcceptJXL != 0 {
		if s.Accepted&(AcceptAVIF|AcceptWebP) != 0 {
			dst = append(dst, '+')
		}
		dst = append(dst, "jxl"...)
	}
	if s.AutoCompress {
		if s.AutoFormat {
			dst = append(dst, ',')
		}
		dst = append(dst, "compress"...)
	}
	return dst, true
}

func keyBG(dst []byte, s *Spec) ([]byte, bool) {
	if !s.Background.Set {
		return dst, false
	}
	c := s.Background
	return appendHex(appendHex(appendHex(appendHex(dst, c.A), c.R), c.G), c.B), true
}

// keyInt writes an integer field when it is not 0 (its default).
func keyInt(field func(*Spec) int) func([]byte, *Spec) ([]byte, bool) {
	return func(dst []byte, s *Spec) ([]byte, bool) {
		v := field(s)
		if v == 0 {
			return dst, false
		}
		return strconv.AppendInt(dst, int64(v), 10), true
	}
}

// keyFocal writes a focal coordinate, which only matters for crop=focalpoint.
func keyFocal(field func(*Spec) float64) func([]byte, *Spec) ([]byte, bool) {
	return func(dst []byte, s *Spec) ([]byte, bool) {
		if s.Gravity != GravityFocalPoint {
			return dst, false
		}
		return strconv.AppendFloat(dst, field(s), 'f', -1, 64), true
	}
}

func keyCrop(dst []byte, s *Spec) ([]byte, bool) {
	if s.Fit != FitCrop {
		return dst, false
	}
	if s.CropFaces {
		dst = append(dst, "faces"...)
		if s.Gravity == GravityCenter {
			return dst, true
		}
		dst = append(dst, ',')
	}
	return s.Gravity.appendTo(dst), true
}

// keyFit always writes the fit: it is the one parameter every key has.
func keyFit(dst []byte, s *Spec) ([]byte, bool) {
	dst = append(dst, fitNames[s.Fit]...)
	if s.Fit == FitFaceArea && s.FaceFallback != FitCrop {
		dst = append(append(dst, ','), fitNames[s.FaceFallback]...)
	}
	return dst, true
}

// usesFaces reports a spec whose render looks for faces to place its crop.
func (s *Spec) usesFaces() bool { return s.Fit == FitFaceArea || s.Fit == FitCrop && s.CropFaces }

// NeedsFaces reports a spec whose render looks for faces: to crop, or to
// list them (faces=1 with fm=json).
func (s *Spec) NeedsFaces() bool { return s.usesFaces() || s.FacesJSON }

func keyFaceIndex(dst []byte, s *Spec) ([]byte, bool) {
	if !s.usesFaces() || s.FaceIndex == 0 {
		return dst, false
	}
	return strconv.AppendInt(dst, int64(s.FaceIndex), 10), true
}

func keyFacePad(dst []byte, s *Spec) ([]byte, bool) {
	if s.Fit != FitFaceArea || s.FacePad == DefaultFacePad {
		return dst, false
	}
	return strconv.AppendFloat(dst, s.FacePad, 'f', -1, 64), true
}

func keyFaces(dst []byte, s *Spec) ([]byte, bool) {
	if !s.FacesJSON {
		return dst, false
	}
	return append(dst, '1'), true
}

func keyFlip(dst []byte, s *Spec) ([]byte, bool) {
	if s.Flip&FlipH != 0 {
		dst = append(dst, 'h')
	}
	if s.Flip&FlipV != 0 {
		dst = append(dst, 'v')
	}
	return dst, s.Flip != 0
}

func keyFormat(dst []byte, s *Spec) ([]byte, bool) {
	if s.Format == FormatSource {
		return dst, false
	}
	return append(dst, formatNames[s.Format]...), true
}

func keyLossless(dst []byte, s *Spec) ([]byte, bool) {
	if !s.Lossless {
		return dst, false
	}
	return append(dst, '1'), true
}

// Key returns AppendKey as a string.
func (s *Spec) Key() string { return string(s.AppendKey(nil)) }

const hexDigits = "0123456789abcdef"

func appendHex(dst []byte, b uint8) []byte {
	return append(dst, hexDigits[b>>4], hexDigits[b&15])
}
