package edge

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"imgedge/cache"
	"imgedge/cache/fleet"
	"imgedge/edge/shield"
)

// purge answers POST /purge?path=/a.jpg or ?prefix=/products/42/ (and
// host= when origins are routed by Host): the original and every variant
// of the path (or of every path under the prefix) become misses on every
// node sharing the Redis tier, this one at once, the others within
// fleet.PurgeBound ("scope":"fleet"). Without Redis, this node only. When
// the fleet's Redis does not take it: this node at once, the fleet when
// Redis answers again (202, "scope":"node", "fleet":"pending").
func (s *Server) purge(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	path, prefix := q.Get("path"), q.Get("prefix")
	if (path == "") == (prefix == "") || !strings.HasPrefix(path+prefix, "/") {
		http.Error(w, "give exactly one of path=/a.jpg or prefix=/products/42/", http.StatusBadRequest)
		return
	}
	target := path + prefix
	up, opath := s.router.pick([]byte(q.Get("host")), []byte(target))
	rule := cache.PurgeRule{Path: shield.SourceID(up.origin.ID, string(opath)), Prefix: prefix != ""}
	kind := "path"
	if rule.Prefix {
		kind = "prefix"
	}
	answer := map[string]any{"purged": map[string]string{kind: target, "origin": up.origin.ID}}
	status := http.StatusOK
	switch {
	case s.purgeLog == nil:
		rule.Seq, rule.At = s.purges.Seq()+1, time.Now()
		s.purges.Apply(rule)
		s.purges.Advance(rule.Seq)
		answer["seq"], answer["scope"], answer["what"] = rule.Seq, "node", "the original and every variant, on this node (no redis: it is the whole fleet)"
	default:
		seq, err := s.purgeLog.Publish(r.Context(), rule)
		if err == nil {
			rule.Seq, rule.At = seq, time.Now()
			s.purges.Apply(rule)
			answer["seq"], answer["scope"] = rule.Seq, "fleet"
			answer["what"] = fmt.Sprintf("the original and every variant, on every node sharing Redis within %s", fleet.PurgeBound)
			break
		}
		s.log.Error("purge: Redis did not take it; purged on this node, the fleet follows when Redis answers", "err", err, "rule", rule.Path)
		if !s.purgeLog.Pend(rule, time.Now()) {
			http.Error(w, "the purge did not reach Redis (the fleet) and too many purges already wait for it: nothing purged; retry when Redis answers", http.StatusServiceUnavailable)
			return
		}
		status = http.StatusAccepted
		answer["scope"], answer["fleet"] = "node", "pending"
		answer["what"] = "the original and every variant on this node now; on every node once Redis answers again (this node keeps the purge until then, a restart of this node loses it: repeat the purge)"
	}
	if targets := s.policy.Load().cfg.Purge.Downstream; len(targets) > 0 {
		if answer["scope"] == "fleet" {
			// The other nodes apply the purge at their next read of the
			// log; a cache in front that refilled from one of them before
			// that would store the old bytes again.
			select {
			case <-time.After(fleet.PurgeBound):
			case <-r.Context().Done():
				return
			}
		}
		t := purgeTarget{path: target, prefix: rule.Prefix, host: q.Get("host"),
			originTag: string(appendOriginTag(nil, up.origin.ID))}
		if !rule.Prefix {
			t.sourceTag = string(appendSourceTag(nil, sourceHash(up.origin.ID, opath)))
		}
		results := s.forwardPurge(r.Context(), targets, t)
		answer["downstream"] = results
		for _, f := range results {
			if f.Error != "" {
				s.log.Error("purge: a cache in front did not take it", "kind", f.Kind, "url", f.URL, "err", f.Error)
				answer["detail"] = "purged here; a cache in front did not take the purge (see downstream): retry, a purge is safe to repeat"
				status = http.StatusBadGateway
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(answer)
}
