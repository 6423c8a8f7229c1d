package shield

import (
	"encoding/binary"
	"math"
	"time"

	"imgedge/cache"
	"imgedge/transform"
	"imgedge/transform/faces"
)

// faceMemo is one source's faces (transform.FaceMemo) in this node's
// memory tier for originals, beside its rungs: a few dozen bytes that spare
// every later crop=faces variant of the source a detection (20 to 40 ms of
// CPU). Like a rung it records the source's ETag, so a changed source is
// looked at again, and is kept no longer than the source itself. Unlike a
// rung it is kept on the first render: it costs nothing to keep.
type faceMemo struct {
	store cache.Store
	key   string // the source's originals key
	src   *cache.Entry
	now   time.Time
}

// facesKey cannot equal an originals, variants or rung key.
func facesKey(sourceKey string) string { return "f" + sourceKey }

// faceBytes is one face as kept: X, Y, W, H and Score as float64s, so a
// render from the memo places its crop exactly where the detection did.
const faceBytes = 5 * 8

func (m *faceMemo) Faces() ([]faces.Box, bool) {
	e, ok := m.store.Get(facesKey(m.key))
	if !ok || e.SourceTag != m.src.ETag || len(e.Body)%faceBytes != 0 {
		return nil, false
	}
	found := make([]faces.Box, len(e.Body)/faceBytes)
	for i := range found {
		var v [5]float64
		for k := range v {
			v[k] = math.Float64frombits(binary.LittleEndian.Uint64(e.Body[i*faceBytes+8*k:]))
		}
		found[i] = faces.Box{X: v[0], Y: v[1], W: v[2], H: v[3], Score: v[4]}
	}
	return found, true
}

func (m *faceMemo) KeepFaces(found []faces.Box) {
	keep := m.src.Keep(m.now)
	if keep <= 0 {
		return
	}
	body := make([]byte, 0, len(found)*faceBytes)
	for _, b := range found {
		for _, v := range [5]float64{b.X, b.Y, b.W, b.H, b.Score} {
			body = binary.LittleEndian.AppendUint64(body, math.Float64bits(v))
		}
	}
	m.store.Set(facesKey(m.key), &cache.Entry{Body: body, SourceTag: m.src.ETag, Source: m.src.Source}, keep)
}

var _ transform.FaceMemo = (*faceMemo)(nil)
