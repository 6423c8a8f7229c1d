package transform

import (
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Dashes: Cairo strokes a dashed outline one dash at a time along its
// whole length, off the canvas included, and holds every dash's outline
// at once. A 203-byte SVG, one line 20,000,000 units long dashed every 0.2,
// took 14.7 s of CPU and 2.1 GB (about 300 ns and 40 bytes a dash). The
// dashes drawn are bounded from the geometry: each drawn element's length
// (an upper bound for curves: their control polygon, and a whole ellipse
// for an arc) divided by the shortest dash period anywhere in the document,
// since dash arrays inherit and cascade from stylesheets.
const (
	maxSVGDashes       = 1_000_000 // about 0.3 s and 40 MB
	maxSVGCanvas       = 65535     // the largest canvas drawn: limits.max_dimension's bound
	svgDashMinPeriodPx = 1e-3      // a period that rounds to nothing is priced at this
)

// dashDeclaration finds stroke-dasharray values wherever the canonical
// document keeps them: attributes, style attributes and stylesheets.
var dashDeclaration = regexp.MustCompile(`stroke-dasharray\s*(?:=\s*["']|:)\s*([^;"'}<>]*)`)

// shortestDashPeriod is the shortest period of the dash arrays in doc, in
// user units; 0 when nothing is dashed.
func shortestDashPeriod(doc []byte) float64 {
	shortest := 0.0
	for _, m := range dashDeclaration.FindAllSubmatch(doc, -1) {
		if p, ok := dashPeriod(string(m[1])); ok && (shortest == 0 || p < shortest) {
			shortest = p
		}
	}
	return shortest
}

// dashPeriod is the length of one repeat of a dash array (a list of odd
// length repeats twice, SVG 2 13.5.3); false when it draws no dashes:
// none, a negative value or all zeros. A length in units relative to a
// font or a viewport could be as short as anything: the period is then
// taken at the floor.
func dashPeriod(v string) (float64, bool) {
	v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "!important"))
	if v == "" || v == "none" || v == "inherit" || v == "initial" || v == "unset" {
		return 0, false
	}
	fields := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
	sum, relative := 0.0, false
	for _, f := range fields {
		n, kind, ok := userUnits(f)
		switch {
		case !ok:
			// What the edge cannot read, librsvg may: the shortest.
			return svgDashMinPeriodPx, true
		case n < 0:
			return 0, false
		}
		sum += n
		relative = relative || kind != userLength && n > 0
	}
	switch {
	case relative:
		return svgDashMinPeriodPx, true
	case sum == 0:
		return 0, false
	case len(fields)%2 == 1:
		sum *= 2
	}
	return max(sum, svgDashMinPeriodPx), true
}

// lengthKind is what a CSS length is measured in.
type lengthKind uint8

const (
	userLength     lengthKind = iota // unitless, px and the absolute units
	viewportLength                   // %, vw, vh, vmin, vmax: hundredths of a viewport
	fontLength                       // em, rem, ex, ch: at most a font size
)

// userUnits reads a CSS length: in user units for unitless, px and the
// absolute units; otherwise the bare number and the kind of unit, whose
// size the caller bounds.
func userUnits(s string) (n float64, kind lengthKind, ok bool) {
	s = strings.ToLower(s) // CSS units are ASCII case-insensitive: 0.2PX is 0.2px
	scale := 1.0
	for _, u := range []struct {
		suffix string
		scale  float64
		kind   lengthKind
	}{{"px", 1, userLength}, {"pt", 4.0 / 3, userLength}, {"pc", 16, userLength}, {"mm", 96 / 25.4, userLength},
		{"cm", 96 / 2.54, userLength}, {"in", 96, userLength}, {"%", 1, viewportLength}, {"vmin", 1, viewportLength},
		{"vmax", 1, viewportLength}, {"vw", 1, viewportLength}, {"vh", 1, viewportLength},
		{"rem", 1, fontLength}, {"em", 1, fontLength}, {"ex", 1, fontLength}, {"ch", 1, fontLength}} {
		if strings.HasSuffix(s, u.suffix) {
			s, scale, kind = strings.TrimSuffix(s, u.suffix), u.scale, u.kind
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, 0, false
	}
	return n * scale, kind, true
}

// outline is the length of outlines drawn, by what it is measured in:
// user units, hundredths of a viewport, font sizes, and characters of text
// (each glyph's outline at most svgGlyphOutline font sizes).
type outline struct {
	user, viewport, font, chars float64
	unread                      bool // a length the edge could not read
}

func (o *outline) add(p outline, times float64) {
	o.user = min(o.user+p.user*times, sat)
	o.viewport = min(o.viewport+p.viewport*times, sat)
	o.font = min(o.font+p.font*times, sat)
	o.chars = min(o.chars+p.chars*times, sat)
	o.unread = o.unread || p.unread && times > 0
}

// svgGlyphOutline bounds a glyph's outline in font sizes: a W's is about
// 4, a dense CJK character's 20.
const svgGlyphOutline = 32

// length is o in user units, with viewport and font sizes at most
// viewport and font; fontOK false when a font size could be anything
// (relative sizes nest), which bounds nothing measured in fonts.
func (o outline) length(viewport, font float64, fontOK bool) (float64, bool) {
	if o.unread || !fontOK && (o.font > 0 || o.chars > 0) {
		return 0, false
	}
	return min(o.user+o.viewport/100*viewport+(o.font+o.chars*svgGlyphOutline)*font, sat), true
}

// svgSizes finds, in the canonical document, the largest viewport a
// percentage can refer to (any <svg>'s width, height or viewBox, and at
// least maxCanvas, the largest canvas the edge draws) and the largest font
// size (16 when none is set); fontOK is false when a font size is
// relative (em, %, larger), since those multiply as they nest.
func svgSizes(doc []byte, maxCanvas float64) (viewport, font float64, fontOK bool) {
	viewport, font, fontOK = maxCanvas, 16, true
	for _, m := range svgViewportNumbers.FindAllSubmatch(doc, -1) {
		for _, f := range strings.FieldsFunc(string(m[1]), func(r rune) bool { return r == ' ' || r == ',' }) {
			if v, kind, ok := userUnits(f); ok && kind == userLength {
				viewport = max(viewport, math.Abs(v))
			}
		}
	}
	for _, m := range svgFontSizes.FindAllSubmatch(doc, -1) {
		v, kind, ok := userUnits(strings.TrimSpace(string(m[1])))
		switch {
		case ok && kind == userLength:
			font = max(font, math.Abs(v))
		default:
			fontOK = false
		}
	}
	return viewport, font, fontOK
}

var (
	svgViewportNumbers = regexp.MustCompile(`<svg\b[^>]*?\s(?:width|height|viewBox)="([^"]*)"`)
	svgFontSizes       = regexp.MustCompile(`font-size\s*(?:=\s*["']|:)\s*([^;"'}<>]*)`)
	svgFontShorthand   = regexp.MustCompile(`[;{"\s]font\s*:`)
)

// geometryLength bounds the length of n's outline: exact for lines,
// rectangles and polylines, a whole ellipse for circles and ellipses, the
// control polygon for path curves, and a glyph's bound for each character
// of text. pathLength, which rescales dashes along the element, counts when
// longer.
func geometryLength(n *svgNode) outline {
	var o outline
	attr := func(name string) (float64, lengthKind) {
		for _, a := range n.attrs {
			if a.name == name {
				v, kind, ok := userUnits(strings.TrimSpace(a.value))
				if ok {
					return v, kind
				}
				o.unread = true
			}
		}
		return 0, userLength
	}
	// put adds a length measured in kind.
	put := func(v float64, kind lengthKind) {
		switch kind {
		case viewportLength:
			o.viewport += math.Abs(v)
		case fontLength:
			o.font += math.Abs(v)
		default:
			o.user += math.Abs(v)
		}
	}
	switch n.name {
	case "line":
		// Each coordinate on its own: they may be in different units.
		for _, a := range []string{"x1", "y1", "x2", "y2"} {
			put(attr(a))
		}
	case "rect":
		for _, a := range []string{"width", "height"} {
			v, kind := attr(a)
			put(2*v, kind)
		}
	case "circle", "ellipse":
		for _, a := range []string{"r", "rx", "ry"} {
			v, kind := attr(a)
			put(2*math.Pi*v, kind)
		}
	case "polyline", "polygon", "path":
		for _, a := range n.attrs {
			if a.name == "points" || a.name == "d" {
				o.user += pathLength(a.value)
			}
		}
	case "text":
		o.chars = float64(n.chars)
	}
	if v, kind := attr("pathLength"); kind == userLength && math.Abs(v) > o.user {
		o.user = math.Abs(v)
	}
	o.user = min(o.user, sat)
	return o
}

// pathLength bounds the length of path data (or a points list, read as
// one moveto and its implicit linetos): the sum over commands of the
// distances through every point the command names, relative ones resolved,
// and an arc as its whole ellipse.
func pathLength(d string) float64 { return walkPath(d, nil) }

// walkPath is pathLength, handing seg, when not nil, each segment drawn
// (curves as their control polygon, arcs as their chord).
func walkPath(d string, seg func(x0, y0, x1, y1 float64)) float64 {
	r := pathReader{d: d, nums: make([]float64, 0, 7)}
	var total, x, y, startX, startY float64
	to := func(nx, ny float64) {
		total += math.Hypot(nx-x, ny-y)
		if seg != nil {
			seg(x, y, nx, ny)
		}
		x, y = nx, ny
	}
	cmd := byte('M')
	for r.skipSeparators() {
		if c := d[r.i]; c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' {
			cmd = c
			r.i++
			if c == 'Z' || c == 'z' {
				to(startX, startY)
				continue
			}
		}
		args := pathArgs(cmd)
		if args == 0 || !r.numbers(args) {
			break
		}
		rel, nums := cmd >= 'a', r.nums
		abs := func(k int, base float64) float64 {
			if rel {
				return base + nums[k]
			}
			return nums[k]
		}
		switch upper(cmd) {
		case 'M':
			x, y = abs(0, x), abs(1, y)
			startX, startY = x, y
			cmd -= 'M' - 'L' // what follows a moveto's first pair is lineto, relative or not
		case 'H':
			to(abs(0, x), y)
		case 'V':
			to(x, abs(0, y))
		case 'A':
			// The whole ellipse, its radii grown to span the chord when
			// they are too small for it (SVG 2 B.2.5).
			ex, ey := abs(5, x), abs(6, y)
			total += 2 * math.Pi * max(math.Abs(nums[0]), math.Abs(nums[1]), math.Hypot(ex-x, ey-y)/2)
			if seg != nil {
				seg(x, y, ex, ey)
			}
			x, y = ex, ey
		default: // L, T, C, S, Q: through each point named
			bx, by := x, y
			for k := 0; k+1 < args; k += 2 {
				to(abs(k, bx), abs(k+1, by))
			}
		}
		if total > sat {
			return sat
		}
	}
	return min(total, sat)
}

// pathReader reads the numbers of path data.
type pathReader struct {
	d    string
	i    int
	nums []float64
}

// skipSeparators moves past white space and commas, and reports whether
// anything is left.
func (r *pathReader) skipSeparators() bool {
	for r.i < len(r.d) && (r.d[r.i] == ' ' || r.d[r.i] == ',' || r.d[r.i] == '\t' || r.d[r.i] == '\n' || r.d[r.i] == '\r') {
		r.i++
	}
	return r.i < len(r.d)
}

// numbers reads n numbers into r.nums, false when the data ends or holds
// something else first.
func (r *pathReader) numbers(n int) bool {
	r.nums = r.nums[:0]
	for range n {
		r.skipSeparators()
		j := r.i
		if j < len(r.d) && (r.d[j] == '-' || r.d[j] == '+') {
			j++
		}
		dot := false
		for j < len(r.d) && (r.d[j] >= '0' && r.d[j] <= '9' || r.d[j] == '.' && !dot) {
			dot = dot || r.d[j] == '.'
			j++
		}
		if j < len(r.d) && (r.d[j] == 'e' || r.d[j] == 'E') {
			k := j + 1
			if k < len(r.d) && (r.d[k] == '-' || r.d[k] == '+') {
				k++
			}
			if k < len(r.d) && r.d[k] >= '0' && r.d[k] <= '9' {
				for j = k; j < len(r.d) && r.d[j] >= '0' && r.d[j] <= '9'; j++ {
				}
			}
		}
		v, err := strconv.ParseFloat(r.d[r.i:j], 64)
		if err != nil || math.IsInf(v, 0) {
			return false
		}
		r.nums, r.i = append(r.nums, v), j
	}
	return true
}

// pathArgs is the numbers a path command takes (0: not a command).
func pathArgs(c byte) int {
	switch upper(c) {
	case 'H', 'V':
		return 1
	case 'M', 'L', 'T':
		return 2
	case 'S', 'Q':
		return 4
	case 'C':
		return 6
	case 'A':
		return 7
	}
	return 0
}

func upper(c byte) byte {
	if c >= 'a' {
		return c - 'a' + 'A'
	}
	return c
}

// pathCrossings estimates how many pairs of a path's segments cross. Cairo
// tessellates a path (and a stroke's outline) with a sweep that stops at
// every crossing: 25,000 random points joined by lines took 30.7 s to draw
// at 100x67, 10,000 took 2.9 s, where a contour of as many points that
// never crosses itself takes milliseconds. Counting the crossings is
// quadratic; the share of crossing pairs among svgCrossingSamples pairs
// drawn with a fixed seed estimates it in constant time.
func pathCrossings(d string) float64 {
	n := 0
	walkPath(d, func(_, _, _, _ float64) { n++ })
	if n < 2 {
		return 0
	}
	pairs := float64(n) * float64(n-1) / 2
	if pairs <= svgCrossingSamples {
		var segs [][4]float64 // at most 91 of them
		walkPath(d, func(x0, y0, x1, y1 float64) { segs = append(segs, [4]float64{x0, y0, x1, y1}) })
		crossing := 0
		for i := range segs {
			for j := i + 1; j < n; j++ {
				if segmentsCross(segs[i], segs[j]) {
					crossing++
				}
			}
		}
		return float64(crossing)
	}
	// The pairs are drawn first, then only their segments are kept from a
	// second reading: the path's own segments would be 32 bytes each,
	// before any admission (a 16 MB path holds about 2 million).
	rng := uint64(n)*0x9E3779B97F4A7C15 | 1
	next := func() int { // xorshift64: the same pairs for the same path
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		return int(rng % uint64(n))
	}
	var pairIndex [svgCrossingSamples][2]int
	picked := make(map[int][4]float64, 2*svgCrossingSamples)
	for k := range pairIndex {
		pairIndex[k] = [2]int{next(), next()}
		picked[pairIndex[k][0]], picked[pairIndex[k][1]] = [4]float64{}, [4]float64{}
	}
	at := 0
	walkPath(d, func(x0, y0, x1, y1 float64) {
		if _, ok := picked[at]; ok {
			picked[at] = [4]float64{x0, y0, x1, y1}
		}
		at++
	})
	crossing := 0
	for _, p := range pairIndex {
		if p[0] != p[1] && segmentsCross(picked[p[0]], picked[p[1]]) {
			crossing++
		}
	}
	return pairs * float64(crossing) / svgCrossingSamples
}

// svgCrossingSamples is the pairs of segments drawn to estimate crossings.
const svgCrossingSamples = 4096

// segmentsCross reports two segments that cross at a point inside both
// (touching at an end, as consecutive segments do, is not crossing).
func segmentsCross(a, b [4]float64) bool {
	orient := func(ax, ay, bx, by, cx, cy float64) float64 { return (bx-ax)*(cy-ay) - (by-ay)*(cx-ax) }
	d1 := orient(b[0], b[1], b[2], b[3], a[0], a[1])
	d2 := orient(b[0], b[1], b[2], b[3], a[2], a[3])
	d3 := orient(a[0], a[1], a[2], a[3], b[0], b[1])
	d4 := orient(a[0], a[1], a[2], a[3], b[2], b[3])
	return d1*d2 < 0 && d3*d4 < 0
}
