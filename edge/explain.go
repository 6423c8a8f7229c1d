package edge

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"imgedge/cache"
	"imgedge/transform"
)

// explanation is the body of GET /explain: what the edge does for one
// public URL, with these top-level fields exactly.
type explanation struct {
	Params       map[string]string `json:"params"`
	CacheKey     string            `json:"cache_key"`
	Tiers        []tierState       `json:"tiers"`
	Format       string            `json:"format"`
	FormatReason string            `json:"format_reason"`
	Source       imageFacts        `json:"source"`
	Output       imageFacts        `json:"output"`
	TimingsMS    timingsMS         `json:"timings_ms"`
}

type tierState struct {
	Tier  string `json:"tier"`
	Key   string `json:"key"`
	State string `json:"state"` // hit, stale, miss, not_found
	AgeS  int64  `json:"age_s"`
	TTLS  int64  `json:"ttl_s"`
}

type imageFacts struct {
	Format string `json:"format,omitempty"`
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
	Bytes  int    `json:"bytes"`
}

type timingsMS struct {
	Origin float64 `json:"origin"`
	Decode float64 `json:"decode"`
	Resize float64 `json:"resize"`
	Encode float64 `json:"encode"`
	Total  float64 `json:"total"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// explain answers GET /explain?url=<escaped public URL>. It runs the real
// pipeline (the original comes through the cache and the origin as for any
// request; the variant is rendered but not stored), and reads the client's
// Accept from this request for auto=format.
func (s *Server) explain(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	answer := func(p problem) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(p.Status)
		_ = json.NewEncoder(w).Encode(p)
	}
	fail := func(msg string) {
		answer(problem{Status: http.StatusBadRequest, Title: "Cannot explain", Detail: msg, Class: classUser, Code: "bad_param"})
	}
	raw := r.URL.Query().Get("url")
	u, err := url.Parse(raw)
	if raw == "" || err != nil || !strings.HasPrefix(u.Path, "/") {
		fail("give url, the escaped public URL to explain, e.g. /explain?url=%2Fphoto.jpg%3Fw%3D300")
		return
	}
	host := u.Host
	if host == "" {
		host = r.Host
	}
	pol := s.policy.Load()
	spec, original, err := pol.parser.ParseQuery(u.RawQuery)
	if err != nil {
		fail(err.Error())
		return
	}
	if spec.AutoFormat {
		spec.Accepted = transform.Negotiate([]byte(r.Header.Get("Accept")))
	}
	objPath := path.Clean(u.Path)
	up, p := s.router.pick([]byte(host), []byte(objPath))
	okey := string(appendKey(nil, up.id, p, true, nil))
	key := okey
	if !original {
		key = string(appendKey(nil, up.id, p, false, &spec))
	}
	ex := explanation{Params: map[string]string{}, CacheKey: key}
	for part := range strings.SplitSeq(string(spec.AppendKey(nil)), "&") {
		if k, v, ok := strings.Cut(part, "="); ok && !original {
			ex.Params[k] = v
		}
	}
	now := s.now()
	if !original {
		ex.Tiers = append(ex.Tiers, s.tierState("memory", s.variants, key, now))
	}
	ex.Tiers = append(ex.Tiers, s.tierState("memory_originals", s.originals, okey, now))

	ctx, cancel := context.WithTimeout(r.Context(), s.fillWait)
	defer cancel()
	src, _, err := s.source(ctx, up, okey, string(p))
	if err != nil {
		answer(classify(err))
		return
	}
	info, _ := src.Meta.(missInfo)
	ex.TimingsMS.Origin = ms(info.origin)
	srcFmt := transform.Sniff(src.Entry.Body)
	ex.Source = imageFacts{Format: srcFmt.String(), Bytes: len(src.Entry.Body)}
	if original {
		ex.Format, ex.FormatReason = srcFmt.String(), "original bytes, passed through"
		ex.Output = imageFacts{Format: srcFmt.String(), Bytes: len(src.Entry.Body)}
	} else {
		res, err := s.transformer.Transform(ctx, src.Entry.Body, spec)
		if err != nil {
			answer(classify(err))
			return
		}
		ex.Format, ex.FormatReason = res.Format.String(), res.FormatReason
		ex.Source.Width, ex.Source.Height = res.SourceWidth, res.SourceHeight
		ex.Output = imageFacts{Format: res.Format.String(), Width: res.Width, Height: res.Height, Bytes: len(res.Body)}
		ex.TimingsMS.Decode, ex.TimingsMS.Resize, ex.TimingsMS.Encode = ms(res.Timings.Decode), ms(res.Timings.Resize), ms(res.Timings.Encode)
	}
	ex.TimingsMS.Total = ms(time.Since(start))
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ex)
}

func (s *Server) tierState(tier string, st cache.Store, key string, now time.Time) tierState {
	ts := tierState{Tier: tier, Key: key, State: "miss"}
	e, ok := st.Get(key)
	if !ok {
		return ts
	}
	ts.AgeS, ts.TTLS = int64(now.Sub(e.StoredAt)/time.Second), e.TTL(now)
	switch {
	case e.NotFound:
		ts.State = "not_found"
	case e.Fresh(now):
		ts.State = "hit"
	default:
		ts.State = "stale"
	}
	return ts
}
