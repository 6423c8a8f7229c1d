package shield

import (
	"strconv"
	"time"

	"imgedge/cache"
)

// ladder is one source's rungs (transform.Ladder) in this node's memory
// tier for originals: counted in its budget, evicted with the rest, never
// sent to the shared tier (a rung is a few hundred KB to a few MB of pixels,
// which any node decodes again in less time than Redis would take to send
// them). A rung is valid only beside the source bytes it was decoded from:
// it records their ETag, so a changed source never renders from old pixels,
// and it is kept no longer than the source itself.
//
// A rung is kept only by the render of a source that was already cached
// (its second variant, or later): keeping costs a copy of the decoded
// pixels, which a source asked for once never repays. Measured on the
// sources workload (every request a new 1600x1200 JPEG), keeping on the
// first render cost 3-15 % of the throughput.
type ladder struct {
	store   cache.Store
	key     string // the source's originals key
	src     *cache.Entry
	now     time.Time
	mayKeep bool
}

// rungKey cannot equal an originals or a variants key: those start with
// "o|" and "v|".
func rungKey(sourceKey string, scale int) string {
	return "r" + strconv.Itoa(scale) + sourceKey
}

func (l *ladder) Rung(scale int) ([]byte, bool) {
	e, ok := l.store.Get(rungKey(l.key, scale))
	if !ok || e.SourceTag != l.src.ETag {
		return nil, l.mayKeep
	}
	return e.Body, false
}

func (l *ladder) Keep(scale int, rung []byte) {
	keep := l.src.Keep(l.now)
	if !l.mayKeep || keep <= 0 {
		return
	}
	l.store.Set(rungKey(l.key, scale), &cache.Entry{Body: rung, SourceTag: l.src.ETag, Source: l.src.Source}, keep)
}
