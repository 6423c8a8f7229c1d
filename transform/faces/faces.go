// Package faces finds frontal faces in a small greyscale image, for the crops
// that follow them (crop=faces, fit=facearea) and for fm=json's face list.
//
// It runs pigo (github.com/esimov/pigo), a pure-Go port of the pico
// pixel-intensity-comparison cascade: no OpenCV and no cgo, a 234 KiB
// cascade, and a cost that depends only on the image's size. The cascade
// file, facefinder, is pigo's own (MIT licence, Endre Simo; trained by the
// pico project, Nenad Markuš), embedded so the binary needs no file at run
// time.
package faces

import (
	_ "embed" // the cascade
	"fmt"
	"sort"

	pigo "github.com/esimov/pigo/core"
)

//go:embed facefinder
var facefinder []byte

// MaxSide is the longest side of the grey image Detect reads. The caller
// reduces the image to it: the work grows with the pixels, and faces
// smaller than MinFace at this size are too small to crop to anyway.
const MaxSide = 480

// MinFace is the smallest face, in pixels of the grey image, the cascade
// is run for: 5 % of MaxSide.
const MinFace = 24

// Cascade scan settings: the window moves by a tenth of its size and grows
// by a tenth at each scale, pigo's own defaults for facefinder.
const (
	shiftFactor = 0.1
	scaleFactor = 1.1
)

// keepDetections bounds the raw detections clustered: pigo clusters by
// comparing every pair, so an image of face-like texture (a crowd, a
// pattern) would otherwise cost the square of its windows. The strongest
// are kept; a real face gives a few dozen.
const keepDetections = 2048

// MaxFaces bounds the faces reported.
const MaxFaces = 32

// minScore is the cluster score (the sum of its detections' scores) below
// which a cluster is not a face. On the labelled set (testdata/faces) the
// faces scored 11.3 to 312 and the best non-face 6.5 (a statue's face),
// the rest under 6 (bench/RESULTS.md, "Faces").
const minScore = 9

// Box is a face: its square in fractions of the image's width and height,
// and the cascade's score for it (the sum of the scores of the detections
// that make it up: higher is surer).
type Box struct{ X, Y, W, H, Score float64 }

// Detector runs the cascade; it is safe for concurrent use.
type Detector struct {
	cascade *pigo.Pigo
}

// New unpacks the embedded cascade.
func New() (*Detector, error) {
	p, err := pigo.NewPigo().Unpack(facefinder)
	if err != nil {
		return nil, fmt.Errorf("faces: unpack the cascade: %w", err)
	}
	return &Detector{cascade: p}, nil
}

// scales calls fn with each window size the scan uses on a w x h image.
func scales(w, h int, fn func(scale int)) {
	for s := MinFace; s <= min(w, h); s = int(float64(s) + max(2, float64(s)*scaleFactor-float64(s))) {
		fn(s)
	}
}

// positions is how many places a window of size scale takes along a side
// of n pixels, as pigo steps it.
func positions(n, scale int) int64 {
	step := max(int(shiftFactor*float64(scale)), 1)
	offset := scale/2 + 1
	if n-offset < offset {
		return 0
	}
	return int64((n-2*offset)/step + 1)
}

// Windows is how many windows Detect classifies on a w x h image: its
// cost, which grows with the pixels (about 5.7 windows a pixel).
func Windows(w, h int) int64 {
	var n int64
	scales(w, h, func(s int) { n += positions(h, s) * positions(w, s) })
	return n
}

// Detect finds the faces in grey, a w x h image of one byte a pixel, at
// most MaxSide on its longest side. The faces come largest first (then
// left to right), at most MaxFaces.
func (d *Detector) Detect(grey []byte, w, h int) ([]Box, error) {
	if w <= 0 || h <= 0 || len(grey) < w*h {
		return nil, fmt.Errorf("faces: %d bytes for a %dx%d image", len(grey), w, h)
	}
	if max(w, h) > MaxSide {
		return nil, fmt.Errorf("faces: a %dx%d image is over %d pixels on a side", w, h, MaxSide)
	}
	img := pigo.ImageParams{Pixels: grey, Rows: h, Cols: w, Dim: w}
	var dets []pigo.Detection
	scales(w, h, func(s int) {
		cp := pigo.CascadeParams{MinSize: s, MaxSize: s, ShiftFactor: shiftFactor, ScaleFactor: scaleFactor, ImageParams: img}
		dets = append(dets, d.cascade.RunCascade(cp, 0)...)
		if len(dets) > keepDetections {
			sort.Slice(dets, func(i, j int) bool { return dets[i].Q > dets[j].Q })
			dets = dets[:keepDetections]
		}
	})
	var faces []Box
	for _, c := range merge(d.cascade.ClusterDetections(dets, 0.2)) {
		if c.Q < minScore {
			continue
		}
		s := float64(c.Scale)
		faces = append(faces, Box{
			X: max(0, float64(c.Col)-s/2) / float64(w), Y: max(0, float64(c.Row)-s/2) / float64(h),
			W: min(s, float64(w)) / float64(w), H: min(s, float64(h)) / float64(h), Score: float64(c.Q),
		})
	}
	sort.Slice(faces, func(i, j int) bool {
		ai, aj := faces[i].W*faces[i].H, faces[j].W*faces[j].H
		if ai != aj {
			return ai > aj
		}
		return faces[i].X < faces[j].X
	})
	if len(faces) > MaxFaces {
		faces = faces[:MaxFaces]
	}
	return faces, nil
}

// merge joins clusters that overlap (intersection over union above 0.3)
// into one, their scores added and their squares averaged by score: pigo
// clusters around each detection in turn, and a face seen at neighbouring
// scales and places can come out as two clusters of half its score each
// (kodim04: 299 and 251 px squares a third apart, neither over minScore).
func merge(cs []pigo.Detection) []pigo.Detection {
	for merged := true; merged; {
		merged = false
		for i := 0; i < len(cs) && !merged; i++ {
			for k := i + 1; k < len(cs); k++ {
				if iou(cs[i], cs[k]) <= 0.3 {
					continue
				}
				a, b := cs[i], cs[k]
				wa, wb := float64(max(a.Q, 1e-6)), float64(max(b.Q, 1e-6))
				avg := func(x, y int) int { return int((float64(x)*wa + float64(y)*wb) / (wa + wb)) }
				cs[i] = pigo.Detection{Row: avg(a.Row, b.Row), Col: avg(a.Col, b.Col), Scale: avg(a.Scale, b.Scale), Q: a.Q + b.Q}
				cs = append(cs[:k], cs[k+1:]...)
				merged = true
				break
			}
		}
	}
	return cs
}

// iou is the intersection over union of two detections' squares.
func iou(a, b pigo.Detection) float64 {
	r1, c1, s1 := float64(a.Row), float64(a.Col), float64(a.Scale)
	r2, c2, s2 := float64(b.Row), float64(b.Col), float64(b.Scale)
	dr := max(0, min(r1+s1/2, r2+s2/2)-max(r1-s1/2, r2-s2/2))
	dc := max(0, min(c1+s1/2, c2+s2/2)-max(c1-s1/2, c2-s2/2))
	inter := dr * dc
	return inter / (s1*s1 + s2*s2 - inter)
}
