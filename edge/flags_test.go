package edge

import (
	"strconv"
	"testing"

	"imgedge/configs"
)

// TestFlagRollout: over 100,000 paths each flag is on for its share within
// one percentage point; the decisions are the same from a new state (a
// restart, another node); two flags at 50 % are independent (about 25 % of
// objects have both).
func TestFlagRollout(t *testing.T) {
	const n = 100_000
	for _, pct := range []float64{0, 1, 5, 25, 50, 90, 100} {
		cfg := configs.Flags{JXL: configs.Flag{Rollout: pct}, AVIF: configs.Flag{Rollout: 100 - pct}, Qualities: configs.QualityFlag{Rollout: 50}}
		a, b := newFlagState(&cfg), newFlagState(&cfg)
		on, both := [flagCount]int{}, 0
		for i := range n {
			h := sourceHash("http://origin.example", []byte("/photos/"+strconv.Itoa(i)+".jpg"))
			d := a.decide(h, nil)
			if d != b.decide(h, nil) {
				t.Fatalf("rollout %v: path %d decided differently by two states", pct, i)
			}
			for f := range flagCount {
				if d[f].on {
					on[f]++
				}
			}
			if d[flagJXL].on && d[flagQualities].on {
				both++
			}
		}
		for f, want := range [flagCount]float64{pct, 100 - pct, 50} {
			got := float64(on[f]) * 100 / n
			if got < want-1 || got > want+1 || (want == 0) != (on[f] == 0) || (want == 100) != (on[f] == n) {
				t.Errorf("%s at %v %%: on for %.2f %% of objects", flagNames[f], want, got)
			}
		}
		if share := float64(both) * 100 / n; share < pct/2-1 || share > pct/2+1 {
			t.Errorf("jxl at %v %% and qualities at 50 %%: both on for %.2f %%, want about %.1f", pct, share, pct/2)
		}
	}
}

// TestFlagsHeader: Imgedge-Flags forces flags on (name) and off (-name);
// unknown names and spacing are ignored; a force that agrees with the
// rollout is no private answer.
func TestFlagsHeader(t *testing.T) {
	fs := newFlagState(&configs.Flags{AVIF: configs.Flag{Rollout: 100}})
	h := sourceHash("o", []byte("/a.jpg"))
	d := fs.decide(h, []byte(" jxl , -avif,webp9,"))
	if !d[flagJXL].on || !d[flagJXL].forced || d[flagAVIF].on || !d[flagAVIF].forced || d[flagQualities].forced {
		t.Errorf("decisions %+v", d)
	}
	if !d.forcedChange(fs) {
		t.Error("forcing jxl on at 0 % is a change")
	}
	if agree := fs.decide(h, []byte("avif")); agree.forcedChange(fs) {
		t.Error("forcing avif on at 100 % changed nothing")
	}
}
