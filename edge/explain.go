package edge

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"imgedge/cache"
	"imgedge/edge/shield"
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
	Decoded      decodedFacts      `json:"decoded"`
	Output       imageFacts        `json:"output"`
	TimingsMS    timingsMS         `json:"timings_ms"`
	// Flags is each feature flag's decision for this object, and why.
	Flags map[string]flagExplained `json:"flags,omitempty"`
}

type flagExplained struct {
	On      bool    `json:"on"`
	Rollout float64 `json:"rollout_percent"`
	Bucket  float64 `json:"object_percentile"` // on when below the rollout
	Why     string  `json:"why"`
}

func (s *Server) explainFlags(d *flagDecisions) map[string]flagExplained {
	fs := s.flags.Load()
	out := map[string]flagExplained{}
	for f := range flagCount {
		e := flagExplained{On: d[f].on, Rollout: float64(fs.rollout[f]) * 100 / rolloutScale, Bucket: float64(d[f].bucket) * 100 / rolloutScale}
		switch {
		case d[f].forced:
			e.Why = "forced by the " + flagsHeader + " header"
		case d[f].on:
			e.Why = fmt.Sprintf("this object's percentile %.2f is below the rollout %.2f %% (set by %s)", e.Bucket, e.Rollout, fs.set)
		default:
			e.Why = fmt.Sprintf("this object's percentile %.2f is not below the rollout %.2f %% (set by %s)", e.Bucket, e.Rollout, fs.set)
		}
		out[flagNames[f]] = e
	}
	return out
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
	// ClampedBy is the limit the output was brought within, keeping the
	// shape asked for (the Imgedge-Clamped header); output only.
	ClampedBy string `json:"clamped_by,omitempty"`
}

// decodedFacts is the size a render's pixels started from, and how
// ("whole", "shrink-on-load 1/8", "embedded thumbnail", "rung at 1/8 scale").
type decodedFacts struct {
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
	By     string `json:"by,omitempty"`
}

type timingsMS struct {
	Origin float64 `json:"origin"`
	Decode float64 `json:"decode"`
	Resize float64 `json:"resize"`
	Encode float64 `json:"encode"`
	Total  float64 `json:"total"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// explain answers GET /explain?url=<escaped public URL>. The URL goes through
// the request path's own resolve (routing, path normalisation, parsing, key),
// and the shield's Preview runs the real pipeline: the original comes through
// the cache and the origin as for any request; the variant is rendered but
// not stored. The client's Accept is read from this request for auto=format.
func (s *Server) explain(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	answer := func(p problem) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(p.Status)
		_ = json.NewEncoder(w).Encode(p)
	}
	raw := r.URL.Query().Get("url")
	if raw == "" || raw[0] != '/' && !strings.HasPrefix(raw, "http://") && !strings.HasPrefix(raw, "https://") {
		answer(problem{Status: http.StatusBadRequest, Title: "Cannot explain", Class: classUser, Code: "bad_param",
			Detail: "give url, the escaped public URL to explain, e.g. /explain?url=%2Fphoto.jpg%3Fw%3D300"})
		return
	}
	var uri fasthttp.URI
	if err := uri.Parse([]byte(r.Host), []byte(raw)); err != nil {
		answer(problem{Status: http.StatusBadRequest, Title: "Cannot explain", Class: classUser, Code: "bad_param",
			Detail: "url is not a URL: " + err.Error()})
		return
	}
	sc := &scratch{}
	var hdr fasthttp.RequestHeader
	for _, name := range []string{"Accept", "Sec-CH-DPR", "DPR", "Sec-CH-Width", "Width", "Sec-CH-Viewport-Width", "Viewport-Width", "Save-Data", flagsHeader} {
		if v := r.Header.Get(name); v != "" {
			hdr.Set(name, v)
		}
	}
	// The admin token already stands for an internal client: Imgedge-Flags is honoured.
	sc.in.read(&hdr)
	if err := s.resolve(sc, s.policy.Load(), uri.Host(), &uri, true); err != nil {
		answer(classify(err))
		return
	}
	req := &sc.req
	okey := string(shield.AppendKey(nil, req.Origin.ID, req.Path, true, nil))
	ex := explanation{Params: map[string]string{}, CacheKey: string(sc.key)}
	if !req.Original {
		ex.Flags = s.explainFlags(&sc.flags)
	}
	if !req.Original {
		for part := range strings.SplitSeq(req.Spec.Key(), "&") {
			if k, v, ok := strings.Cut(part, "="); ok {
				ex.Params[k] = v
			}
		}
	}
	now := s.now()
	if !req.Original {
		ex.Tiers = append(ex.Tiers, s.tierState("memory", string(sc.key), false, now))
	}
	ex.Tiers = append(ex.Tiers, s.tierState("memory_originals", okey, true, now))

	src, res, t, err := s.shield.Preview(r.Context(), req)
	if err != nil {
		answer(classify(err))
		return
	}
	ex.TimingsMS.Origin = ms(t.Origin)
	srcFmt := transform.Sniff(src.Body)
	ex.Source = imageFacts{Format: srcFmt.String(), Bytes: len(src.Body)}
	if req.Original {
		ex.Format, ex.FormatReason = srcFmt.String(), "original bytes, passed through"
		ex.Output = imageFacts{Format: srcFmt.String(), Bytes: len(src.Body)}
	} else {
		ex.Format, ex.FormatReason = res.Format.String(), res.FormatReason
		ex.Source.Width, ex.Source.Height = res.SourceWidth, res.SourceHeight
		ex.Decoded = decodedFacts{Width: res.DecodedWidth, Height: res.DecodedHeight, By: res.DecodedBy}
		ex.Output = imageFacts{Format: res.Format.String(), Width: res.Width, Height: res.Height, Bytes: len(res.Body),
			ClampedBy: clampedLimit(req.Spec.Clamp, uint8(res.Clamp))}
		ex.TimingsMS.Decode, ex.TimingsMS.Resize, ex.TimingsMS.Encode = ms(t.Stages.Decode), ms(t.Stages.Resize), ms(t.Stages.Encode)
	}
	ex.TimingsMS.Total = ms(time.Since(start))
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ex)
}

func (s *Server) tierState(tier, key string, original bool, now time.Time) tierState {
	e, l, found := s.shield.Tier(key, original, now)
	if found == cache.TierRedis {
		tier = strings.Replace(tier, "memory", "redis", 1) // a memory miss the shared tier answered
	}
	ts := tierState{Tier: tier, Key: key, State: l.String()}
	if l != shield.LookupMiss {
		ts.AgeS, ts.TTLS = int64(now.Sub(e.StoredAt)/time.Second), e.TTL(now)
	}
	return ts
}
