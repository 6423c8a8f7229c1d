package transform

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// TestSVGDashesAreBounded: Cairo strokes every dash of an outline, off the
// canvas too, so a 203-byte line 20,000,000 units long dashed every 0.2 ran
// 14.7 s and held 2.1 GB. However the dash array reaches the element
// (attribute, style, stylesheet, inheritance, pathLength), the dashes are
// bounded from the geometry, and a document over maxSVGDashes is refused.
func TestSVGDashesAreBounded(t *testing.T) {
	t.Parallel()
	const head = `<svg xmlns="http://www.w3.org/2000/svg" width="500" height="500" viewBox="0 0 500 500">`
	for _, tc := range []struct {
		name, body string
		refused    bool
		dashes     float64 // when accepted: about this many
	}{
		{"attribute", `<line x1="-10000000" y1="250" x2="10000000" y2="250" stroke="black" stroke-dasharray="0.2"/>`, true, 0},
		{"style attribute", `<line x1="-10000000" y1="250" x2="10000000" y2="250" style="stroke:black;stroke-dasharray:0.2 0.2"/>`, true, 0},
		{"stylesheet", `<style>.d{stroke-dasharray:0.1}</style><line class="d" x1="0" y1="0" x2="10000000" y2="0" stroke="black"/>`, true, 0},
		{"inherited", `<g stroke-dasharray="1"><path d="M0 0 l 3000000 0" stroke="black"/></g>`, true, 0},
		{"pathLength", `<line x1="0" y1="0" x2="10" y2="0" pathLength="100000000" stroke="black" stroke-dasharray="1"/>`, true, 0},
		{"arc", `<path d="M0 0 A 1000000 1000000 0 1 1 1 0" stroke="black" stroke-dasharray="2"/>`, true, 0},
		{"used many times", `<defs><line id="l" x2="100000" stroke="black" stroke-dasharray="1"/></defs>` + strings.Repeat(`<use href="#l"/>`, 30), true, 0},
		{"percent", `<line x2="100000000" stroke="black" stroke-dasharray="5%"/>`, true, 0},
		{"percentages of a viewport", `<line x1="0" y1="50" x2="4000000%" y2="50" stroke="black" stroke-dasharray="0.1"/>`, true, 0},
		{"font sizes", `<g font-size="1000"><line x1="0" y1="50" x2="4000em" y2="50" stroke="black" stroke-dasharray="0.1"/></g>`, true, 0},
		{"stroked text", `<text x="0" y="50" font-size="40000" stroke="black" stroke-dasharray="0.1" fill="none">WWWWWWWWWW</text>`, true, 0},
		{"text in a relative font size", `<g style="font-size:50em"><text stroke-dasharray="1">W</text></g>`, true, 0},
		{"a dashed chart line across the width", `<line x1="0%" x2="100%" y1="10" y2="10" stroke="grey" stroke-dasharray="4 4"/><text x="5" y="20">label</text>`,
			false, (65535 + 20 + 5*32*16) / 8}, // the coordinates add up: 100 % of the largest canvas, 20 units, 5 glyphs
		{"upper-case units in the dash array", `<line x1="0" y1="50" x2="2000000" y2="50" stroke="black" stroke-dasharray="0.2PX"/>`, true, 0},
		{"mixed-case units in the dash array", `<line x1="0" y1="50" x2="2000000" y2="50" stroke="black" stroke-dasharray="0.15pX"/>`, true, 0},
		{"upper-case units in the geometry", `<line x1="0" y1="50" x2="1500000PX" y2="50" stroke="black" stroke-dasharray="0.2"/>`, true, 0},
		{"a nested viewport in upper case", `<svg width="1500000PX" height="100"><line x1="0" y1="50" x2="100%" y2="50" stroke="black" stroke-dasharray="0.2"/></svg>`, true, 0},
		// Values with functions never reach librsvg: the canonical document
		// drops them (a line without x2, a line without dashes).
		{"a length with a function", `<line x1="0" y1="50" x2="calc(1e7px)" y2="50" stroke="black" stroke-dasharray="1"/>`, false, 50},
		{"a dash array with a function", `<line x1="0" y1="50" x2="2000000" y2="50" stroke="black" stroke-dasharray="calc(0.1px)"/>`, false, 0},
		{"an icon's dashed circle", `<circle cx="250" cy="250" r="50" stroke="black" stroke-dasharray="5 5"/>`, false, 2 * math.Pi * 50 / 10},
		{"a dashed polyline", `<polyline points="0,0 100,0 100,100" stroke="black" stroke-dasharray="10"/>`, false, 200.0 / 20},
		{"undashed, however long", `<line x1="-10000000" x2="10000000" stroke="black"/>`, false, 0},
		{"dashes of nothing", `<line x1="-10000000" x2="10000000" stroke="black" stroke-dasharray="0 0"/>`, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := CanonicalSVG([]byte(head+tc.body+`</svg>`), 50_000_000)
			switch {
			case tc.refused && (!errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "dashes")):
				t.Fatalf("%v, want ErrTooLarge naming the dashes", err)
			case !tc.refused && err != nil:
				t.Fatal(err)
			case !tc.refused && math.Abs(float64(s.Dashes)-tc.dashes) > 1:
				t.Fatalf("priced %d dashes, want about %.0f", s.Dashes, tc.dashes)
			}
		})
	}
}

// TestPathLengthBoundsTheOutline: path data read as lengths, relative and
// absolute, implicit linetos after a moveto, closepath, and curves by their
// control polygon (never shorter than the curve).
func TestPathLengthBoundsTheOutline(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d    string
		want float64
	}{
		{"M0 0 L 3 4", 5},
		{"M0 0 l3 4 l3 4", 10},
		{"m0 0 3 4 3 4", 10},
		{"M0,0 H10 V10 H0 Z", 40},
		{"M0 0 h10 v10 h-10 z", 40},
		{"M0 0 C 0 10 10 10 10 0", 30},
		{"M0 0 c0 10 10 10 10 0", 30},
		{"M0 0 Q 5 5 10 0", 2 * math.Hypot(5, 5)},
		{"M0 0 1e1 0", 10},
		{"M0 0 L.5.5", math.Hypot(.5, .5)},
		{"0,0 3,4 6,8", 10}, // a points list
		{"M0 0 L 3", 0},     // cut short: what was read
	} {
		if got := pathLength(tc.d); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("pathLength(%q) = %g, want %g", tc.d, got, tc.want)
		}
	}
}

// TestPathCrossingsTellScribblesFromContours: the crossings of a path's
// segments, estimated from a sample, are many for random points joined by
// lines (25,000 of them drew for 30.7 s) and none for a contour of as many
// points (a circle), which Cairo draws in milliseconds.
func TestPathCrossingsTellScribblesFromContours(t *testing.T) {
	t.Parallel()
	var scribble, circle strings.Builder
	rng := uint32(1)
	for i := range 25000 {
		rng = rng*1664525 + 1013904223
		fmt.Fprintf(&scribble, "%d,%d ", rng>>20%600, rng>>8%400)
		a := 2 * math.Pi * float64(i) / 25000
		fmt.Fprintf(&circle, "%.3f,%.3f ", 300+200*math.Cos(a), 200+200*math.Sin(a))
	}
	// Random segments in a 600x400 box cross about one pair in nine.
	if n := pathCrossings(scribble.String()); n < 25000*25000/2/20 {
		t.Errorf("25,000 random points: %.0f crossings estimated, want tens of millions", n)
	}
	if n := pathCrossings(circle.String()); n != 0 {
		t.Errorf("a circle of 25,000 points: %.0f crossings estimated, want none", n)
	}
	if n := pathCrossings("M0 0 L10 10 M0 10 L10 0"); n != 1 {
		t.Errorf("an X: %.0f crossings, want 1", n)
	}
}
