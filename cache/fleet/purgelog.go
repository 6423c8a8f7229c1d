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
	// purgePrunedKey is the last sequence pruned: a node joining starts
	// after it instead of waiting on the missing rules below.
	purgePrunedKey = "imgedge:purge:pruned"
	membersKey     = "imgedge:fleet:nodes"
	// purgeRetentionKey is the longest retention (ms) any node announced:
	// what every node prunes by, so that a node configured with a shorter
	// max_ttl never drops rules the others still need.
	purgeRetentionKey = "imgedge:purge:retention"
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

// gapGrace is how long a sequence may be missing from the log before it is
// taken as lost: a publisher writes the counter and the rule in two steps
// (a Redis Cluster keeps them on different masters), which take
// milliseconds; one that died between them leaves a gap for ever.
const gapGrace = 300 * time.Millisecond

// maxPending bounds the node-only purges waiting for Redis to come back.
const maxPending = 10000

// FormatVersion is the entry encoding and keyspace this release writes and
// the newest it reads; announced to the fleet (membersKey) so that a later
// release writes a newer format only once every live node reads it.
const FormatVersion = 2

// epochScript returns the run id of the server holding KEYS[1], which
// changes with every restart and failover (an AOF replay that lost the
// log's tail included), then two values by ARGV[1]: "get": KEYS[1]'s value;
// "epoch": the epoch hash's token (made from ARGV[2] when missing: an
// emptied Redis) and its floor (unix ms; "" when none); otherwise nothing.
var epochScript = rueidis.NewLuaScript(`
local id = string.match(redis.call("INFO", "server"), "run_id:(%x+)")
if ARGV[1] == "epoch" then
  redis.call("HSETNX", KEYS[1], "token", ARGV[2])
  return {id, redis.call("HGET", KEYS[1], "token"), redis.call("HGET", KEYS[1], "floor") or ""}
elseif ARGV[1] == "get" then
  return {id, redis.call("GET", KEYS[1]) or "", ""}
end
return {id, "", ""}`)

// floorScript raises the epoch's floor (unix ms) to ARGV[1].
var floorScript = rueidis.NewLuaScript(`
local f = tonumber(redis.call("HGET", KEYS[1], "floor") or "0")
if f < tonumber(ARGV[1]) then redis.call("HSET", KEYS[1], "floor", ARGV[1]) end
return 0`)

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

	syncMu   sync.Mutex    // one Sync at a time; guards what follows
	kept     time.Duration // the fleet's longest retention, as last announced
	newFloor time.Time     // a new epoch's floor still to record in Redis
	epoch    string        // "" until the first read
	syncs    int
	gapAt    uint64    // the first sequence missing from the log, while one is
	gapSince time.Time // and since when

	epochs atomic.Int64 // purge histories lost (new epochs seen after the first)
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

// publishScript logs a rule in one step where every key is on one server
// (not a Cluster): the counter and the rule never part.
var publishScript = rueidis.NewLuaScript(`
local seq = redis.call("INCR", KEYS[1])
redis.call("ZADD", KEYS[2], seq, seq .. " " .. ARGV[1])
redis.call("ZADD", KEYS[3], ARGV[2], seq)
return seq`)

// Publish adds rule to the log and returns its sequence. A dropped
// connection fails the first attempt and is made again for the next: a
// purge is worth three tries. On a Cluster the counter and the rule are
// written in two steps (they live on different masters); a retry after
// the first step reuses its sequence.
func (l *PurgeLog) Publish(ctx context.Context, rule cache.PurgeRule) (uint64, error) {
	var err error
	var seq int64
	for range 3 {
		if seq, err = l.publishOnce(rule, seq); err == nil {
			return uint64(seq), nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return 0, err
}

// publishOnce logs rule; seq, when not 0, is the sequence an earlier try
// took. It returns the sequence taken, also with an error after it.
func (l *PurgeLog) publishOnce(rule cache.PurgeRule, seq int64) (int64, error) {
	kind := "p "
	if rule.Prefix {
		kind = "x "
	}
	now := strconv.FormatInt(l.f.now().UnixMilli(), 10)
	_, err := l.f.run("purge", l.timeout, func(ctx context.Context, c rueidis.Client) (any, error) {
		if !l.f.cluster {
			var err error
			seq, err = publishScript.Exec(ctx, c, []string{purgeSeqKey, purgeRulesKey, purgeAtKey}, []string{kind + rule.Path, now}).AsInt64()
			return nil, err
		}
		if seq == 0 {
			var err error
			if seq, err = c.Do(ctx, c.B().Incr().Key(purgeSeqKey).Build()).AsInt64(); err != nil {
				return nil, err
			}
		}
		for _, r := range c.DoMulti(ctx,
			c.B().Zadd().Key(purgeRulesKey).ScoreMember().ScoreMember(float64(seq), encodeRule(rule, seq)).Build(),
			c.B().Zadd().Key(purgeAtKey).ScoreMember().ScoreMember(float64(l.f.now().UnixMilli()), strconv.FormatInt(seq, 10)).Build()) {
			if err := r.Error(); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	return seq, err
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
	reading := true
	for {
		err := l.Sync()
		switch {
		case ctx.Err() != nil:
		case err != nil && reading:
			l.f.log.Warn("redis: the purge log cannot be read; entries the origin has not confirmed within the last "+PurgeBound.String()+" are revalidated before use until it can", "err", err)
		case err == nil && !reading:
			l.f.log.Info("redis: the purge log is read again")
		}
		reading = err == nil
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
	err := l.sync()
	if err != nil {
		// A gap's grace counts only time Redis answered in: a rule whose
		// write waited on a frozen or restarting master is not lost.
		l.gapAt = 0
	}
	return err
}

func (l *PurgeLog) sync() error {
	began := l.f.now()
	epoch, floor, seq, err := l.head()
	if err != nil {
		return err
	}
	// A node that started after the history was lost learns the floor
	// from the fleet: entries stored before it are unproven here too.
	l.purges.RaiseFloor(floor)
	cursor := l.noticeEpoch(epoch, seq, began)
	if seq, err = l.recordFloor(seq); err != nil {
		return err
	}
	if cursor == 0 && seq > 0 {
		// A node joining (or after a new epoch) starts where the log
		// starts: what is below it was pruned, not lost.
		if cursor, err = l.pruned(); err != nil {
			return err
		}
	}
	run := &cursorRun{l: l, began: began, cursor: cursor}
	if err := l.readRules(run, seq); err != nil {
		return err
	}
	run.end(seq)
	l.purges.Advance(run.cursor)
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

// noticeEpoch starts a new epoch on this node when the log's epoch or
// sequence shows that Redis lost its history since the last read, and
// returns the cursor to read the log from.
func (l *PurgeLog) noticeEpoch(epoch string, seq uint64, began time.Time) uint64 {
	cursor := l.purges.Seq()
	if l.epoch != "" && (epoch != l.epoch || seq < cursor) {
		l.f.log.Warn("purge log: Redis lost its history (restart, failover or flush); entries stored before now are revalidated with the origin before use",
			"old_epoch", l.epoch, "new_epoch", epoch, "had_seq", cursor, "log_seq", seq)
		l.newFloor = began.Add(l.floorMargin())
		l.purges.NewEpoch(l.newFloor)
		l.epochs.Add(1)
		cursor, l.gapAt = 0, 0
	}
	// Noticed once: a read that fails after this point finishes the
	// epoch's work (recordFloor) at the next read, without a second epoch.
	l.epoch = epoch
	return cursor
}

// recordFloor records a new epoch's floor in Redis, when one is still to
// record, and returns the log's sequence, raised with the counter.
func (l *PurgeLog) recordFloor(seq uint64) (uint64, error) {
	if l.newFloor.IsZero() {
		return seq, nil
	}
	if _, err := l.f.run("purge", l.timeout, func(ctx context.Context, c rueidis.Client) (any, error) {
		return nil, floorScript.Exec(ctx, c, []string{purgeEpochKey}, []string{strconv.FormatInt(l.newFloor.UnixMilli(), 10)}).Error()
	}); err != nil {
		return seq, err
	}
	// On a Cluster the counter and the rules live on different
	// masters: one may have lost its data and the other not. The
	// counter must stay above every rule logged, or new purges would
	// take numbers below fills already recorded.
	seq, err := l.raiseCounter()
	if err != nil {
		return seq, err
	}
	l.newFloor = time.Time{}
	return seq, nil
}

// pruned is the last sequence pruned from the log, 0 when none was.
func (l *PurgeLog) pruned() (uint64, error) {
	var cursor uint64
	_, err := l.f.run("purge", l.timeout, func(ctx context.Context, c rueidis.Client) (any, error) {
		pruned, err := c.Do(ctx, c.B().Get().Key(purgePrunedKey).Build()).AsUint64()
		if err == nil {
			cursor = pruned
		}
		return nil, err
	})
	if err != nil && !rueidis.IsRedisNil(err) {
		return 0, err
	}
	return cursor, nil
}

// readRules applies every rule logged after run's cursor, up to seq, in
// batches of syncBatch, and moves the cursor over them.
func (l *PurgeLog) readRules(run *cursorRun, seq uint64) error {
	from := run.cursor
	for seq > from {
		var members []string
		_, err := l.f.run("purge", l.timeout, func(ctx context.Context, c rueidis.Client) (any, error) {
			var err error
			members, err = c.Do(ctx, c.B().Zrangebyscore().Key(purgeRulesKey).Min("("+strconv.FormatUint(from, 10)).Max("+inf").
				Limit(0, syncBatch).Build()).AsStrSlice()
			return nil, err
		})
		if err != nil {
			return err
		}
		rules := make([]cache.PurgeRule, 0, len(members))
		for _, m := range members {
			if r, ok := decodeRule(m); ok {
				r.At = run.began
				rules = append(rules, r)
				run.advance(r.Seq)
				from = max(from, r.Seq)
			}
		}
		if len(rules) > 0 {
			l.purges.Apply(rules...)
		}
		if len(members) < syncBatch {
			return nil
		}
	}
	return nil
}

// cursorRun moves one read's cursor (what fills record). Every rule read
// is applied at once; the cursor moves only over a contiguous run: a purge
// whose INCR came before another's but whose rule lands after it must
// still cover the fills that began before it. A sequence missing for
// gapGrace is taken as lost (its publisher died between the two writes)
// and passed.
type cursorRun struct {
	l       *PurgeLog
	began   time.Time
	cursor  uint64
	blocked bool // a missing sequence holds the cursor for the rest of the read
}

// gap is met when cursor+1 is missing: wait for it, or pass it once lost.
func (r *cursorRun) gap() {
	if r.l.gapAt != r.cursor+1 {
		r.l.gapAt, r.l.gapSince = r.cursor+1, r.began
	}
	r.blocked = r.began.Sub(r.l.gapSince) < gapGrace
}

// advance moves the cursor over the rule with sequence next.
func (r *cursorRun) advance(next uint64) {
	if r.blocked || next <= r.cursor {
		return
	}
	if next > r.cursor+1 {
		if r.gap(); r.blocked {
			return
		}
	}
	r.cursor = next
}

// end finishes the read at the log's sequence seq: sequences handed out
// whose rules are not there (yet) are a gap too; with none blocking, the
// gap remembered is forgotten.
func (r *cursorRun) end(seq uint64) {
	if !r.blocked && r.cursor < seq {
		if r.gap(); !r.blocked {
			r.cursor = seq
		}
	}
	if !r.blocked {
		r.l.gapAt = 0
	}
}

// raiseScript raises the counter at KEYS[1] to ARGV[1] when it is below:
// INCRs and this run one after the other on the counter's master.
var raiseScript = rueidis.NewLuaScript(`
local n = tonumber(redis.call("GET", KEYS[1]) or "0")
local floor = tonumber(ARGV[1])
if n < floor then redis.call("SET", KEYS[1], floor); return floor end
return n`)

// raiseCounter puts the counter at or above the highest rule logged and
// returns it.
func (l *PurgeLog) raiseCounter() (uint64, error) {
	v, err := l.f.run("purge", l.timeout, func(ctx context.Context, c rueidis.Client) (any, error) {
		top, err := c.Do(ctx, c.B().Zrevrange().Key(purgeRulesKey).Start(0).Stop(0).Withscores().Build()).AsZScores()
		if err != nil {
			return nil, err
		}
		floor := int64(0)
		if len(top) == 1 {
			floor = int64(top[0].Score)
		}
		return raiseScript.Exec(ctx, c, []string{purgeSeqKey}, []string{strconv.FormatInt(floor, 10)}).AsInt64()
	})
	if err != nil {
		return 0, err
	}
	return uint64(v.(int64)), nil
}

// head reads the epoch (the run ids of the servers holding the log's keys
// and the epoch token), the floor recorded with it and the log's sequence.
func (l *PurgeLog) head() (epoch string, floor time.Time, seq uint64, err error) {
	var token [12]byte
	_, _ = rand.Read(token[:])
	v, err := l.f.run("purge", l.f.timeout, func(ctx context.Context, c rueidis.Client) (any, error) {
		rs := epochScript.ExecMulti(ctx, c,
			rueidis.LuaExec{Keys: []string{purgeSeqKey}, Args: []string{"get"}},
			rueidis.LuaExec{Keys: []string{purgeRulesKey}, Args: []string{"none"}},
			rueidis.LuaExec{Keys: []string{purgeEpochKey}, Args: []string{"epoch", hex.EncodeToString(token[:])}})
		var parts [3][]string
		for i, r := range rs {
			s, err := r.AsStrSlice()
			if err != nil {
				return nil, err
			}
			if len(s) != 3 {
				return nil, fmt.Errorf("purge log: epoch script answered %d values", len(s))
			}
			parts[i] = s
		}
		return parts, nil
	})
	if err != nil {
		return "", floor, 0, err
	}
	p := v.([3][]string)
	if p[0][1] != "" {
		if seq, err = strconv.ParseUint(p[0][1], 10, 64); err != nil {
			return "", floor, 0, fmt.Errorf("purge log: %s is %q: %w", purgeSeqKey, p[0][1], err)
		}
	}
	if ms, err := strconv.ParseInt(p[2][2], 10, 64); err == nil {
		floor = time.UnixMilli(ms)
	}
	return p[0][0] + "/" + p[1][0] + "/" + p[2][1], floor, seq, nil
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
		seq, err := l.publishOnce(r, 0)
		if err != nil {
			return
		}
		r.Seq, r.At = uint64(seq), l.f.now()
		l.purges.Apply(r)
		l.mu.Lock()
		l.pending = l.pending[1:]
		l.mu.Unlock()
		l.purges.DropLocal(r.Path, r.Prefix)
		l.f.log.Info("purge log: a node-only purge reached the fleet", "rule", r.Path, "prefix", r.Prefix, "seq", seq)
	}
}

// maxScript raises the number at KEYS[1] to ARGV[1] and returns it.
var maxScript = rueidis.NewLuaScript(`
local n = tonumber(redis.call("GET", KEYS[1]) or "0")
local v = tonumber(ARGV[1])
if n < v then redis.call("SET", KEYS[1], ARGV[1]); return v end
return n`)

// announce tells the fleet this node is alive, which format it reads and
// how long it keeps entries; it learns the fleet's longest retention.
func (l *PurgeLog) announce() {
	mine := l.retention()
	v, err := l.f.run("announce", l.timeout, func(ctx context.Context, c rueidis.Client) (any, error) {
		v := "format=" + strconv.Itoa(FormatVersion) + " at=" + strconv.FormatInt(l.f.now().UnixMilli(), 10)
		if err := c.Do(ctx, c.B().Hset().Key(membersKey).FieldValue().FieldValue(l.f.node, v).Build()).Error(); err != nil {
			return nil, err
		}
		return maxScript.Exec(ctx, c, []string{purgeRetentionKey}, []string{strconv.FormatInt(mine.Milliseconds(), 10)}).AsInt64()
	})
	if err == nil {
		l.kept = max(mine, time.Duration(v.(int64))*time.Millisecond)
	}
}

// Prune drops the rules older than the retention at now, in Redis and
// here. Every node does it once a minute; it is idempotent.
func (l *PurgeLog) Prune(now time.Time) {
	cutoff := now.Add(-max(l.retention(), l.kept))
	l.purges.Prune(cutoff)
	ms := strconv.FormatInt(cutoff.UnixMilli(), 10)
	_, _ = l.f.run("purge", l.timeout, func(ctx context.Context, c rueidis.Client) (any, error) {
		last, err := c.Do(ctx, c.B().Zrevrangebyscore().Key(purgeAtKey).Max(ms).Min("-inf").Limit(0, 1).Build()).AsStrSlice()
		if err != nil || len(last) == 0 {
			return nil, err
		}
		for _, r := range c.DoMulti(ctx,
			c.B().Set().Key(purgePrunedKey).Value(last[0]).Build(),
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
