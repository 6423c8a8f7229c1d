package faces

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// cascade is a pico cascade (Markuš et al., "Object Detection with Pixel
// Intensity Comparisons Organized in Decision Trees", 2013): trees of binary
// tests, each comparing two pixels at offsets relative to a window; each
// tree's leaf adds to the window's score, and a window whose score falls to
// a tree's threshold is no face. The edge evaluates it itself, rather than
// through pigo's RunCascade, to count the trees it runs: most windows are
// rejected by the first trees, but a window of face-like texture runs all of
// them (468 in facefinder, about 16 µs), and a search must stop at its price
// whatever the image.
type cascade struct {
	depth      int       // tests per tree
	trees      int       // trees in the cascade
	codes      []int8    // per tree, per node (1 to 2^depth-1): the two pixels' row and column offsets, in 1/256 of the window's size
	preds      []float32 // per tree, per leaf: what it adds to the score
	thresholds []float32 // per tree: the score a window must stay above
}

// parseCascade reads a cascade in pico's binary form: 8 bytes of header,
// the trees' depth and count as little-endian uint32s, then each tree's
// node codes (4 bytes a node, the root's first), leaf predictions and
// threshold (float32s).
func parseCascade(b []byte) (*cascade, error) {
	if len(b) < 16 {
		return nil, errors.New("cascade: shorter than its header")
	}
	depth, trees := int(binary.LittleEndian.Uint32(b[8:])), int(binary.LittleEndian.Uint32(b[12:]))
	if depth < 1 || depth > 8 || trees < 1 || trees > 10000 {
		return nil, fmt.Errorf("cascade: %d trees of depth %d", trees, depth)
	}
	leaves := 1 << depth
	perTree := 4*(leaves-1) + 4*leaves + 4
	if len(b) != 16+trees*perTree {
		return nil, fmt.Errorf("cascade: %d bytes for %d trees of depth %d", len(b), trees, depth)
	}
	c := &cascade{depth: depth, trees: trees, codes: make([]int8, 0, trees*4*leaves),
		preds: make([]float32, 0, trees*leaves), thresholds: make([]float32, 0, trees)}
	pos := 16
	for range trees {
		c.codes = append(c.codes, 0, 0, 0, 0) // node 0: unused, so a node's index is its code's
		for _, v := range b[pos : pos+4*(leaves-1)] {
			c.codes = append(c.codes, int8(v))
		}
		pos += 4 * (leaves - 1)
		for range leaves {
			c.preds = append(c.preds, math.Float32frombits(binary.LittleEndian.Uint32(b[pos:])))
			pos += 4
		}
		c.thresholds = append(c.thresholds, math.Float32frombits(binary.LittleEndian.Uint32(b[pos:])))
		pos += 4
	}
	return c, nil
}

// classify scores the size x size window centred on row, col of grey (w
// pixels a row): above 0 a face. Each tree it runs is taken from *budget;
// with none left it stops, and ok is false. The window must lie inside the
// image: every offset is within half its size.
func (c *cascade) classify(grey []byte, w, row, col, size int, budget *int64) (score float32, ok bool) {
	leaves := 1 << c.depth
	r, cl := row*256, col*256
	var sum float32
	for t := range c.trees {
		if *budget <= 0 {
			return 0, false
		}
		*budget--
		codes := c.codes[t*4*leaves : (t+1)*4*leaves]
		node := 1
		for range c.depth {
			k := 4 * node
			p1 := ((r+int(codes[k])*size)>>8)*w + (cl+int(codes[k+1])*size)>>8
			p2 := ((r+int(codes[k+2])*size)>>8)*w + (cl+int(codes[k+3])*size)>>8
			node *= 2
			if grey[p1] <= grey[p2] {
				node++
			}
		}
		sum += c.preds[t*leaves+node-leaves]
		if sum <= c.thresholds[t] {
			return -1, true
		}
	}
	return sum - c.thresholds[c.trees-1], true
}
