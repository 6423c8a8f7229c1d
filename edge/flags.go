package edge

import (
	"bytes"
	"net"

	"imgedge/configs"
	"imgedge/transform"
)

// flagID names a feature flag: a format decision rolled out gradually.
type flagID int

const (
	flagJXL       flagID = iota // JPEG XL in auto=format negotiation
	flagAVIF                    // AVIF in auto=format negotiation
	flagQualities               // flags.qualities.quality as the default qualities
	flagCount
)

var flagNames = [flagCount]string{"jxl", "avif", "qualities"}

// flagsHeader is the request header that forces flags on (name) or off
// (-name) for one request, honoured for signed URLs and internal clients.
const flagsHeader = "Imgedge-Flags"

// rolloutScale is the number of buckets objects fall into: a rollout is
// set in hundredths of a percent.
const rolloutScale = 10000

// flagState is the flags in force: each one's rollout, in buckets out of
// rolloutScale. It is replaced whole (reload, PUT /flags), never changed.
type flagState struct {
	rollout  [flagCount]uint32
	internal proxies // flags.internal_cidrs
	set      string  // "config" or "admin": who set the rollouts
}

func newFlagState(c *configs.Flags) *flagState {
	fs := &flagState{set: "config"}
	for f, pct := range [flagCount]float64{c.JXL.Rollout, c.AVIF.Rollout, c.Qualities.Rollout} {
		fs.rollout[f] = percentToBuckets(pct)
	}
	fs.internal = newProxies(c.InternalCIDRs)
	return fs
}

func percentToBuckets(pct float64) uint32 {
	return uint32(min(max(pct, 0), 100)*rolloutScale/100 + 0.5)
}

// bucket is the object's bucket for flag f: its sourceHash mixed with the
// flag (the SplitMix64 finaliser), so that flags at 10 % are not on for the
// same 10 % of objects.
func bucket(h uint64, f flagID) uint32 {
	z := h + uint64(f+1)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	z ^= z >> 31
	return uint32(z % rolloutScale)
}

var comma = []byte{','}

// flagDecision is one flag's decision for one request.
type flagDecision struct {
	on     bool
	forced bool   // by the Imgedge-Flags header, not by the rollout
	bucket uint32 // the object's bucket: on when below the rollout
}

// flagDecisions are every flag's, for /explain and the metrics.
type flagDecisions [flagCount]flagDecision

// decide returns every flag's decision for the object hashed to h; force
// is the honoured Imgedge-Flags header (nil when none or not honoured).
func (fs *flagState) decide(h uint64, force []byte) flagDecisions {
	var d flagDecisions
	for f := range flagCount {
		b := bucket(h, f)
		d[f] = flagDecision{on: b < fs.rollout[f], bucket: b}
	}
	for len(force) > 0 {
		var item []byte
		item, force, _ = bytes.Cut(force, comma)
		item = bytes.TrimSpace(item)
		on := true
		if len(item) > 0 && item[0] == '-' {
			on, item = false, item[1:]
		}
		for f := range flagCount {
			if string(item) == flagNames[f] {
				d[f].on, d[f].forced = on, true
			}
		}
	}
	return d
}

// apply lays the decisions over a parsed spec: a flag that is off takes
// its format out of the negotiation, so the key (which records the
// negotiation) is what it was before the flag; the qualities flag picks the
// flag's default qualities when the URL sets none.
func (d *flagDecisions) apply(spec *transform.Spec) {
	if spec.AutoFormat {
		if !d[flagJXL].on {
			spec.Accepted &^= transform.AcceptJXL
		}
		if !d[flagAVIF].on {
			spec.Accepted &^= transform.AcceptAVIF
		}
	}
	if spec.Quality == 0 && d[flagQualities].on {
		spec.QualitySet = 1
	}
}

// forcedChange reports whether the header changed a decision the rollout
// made: such an answer is for this client only.
func (d *flagDecisions) forcedChange(fs *flagState) bool {
	for f := range flagCount {
		if d[f].forced && d[f].on != (d[f].bucket < fs.rollout[f]) {
			return true
		}
	}
	return false
}

// isInternal reports whether ip is in flags.internal_cidrs.
func (fs *flagState) isInternal(ip net.IP) bool { return fs.internal.trusted(ip) }
