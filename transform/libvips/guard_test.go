package libvips

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"
)

// The guard refuses an image larger than any size the render was priced
// at, and lets through what was priced (with a resize's rounding).
func TestWithinPriceRefusesWhatWasNotPriced(t *testing.T) {
	img, err := vips.NewImageFromBuffer(readFile(t, filepath.Join(benchImages, "hopper.jpg")))
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	w, h := img.Width(), img.PageHeight()
	for _, tt := range []struct {
		name string
		c    cost
		p    sizePlan
		ok   bool
	}{
		{"loaded as priced", cost{loadW: w, loadH: h, outW: 10, outH: 10, frames: 1}, sizePlan{10, 10, 10, 10}, true},
		{"a pixel over per side", cost{loadW: w - 1, loadH: h - 1, outW: 10, outH: 10, frames: 1}, sizePlan{10, 10, 10, 10}, true},
		{"resized as priced", cost{loadW: 10, loadH: 10, outW: 10, outH: 10, frames: 1}, sizePlan{w, h, 10, 10}, true},
		{"output as priced", cost{loadW: 10, loadH: 10, outW: w, outH: h, frames: 1}, sizePlan{10, 10, 10, 10}, true},
		{"larger than every priced size", cost{loadW: w / 2, loadH: h, outW: 10, outH: 10, frames: 1}, sizePlan{10, 10, 10, 10}, false},
		{"never priced", cost{}, sizePlan{}, false},
	} {
		j := &job{cost: tt.c, plan: tt.p}
		err := j.withinPrice("test", img)
		if tt.ok != (err == nil) || err != nil && !errors.Is(err, errUnpriced) {
			t.Errorf("%s: %v; want ok %v", tt.name, err, tt.ok)
		}
	}
}
