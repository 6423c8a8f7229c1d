package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"imgedge/cache"
)

// The purge log's keys. seq and rules (members "seq kind path") are read
// the same way by every release since the fleet's first; at (member seq,
// score the unix milliseconds it was logged) and epoch were added for
// pruning and for noticing lost history; releases before them ignore them.
const (
	purgeSeqKey   = "imgedge:purge:seq"
	purgeRulesKey = "imgedge:purge:rules"
	purgeAtKey    = "imgedge:purge:at"
	purgeEpochKey = "imgedge:purge:epoch"
	membersKey    = "imgedge:fleet:nodes"
)

// SyncEvery is how often a node reads the log: a purge logged on any node
// is applied on every node within PurgeBound.
const SyncEvery = 250 * time.Millisecond

// PurgeBound is the promise: a purge the log took is applied on every node
// within it. A node that has not completed a read of the log for longer
// treats every entry the origin has not confirmed within it as unproven
// (revalidated before use), so the promise holds through a partition.
const PurgeBound = time.Second

// syncBatch bounds one read of the log: a node catching up on a million
// rules reads them in 50 batches, back to back, without one read that
// outlasts its timeout.
const syncBatch = 20000

// maxPending bounds the node-only purges waiting for Redis to come back.
const maxPending = 10000

// FormatVersion is the entry encoding and keyspace this release writes and
// the newest it reads; announced to the fleet (membersKey) so that a later
// release writes a newer format only once every live node reads it.
const FormatVersion = 2

// epochScript returns the run id of the server holding KEYS[1], which
// changes with every restart and failover (an AOF replay that lost the
// log's tail included), and KEYS[1]'s value: with ARGV[1] "token", the
// epoch token, made when missing (an emptied Redis); with "get", a GET;
// otherwise nothing.
var epochScript = rueidis.NewLuaScript(`
local id = string.match(redis.call("INFO", "server"), "run_id:(%x+)")
if ARGV[1] == "token" then
  redis.call("SET", KEYS[1], ARGV[2], "NX")
  return {id, redis.call("GET", KEYS[1])}
elseif ARGV[1] == "get" then
  return {id, redis.call("GET", KEYS[1]) or ""}
end
return {id, ""}`)

// PurgeLog is the fleet's purge log as this node follows it: Publish adds a
// rule, Run applies every rule to the node's Purges, notices lost history
// (a new epoch), prunes old rules and sends the node-only purges that
// waited for Redis.
type PurgeLog struct {
	f         *Fleet
	purges    *cache.Purges
	retention func() time.Duration
	timeout   time.Duration // one call of the log: larger than a request's, never on a request's path

	mu      sync.Mutex        // guards pending
	pending []cache.PurgeRule // node-only purges to log when Redis answers

	syncMu sync.Mutex // one Sync at a time; guards what follows
	epoch  string     // "" until the first read
	syncs  int

	epochs  atomic.Int64 // purge histories lost (new epochs seen after the first)
	applied atomic.Int64
}

// PurgeLog returns the log feeding purges. Rules older than retention()
// (the longest an entry can be kept: max_ttl plus its stale windows) are
// pruned from Redis and from the node.
func (f *Fleet) PurgeLog(purges *cache.Purges, retention func() time.Duration) *PurgeLog {
	return &PurgeLog{f: f, purges: purges, retention: retention, timeout: max(f.timeout, 500*time.Millisecond)}
}

// floorMargin is how long after this node notices lost history a node
// that has not noticed yet may still store an entry filled in the old
// history: one read period and one call, plus clock skew between nodes.
func (l *PurgeLog) floorMargin() time.Duration { return SyncEvery + l.timeout + 250*time.Millisecond }

// Publish adds rule to the log and returns its sequence. A dropped
// connection fails the first attempt and is made again for the next: a
// purge is worth three tries.
func (l *PurgeLog) Publish(ctx context.Context, rule cache.PurgeRule) (uint64, error) {
	var err error
	for range 3 {
		var seq uint64
		if seq, err = l.publishOnce(rule); err == nil {
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

func (l *PurgeLog) publishOnce(rule cache.PurgeRule) (uint64, error) {
	var seq int64
	_, err := l.f.run("purge", l.timeout, func(ctx context.Context, c rueidis.Client) (any, error) {
		var err error
		if seq, err = c.Do(ctx, c.B().Incr().Key(purgeSeqKey).Build()).AsInt64(); err != nil {
			return nil, err
		}
		for _, r := range c.DoMulti(ctx,
			c.B().Zadd().Key(purgeRulesKey).ScoreMember().ScoreMember(float64(seq), encodeRule(rule, seq)).Build(),
			c.B().Zadd().Key(purgeAtKey).ScoreMember().ScoreMember(float64(time.Now().UnixMilli()), strconv.FormatInt(seq, 10)).Build()) {
			if err := r.Error(); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	return uint64(seq), err
}

// Pend applies rule on this node only (entries the origin answered for
// before now) and keeps it to log when Redis answers again. false: too many
// are waiting; nothing was applied.
func (l *PurgeLog) Pend(rule cache.PurgeRule, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pending) >= maxPending {
		return false
	}
	l.pending = append(l.pending, rule)
	l.purges.ApplyLocal(rule.Path, rule.Prefix, now)
	return true
}

// Pending is the node-only purges waiting for Redis.
func (l *PurgeLog) Pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending)
}

// Epochs is the purge histories this node saw lost.
func (l *PurgeLog) Epochs() int64 { return l.epochs.Load() }

// Run reads the log every SyncEvery until ctx ends; its owner ends it
// before closing the Fleet.
func (l *PurgeLog) Run(ctx context.Context) {
	tick := time.NewTicker(SyncEvery)
	defer tick.Stop()
	for {
		if err := l.Sync(); err != nil && ctx.Err() == nil {
			l.f.log.Debug("purge log: read failed; entries turn unproven after the bound", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Sync reads the log once: it notices a new epoch, applies the rules this
// node has not seen, then logs the purges that waited, announces this node
// and, once a minute, prunes.
func (l *PurgeLog) Sync() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	began := time.Now()
	epoch, seq, err := l.head()
	if err != nil {
		return err
	}
	have := l.purges.Seq()
	if l.epoch != "" && (epoch != l.epoch || seq < have) {
		l.f.log.Warn("purge log: Redis lost its history (restart, failover or flush); entries stored before now are revalidated with the origin before use",
			"old_epoch", l.epoch, "new_epoch", epoch, "had_seq", have, "log_seq", seq)
		l.purges.NewEpoch(began.Add(l.floorMargin()))
		l.epochs.Add(1)
		have = 0
	}
	l.epoch = epoch
	for seq > have {
		var members []string
		_, err := l.f.run("purge", l.timeout, func(ctx context.Context, c rueidis.Client) (any, error) {
			var err error
			members, err = c.Do(ctx, c.B().Zrangebyscore().Key(purgeRulesKey).Min("("+strconv.FormatUint(have, 10)).Max("+inf").
				Limit(0, syncBatch).Build()).AsStrSlice()
			return nil, err
		})
		if err != nil {
			return err
		}
		rules := make([]cache.PurgeRule, 0, len(members))
		for _, m := range members {
			if r, ok := decodeRule(m); ok {
				r.At = began
				rules = append(rules, r)
			}
		}
		if len(rules) > 0 {
			l.purges.Apply(rules...)
			l.applied.Add(int64(len(rules)))
		}
		if len(members) < syncBatch {
			break
		}
		have = l.purges.Seq()
	}
	l.purges.Synced(began)
	l.flushPending()
	if l.syncs++; l.syncs%4 == 1 {
		l.announce()
	}
	if l.syncs%240 == 1 {
		l.Prune(began)
	}
	return nil
}

// head reads the epoch (the run ids of the servers holding the log's keys
// and the epoch token) and the log's sequence.
func (l *PurgeLog) head() (epoch string, seq uint64, err error) {
	var token [12]byte
	_, _ = rand.Read(token[:])
	v, err := l.f.run("purge", l.f.timeout, func(ctx context.Context, c rueidis.Client) (any, error) {
		rs := epochScript.ExecMulti(ctx, c,
			rueidis.LuaExec{Keys: []string{purgeSeqKey}, Args: []string{"get"}},
			rueidis.LuaExec{Keys: []string{purgeRulesKey}, Args: []string{"none"}},
			rueidis.LuaExec{Keys: []string{purgeEpochKey}, Args: []string{"token", hex.EncodeToString(token[:])}})
		var parts [3][]string
		for i, r := range rs {
			s, err := r.AsStrSlice()
			if err != nil {
				return nil, err
			}
			if len(s) != 2 {
				return nil, fmt.Errorf("purge log: epoch script answered %d values", len(s))
			}
			parts[i] = s
		}
		return parts, nil
	})
	if err != nil {
		return "", 0, err
	}
	p := v.([3][]string)
	if p[0][1] != "" {
		if seq, err = strconv.ParseUint(p[0][1], 10, 64); err != nil {
			return "", 0, fmt.Errorf("purge log: %s is %q: %w", purgeSeqKey, p[0][1], err)
		}
	}
	return p[0][0] + "/" + p[1][0] + "/" + p[2][1], seq, nil
}

// flushPending logs the node-only purges now that Redis answers: each
// becomes a fleet rule (applied here at once) and stops being node-only.
func (l *PurgeLog) flushPending() {
	for {
		l.mu.Lock()
		if len(l.pending) == 0 {
			l.mu.Unlock()
			return
		}
		r := l.pending[0]
		l.mu.Unlock()
		seq, err := l.publishOnce(r)
		if err != nil {
			return
		}
		r.Seq, r.At = seq, time.Now()
		l.purges.Apply(r)
		l.mu.Lock()
		l.pending = l.pending[1:]
		l.mu.Unlock()
		l.purges.DropLocal(r.Path, r.Prefix)
		l.f.log.Info("purge log: a node-only purge reached the fleet", "rule", r.Path, "prefix", r.Prefix, "seq", seq)
	}
}

// announce tells the fleet this node is alive and which format it reads.
func (l *PurgeLog) announce() {
	_, _ = l.f.run("announce", l.timeout, func(ctx context.Context, c rueidis.Client) (any, error) {
		v := "format=" + strconv.Itoa(FormatVersion) + " at=" + strconv.FormatInt(time.Now().UnixMilli(), 10)
		return nil, c.Do(ctx, c.B().Hset().Key(membersKey).FieldValue().FieldValue(l.f.node, v).Build()).Error()
	})
}

// Prune drops the rules older than the retention at now, in Redis and
// here. Every node does it once a minute; it is idempotent.
func (l *PurgeLog) Prune(now time.Time) {
	cutoff := now.Add(-l.retention())
	l.purges.Prune(cutoff)
	ms := strconv.FormatInt(cutoff.UnixMilli(), 10)
	_, _ = l.f.run("purge", l.timeout, func(ctx context.Context, c rueidis.Client) (any, error) {
		last, err := c.Do(ctx, c.B().Zrevrangebyscore().Key(purgeAtKey).Max(ms).Min("-inf").Limit(0, 1).Build()).AsStrSlice()
		if err != nil || len(last) == 0 {
			return nil, err
		}
		for _, r := range c.DoMulti(ctx,
			c.B().Zremrangebyscore().Key(purgeRulesKey).Min("-inf").Max(last[0]).Build(),
			c.B().Zremrangebyscore().Key(purgeAtKey).Min("-inf").Max(ms).Build()) {
			if err := r.Error(); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
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
