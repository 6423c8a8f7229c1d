package edge

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"imgedge/cache"
	"imgedge/edge/shield"
)

// Keys of the fleet's purge log in Redis: a counter of purges and a sorted
// set of rules scored by their sequence.
const (
	purgeSeqKey   = "imgedge:purge:seq"
	purgeRulesKey = "imgedge:purge:rules"
)

// purgeSyncEvery is how often a node reads the fleet's purge counter: a
// purge on another node reaches this one within it, a node whose Redis
// connection dropped catches up at the first read after it returns.
const purgeSyncEvery = 250 * time.Millisecond

// purge answers POST /purge?path=/a.jpg or ?prefix=/products/42/ (and
// host= when origins are routed by Host): the original and every variant
// of the path (or of every path under the prefix) become misses on every
// node sharing the Redis tier, this one at once, the others within
// purgeSyncEvery. Without Redis, this node only.
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
	scope := "node"
	if s.redis != nil {
		seq, err := s.publishPurge(r.Context(), rule)
		if err != nil {
			s.log.Error("purge: the shared tier did not take it; purged on this node only", "err", err, "rule", rule.Path)
			http.Error(w, "the purge did not reach Redis (the fleet); this node purged only: retry", http.StatusServiceUnavailable)
			rule.Seq = s.purges.Seq() + 1
			s.purges.Apply(rule)
			return
		}
		rule.Seq, scope = seq, "fleet"
	} else {
		rule.Seq = s.purges.Seq() + 1
	}
	s.purges.Apply(rule)
	kind := "path"
	if rule.Prefix {
		kind = "prefix"
	}
	answer := map[string]any{
		"purged": map[string]string{kind: target, "origin": up.origin.ID},
		"seq":    rule.Seq,
		"scope":  scope, // fleet: every node sharing redis.url; node: this one
		"what":   "the original and every variant, in memory and Redis",
	}
	status := http.StatusOK
	if targets := s.policy.Load().cfg.Purge.Downstream; len(targets) > 0 {
		if scope == "fleet" {
			// The other nodes apply the purge at their next read of the
			// log; a cache in front that refilled from one of them before
			// that would store the old bytes again.
			select {
			case <-time.After(2 * purgeSyncEvery):
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

// publishPurge adds rule to the fleet's log and returns its sequence. A
// connection that dropped fails the first attempt and is made again for
// the next: a purge is worth three tries.
func (s *Server) publishPurge(ctx context.Context, rule cache.PurgeRule) (uint64, error) {
	var err error
	for range 3 {
		var seq uint64
		if seq, err = s.publishPurgeOnce(rule); err == nil {
			return seq, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return 0, err
}

func (s *Server) publishPurgeOnce(rule cache.PurgeRule) (uint64, error) {
	var seq int64
	err := s.redis.Do(func(ctx context.Context, c rueidis.Client) error {
		var err error
		if seq, err = c.Do(ctx, c.B().Incr().Key(purgeSeqKey).Build()).AsInt64(); err != nil {
			return err
		}
		return c.Do(ctx, c.B().Zadd().Key(purgeRulesKey).ScoreMember().ScoreMember(float64(seq), encodeRule(rule, seq)).Build()).Error()
	})
	return uint64(seq), err
}

// encodeRule is a rule as a member of the sorted set; the sequence keeps
// members unique.
func encodeRule(r cache.PurgeRule, seq int64) string {
	kind := "p"
	if r.Prefix {
		kind = "x"
	}
	return strconv.FormatInt(seq, 10) + " " + kind + " " + r.Path
}

func decodeRule(m string) (cache.PurgeRule, bool) {
	seq, rest, ok := strings.Cut(m, " ")
	kind, path, ok2 := strings.Cut(rest, " ")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || !ok2 || err != nil || (kind != "p" && kind != "x") {
		return cache.PurgeRule{}, false
	}
	return cache.PurgeRule{Path: path, Prefix: kind == "x", Seq: n}, true
}

// syncPurges reads the fleet's purge counter every purgeSyncEvery and
// applies the rules this node has not seen, until ctx ends. Its owner is the
// Server, which ends it in Close.
func (s *Server) syncPurges(ctx context.Context) {
	tick := time.NewTicker(purgeSyncEvery)
	defer tick.Stop()
	for {
		s.pullPurges()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *Server) pullPurges() {
	have := s.purges.Seq()
	var members []string
	err := s.redis.Do(func(ctx context.Context, c rueidis.Client) error {
		seq, err := c.Do(ctx, c.B().Get().Key(purgeSeqKey).Build()).AsUint64()
		if err != nil || seq <= have {
			return err
		}
		members, err = c.Do(ctx, c.B().Zrangebyscore().Key(purgeRulesKey).Min("("+strconv.FormatUint(have, 10)).Max("+inf").Build()).AsStrSlice()
		return err
	})
	if err != nil && !rueidis.IsRedisNil(err) {
		return // Redis is sick: memory keeps serving; the next read catches up
	}
	var rules []cache.PurgeRule
	for _, m := range members {
		if r, ok := decodeRule(m); ok {
			rules = append(rules, r)
		}
	}
	if len(rules) > 0 {
		s.purges.Apply(rules...)
	}
}
