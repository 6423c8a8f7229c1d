// Package faces finds frontal faces in a small greyscale image, for the crops
// that follow them (crop=faces, fit=facearea) and for fm=json's face list.
//
// It runs the pico pixel-intensity-comparison cascade that pigo
// (github.com/esimov/pigo, pure Go, no OpenCV, no cgo) ships: pigo's
// facefinder file (MIT licence, Endre Simo; trained by the pico project,
// Nenad Markuš), embedded so the binary needs no file at run time, and
// pigo's clustering of the detections. The cascade itself is evaluated here
// (cascade.go), so that a search counts its work and stops at its price.
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

// MaxTrees bounds one search: the cascade's trees it runs, over every
// window. A photograph takes 0.2 to 0.6 million (most windows leave after a
// tree or two); a texture built so that every window runs deep would take
// 8 million and more, 300 ms. Past the bound the search stops with the faces
// found so far, the same ones every time: a search costs what is priced
// whatever the image (faceCost in transform/libvips).
const MaxTrees = 2_000_000

// Detector runs the cascade; it is safe for concurrent use.
type Detector struct {
	cascade *cascade
}

// cascadeTrees is the embedded cascade's length, the most trees a window
// runs.
const cascadeTrees = 468

// New reads the embedded cascade.
func New() (*Detector, error) {
	c, err := parseCascade(facefinder)
	if err != nil {
		return nil, fmt.Errorf("faces: %w", err)
	}
	if c.trees != cascadeTrees {
		return nil, fmt.Errorf("faces: the cascade has %d trees; the search is priced for %d", c.trees, cascadeTrees)
	}
	return &Detector{cascade: c}, nil
}

// Trees is the most trees a search of a w x h image runs: every window
// through the whole cascade, or MaxTrees.
func Trees(w, h int) int64 { return min(MaxTrees, Windows(w, h)*cascadeTrees) }

// scales calls fn with each window size the scan uses on a w x h image.
func scales(w, h int, fn func(scale int) bool) {
	for s := MinFace; s <= min(w, h); s = int(float64(s) + max(2, float64(s)*scaleFactor-float64(s))) {
		if !fn(s) {
			return
		}
	}
}

// step is how far a window of size scale moves, and offset where its
// centre starts: the window stays inside the image.
func step(scale int) (step, offset int) { return max(int(shiftFactor*float64(scale)), 1), scale/2 + 1 }

// positions is how many places a window of size scale takes along a side
// of n pixels.
func positions(n, scale int) int64 {
	st, offset := step(scale)
	if n-offset < offset {
		return 0
	}
	return int64((n-2*offset)/st + 1)
}

// Windows is how many windows a search classifies on a w x h image, if it
// runs to its end (about 1.3 a pixel).
func Windows(w, h int) int64 {
	var n int64
	scales(w, h, func(s int) bool { n += positions(h, s) * positions(w, s); return true })
	return n
}

// Detect finds the faces in grey, a w x h image of one byte a pixel, at
// most MaxSide on its longest side. The faces come largest first (then
// left to right), at most MaxFaces; complete is false when the search
// stopped at MaxTrees.
func (d *Detector) Detect(grey []byte, w, h int) (found []Box, complete bool, err error) {
	if w <= 0 || h <= 0 || len(grey) < w*h {
		return nil, false, fmt.Errorf("faces: %d bytes for a %dx%d image", len(grey), w, h)
	}
	if max(w, h) > MaxSide {
		return nil, false, fmt.Errorf("faces: a %dx%d image is over %d pixels on a side", w, h, MaxSide)
	}
	budget := int64(MaxTrees)
	complete = true
	var dets []pigo.Detection
	scales(w, h, func(s int) bool {
		st, offset := step(s)
		for row := offset; row <= h-offset; row += st {
			for col := offset; col <= w-offset; col += st {
				q, ok := d.cascade.classify(grey, w, row, col, s, &budget)
				if !ok {
					complete = false
					return false
				}
				if q > 0 {
					dets = append(dets, pigo.Detection{Row: row, Col: col, Scale: s, Q: q})
				}
			}
		}
		if len(dets) > keepDetections {
			sort.Slice(dets, func(i, j int) bool { return dets[i].Q > dets[j].Q })
			dets = dets[:keepDetections]
		}
		return true
	})
	if len(dets) > keepDetections {
		sort.Slice(dets, func(i, j int) bool { return dets[i].Q > dets[j].Q })
		dets = dets[:keepDetections]
	}
	for _, c := range merge(pigo.NewPigo().ClusterDetections(dets, 0.2)) {
		if c.Q < minScore {
			continue
		}
		s := float64(c.Scale)
		found = append(found, Box{
			X: max(0, float64(c.Col)-s/2) / float64(w), Y: max(0, float64(c.Row)-s/2) / float64(h),
			W: min(s, float64(w)) / float64(w), H: min(s, float64(h)) / float64(h), Score: float64(c.Q),
		})
	}
	sort.Slice(found, func(i, j int) bool {
		ai, aj := found[i].W*found[i].H, found[j].W*found[j].H
		if ai != aj {
			return ai > aj
		}
		return found[i].X < found[j].X
	})
	if len(found) > MaxFaces {
		found = found[:MaxFaces]
	}
	return found, complete, nil
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
