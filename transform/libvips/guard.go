package libvips

import (
	"errors"
	"fmt"

	"github.com/davidbyttow/govips/v2/vips"
)

// errUnpriced is a render about to do more than its estimate covered: a
// bug in the plan or the pricing, never the client's doing. It is no
// transform error, so the edge answers 500 and logs the request; every
// render the tests make would fail on it.
var errUnpriced = errors.New("libvips: the render outgrew its estimate (a bug: please report the request)")

// withinPrice checks that img, as the steps so far have built it, is no
// larger than what the render was priced for: the largest of the loaded
// source, the resized image and the output, each frame, as estimate
// priced them (re-priced after trim). libvips computes on demand, so what
// the steps built is a graph of operations whose pixels are allocated when
// the encoder pulls them: checked after each step that changes the
// geometry and before the encoder, it stops an overrun before its memory
// is taken. A resize rounds, so each side may come out one pixel over.
func (j *job) withinPrice(step string, img *vips.ImageRef) error {
	c, p := j.cost, j.plan
	w, h := int64(img.Width()), int64(img.PageHeight())
	frames := int64(max(img.Height()/max(img.PageHeight(), 1), 1))
	pricedFrames := int64(max(c.frames, 1))
	largest := max(int64(c.loadW)*int64(c.loadH), int64(p.resizeW)*int64(p.resizeH), int64(c.outW)*int64(c.outH))
	switch {
	case frames > pricedFrames:
		return fmt.Errorf("%w: after %s, %d frames; %d priced", errUnpriced, step, frames, pricedFrames)
	case w*h > largest+w+h+1:
		return fmt.Errorf("%w: after %s, %dx%d is %d pixels a frame; %d priced (load %dx%d, resize %dx%d, output %dx%d)",
			errUnpriced, step, w, h, w*h, largest, c.loadW, c.loadH, p.resizeW, p.resizeH, c.outW, c.outH)
	}
	return nil
}
