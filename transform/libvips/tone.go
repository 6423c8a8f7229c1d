package libvips

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"math"

	"github.com/davidbyttow/govips/v2/vips"

	"imgedge/transform"
)

// tone applies imgix's adjustments, each -100..100 with 0 unchanged: exp,
// shad and high as one curve (toneCurve), then bri adds up to +-255 to
// every colour band, con scales them about the
// middle grey (-100 makes it flat), sat scales chroma (-100 is grey), gam
// raises to a power (2^(gam/50): +100 brightens the shadows fourfold),
// invert turns every colour band over. Alpha is never touched.
func tone(img *vips.ImageRef, spec transform.Spec) error {
	if spec.Exp != 0 || spec.High != 0 || spec.Shad != 0 {
		if err := eightBit(img); err != nil {
			return err
		}
		if err := toneCurve(img, spec); err != nil {
			return err
		}
	}
	if spec.Sat != 0 {
		if err := img.Modulate(1, 1+float64(spec.Sat)/100, 0); err != nil {
			return vipsError("sat", err)
		}
	}
	if spec.Bri == 0 && spec.Con == 0 && !spec.Invert && spec.Gam == 0 {
		return nil
	}
	if err := eightBit(img); err != nil {
		return err
	}
	if spec.Gam != 0 {
		if err := gamma(img, math.Pow(2, float64(spec.Gam)/50)); err != nil {
			return err
		}
	}
	// One linear map for the rest: invert, contrast about 128, then
	// brightness; the alpha band keeps a = 1, b = 0.
	a, b := 1.0, 0.0
	if spec.Invert {
		a, b = -1, 255
	}
	if spec.Con != 0 {
		f := 1 + float64(spec.Con)/100
		a, b = a*f, b*f+128*(1-f)
	}
	b += float64(spec.Bri) * 2.55
	if a == 1 && b == 0 {
		return nil
	}
	bands := img.Bands()
	colour := bands
	if img.HasAlpha() {
		colour--
	}
	as, bs := make([]float64, bands), make([]float64, bands)
	for i := range bands {
		as[i], bs[i] = 1, 0
		if i < colour {
			as[i], bs[i] = a, b
		}
	}
	if err := img.Linear(as, bs); err != nil {
		return vipsError("tone", err)
	}
	// linear makes floats; the encoders want 8-bit samples, clipped.
	if err := img.Cast(vips.BandFormatUchar); err != nil {
		return vipsError("tone", err)
	}
	return nil
}

// eightBit makes a 16-bit image 8-bit sRGB or grey before tone's maps,
// which are in 8-bit units and end in an 8-bit cast. Cast without it, the
// image kept its RGB16 label over 8-bit samples, and libvips' PNG writer
// read 16-bit rows from them: a 16-bit PNG asked for bri=20&fm=png crashed
// the process in png_write_row about one time in two (the cost oracle).
func eightBit(img *vips.ImageRef) error {
	var to vips.Interpretation
	switch img.Interpretation() {
	case vips.InterpretationRGB16:
		to = vips.InterpretationSRGB
	case vips.InterpretationGrey16:
		to = vips.InterpretationBW
	default:
		return nil
	}
	if err := img.ToColorSpace(to); err != nil {
		return vipsError("tone", err)
	}
	return nil
}

// gamma applies libvips' gamma to the colour bands only: it would bend an
// alpha band too.
func gamma(img *vips.ImageRef, exponent float64) error {
	if !img.HasAlpha() {
		if err := img.Gamma(exponent); err != nil {
			return vipsError("gam", err)
		}
		return nil
	}
	alpha, err := img.Copy()
	if err != nil {
		return vipsError("gam", err)
	}
	defer alpha.Close()
	bands := img.Bands()
	if err := alpha.ExtractBand(bands-1, 1); err != nil {
		return vipsError("gam", err)
	}
	if err := img.ExtractBand(0, bands-1); err != nil {
		return vipsError("gam", err)
	}
	if err := img.Gamma(exponent); err != nil {
		return vipsError("gam", err)
	}
	if err := img.Cast(vips.BandFormatUchar); err != nil {
		return vipsError("gam", err)
	}
	if err := img.BandJoin(alpha); err != nil {
		return vipsError("gam", err)
	}
	return nil
}

// trimTolerance is libvips' own default for find_trim: enough to see past
// JPEG noise in a flat border.
const trimTolerance = 10

// trim cuts the border of one colour (the top-left pixel's, or trim-color)
// within trim-tol, as libvips' find_trim sees it. An image that is all
// border is left whole.
func trim(img *vips.ImageRef, spec transform.Spec) error {
	bg := &vips.Color{R: spec.TrimWith.R, G: spec.TrimWith.G, B: spec.TrimWith.B}
	if spec.Trim == transform.TrimAuto {
		p, err := img.GetPoint(0, 0)
		if err != nil || len(p) < 3 {
			return vipsError("trim", err)
		}
		bg = &vips.Color{R: uint8(p[0]), G: uint8(p[1]), B: uint8(p[2])}
	}
	tol := float64(trimTolerance)
	if spec.TrimTol > 0 {
		tol = float64(spec.TrimTol)
	}
	left, top, w, h, err := img.FindTrim(tol, bg)
	if err != nil {
		return vipsError("trim", err)
	}
	if w <= 0 || h <= 0 || (w == img.Width() && h == img.PageHeight()) {
		return nil
	}
	if err := img.ExtractArea(left, top, w, h); err != nil {
		return vipsError("trim", err)
	}
	return nil
}

// toneCurve draws exp, shad and high, in that order, as one curve over the
// 8-bit samples of each colour band (libvips' maplut: one lookup a
// sample). exp scales the light, in linear sRGB, by 2^(exp/50): ±100 is
// two stops either way, as gam's ±100 is a power of 4 (imgix: "similar to
// changing the F-stop"; its docs give no scale). shad lifts the shadows by
// 1.5·s·v·(1−v)² and high lowers the highlights by 1.5·h·v²·(1−v), v the
// sample over 255 and s, h the parameters over 100: black and white stay,
// the most a tone moves is 0.22 (at a third, and two thirds, of the way),
// and the curve's slope is 2.5 at the end it works on, never below 0.5, so
// the detail there is spread, not flattened (imgix: "while preserving
// detail").
func toneCurve(img *vips.ImageRef, spec transform.Spec) error {
	lut, err := curveLUT(spec)
	if err != nil {
		return err
	}
	defer lut.Close()
	return colourBands(img, "tone curve", func(c *vips.ImageRef) error { return c.Maplut(lut) })
}

// curveLUT is toneCurve's table as a 256x1 image, loaded from a PNG: the
// one way govips makes an image of given pixels.
func curveLUT(spec transform.Spec) (*vips.ImageRef, error) {
	gain := math.Pow(2, float64(spec.Exp)/50)
	s, h := float64(spec.Shad)/100, float64(spec.High)/100
	table := image.NewGray(image.Rect(0, 0, 256, 1))
	for i := range table.Pix {
		v := float64(i) / 255
		if gain != 1 {
			v = linearToSRGB(min(1, gain*sRGBToLinear(v)))
		}
		v += 1.5 * s * v * (1 - v) * (1 - v)
		v += 1.5 * h * v * v * (1 - v)
		table.Pix[i] = uint8(max(0, min(255, math.Round(255*v))))
	}
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.NoCompression}).Encode(&b, table); err != nil {
		return nil, fmt.Errorf("tone curve: %w", err)
	}
	lut, err := vips.LoadImageFromBuffer(b.Bytes(), vips.NewImportParams())
	if err != nil {
		return nil, vipsError("tone curve", err)
	}
	return lut, nil
}

func sRGBToLinear(v float64) float64 {
	if v <= 0.04045 {
		return v / 12.92
	}
	return math.Pow((v+0.055)/1.055, 2.4)
}

func linearToSRGB(v float64) float64 {
	if v <= 0.0031308 {
		return v * 12.92
	}
	return 1.055*math.Pow(v, 1/2.4) - 0.055
}

// colourBands runs op on img's colour bands only: an alpha band is split
// off and joined back unchanged. op leaves 8-bit samples.
func colourBands(img *vips.ImageRef, stage string, op func(*vips.ImageRef) error) error {
	if !img.HasAlpha() {
		if err := op(img); err != nil {
			return vipsError(stage, err)
		}
		return nil
	}
	alpha, err := img.Copy()
	if err != nil {
		return vipsError(stage, err)
	}
	defer alpha.Close()
	bands := img.Bands()
	if err := alpha.ExtractBand(bands-1, 1); err != nil {
		return vipsError(stage, err)
	}
	if err := img.ExtractBand(0, bands-1); err != nil {
		return vipsError(stage, err)
	}
	if err := op(img); err != nil {
		return vipsError(stage, err)
	}
	if err := img.BandJoin(alpha); err != nil {
		return vipsError(stage, err)
	}
	return nil
}

// colourMatrix draws hue, sepia and monochrome, in that order, as one 3x3
// matrix over the colour bands. hue turns each colour about RGB's grey
// axis by its angle: greys stay, and a turn of 120 degrees moves red to
// green exactly, as on the sRGB hue wheel imgix names (its hue "differs
// from CSS's hue-rotate", which weighs the turn by luminance). sepia is
// CSS's sepia(): the identity blended with sepia's matrix by sepia/100.
// monochrome tints the luma (Rec. 709 weights) with the colour, blended
// with the image by its alpha (imgix: "the intensity of the monochromatic
// transformation"): white becomes the colour, black stays, and at full
// intensity R:G:B is the colour's in every pixel. A grey image is made
// sRGB first, unless hue alone would not change it.
func colourMatrix(img *vips.ImageRef, spec transform.Spec) error {
	m, tints := colourMatrixOf(spec)
	if img.Bands() < 3 && !tints {
		return nil
	}
	if err := eightBit(img); err != nil {
		return err
	}
	if img.Bands() < 3 {
		if err := img.ToColorSpace(vips.InterpretationSRGB); err != nil {
			return vipsError("colour matrix", err)
		}
	}
	return colourBands(img, "colour matrix", func(c *vips.ImageRef) error { return recomb(c, m) })
}

// colourMatrixOf is the matrix of spec's hue, sepia and monochrome, and
// whether it does more than turn hues.
func colourMatrixOf(spec transform.Spec) (m [3][3]float64, tints bool) {
	m = [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
	if spec.Hue != 0 {
		th := float64(spec.Hue) * math.Pi / 180
		c, s := math.Cos(th), math.Sin(th)
		a, b, d := c+(1-c)/3, (1-c)/3-s/math.Sqrt(3), (1-c)/3+s/math.Sqrt(3)
		m = [3][3]float64{{a, b, d}, {d, a, b}, {b, d, a}}
	}
	blend := func(by float64, with [3][3]float64) {
		var n [3][3]float64
		for i := range 3 {
			for k := range 3 {
				w := by * with[i][k]
				if i == k {
					w += 1 - by
				}
				for j := range 3 {
					n[i][j] += w * m[k][j]
				}
			}
		}
		m = n
	}
	if spec.Sepia > 0 {
		blend(float64(spec.Sepia)/100, [3][3]float64{{0.393, 0.769, 0.189}, {0.349, 0.686, 0.168}, {0.272, 0.534, 0.131}})
		tints = true
	}
	if c := spec.Monochrome; c.Set {
		var tint [3][3]float64
		for i, v := range [3]uint8{c.R, c.G, c.B} {
			tint[i] = [3]float64{0.2126 * float64(v) / 255, 0.7152 * float64(v) / 255, 0.0722 * float64(v) / 255}
		}
		blend(float64(c.A)/255, tint)
		tints = true
	}
	return m, tints
}

// recomb applies m to a three-band image and casts the result to 8 bits,
// rounded. govips' Recomb wraps Go memory in a libvips image
// (vips_image_new_from_memory, which does not copy it) that it never
// frees; instead, out = D0·(R,G,B) + D1·(G,B,R) + D2·(B,R,G), each D a
// diagonal of m (vips_linear with a vector), the bands turned by extract
// and join. A term whose diagonal is zero is left out.
func recomb(img *vips.ImageRef, m [3][3]float64) error {
	var terms [3]*vips.ImageRef
	defer func() {
		for _, t := range terms[1:] {
			if t != nil {
				t.Close()
			}
		}
	}()
	for k := 1; k < 3; k++ {
		if m[0][k] == 0 && m[1][(1+k)%3] == 0 && m[2][(2+k)%3] == 0 {
			continue
		}
		t, err := turned(img, k)
		if err != nil {
			return err
		}
		terms[k] = t
		if err := t.Linear([]float64{m[0][k], m[1][(1+k)%3], m[2][(2+k)%3]}, []float64{0, 0, 0}); err != nil {
			return err
		}
	}
	if err := img.Linear([]float64{m[0][0], m[1][1], m[2][2]}, []float64{0.5, 0.5, 0.5}); err != nil {
		return err
	}
	for _, t := range terms[1:] {
		if t != nil {
			if err := img.Add(t); err != nil {
				return err
			}
		}
	}
	return img.Cast(vips.BandFormatUchar)
}

// turned is img's three bands turned by k: band i of it is band i+k of img.
func turned(img *vips.ImageRef, k int) (*vips.ImageRef, error) {
	var bands [3]*vips.ImageRef
	defer func() {
		for _, b := range bands[1:] {
			if b != nil {
				b.Close()
			}
		}
	}()
	for i := range bands {
		b, err := img.Copy()
		if err == nil {
			bands[i] = b
			err = b.ExtractBand((i+k)%3, 1)
		}
		if err != nil {
			if bands[0] != nil {
				bands[0].Close()
			}
			return nil, err
		}
	}
	if err := bands[0].BandJoin(bands[1], bands[2]); err != nil {
		bands[0].Close()
		return nil, err
	}
	return bands[0], nil
}

// vibChroma is the largest chroma (CIE LCh) of an sRGB colour: pure blue's,
// 133.8.
const vibChroma = 134

// vibrance draws vib: in CIE LCh, each colour's chroma C becomes
// C·(1 + v·(1 − C/vibChroma)), v = vib/100. Greys stay, and the nearer a
// colour is to grey the more it moves either way: vib=100 doubles muted
// colours' chroma and leaves the most saturated as they are (none is
// pushed past sRGB's), vib=-100 greys muted colours (C²/134) and leaves
// saturated ones nearly as they are, where sat scales every chroma alike
// (imgix: vibrance "adjusts the vibrance of an image"; it gives no
// formula). Lightness and hue are the image's.
func vibrance(img *vips.ImageRef, vib int) error {
	if img.Bands() < 3 {
		return nil // no chroma to change
	}
	if err := eightBit(img); err != nil {
		return err
	}
	v := float64(vib) / 100
	return colourBands(img, "vib", func(c *vips.ImageRef) error {
		if err := c.ToColorSpace(vips.InterpretationLCH); err != nil {
			return err
		}
		band := func(i int) (*vips.ImageRef, error) {
			b, err := c.Copy()
			if err != nil {
				return nil, err
			}
			if err := b.ExtractBand(i, 1); err != nil {
				b.Close()
				return nil, err
			}
			return b, nil
		}
		chroma, err := band(1)
		if err != nil {
			return err
		}
		defer chroma.Close()
		square, err := band(1)
		if err != nil {
			return err
		}
		defer square.Close()
		hue, err := band(2)
		if err != nil {
			return err
		}
		defer hue.Close()
		if err := square.Multiply(chroma); err != nil {
			return err
		}
		if err := square.Linear1(-v/vibChroma, 0); err != nil {
			return err
		}
		if err := chroma.Linear1(1+v, 0); err != nil {
			return err
		}
		if err := chroma.Add(square); err != nil {
			return err
		}
		if err := c.ExtractBand(0, 1); err != nil {
			return err
		}
		if err := c.BandJoin(chroma, hue); err != nil {
			return err
		}
		return c.ToColorSpace(vips.InterpretationSRGB)
	})
}

// unsharp draws usm: each colour band becomes (1+a)·x − a·g(x), g a
// gaussian of sigma usmrad and a = usm/100, rounded to 8 bits. At 100 the
// difference from the blur is added once (Photoshop's amount of 100%,
// whose radius is the gaussian's sigma, as ImageMagick's); at -100 the
// image is the blur itself. imgix gives the range and the default radius,
// 2.5, not the amount's scale. No threshold: every edge counts.
func unsharp(img *vips.ImageRef, usm int, radius float64) error {
	if err := eightBit(img); err != nil {
		return err
	}
	a := float64(usm) / 100
	return colourBands(img, "usm", func(c *vips.ImageRef) error {
		blurred, err := c.Copy()
		if err != nil {
			return err
		}
		defer blurred.Close()
		if err := blurred.GaussianBlur(radius); err != nil {
			return err
		}
		if err := blurred.Linear1(-a, 0); err != nil {
			return err
		}
		if err := c.Linear1(1+a, 0.5); err != nil {
			return err
		}
		if err := c.Add(blurred); err != nil {
			return err
		}
		return c.Cast(vips.BandFormatUchar)
	})
}
