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
// none, a negative value or all zeros.
func dashPeriod(v string) (float64, bool) {
	v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "!important"))
	if v == "" || v == "none" || v == "inherit" || v == "initial" || v == "unset" {
		return 0, false
	}
	fields := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
	sum := 0.0
	for _, f := range fields {
		n, ok := lengthUnits(f)
		if !ok || n < 0 {
			return 0, false
		}
		sum += n
	}
	if sum == 0 {
		return 0, false
	}
	if len(fields)%2 == 1 {
		sum *= 2
	}
	return max(sum, svgDashMinPeriodPx), true
}

// lengthUnits reads a CSS length as user units, taking each unit at its
// smallest (a percentage of a one-unit viewport): an unknown size is
// priced as the most dashes it could make.
func lengthUnits(s string) (float64, bool) {
	scale := 1.0
	for _, u := range []struct {
		suffix string
		scale  float64
	}{{"%", 0.01}, {"px", 1}, {"pt", 4.0 / 3}, {"pc", 16}, {"mm", 96 / 25.4}, {"cm", 96 / 2.54}, {"in", 96}, {"em", 1}, {"ex", 0.5}, {"rem", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, scale = strings.TrimSuffix(s, u.suffix), u.scale
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, false
	}
	return n * scale, true
}

// geometryLength bounds the length of n's outline in user units: exact for
// lines, rectangles and polylines, a whole ellipse for circles and
// ellipses, the control polygon for path curves. pathLength, which rescales
// dashes along the element, counts when longer.
func geometryLength(n *svgNode) float64 {
	attr := func(name string) float64 {
		for _, a := range n.attrs {
			if a.name == name {
				if v, ok := lengthUnits(strings.TrimSpace(a.value)); ok {
					return v
				}
			}
		}
		return 0
	}
	var l float64
	switch n.name {
	case "line":
		l = math.Hypot(attr("x2")-attr("x1"), attr("y2")-attr("y1"))
	case "rect":
		l = 2 * (math.Abs(attr("width")) + math.Abs(attr("height")))
	case "circle":
		l = 2 * math.Pi * math.Abs(attr("r"))
	case "ellipse":
		l = 2 * math.Pi * max(math.Abs(attr("rx")), math.Abs(attr("ry")))
	case "polyline", "polygon", "path":
		for _, a := range n.attrs {
			if a.name == "points" || a.name == "d" {
				l = pathLength(a.value)
			}
		}
	}
	return min(max(l, math.Abs(attr("pathLength"))), sat)
}

// pathLength bounds the length of path data (or a points list, read as
// one moveto and its implicit linetos): the sum over commands of the
// distances through every point the command names, relative ones resolved,
// and an arc as its whole ellipse.
func pathLength(d string) float64 {
	r := pathReader{d: d, nums: make([]float64, 0, 7)}
	var total, x, y, startX, startY float64
	to := func(nx, ny float64) {
		total += math.Hypot(nx-x, ny-y)
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
