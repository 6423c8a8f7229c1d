package libvips

import (
	"bytes"
	"image/color"
	"image/png"
	"math"
	"testing"
)

// luma is a grey image of float samples on 0..255.
type luma struct {
	w, h int
	px   []float64
}

// lumaOfPNG decodes a PNG with Go's own decoder (independent of libvips),
// flattens any alpha onto white, as a page shows it, and takes luma with
// scikit-image's rgb2gray weights (Rec. 709) on the encoded values.
func lumaOfPNG(t testing.TB, b []byte) luma {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	r := img.Bounds()
	l := luma{w: r.Dx(), h: r.Dy(), px: make([]float64, r.Dx()*r.Dy())}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := color.NRGBA64Model.Convert(img.At(x, y)).(color.NRGBA64)
			a := float64(c.A) / 0xffff
			flat := func(v uint16) float64 { return (float64(v)*a + 0xffff*(1-a)) / 257 }
			l.px[(y-r.Min.Y)*l.w+x-r.Min.X] = 0.2125*flat(c.R) + 0.7154*flat(c.G) + 0.0721*flat(c.B)
		}
	}
	return l
}

// ssim is the mean structural similarity (Wang et al. 2004) of two grey
// images of one size, as scikit-image's structural_similarity computes it
// with gaussian_weights=True, sigma=1.5, use_sample_covariance=False and
// data_range=255 (the settings of the paper): an 11x11 Gaussian window
// (truncated at 3.5 sigma), K1 0.01, K2 0.03, averaged over the pixels whose
// window lies inside the image. Images smaller than the window score NaN.
func ssim(a, b luma) float64 {
	const (
		sigma, radius = 1.5, 5 // scikit-image: int(3.5*sigma + 0.5)
		c1, c2        = (0.01 * 255) * (0.01 * 255), (0.03 * 255) * (0.03 * 255)
	)
	w, h := a.w, a.h
	if b.w != w || b.h != h || w <= 2*radius || h <= 2*radius {
		return math.NaN()
	}
	var kernel [2*radius + 1]float64
	var sum float64
	for i := range kernel {
		d := float64(i - radius)
		kernel[i] = math.Exp(-d * d / (2 * sigma * sigma))
		sum += kernel[i]
	}
	for i := range kernel {
		kernel[i] /= sum
	}
	// The five local means (x, y, xx, yy, xy), filtered along rows into the
	// columns that have a whole window, then down those columns.
	cw := w - 2*radius
	rows := make([][5]float64, cw*h)
	for y := range h {
		for x := range cw {
			var m [5]float64
			for k, g := range kernel {
				i := y*w + x + k
				va, vb := a.px[i], b.px[i]
				m[0] += g * va
				m[1] += g * vb
				m[2] += g * va * va
				m[3] += g * vb * vb
				m[4] += g * va * vb
			}
			rows[y*cw+x] = m
		}
	}
	var total float64
	for y := radius; y < h-radius; y++ {
		for x := range cw {
			var m [5]float64
			for k, g := range kernel {
				r := &rows[(y-radius+k)*cw+x]
				for j := range m {
					m[j] += g * r[j]
				}
			}
			ma, mb := m[0], m[1]
			va, vb, cov := m[2]-ma*ma, m[3]-mb*mb, m[4]-ma*mb
			total += (2*ma*mb + c1) * (2*cov + c2) / ((ma*ma + mb*mb + c1) * (va + vb + c2))
		}
	}
	return total / float64(cw*(h-2*radius))
}

// The implementation agrees with scikit-image 0.19.3 (structural_similarity
// with the settings above) to 4 decimals on these images: identical ones,
// a constant shift, and noise.
func TestSSIM(t *testing.T) {
	const w, h = 32, 24
	ramp := luma{w: w, h: h, px: make([]float64, w*h)}
	for i := range ramp.px {
		ramp.px[i] = float64((i%w)*7 + (i/w)*3)
	}
	shifted := luma{w: w, h: h, px: make([]float64, w*h)}
	noisy := luma{w: w, h: h, px: make([]float64, w*h)}
	for i, v := range ramp.px {
		shifted.px[i] = v + 20
		noisy.px[i] = v + float64((i*7919)%17) - 8 // deterministic noise
	}
	cases := []struct {
		name string
		a, b luma
		want float64
	}{
		{"identical", ramp, ramp, 1},
		{"shifted by 20", ramp, shifted, 0.98825},
		{"noise of +-8", ramp, noisy, 0.93036},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ssim(c.a, c.b); math.Abs(got-c.want) > 5e-5 {
				t.Errorf("SSIM %.5f; scikit-image gives %.4f", got, c.want)
			}
		})
	}
	if got := ssim(ramp, luma{w: 8, h: 8, px: make([]float64, 64)}); !math.IsNaN(got) {
		t.Errorf("SSIM of images of two sizes: %v; want NaN", got)
	}
}
