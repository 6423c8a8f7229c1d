package transform

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
)

func newTestParser(t testing.TB, presets map[string]map[string]string) *Parser {
	t.Helper()
	p, err := NewParser(Limits{MaxDimension: 8192}, presets)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseValid(t *testing.T) {
	t.Parallel()
	p := newTestParser(t, map[string]map[string]string{"thumb": {"w": "200", "h": "200", "fit": "crop"}})
	tests := []struct {
		query string
		want  Spec
	}{
		{"w=300", Spec{Width: 300}},
		{"h=200", Spec{Height: 200}},
		{"w=300&h=200&dpr=2", Spec{Width: 600, Height: 400}},
		{"w=301&dpr=1.5", Spec{Width: 452}},
		{"w=10&dpr=4", Spec{Width: 40}},
		{"fit=clip", Spec{Fit: FitClip}},
		{"fit=max", Spec{Fit: FitMax}},
		{"fit=crop", Spec{Fit: FitCrop}},
		{"fit=fill", Spec{Fit: FitFill}},
		{"fit=scale", Spec{Fit: FitScale}},
		{"fit=min", Spec{Fit: FitMin}},
		{"fit=crop&crop=top", Spec{Fit: FitCrop, Gravity: GravityTop}},
		{"fit=crop&crop=bottom", Spec{Fit: FitCrop, Gravity: GravityBottom}},
		{"fit=crop&crop=left", Spec{Fit: FitCrop, Gravity: GravityLeft}},
		{"fit=crop&crop=right", Spec{Fit: FitCrop, Gravity: GravityRight}},
		{"fit=crop&crop=top,left", Spec{Fit: FitCrop, Gravity: GravityTop | GravityLeft}},
		{"fit=crop&crop=center", Spec{Fit: FitCrop}},
		{"fit=crop&crop=entropy", Spec{Fit: FitCrop, Gravity: GravityEntropy}},
		{"fit=crop&crop=attention", Spec{Fit: FitCrop, Gravity: GravityAttention}},
		{"fit=crop&crop=focalpoint&fp-x=0.25&fp-y=1", Spec{Fit: FitCrop, Gravity: GravityFocalPoint, FocalX: 0.25, FocalY: 1}},
		{"fit=crop&crop=focalpoint&fp-x=0.2", Spec{Fit: FitCrop, Gravity: GravityFocalPoint, FocalX: 0.2, FocalY: 0.5}},
		{"fit=crop&crop=focalpoint&fp-x=0.123456", Spec{Fit: FitCrop, Gravity: GravityFocalPoint, FocalX: 0.1235, FocalY: 0.5}},
		{"fit=crop&crop=focalpoint", Spec{Fit: FitCrop, Gravity: GravityFocalPoint, FocalX: 0.5, FocalY: 0.5}},
		{"crop=top", Spec{}}, // gravity is ignored unless fit=crop
		{"fm=jpg", Spec{Format: FormatJPEG}},
		{"fm=jpeg", Spec{Format: FormatJPEG}},
		{"fm=pjpg", Spec{Format: FormatPJPEG}},
		{"fm=png", Spec{Format: FormatPNG}},
		{"fm=webp", Spec{Format: FormatWebP}},
		{"fm=avif", Spec{Format: FormatAVIF}},
		{"fm=jxl", Spec{Format: FormatJXL}},
		{"fm=gif", Spec{Format: FormatGIF}},
		{"auto=format", Spec{AutoFormat: true}},
		{"auto=compress", Spec{AutoCompress: true}},
		{"auto=format,compress", Spec{AutoFormat: true, AutoCompress: true}},
		{"auto=format&fm=png", Spec{Format: FormatPNG}}, // explicit fm wins
		{"q=1", Spec{Quality: 1}},
		{"q=100", Spec{Quality: 100}},
		{"lossless=1", Spec{Lossless: true}},
		{"lossless=0", Spec{}},
		{"blur=2000", Spec{Blur: 2000}},
		{"sharp=100", Spec{Sharp: 100}},
		{"rot=90", Spec{Rotate: 90}},
		{"rot=270", Spec{Rotate: 270}},
		{"flip=h", Spec{Flip: FlipH}},
		{"flip=v", Spec{Flip: FlipV}},
		{"flip=hv", Spec{Flip: FlipH | FlipV}},
		{"bg=fff", Spec{Background: Color{255, 255, 255, 255, true}}},
		{"bg=ff8800", Spec{Background: Color{255, 136, 0, 255, true}}},
		{"bg=80FF8800", Spec{Background: Color{255, 136, 0, 128, true}}},
		{"bg=8f80", Spec{Background: Color{255, 136, 0, 136, true}}}, // imgix's ARGB
		{"bg=%23ff8800", Spec{Background: Color{255, 136, 0, 255, true}}},
		{"frame=3", Spec{Frame: 3}},
		{"p=thumb", Spec{Width: 200, Height: 200, Fit: FitCrop}},
		{"p=thumb&w=100", Spec{Width: 100, Height: 200, Fit: FitCrop}}, // explicit overrides the preset
		{"w=100&p=thumb", Spec{Width: 100, Height: 200, Fit: FitCrop}}, // in any order
		{"s=abc&w=5", Spec{Width: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got, _, err := p.ParseQuery(tt.query)
			if err != nil {
				t.Fatalf("ParseQuery(%q): %v", tt.query, err)
			}
			if got != tt.want {
				t.Fatalf("ParseQuery(%q) = %+v, want %+v", tt.query, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	p := newTestParser(t, map[string]map[string]string{"thumb": {"w": "200"}})
	tests := []struct {
		query string
		param string
		msg   string // the whole message the client reads
	}{
		{"wdth=300", "wdth", `unknown parameter "wdth"; did you mean "w"?; allowed: ar, auto, bg, blur, bri, ch, con, crop, dl, dpr, exp, faceindex, facepad, faces, fill, fill-color, fit, flip, fm, fp-x, fp-y, frame, gam, h, high, hue, invert, lossless, mark, mark-align, mark-alpha, mark-fit, mark-h, mark-pad, mark-w, monochrome, p, pad, pad-bottom, pad-left, pad-right, pad-top, px, q, rect, rot, s, sat, sepia, shad, sharp, trim, trim-color, trim-tol, usm, usmrad, vib, w`},
		{"width=300", "width", `unknown parameter "width"; did you mean "w"?; allowed: ar, auto, bg, blur, bri, ch, con, crop, dl, dpr, exp, faceindex, facepad, faces, fill, fill-color, fit, flip, fm, fp-x, fp-y, frame, gam, h, high, hue, invert, lossless, mark, mark-align, mark-alpha, mark-fit, mark-h, mark-pad, mark-w, monochrome, p, pad, pad-bottom, pad-left, pad-right, pad-top, px, q, rect, rot, s, sat, sepia, shad, sharp, trim, trim-color, trim-tol, usm, usmrad, vib, w`},
		{"qualty=5", "qualty", `unknown parameter "qualty"; did you mean "q"?; allowed: ar, auto, bg, blur, bri, ch, con, crop, dl, dpr, exp, faceindex, facepad, faces, fill, fill-color, fit, flip, fm, fp-x, fp-y, frame, gam, h, high, hue, invert, lossless, mark, mark-align, mark-alpha, mark-fit, mark-h, mark-pad, mark-w, monochrome, p, pad, pad-bottom, pad-left, pad-right, pad-top, px, q, rect, rot, s, sat, sepia, shad, sharp, trim, trim-color, trim-tol, usm, usmrad, vib, w`},
		{"fitt=crop", "fitt", `unknown parameter "fitt"; did you mean "fit"?; allowed: ar, auto, bg, blur, bri, ch, con, crop, dl, dpr, exp, faceindex, facepad, faces, fill, fill-color, fit, flip, fm, fp-x, fp-y, frame, gam, h, high, hue, invert, lossless, mark, mark-align, mark-alpha, mark-fit, mark-h, mark-pad, mark-w, monochrome, p, pad, pad-bottom, pad-left, pad-right, pad-top, px, q, rect, rot, s, sat, sepia, shad, sharp, trim, trim-color, trim-tol, usm, usmrad, vib, w`},
		{"zzzzzz=1", "zzzzzz", `unknown parameter "zzzzzz"; allowed: ar, auto, bg, blur, bri, ch, con, crop, dl, dpr, exp, faceindex, facepad, faces, fill, fill-color, fit, flip, fm, fp-x, fp-y, frame, gam, h, high, hue, invert, lossless, mark, mark-align, mark-alpha, mark-fit, mark-h, mark-pad, mark-w, monochrome, p, pad, pad-bottom, pad-left, pad-right, pad-top, px, q, rect, rot, s, sat, sepia, shad, sharp, trim, trim-color, trim-tol, usm, usmrad, vib, w`},
		{"w=1&w=2", "w", `parameter "w" is repeated; give it once`},
		{"w=0", "w", `parameter w="0" is out of range; allowed: an integer from 1 to limits.max_dimension, or a fraction of the source between 0 and 1 (0.5: half its size)`},
		{"w=-5", "w", `parameter w="-5" is not an integer; allowed: an integer from 1 to limits.max_dimension, or a fraction of the source between 0 and 1 (0.5: half its size)`},
		{"w=abc", "w", `parameter w="abc" is not an integer; allowed: an integer from 1 to limits.max_dimension, or a fraction of the source between 0 and 1 (0.5: half its size)`},
		{"w=", "w", `parameter w="" is not an integer in range; allowed: an integer from 1 to limits.max_dimension, or a fraction of the source between 0 and 1 (0.5: half its size)`},
		{"w=8193", "w", `parameter w="8193" is too large; allowed: an integer from 1 to 8192 (limits.max_dimension)`},
		{"h=9000", "h", `parameter h="9000" is too large; allowed: an integer from 1 to 8192 (limits.max_dimension)`},
		{"dpr=0.5", "dpr", `parameter dpr="0.5" is out of range; allowed: a number from 1 to 5, e.g. 2 or 1.5`},
		{"dpr=5.5", "dpr", `parameter dpr="5.5" is out of range; allowed: a number from 1 to 5, e.g. 2 or 1.5`},
		{"dpr=1..5", "dpr", `parameter dpr="1..5" is not a number; allowed: a number from 1 to 5, e.g. 2 or 1.5`},
		{"dpr=2e0", "dpr", `parameter dpr="2e0" is not a number; allowed: a number from 1 to 5, e.g. 2 or 1.5`},
		{"fit=cover", "fit", `parameter fit="cover" is not allowed; allowed: clip, max, crop, fill, fillmax, scale, min, or facearea (with a fallback fit after a comma, e.g. facearea,fill)`},
		{"crop=middle", "crop", `parameter crop="middle" is not allowed; allowed: faces (first in a list, the rest its fallback: faces,top,left), center, top, bottom, left, right (two sides combine: top,left), entropy, edges, attention, focalpoint`},
		{"crop=top,bottom", "crop", `parameter crop="top,bottom" is not allowed; allowed: faces (first in a list, the rest its fallback: faces,top,left), center, top, bottom, left, right (two sides combine: top,left), entropy, edges, attention, focalpoint; not two opposite edges`},
		{"crop=entropy,top", "crop", `parameter crop="entropy,top" is not allowed; allowed: entropy, edges, attention and focalpoint stand alone; faces (first in a list, the rest its fallback: faces,top,left), center, top, bottom, left, right (two sides combine: top,left), entropy, edges, attention, focalpoint`},
		{"fp-x=1.5", "fp-x", `parameter fp-x="1.5" is out of range; allowed: a number from 0 to 1`},
		{"fp-y=x", "fp-y", `parameter fp-y="x" is not a number; allowed: a number from 0 to 1`},
		{"fm=bmp", "fm", `parameter fm="bmp" is not allowed; allowed: jpg, pjpg, png, webp, avif, jxl, gif, json (facts about the source), blurhash (a placeholder string)`},
		{"auto=enhance", "auto", `parameter auto="enhance" is not allowed; allowed: format, compress, or both comma separated`},
		{"q=0", "q", `parameter q="0" is out of range; allowed: an integer from 1 to 100`},
		{"q=101", "q", `parameter q="101" is out of range; allowed: an integer from 1 to 100`},
		{"lossless=yes", "lossless", `parameter lossless="yes" is not allowed; allowed: 0 or 1`},
		{"blur=2001", "blur", `parameter blur="2001" is out of range; allowed: an integer from 0 to 2000`},
		{"sharp=101", "sharp", `parameter sharp="101" is out of range; allowed: an integer from 0 to 100`},
		{"rot=45", "rot", `parameter rot="45" is not allowed; allowed: 0, 90, 180 or 270`},
		{"rot=360", "rot", `parameter rot="360" is out of range; allowed: 0, 90, 180 or 270`},
		{"flip=x", "flip", `parameter flip="x" is not allowed; allowed: h, v or hv`},
		{"bg=red", "bg", `parameter bg="red" is not allowed; allowed: hex RGB, ARGB, RRGGBB or AARRGGBB, e.g. fff, 8fff, ff8800 or 80ff8800`},
		{"bg=12345", "bg", `parameter bg="12345" is not allowed; allowed: hex RGB, ARGB, RRGGBB or AARRGGBB, e.g. fff, 8fff, ff8800 or 80ff8800`},
		{"fill=gen", "fill", `parameter fill="gen" is not allowed; allowed: solid (fill-color, else bg) or blur (a blurred copy of the image), with fit=fill or fillmax`},
		{"fit=fill&fill-color=ff00g0", "fill-color", `parameter fill-color="ff00g0" is not allowed; allowed: hex RGB, ARGB, RRGGBB or AARRGGBB, e.g. fff, 8fff, ff8800 or 80ff8800`},
		{"trim=color&trim-color=fffff", "trim-color", `parameter trim-color="fffff" is not allowed; allowed: hex RGB, ARGB, RRGGBB or AARRGGBB, e.g. fff, 8fff, ff8800 or 80ff8800`},
		{"frame=0", "frame", `parameter frame="0" is out of range; allowed: an integer from 1 (the first frame)`},
		{"p=nope", "p", `parameter p="nope" is not a configured preset; allowed: thumb`},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			_, _, err := p.ParseQuery(tt.query)
			var pe *ParamError
			if !errors.As(err, &pe) {
				t.Fatalf("ParseQuery(%q) error = %v, want a *ParamError", tt.query, err)
			}
			if pe.Param != tt.param {
				t.Errorf("param = %q, want %q", pe.Param, tt.param)
			}
			if got := err.Error(); got != tt.msg {
				t.Errorf("message:\n got %s\nwant %s", got, tt.msg)
			}
		})
	}
}

func TestParseTooManyParams(t *testing.T) {
	t.Parallel()
	p := newTestParser(t, nil)
	q := strings.Repeat("w=1&", maxParams+3)
	if _, _, err := p.ParseQuery(q); err == nil || !strings.Contains(err.Error(), "repeated") {
		t.Fatalf("a query of %d pairs: err = %v, want a repeated-parameter error", maxParams+3, err)
	}
}

func TestEmptyMeansOriginal(t *testing.T) {
	t.Parallel()
	p := newTestParser(t, nil)
	for _, q := range []string{"", "s=abcd"} {
		_, empty, err := p.ParseQuery(q)
		if err != nil || !empty {
			t.Errorf("ParseQuery(%q): empty=%v err=%v, want the original", q, empty, err)
		}
	}
	if _, empty, _ := p.ParseQuery("w=5"); empty {
		t.Error("w=5 reported as the original")
	}
}

// TestDPRDegradesAtTheLimit: imgix's SDK lists dpr 1 to 5 for any box, so a
// dpr that takes a side past limits.max_dimension is lowered until the
// longer side fits, keeping the shape, and the spec says which limit did
// it; an explicit side past the limit is still the user's mistake.
func TestDPRDegradesAtTheLimit(t *testing.T) {
	t.Parallel()
	p := newTestParser(t, nil)
	for _, tc := range []struct {
		q     string
		w, h  int
		clamp Clamp
	}{
		{"w=300&dpr=5", 1500, 0, ClampNone},
		{"w=8192", 8192, 0, ClampNone},
		{"w=5000&dpr=2", 8192, 0, ClampDimension},
		{"w=2000&h=1000&dpr=5", 8192, 4096, ClampDimension},
		{"h=3000&w=100&dpr=4", 273, 8192, ClampDimension},
	} {
		s, _, err := p.ParseQuery(tc.q)
		if err != nil || s.Width != tc.w || s.Height != tc.h || s.Clamp != tc.clamp {
			t.Errorf("%s: %dx%d clamp %q, %v; want %dx%d clamp %q", tc.q, s.Width, s.Height, s.Clamp.Limit(), err, tc.w, tc.h, tc.clamp.Limit())
		}
	}
	a, _, _ := p.ParseQuery("w=5000&dpr=2")
	if b, _, _ := p.ParseQuery("w=8192"); a.Key() != b.Key() {
		t.Errorf("w=5000&dpr=2 has key %q, w=8192 %q: want one entry for one rendering", a.Key(), b.Key())
	}
	if _, _, err := p.ParseQuery("w=8193"); err == nil {
		t.Error("w=8193 (above limits.max_dimension, no dpr) was accepted")
	}
}

func TestKeyCanonical(t *testing.T) {
	t.Parallel()
	p := newTestParser(t, map[string]map[string]string{"thumb": {"w": "200", "fit": "crop"}})
	same := [][]string{
		{"w=300&fm=webp", "fm=webp&w=300"},
		{"w=300&dpr=2", "w=600"},
		{"fit=clip&w=300", "w=300"},
		{"w=300&crop=top", "w=300"}, // gravity ignored without fit=crop
		{"fit=crop&crop=left,top&w=5&h=5", "crop=top,left&w=5&h=5&fit=crop"},
		{"p=thumb", "w=200&fit=crop"},
		{"fm=jpeg", "fm=jpg"},
		{"fit=fill&fill=solid&fill-color=ff0000&w=10&h=10", "fit=fill&bg=ff0000&w=10&h=10"}, // imgix's fill colour
		{"fit=fillmax&fill-color=0f0&w=10&h=10", "fit=fillmax&bg=00ff00&w=10&h=10"},
		{"fit=fill&fill=blur&w=10&h=10", "fit=fill&fill=blur&fill-color=f00&w=10&h=10"}, // a blurred fill has no colour
		{"fit=fill&fill=blur&w=10&h=10", "fit=fill&fill64=Ymx1cg&w=10&h=10"},
		{"fit=fill&fill=solid&w=10&h=10", "fit=fill&w=10&h=10"},
		{"fit=crop&fill=blur&w=10&h=10", "fit=crop&w=10&h=10"},           // fill is fit=fill's
		{"fit=crop&crop=edges&w=5&h=5", "fit=crop&crop=entropy&w=5&h=5"}, // imgix's edges, libvips' entropy
		{"auto=format&fm=png", "fm=png"},
		{"w=300&s=deadbeef", "w=300"},
	}
	for _, pair := range same {
		a, _, err1 := p.ParseQuery(pair[0])
		b, _, err2 := p.ParseQuery(pair[1])
		if err1 != nil || err2 != nil {
			t.Fatalf("%v: %v %v", pair, err1, err2)
		}
		if a.Key() != b.Key() {
			t.Errorf("%q -> %q but %q -> %q; want one key", pair[0], a.Key(), pair[1], b.Key())
		}
	}
	different := [][]string{
		{"w=300", "w=301"},
		{"w=300&fm=webp", "w=300&fm=avif"},
		{"w=300&fit=crop&h=5", "w=300&fit=fill&h=5"},
		{"fit=fill&fill=blur&w=10&h=10", "fit=fill&w=10&h=10"},
		{"fit=crop&crop=top&w=5&h=5", "fit=crop&crop=bottom&w=5&h=5"},
		{"w=300&q=50", "w=300"},
	}
	for _, pair := range different {
		a, _, _ := p.ParseQuery(pair[0])
		b, _, _ := p.ParseQuery(pair[1])
		if a.Key() == b.Key() {
			t.Errorf("%q and %q share key %q", pair[0], pair[1], a.Key())
		}
	}
	// auto=format: the negotiation enters the key, every bit the format
	// choice reads (AVIF alone and AVIF with WebP choose differently above
	// the AVIF size limit and for animations).
	s, _, _ := p.ParseQuery("auto=format&w=10")
	keys := map[string]bool{}
	for _, acc := range []Accepted{0, AcceptWebP, AcceptAVIF, AcceptAVIF | AcceptWebP} {
		s.Accepted = acc
		keys[s.Key()] = true
	}
	if len(keys) != 4 {
		t.Errorf("four negotiations gave %d keys: %v", len(keys), keys)
	}
	if got := s.Key(); got != "auto=avif+webp&fit=clip&w=10" {
		t.Errorf("key = %q", got)
	}
}

func TestWidthsSnap(t *testing.T) {
	t.Parallel()
	p, err := NewParser(Limits{MaxDimension: 8192, Widths: []int{640, 320, 1280}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		q    string
		w, h int
	}{{"w=100", 320, 0}, {"w=320", 320, 0}, {"w=321&h=100", 640, 320}, {"h=700", 0, 1280}, {"w=5000&h=1", 1280, 320}} {
		s, _, err := p.ParseQuery(tt.q)
		if err != nil || s.Width != tt.w || s.Height != tt.h {
			t.Errorf("%s: %dx%d, %v; want %dx%d", tt.q, s.Width, s.Height, err, tt.w, tt.h)
		}
	}
}

// TestPresetsOnly: with params.presets_only, a preset (and the signature) is
// all a URL may carry; the original stays reachable.
func TestPresetsOnly(t *testing.T) {
	t.Parallel()
	p, err := NewParser(Limits{MaxDimension: 8192, PresetsOnly: true}, map[string]map[string]string{"thumb": {"w": "200", "fm": "webp"}})
	if err != nil {
		t.Fatal(err)
	}
	for q, ok := range map[string]bool{
		"p=thumb": true, "p=thumb&s=00": true, "": true,
		"p=thumb&q=10": false, "w=200": false, "p=thumb&blur=5": false, "bg=fff": false, "fp-x=0.3": false,
	} {
		s, _, err := p.ParseQuery(q)
		var pe *ParamError
		switch {
		case ok && err != nil:
			t.Errorf("%q refused: %v", q, err)
		case ok && q != "" && (s.Width != 200 || s.Format != FormatWebP):
			t.Errorf("%q: the preset was not applied: %+v", q, s)
		case !ok && (!errors.As(err, &pe) || !strings.Contains(err.Error(), "params.presets_only")):
			t.Errorf("%q: err = %v, want a refusal naming params.presets_only", q, err)
		}
	}
}

func TestPresetValidation(t *testing.T) {
	t.Parallel()
	_, err := NewParser(Limits{MaxDimension: 100}, map[string]map[string]string{"big": {"w": "500"}})
	if err == nil || !strings.Contains(err.Error(), "presets.big") || !strings.Contains(err.Error(), "w=\"500\"") {
		t.Fatalf("err = %v, want it to name presets.big and w=500", err)
	}
	_, err = NewParser(Limits{MaxDimension: 100}, map[string]map[string]string{"loop": {"p": "loop"}})
	if err == nil || !strings.Contains(err.Error(), "presets.loop.p") {
		t.Fatalf("err = %v, want a refusal of p inside a preset", err)
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, seed := range []string{
		"w=300&h=200&fit=crop&crop=top,left", "auto=format,compress&q=50", "dpr=2.5&w=100",
		"bg=80ff8800&fit=fill&w=5&h=5", "fp-x=0.3&fp-y=0.6&crop=focalpoint&fit=crop", "p=thumb&w=1",
		"w=1&w=1", "%zz=1", "fm=webp&lossless=1&frame=2&rot=90&flip=hv&blur=5&sharp=3",
		"ar=16:9&fit=crop&w=320", "rect=1,2,30,40&pad-top=5&pad=2&bg=fff", "bri=-20&con=30&sat=-100&gam=5&invert=true",
		"trim=color&trim-color=0f0&trim-tol=20", "mark=/a%26b.png&mark-align=top,left&mark-alpha=40&mark-w=50&mark-fit=crop",
		"dl=caf%C3%A9.jpg&fm=json", "fm=blurhash&ch=DPR,Save-Data&w=10", "ixlib=js-3.8.0&w=5",
		"w=0.5&h=300&dpr=1.5", "h=.25&ar=2:1&fit=crop&dpr=3", "ch=DPR&w=0.5&h=40",
	} {
		f.Add(seed)
	}
	p, err := NewParser(Limits{MaxDimension: 8192, Ignore: []string{"ixlib"}}, map[string]map[string]string{"thumb": {"w": "200", "h": "200", "fit": "crop"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q string) {
		s, _, err := p.ParseQuery(q)
		if err != nil {
			var pe *ParamError
			if !errors.As(err, &pe) || pe.Error() == "" {
				t.Fatalf("ParseQuery(%q): error %v is not a described ParamError", q, err)
			}
			return
		}
		if s.Width < 0 || s.Width > 8192 || s.Height < 0 || s.Height > 8192 {
			t.Fatalf("ParseQuery(%q): size %dx%d escapes the limits", q, s.Width, s.Height)
		}
		// The canonical query parses to the same spec and is its own
		// canonical form; the key is the same from either.
		canon := string(s.AppendQuery(nil))
		again, _, err := p.ParseQuery(canon)
		if err != nil || again != s || again.Key() != s.Key() || string(again.AppendQuery(nil)) != canon {
			t.Fatalf("canonical %q of %q reparses to %+v, %v; want %+v", canon, q, again, err, s)
		}
	})
}

// TestCanonicalQuery: the canonical query parses back to the same spec, is
// its own canonical form, and is the one spelling of every equivalent query.
func TestCanonicalQuery(t *testing.T) {
	t.Parallel()
	p := newTestParser(t, map[string]map[string]string{"thumb": {"w": "200", "fit": "crop"}})
	snapping, err := NewParser(Limits{MaxDimension: 8192, Widths: []int{320, 640}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		parser *Parser
		query  string
		want   string
	}{
		{p, "w=120&fm=webp", "fm=webp&w=120"},
		{p, "fm=webp&w=120", "fm=webp&w=120"},
		{p, "w=60&dpr=2&fm=webp", "fm=webp&w=120"},
		{p, "fit=clip&w=300", "w=300"},
		{p, "w=300&crop=top", "w=300"},
		{p, "fit=crop&crop=top,left&w=5&h=5", "crop=left,top&fit=crop&h=5&w=5"},
		{p, "fit=crop&w=5&h=5&crop=center", "fit=crop&h=5&w=5"},
		{p, "p=thumb", "fit=crop&w=200"},
		{p, "fm=jpeg&q=80", "fm=jpg&q=80"},
		{p, "auto=compress,format&w=10", "auto=format,compress&w=10"},
		{p, "auto=format&fm=png", "fm=png"},
		{p, "w=300&s=deadbeef", "w=300"},
		{p, "bg=fff&blur=10&flip=vh&rot=90&sharp=5&lossless=1&frame=2", "bg=ffffffff&blur=10&flip=hv&frame=2&lossless=1&rot=90&sharp=5"},
		{p, "fit=crop&crop=focalpoint&fp-x=0.25&w=10&h=10", "crop=focalpoint&fit=crop&fp-x=0.25&fp-y=0.5&h=10&w=10"},
		{snapping, "w=100&h=400", "h=640&w=320"},
	}
	for _, tt := range tests {
		s, _, err := tt.parser.ParseQuery(tt.query)
		if err != nil {
			t.Fatalf("%s: %v", tt.query, err)
		}
		got := string(s.AppendQuery(nil))
		if got != tt.want {
			t.Errorf("%s: canonical %q, want %q", tt.query, got, tt.want)
		}
		again, _, err := tt.parser.ParseQuery(got)
		if err != nil || again != s {
			t.Errorf("%s: canonical %q parses to %+v (%v), want %+v", tt.query, got, again, err, s)
		}
		if twice := string(again.AppendQuery(nil)); twice != got {
			t.Errorf("%s: canonical of canonical %q, want %q", tt.query, twice, got)
		}
	}
}

// TestClientHints: ch= opts into hints; an explicit parameter wins; values
// are clamped and bucketed; HintsUsed names the hints the answer varies on,
// whether or not their header came.
func TestClientHints(t *testing.T) {
	t.Parallel()
	p := newTestParser(t, nil)
	snapping, err := NewParser(Limits{MaxDimension: 8192, Widths: []int{320, 640, 1280}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		parser       *Parser
		query        string
		hints        ClientHints
		w, h         int
		compress     bool
		used         Hint
		sameKeyAs    string // another query with the same hints that must share the key
		sameKeyHints ClientHints
	}{
		{p, "w=100&ch=DPR", ClientHints{DPR: 2}, 200, 0, false, HintDPR, "w=200", ClientHints{}},
		{p, "w=100&ch=DPR", ClientHints{DPR: 1.25}, 150, 0, false, HintDPR, "w=100&ch=DPR", ClientHints{DPR: 1.5}},         // bucketed up to 1, 1.5, 2, 3
		{p, "w=100&ch=DPR", ClientHints{DPR: 2.2}, 300, 0, false, HintDPR, "w=100&dpr=3", ClientHints{}},                   // bucketed up
		{p, "w=100&ch=DPR", ClientHints{DPR: 9}, 300, 0, false, HintDPR, "w=100&dpr=3", ClientHints{}},                     // clamped to 3
		{p, "w=100&ch=DPR", ClientHints{}, 100, 0, false, HintDPR, "w=100", ClientHints{}},                                 // no header: dpr 1, still varies
		{p, "w=100&dpr=3&ch=DPR", ClientHints{DPR: 2}, 300, 0, false, 0, "w=300", ClientHints{}},                           // explicit dpr wins
		{p, "ch=Width", ClientHints{Width: 611}, 640, 0, false, HintWidth, "ch=Width", ClientHints{Width: 630}},            // rounded up to hintWidths
		{p, "ch=Width", ClientHints{Width: 9000}, 3840, 0, false, HintWidth, "w=3840", ClientHints{}},                      // a 4K screen's width at most
		{snapping, "ch=Width", ClientHints{Width: 611}, 640, 0, false, HintWidth, "w=640", ClientHints{}},                  // snapped to limits.widths
		{p, "ch=Width,DPR&h=50", ClientHints{Width: 480, DPR: 2}, 480, 100, false, HintWidth | HintDPR, "", ClientHints{}}, // Width is device pixels already
		{p, "w=300&ch=Width", ClientHints{Width: 900}, 300, 0, false, 0, "", ClientHints{}},                                // explicit w wins
		{p, "w=2000&ch=Viewport-Width", ClientHints{ViewportWidth: 1200}, 1280, 0, false, HintViewportWidth, "", ClientHints{}},
		{p, "w=2000&ch=Viewport-Width,DPR", ClientHints{ViewportWidth: 1280, DPR: 2}, 2560, 0, false, HintViewportWidth | HintDPR, "", ClientHints{}},
		{p, "w=100&ch=Save-Data", ClientHints{SaveData: true}, 100, 0, true, HintSaveData, "w=100&auto=compress", ClientHints{}},
		{p, "w=100&ch=save-data", ClientHints{}, 100, 0, false, HintSaveData, "w=100", ClientHints{}},
		{p, "w=100", ClientHints{DPR: 2, Width: 900, SaveData: true}, 100, 0, false, 0, "", ClientHints{}}, // no ch=: headers ignored
		{p, "w=5000&ch=DPR", ClientHints{DPR: 2}, 8192, 0, false, HintDPR, "", ClientHints{}},              // a header stops at limits.max_dimension, never a 400
	}
	for _, tt := range tests {
		b := &Builder{}
		b.Reset(tt.parser)
		for pair := range strings.SplitSeq(tt.query, "&") {
			k, v, _ := strings.Cut(pair, "=")
			b.Add([]byte(k), []byte(v))
		}
		b.SetHints(tt.hints)
		s, err := b.Finish()
		if err != nil {
			t.Fatalf("%s: %v", tt.query, err)
		}
		if s.Width != tt.w || s.Height != tt.h || s.AutoCompress != tt.compress || s.HintsUsed != tt.used {
			t.Errorf("%s %+v: %dx%d compress %v used %b; want %dx%d %v %b", tt.query, tt.hints, s.Width, s.Height, s.AutoCompress, s.HintsUsed, tt.w, tt.h, tt.compress, tt.used)
		}
		if tt.sameKeyAs != "" {
			b.Reset(tt.parser)
			for pair := range strings.SplitSeq(tt.sameKeyAs, "&") {
				k, v, _ := strings.Cut(pair, "=")
				b.Add([]byte(k), []byte(v))
			}
			b.SetHints(tt.sameKeyHints)
			other, err := b.Finish()
			if err != nil || other.Key() != s.Key() {
				t.Errorf("%s %+v has key %q; %s %+v has %q (%v)", tt.query, tt.hints, s.Key(), tt.sameKeyAs, tt.sameKeyHints, other.Key(), err)
			}
		}
	}
	// However the headers vary, one URL has at most 64 variants.
	for _, query := range []string{"w=500&ch=Viewport-Width,DPR,Save-Data", "ch=Width,DPR,Save-Data&h=300", "w=5000&ch=Viewport-Width,DPR,Save-Data"} {
		keys := map[string]bool{}
		for width := 1; width <= 9000; width += 7 {
			for _, dpr := range []float64{0, 0.5, 1, 1.1, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 5} {
				for _, saveData := range []bool{false, true} {
					b := &Builder{}
					b.Reset(p)
					for pair := range strings.SplitSeq(query, "&") {
						k, v, _ := strings.Cut(pair, "=")
						b.Add([]byte(k), []byte(v))
					}
					b.SetHints(ClientHints{DPR: dpr, Width: width, ViewportWidth: width, SaveData: saveData})
					s, err := b.Finish()
					if err != nil {
						t.Fatalf("%s at width %d, DPR %v: %v", query, width, dpr, err)
					}
					keys[s.Key()] = true
				}
			}
		}
		if len(keys) > 64 {
			t.Errorf("%s: %d variants from client hints, want at most 64", query, len(keys))
		}
	}
	if _, _, err := p.ParseQuery("ch=Width,Colour"); err == nil || !strings.Contains(err.Error(), "Save-Data") {
		t.Errorf("an unknown hint: %v", err)
	}
}

// TestParameterPolicy: params.ignore names parameters accepted and left out
// of the spec and key (an original stays the original); params.unknown
// ignore does that for any unknown name; imgix names this edge lacks are
// said to be unsupported, never "corrected" into another parameter.
func TestParameterPolicy(t *testing.T) {
	t.Parallel()
	strict, err := NewParser(Limits{MaxDimension: 8192, Ignore: []string{"ixlib"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	lax, err := NewParser(Limits{MaxDimension: 8192, Ignore: []string{"ixlib"}, IgnoreUnknown: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	plain, _, _ := strict.ParseQuery("w=300")
	for _, q := range []string{"w=300&ixlib=js-3.8.0", "ixlib=php-3.3.1&w=300"} {
		s, original, err := strict.ParseQuery(q)
		if err != nil || original || s.Key() != plain.Key() {
			t.Errorf("%s: %q original %v %v, want the key of w=300", q, s.Key(), original, err)
		}
	}
	if _, original, err := strict.ParseQuery("ixlib=js-3.8.0"); err != nil || !original {
		t.Errorf("ixlib alone: original %v, %v", original, err)
	}
	if _, _, err := strict.ParseQuery("w=300&v=2"); err == nil || !strings.Contains(err.Error(), `unknown parameter "v"`) {
		t.Errorf("v=2 under params.unknown reject: %v", err)
	}
	if s, _, err := lax.ParseQuery("w=300&v=2&utm_source=x"); err != nil || s.Key() != plain.Key() {
		t.Errorf("params.unknown ignore: %q %v", s.Key(), err)
	}
	if _, _, err := lax.ParseQuery("w=huge&v=2"); err == nil {
		t.Error("params.unknown ignore let a bad value of a known parameter through")
	}
	for _, tt := range []struct{ query, want string }{
		{"txt=hello", `parameter "txt" is an imgix parameter this edge does not support`},
		{"mark-rot=5", `parameter "mark-rot" is an imgix parameter this edge does not support`},
		{"hue-set=200", `parameter "hue-set" is an imgix parameter this edge does not support`}, // not hue, which turns hues
		{"mono=fff", `did you mean "monochrome"?`},
		{"widht=5", `did you mean "w"?`},
		{"blend=ff0000", `parameter "blend" is an imgix parameter`}, // never "blur"
		{"ar=16:9", `parameter ar="1.7778:1" needs fit=crop`},
		{"zz=1", `unknown parameter "zz"; allowed`},
	} {
		_, _, err := strict.ParseQuery(tt.query)
		if err == nil || !strings.Contains(err.Error(), tt.want) || (strings.Contains(tt.want, "does not support") && strings.Contains(err.Error(), "did you mean")) {
			t.Errorf("%s: %v, want %q", tt.query, err, tt.want)
		}
	}
}

// TestImgixParameters: ar, rect, pad, the adjustments, invert and dl, with
// imgix's meanings and ranges, canonical in the key and the query.
func TestImgixParameters(t *testing.T) {
	t.Parallel()
	p := newTestParser(t, nil)
	tests := []struct {
		query string
		check func(Spec) bool
		key   string
	}{
		{"ar=16:9&fit=crop&w=320", func(s Spec) bool { return s.Width == 320 && s.Height == 180 && s.ARW == 0 }, "crop=center&fit=crop&h=180&w=320"},
		{"ar=1:2&fit=crop&h=100", func(s Spec) bool { return s.Width == 50 && s.Height == 100 }, "crop=center&fit=crop&h=100&w=50"},
		// The other side comes from the ratio as given: 2000 x 3 and 200 x 9/16 rounded.
		{"ar=1:3&fit=crop&w=2000", func(s Spec) bool { return s.Height == 6000 }, "crop=center&fit=crop&h=6000&w=2000"},
		{"ar=16:9&fit=crop&w=200", func(s Spec) bool { return s.Height == 113 }, "crop=center&fit=crop&h=113&w=200"},
		{"ar=4:3&fit=crop", func(s Spec) bool { return s.ARW == 13333 && s.ARH == 10000 }, "ar=13333:10000&crop=center&fit=crop"},
		{"rect=10,20,300,200&w=100", func(s Spec) bool { return s.Rect == [4]int{10, 20, 300, 200} }, "fit=clip&rect=10,20,300,200&w=100"},
		{"pad=10&bg=fff", func(s Spec) bool { return s.Pad == [4]int{10, 10, 10, 10} }, "bg=ffffffff&fit=clip&pad=10,10,10,10"},
		{"pad-top=5&pad=10", func(s Spec) bool { return s.Pad == [4]int{5, 10, 10, 10} }, "fit=clip&pad=5,10,10,10"},
		{"pad=10&pad-left=0", func(s Spec) bool { return s.Pad == [4]int{10, 10, 10, 0} }, "fit=clip&pad=10,10,10,0"},
		{"bri=20&con=-10&sat=-100&gam=5&invert=true", func(s Spec) bool { return s.Bri == 20 && s.Con == -10 && s.Sat == -100 && s.Gam == 5 && s.Invert },
			"bri=20&con=-10&fit=clip&gam=5&invert=true&sat=-100"},
		{"w=10&dl=photo.jpg", func(s Spec) bool { return s.Download == "photo.jpg" }, "fit=clip&w=10"},
		{"fm=json", func(s Spec) bool { return s.Format == FormatJSON }, "fit=clip&fm=json"},
		{"fm=blurhash&w=32", func(s Spec) bool { return s.Format == FormatBlurHash }, "fit=clip&fm=blurhash&w=32"},
	}
	for _, tt := range tests {
		s, _, err := p.ParseQuery(tt.query)
		if err != nil || !tt.check(s) || s.Key() != tt.key {
			t.Errorf("%s: %+v key %q (%v); want key %q", tt.query, s, s.Key(), err, tt.key)
			continue
		}
		q := string(s.AppendQuery(nil))
		if again, _, err := p.ParseQuery(q); err != nil || again != s {
			t.Errorf("%s: canonical %q parses to %+v (%v)", tt.query, q, again, err)
		}
	}
	for _, tt := range []struct{ query, want string }{
		{"ar=16:9&w=10", `parameter ar="1.7778:1" needs fit=crop`},
		{"ar=16x9&fit=crop", `parameter ar="16x9"`},
		{"ar=1000:1&fit=crop", `parameter ar="1000:1"`},
		{"rect=1,2,3", `parameter rect="1,2,3"`},
		{"rect=0,0,0,10", `parameter rect="0,0,0,10"`},
		{"pad=-1", `parameter pad="-1"`},
		{"pad-left=x", `parameter pad-left="x"`},
		{"bri=101", `parameter bri="101"`},
		{"invert=yes", `parameter invert="yes"`},
		{"dl=" + strings.Repeat("a", 201), `parameter dl=`},
	} {
		if _, _, err := p.ParseQuery(tt.query); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.query, err, tt.want)
		}
	}
}

// TestTrimParameters: trim=auto and trim=color with its colour and
// tolerance; the colour is in the key only where it is read.
func TestTrimParameters(t *testing.T) {
	t.Parallel()
	p := newTestParser(t, nil)
	a, _, err1 := p.ParseQuery("trim=auto&trim-color=ff0000")
	b, _, err2 := p.ParseQuery("trim=auto")
	if err1 != nil || err2 != nil || a.Key() != b.Key() || a.Key() != "fit=clip&trim=auto" {
		t.Errorf("trim=auto: %q %q (%v %v)", a.Key(), b.Key(), err1, err2)
	}
	c, _, err := p.ParseQuery("trim=color&trim-color=fff&trim-tol=20")
	if err != nil || c.Key() != "fit=clip&trim=color&trim-color=ffffffff&trim-tol=20" {
		t.Errorf("trim=color: %q %v", c.Key(), err)
	}
	for q, want := range map[string]string{"trim=color": "needs trim-color", "trim=yes": `trim="yes"`, "trim=auto&trim-tol=0": `trim-tol="0"`, "trim=color&trim-color=zz": `trim-color="zz"`} {
		if _, _, err := p.ParseQuery(q); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", q, err, want)
		}
	}
}

// TestMarkParameters: a watermark path at the same origin with imgix's
// defaults; paths that would leave the origin, carry a query or pass for
// other parameters in the key are refused or escaped.
func TestMarkParameters(t *testing.T) {
	t.Parallel()
	p := newTestParser(t, nil)
	s, _, err := p.ParseQuery("w=300&mark=/logo.png")
	if err != nil || s.MarkAlign != DefaultMarkAlign || s.MarkAlpha != 100 || s.MarkPad != 10 ||
		s.Key() != "fit=clip&mark=/logo.png&mark-align=bottom,right&mark-alpha=100&mark-fit=clip&mark-h=0&mark-pad=10&mark-w=0&w=300" {
		t.Errorf("defaults: %q %+v %v", s.Key(), s, err)
	}
	s, _, err = p.ParseQuery("mark=/a%26w%3D5.png&mark-align=top,left&mark-alpha=40&mark-w=50&mark-fit=crop&mark-pad=0")
	if err != nil || !strings.Contains(s.Key(), "mark=/a%26w%3D5.png&mark-align=left,top&mark-alpha=40&mark-fit=crop") {
		t.Errorf("escaped: %q %v", s.Key(), err)
	}
	if again, _, err := p.ParseQuery(string(s.AppendQuery(nil))); err != nil || again != s {
		t.Errorf("canonical %q: %+v %v", s.AppendQuery(nil), again, err)
	}
	if a, _, _ := p.ParseQuery("w=3&mark-alpha=5"); a.Key() != "fit=clip&w=3" {
		t.Errorf("mark settings without a mark: %q", a.Key())
	}
	for q, want := range map[string]string{
		"mark=logo.png": "mark=", "mark=/../etc/passwd": "inside the origin", "mark=/a.png%3Fw%3D5": "without a query",
		"mark=//evil.example/x.png": "mark=", "mark=/a.png&mark-alpha=101": "mark-alpha", "mark=/a.png&mark-align=top,bottom": "mark-align",
		"mark=/a.png&mark-w=99999": "mark-w", "mark=/a.png&mark-fit=stretch": "mark-fit",
	} {
		if _, _, err := p.ParseQuery(q); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", q, err, want)
		}
	}
}

// A spec owns what it holds: the edge feeds the Builder views of request
// memory that fasthttp reuses once the request is answered, and a spec
// kept past that (a fill, a key, a map) must not change under it. Specs of
// the same variant compare equal, so a spec can key a map.
func TestSpecOwnsItsStrings(t *testing.T) {
	t.Parallel()
	p := newTestParser(t, nil)
	parse := func(buf [][2][]byte) Spec {
		var b Builder
		b.Reset(p)
		for _, kv := range buf {
			b.Add(kv[0], kv[1])
		}
		s, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	request := func() [][2][]byte {
		return [][2][]byte{{[]byte("w"), []byte("300")}, {[]byte("mark"), []byte("/logo.png")}, {[]byte("dl"), []byte("cat.jpg")}}
	}
	mem := request()
	s := parse(mem)
	for _, kv := range mem { // the request's memory, reused by the next one
		for i := range kv[1] {
			kv[1][i] = 'x'
		}
	}
	if s.Mark != "/logo.png" || s.Download != "cat.jpg" {
		t.Fatalf("the spec changed with the request's memory: mark %q, dl %q", s.Mark, s.Download)
	}
	seen := map[Spec]int{s: 1}
	if again := parse(request()); again != s || seen[again] != 1 {
		t.Fatalf("two parses of one request differ: %+v and %+v", s, again)
	}
}

// TestClampFitsThreeBits: the shared tier keeps a variant's Clamp in the
// three bits its entry format has free.
func TestClampFitsThreeBits(t *testing.T) {
	if clampCount-1 > 7 {
		t.Fatalf("%d clamp values: the shared tier's entry keeps 8", clampCount)
	}
}

// TestBase64Params: imgix's *64 form of a parameter carries its value in
// URL-safe base64, padded or not, and is the parameter itself: one cache
// entry, and given twice it is repeated.
func TestBase64Params(t *testing.T) {
	t.Parallel()
	p := newTestParser(t, nil)
	for _, pair := range [][2]string{
		{"w=300&mark64=L2xvZ28ucG5n", "w=300&mark=/logo.png"},
		{"w=300&mark64=L2xvZ28ucG5n&mark-align64=Ym90dG9tLHJpZ2h0", "w=300&mark=/logo.png&mark-align=bottom,right"},
		{"dl64=Y2F0IHBob3RvLmpwZw&w=10", "dl=cat photo.jpg&w=10"},
		{"fm64=d2VicA==", "fm=webp"},
	} {
		a, _, err1 := p.ParseQuery(pair[0])
		b, _, err2 := p.ParseQuery(pair[1])
		if err1 != nil || err2 != nil || a.Key() != b.Key() || a.Download != b.Download || a.Mark != b.Mark {
			t.Errorf("%s: %q %v; %s: %q %v: want the same spec", pair[0], a.Key(), err1, pair[1], b.Key(), err2)
		}
	}
	for q, problem := range map[string]string{
		"mark64=***":                         "is not URL-safe base64",
		"mark64=L2xvZ28ucG5n&mark=/logo.png": "repeated",
		"nope64=eA":                          "unknown",
	} {
		if _, _, err := p.ParseQuery(q); err == nil || !strings.Contains(err.Error(), problem) {
			t.Errorf("%s: %v, want an error saying %q", q, err, problem)
		}
	}
}

// TestMarkSidesAsFractions: imgix reads mark-w and mark-h between 0 and 1
// as fractions of the image; pixels otherwise. The key keeps which.
func TestMarkSidesAsFractions(t *testing.T) {
	t.Parallel()
	p := newTestParser(t, nil)
	s, _, err := p.ParseQuery("w=300&mark=/m.png&mark-w=0.2&mark-h=0.25")
	if err != nil || s.MarkWFrac != 0.2 || s.MarkHFrac != 0.25 || s.MarkW != 0 || !strings.Contains(s.Key(), "mark-w=0.2") {
		t.Fatalf("mark-w=0.2: %+v %q, %v", s, s.Key(), err)
	}
	if px, _, _ := p.ParseQuery("w=300&mark=/m.png&mark-w=20"); px.Key() == s.Key() || px.MarkW != 20 {
		t.Fatalf("mark-w=20 and mark-w=0.2 share a key, or pixels were not read: %q", px.Key())
	}
	for _, v := range []string{"0", "1.0", "1.5", "0.00001", "-0.2"} {
		if _, _, err := p.ParseQuery("mark=/m.png&mark-w=" + v); err == nil {
			t.Errorf("mark-w=%s accepted", v)
		}
	}
}

// The face parameters as imgix reads them, one key per variant: each is kept
// only where it is read.
func TestFaceParameters(t *testing.T) {
	t.Parallel()
	p := newTestParser(t, nil)
	keys := []struct{ query, key string }{
		{"fit=crop&crop=faces&w=5&h=5", "crop=faces&fit=crop&h=5&w=5"},
		{"fit=crop&crop=faces,center&w=5&h=5", "crop=faces&fit=crop&h=5&w=5"},
		{"fit=crop&crop=faces,top,right&w=5&h=5", "crop=faces,right,top&fit=crop&h=5&w=5"},
		{"fit=crop&crop=faces,edges&w=5&h=5", "crop=faces,entropy&fit=crop&h=5&w=5"},
		{"fit=crop&crop=faces&faceindex=2&w=5&h=5", "crop=faces&faceindex=2&fit=crop&h=5&w=5"},
		{"fit=crop&crop=top&faceindex=2&w=5&h=5", "crop=top&fit=crop&h=5&w=5"}, // no faces: no index
		{"crop=faces&w=5", "fit=clip&w=5"},                                     // no crop: no faces
		{"fit=facearea&w=9&h=9", "fit=facearea&h=9&w=9"},
		{"fit=facearea&facepad=1.0&w=9&h=9", "fit=facearea&h=9&w=9"},
		{"fit=facearea&facepad=1.5&faceindex=1&w=9&h=9", "faceindex=1&facepad=1.5&fit=facearea&h=9&w=9"},
		{"fit=facearea,fill&w=9&h=9", "fit=facearea,fill&h=9&w=9"},
		{"fit=facearea,crop&w=9&h=9", "fit=facearea&h=9&w=9"},
		{"fit=crop&facepad=2&w=9&h=9", "crop=center&fit=crop&h=9&w=9"},
		{"fm=json&faces=1", "faces=1&fit=clip&fm=json"},
		{"fm=png&faces=1", "fit=clip&fm=png"},
		{"fit64=ZmFjZWFyZWE&w=9&h=9", "fit=facearea&h=9&w=9"},
		{"fit=crop&crop64=ZmFjZXMsdG9w&w=5&h=5", "crop=faces,top&fit=crop&h=5&w=5"},
	}
	for _, tt := range keys {
		s, _, err := p.ParseQuery(tt.query)
		if err != nil {
			t.Errorf("%s: %v", tt.query, err)
			continue
		}
		if got := s.Key(); got != tt.key {
			t.Errorf("%s: key %q, want %q", tt.query, got, tt.key)
		}
	}
	errs := map[string]string{
		"fit=facearea&w=9":          "needs w and h",
		"fit=facearea,facearea&w=9": "is not allowed",
		"fit=crop,fill&w=9&h=9":     "is not allowed",
		"facepad=0&fit=facearea":    "out of range",
		"facepad=0.004":             "out of range",
		"facepad=11":                "out of range",
		"faceindex=0":               "out of range",
		"faceindex=33":              "out of range",
		"faces=2":                   "is not allowed",
		"crop=faces,faces":          "is not allowed",
		"crop=faces,top,bottom":     "not two opposite edges",
		"crop=entropy,faces":        "stand alone",
	}
	for q, want := range errs {
		if _, _, err := p.ParseQuery(q); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one saying %q", q, err, want)
		}
	}
}

// TestSidesAsFractions: imgix reads w and h written with a point between 0
// and 1 as fractions of the source. The parser keeps them, a side in
// pixels beside them and the dpr as given (in steps of 0.0001), to be
// resolved with the source; every spelling of one is one key, and the
// canonical query parses back to the same spec.
func TestSidesAsFractions(t *testing.T) {
	t.Parallel()
	p := newTestParser(t, nil)
	snapping, err := NewParser(Limits{MaxDimension: 8192, Widths: []int{320, 640}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		query string
		want  Spec
		key   string
	}{
		{"w=0.5", Spec{WidthFrac: 0.5}, "fit=clip&w=0.5"},
		{"w=.5", Spec{WidthFrac: 0.5}, "fit=clip&w=0.5"},
		{"w=0.50000", Spec{WidthFrac: 0.5}, "fit=clip&w=0.5"},
		{"w64=MC41", Spec{WidthFrac: 0.5}, "fit=clip&w=0.5"},
		{"w=0.33333", Spec{WidthFrac: 0.3333}, "fit=clip&w=0.3333"},
		{"h=0.25&fit=crop", Spec{HeightFrac: 0.25, Fit: FitCrop}, "crop=center&fit=crop&h=0.25"},
		{"w=0.5&dpr=2", Spec{WidthFrac: 0.5, DPR: 2}, "dpr=2&fit=clip&w=0.5"},
		{"w=0.5&dpr=1", Spec{WidthFrac: 0.5}, "fit=clip&w=0.5"},
		{"w=0.5&h=300&dpr=1.5", Spec{WidthFrac: 0.5, Height: 300, DPR: 1.5}, "dpr=1.5&fit=clip&h=300&w=0.5"},
		{"w=300&dpr=2", Spec{Width: 600}, "fit=clip&w=600"}, // pixels alone fold dpr, as before
		{"w=0.5&ar=16:9&fit=crop", Spec{WidthFrac: 0.5, Fit: FitCrop, ARW: 17778, ARH: 10000}, "ar=17778:10000&crop=center&fit=crop&w=0.5"},
		{"w=0.5&h=0.4&ar=16:9&fit=crop", Spec{WidthFrac: 0.5, HeightFrac: 0.4, Fit: FitCrop}, "crop=center&fit=crop&h=0.4&w=0.5"},
		{"ch=Width&h=0.5", Spec{HeightFrac: 0.5, Hints: HintWidth}, "fit=clip&h=0.5"}, // Width is a layout's: not for a fraction
		{"w=0.5&h=5000&dpr=4", Spec{WidthFrac: 0.5, Height: 5000, DPR: 1.6384, Clamp: ClampDimension}, "dpr=1.6384&fit=clip&h=5000&w=0.5"},
	} {
		s, _, err := p.ParseQuery(tt.query)
		if err != nil || s != tt.want || s.Key() != tt.key {
			t.Errorf("%s: %+v key %q (%v); want %+v key %q", tt.query, s, s.Key(), err, tt.want, tt.key)
			continue
		}
		if !s.Resizes() {
			t.Errorf("%s: Resizes() is false", tt.query)
		}
		q := string(s.AppendQuery(nil))
		if again, _, err := p.ParseQuery(q); err != nil || again.Key() != s.Key() || again.WidthFrac != s.WidthFrac || again.DPR != s.DPR {
			t.Errorf("%s: canonical %q parses to %+v (%v)", tt.query, q, again, err)
		}
	}
	if a, b := parseKey(t, p, "w=0.5"), parseKey(t, p, "w=1"); a == b {
		t.Errorf("w=0.5 and w=1 share the key %q", a)
	}
	for _, tt := range []struct {
		parser *Parser
		query  string
		want   string
	}{
		{p, "w=1.0", `parameter w="1.0" is out of range`},
		{p, "w=0.0", `parameter w="0.0" is out of range`},
		{p, "w=0.00001", `parameter w="0.00001" is out of range`},
		{p, "h=1.5", `parameter h="1.5" is out of range`},
		{p, "w=-0.5", `parameter w="-0.5" is not a number`},
		{p, "w=0.5.1", `parameter w="0.5.1" is not a number`},
		{p, "w=0.5&h=9000", `parameter h="9000" is too large`},
		{snapping, "w=0.5", `parameter w="0.5" is a fraction of the source; allowed: pixels on this edge, which sizes to limits.widths (320, 640)`},
	} {
		if _, _, err := tt.parser.ParseQuery(tt.query); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.query, err, tt.want)
		}
	}
}

func parseKey(t *testing.T, p *Parser, q string) string {
	t.Helper()
	s, _, err := p.ParseQuery(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s.Key()
}

// TestResolveFractions: with the source's size known, fractions become
// device pixels (times dpr, as a side in pixels beside them), ar makes the
// side not given, and past limits.max_dimension both sides shrink by one
// factor.
func TestResolveFractions(t *testing.T) {
	t.Parallel()
	p := newTestParser(t, nil)
	for _, tt := range []struct {
		query   string
		ow, oh  int
		w, h    int
		clamped bool
	}{
		{"w=0.5", 1600, 1200, 800, 0, false},
		{"h=0.25", 1600, 1200, 0, 300, false},
		{"w=0.5&dpr=2", 1600, 1200, 1600, 0, false},
		{"w=0.5&h=0.5&fit=crop", 1600, 1200, 800, 600, false},
		{"w=0.5&h=300&dpr=1.5", 1600, 1200, 1200, 450, false},
		{"w=0.5&ar=1:1&fit=crop", 1600, 1200, 800, 800, false},
		{"h=0.5&ar=2:1&fit=crop", 1600, 1200, 1200, 600, false},
		{"w=0.0001", 1600, 1200, 1, 0, false},
		{"w=0.9&h=0.9&dpr=5&fit=crop", 4000, 3000, 8192, 6144, true},
		{"w=300", 1600, 1200, 300, 0, false}, // no fraction: as parsed
	} {
		s, _, err := p.ParseQuery(tt.query)
		if err != nil {
			t.Fatalf("%s: %v", tt.query, err)
		}
		clamped := s.ResolveFractions(tt.ow, tt.oh, 8192)
		if s.Width != tt.w || s.Height != tt.h || clamped != tt.clamped || s.WidthFrac != 0 || s.HeightFrac != 0 || s.DPR != 0 || s.ARW != 0 {
			t.Errorf("%s of %dx%d: %+v clamped %v; want %dx%d clamped %v", tt.query, tt.ow, tt.oh, s, clamped, tt.w, tt.h, tt.clamped)
		}
	}
}

// TestImgixAdjustmentRanges: imgix's integer adjustments over imgix's
// ranges: both ends are accepted, into the key unless 0 (unchanged); one
// past either end is a ParamError naming the parameter; the *64 form is
// the same key.
func TestImgixAdjustmentRanges(t *testing.T) {
	t.Parallel()
	p := newTestParser(t, nil)
	for _, tt := range []struct {
		name   string
		lo, hi int
	}{
		{"exp", -100, 100}, {"high", -100, 0}, {"shad", 0, 100}, {"hue", 0, 360}, {"sepia", 0, 100}, {"vib", -100, 100}, {"usm", -100, 100}, {"px", 0, 100},
	} {
		for _, v := range []int{tt.lo, tt.hi} {
			q := tt.name + "=" + strconv.Itoa(v)
			s, _, err := p.ParseQuery(q)
			// hue=360 is a full turn, no change: the key of none.
			changes := v != 0 && !(tt.name == "hue" && v == 360)
			if err != nil || strings.Contains(s.Key(), tt.name+"=") != changes {
				t.Errorf("%s: key %q, %v", q, s.Key(), err)
				continue
			}
			b64 := tt.name + "64=" + base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(v)))
			if again, _, err := p.ParseQuery(b64); err != nil || again.Key() != s.Key() {
				t.Errorf("%s: key %q (%v), want %q", b64, again.Key(), err, s.Key())
			}
		}
		for _, v := range []string{strconv.Itoa(tt.lo - 1), strconv.Itoa(tt.hi + 1), "1.5", "x", ""} {
			q := tt.name + "=" + v
			_, _, err := p.ParseQuery(q)
			var pe *ParamError
			if !errors.As(err, &pe) || pe.Param != tt.name {
				t.Errorf("%s: %v, want a ParamError naming %s", q, err, tt.name)
			}
		}
	}
}

// TestMonochrome: imgix's monochrome colour in each of its hex forms is one
// key; an alpha of 0 is no effect and no key; anything else is a
// ParamError naming monochrome.
func TestMonochrome(t *testing.T) {
	t.Parallel()
	p := newTestParser(t, nil)
	for _, tt := range []struct {
		query string
		want  Color
		key   string
	}{
		{"monochrome=fff", Color{255, 255, 255, 255, true}, "fit=clip&monochrome=ffffffff"},
		{"monochrome=ffffff", Color{255, 255, 255, 255, true}, "fit=clip&monochrome=ffffffff"},
		{"monochrome=FFFFFFFF", Color{255, 255, 255, 255, true}, "fit=clip&monochrome=ffffffff"},
		{"monochrome=%23fff", Color{255, 255, 255, 255, true}, "fit=clip&monochrome=ffffffff"},
		{"monochrome64=ZmZm", Color{255, 255, 255, 255, true}, "fit=clip&monochrome=ffffffff"},
		{"monochrome=8f80", Color{255, 136, 0, 136, true}, "fit=clip&monochrome=88ff8800"},
		{"monochrome=80ff8800", Color{255, 136, 0, 128, true}, "fit=clip&monochrome=80ff8800"},
		{"monochrome=00ff8800", Color{}, "fit=clip"},
		{"monochrome=0f80", Color{}, "fit=clip"},
	} {
		s, _, err := p.ParseQuery(tt.query)
		if err != nil || s.Monochrome != tt.want || s.Key() != tt.key {
			t.Errorf("%s: %+v key %q (%v); want %+v key %q", tt.query, s.Monochrome, s.Key(), err, tt.want, tt.key)
		}
		if again, _, err := p.ParseQuery(string(s.AppendQuery(nil))); err != nil || again != s {
			t.Errorf("%s: canonical %q parses to %+v (%v)", tt.query, s.AppendQuery(nil), again, err)
		}
	}
	for _, q := range []string{"monochrome=red", "monochrome=12345", "monochrome=", "monochrome=fffffffff", "monochrome64=!!"} {
		_, _, err := p.ParseQuery(q)
		var pe *ParamError
		if !errors.As(err, &pe) || !strings.HasPrefix(pe.Param, "monochrome") {
			t.Errorf("%s: %v, want a ParamError naming monochrome", q, err)
		}
	}
}

// TestUnsharpMaskRadius: usmrad is read with usm alone, defaults to imgix's
// 2.5, is one key in every spelling, and is refused outside (0, 100].
func TestUnsharpMaskRadius(t *testing.T) {
	t.Parallel()
	p := newTestParser(t, nil)
	for _, tt := range []struct {
		query string
		key   string
	}{
		{"usm=50", "fit=clip&usm=50&usmrad=2.5"},
		{"usm=50&usmrad=2.5", "fit=clip&usm=50&usmrad=2.5"},
		{"usm=50&usmrad=2.50", "fit=clip&usm=50&usmrad=2.5"},
		{"usmrad=2.5&usm=50", "fit=clip&usm=50&usmrad=2.5"},
		{"usm=50&usmrad64=Mi41", "fit=clip&usm=50&usmrad=2.5"},
		{"usm=-20&usmrad=10", "fit=clip&usm=-20&usmrad=10"},
		{"usm=-20&usmrad=0.333", "fit=clip&usm=-20&usmrad=0.33"},
		{"usm=1&usmrad=100", "fit=clip&usm=1&usmrad=100"},
		{"usmrad=7", "fit=clip"}, // no mask, no radius
		{"usm=0&usmrad=7", "fit=clip"},
	} {
		s, _, err := p.ParseQuery(tt.query)
		if err != nil || s.Key() != tt.key {
			t.Errorf("%s: key %q (%v), want %q", tt.query, s.Key(), err, tt.key)
			continue
		}
		if again, _, err := p.ParseQuery(string(s.AppendQuery(nil))); err != nil || again != s {
			t.Errorf("%s: canonical %q parses to %+v (%v)", tt.query, s.AppendQuery(nil), again, err)
		}
	}
	for _, q := range []string{"usm=5&usmrad=0", "usm=5&usmrad=0.004", "usm=5&usmrad=100.5", "usm=5&usmrad=-1", "usm=5&usmrad=x", "usm=5&usmrad=1e2"} {
		_, _, err := p.ParseQuery(q)
		var pe *ParamError
		if !errors.As(err, &pe) || pe.Param != "usmrad" {
			t.Errorf("%s: %v, want a ParamError naming usmrad", q, err)
		}
	}
}

// Parameters that change nothing fold into the key of the variant they
// draw: px=1 (one-pixel blocks), fill=blur without a box to fill.
func TestNoOpAdjustmentsFold(t *testing.T) {
	t.Parallel()
	p := newTestParser(t, nil)
	for _, pair := range [][2]string{
		{"w=100&px=1", "w=100"},
		{"w=100&fit=fill&fill=blur", "w=100&fit=fill"},
		{"w=100&hue=360", "w=100"},
	} {
		a, _, err1 := p.ParseQuery(pair[0])
		b, _, err2 := p.ParseQuery(pair[1])
		if err1 != nil || err2 != nil || a.Key() != b.Key() {
			t.Errorf("%q -> %q, %q -> %q (%v %v): want one key", pair[0], a.Key(), pair[1], b.Key(), err1, err2)
		}
	}
}

// BenchmarkAppendKey is the key of a browser's srcset entry, written on
// every cache hit.
func BenchmarkAppendKey(b *testing.B) {
	p, err := NewParser(Limits{MaxDimension: 8192}, nil)
	if err != nil {
		b.Fatal(err)
	}
	s, _, err := p.ParseQuery("w=300&auto=format,compress&fit=crop&q=70")
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		dst = s.AppendKey(dst[:0])
	}
}
