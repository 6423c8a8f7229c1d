package transform

import "imgedge/transform/faces"

// A Ladder keeps a source's rungs for the renders of its variants. A rung is
// the source decoded once at 1/scale of its size (JPEG's DCT scaling, which
// is where libjpeg spends less the smaller the scale), oriented and in sRGB,
// in a form only the transformer reads. A render that would decode the
// source at that scale starts from the rung instead: the same pixels, so the
// same output bytes, without the decode that is most of a small variant's
// cost when its source is large (a 12 MP JPEG: about 20 ms of Huffman
// decoding even at 1/8).
type Ladder interface {
	// Rung returns the rung at scale, or nil when none is kept; wanted says
	// whether a rung decoded now would be kept (keeping costs a copy).
	Rung(scale int) (rung []byte, wanted bool)
	// Keep offers a rung just decoded; the ladder may still drop it.
	Keep(scale int, rung []byte)
}

// RungUse is what a render did with its source's ladder.
type RungUse uint8

// What a render can do with a ladder.
const (
	RungNone    RungUse = iota // decoded the source; no rung at its scale
	RungKept                   // decoded the source and offered the rung
	RungClimbed                // started from a kept rung
)

func (u RungUse) String() string {
	switch u {
	case RungKept:
		return "kept"
	case RungClimbed:
		return "climbed"
	}
	return "none"
}

// FaceMemo keeps the faces found in a source for the renders of its
// variants: a srcset of crop=faces asks for them once. The boxes are in
// fractions of the source as displayed (oriented).
type FaceMemo interface {
	// Faces returns the faces kept, and whether any detection was kept (a
	// source without faces is remembered as none).
	Faces() ([]faces.Box, bool)
	// KeepFaces offers the faces a render found.
	KeepFaces([]faces.Box)
}
