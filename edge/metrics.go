package edge

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"imgedge/cache"
	"imgedge/cache/fleet"
	"imgedge/edge/origin"
	"imgedge/edge/shield"
	"imgedge/transform"
)

// The cache label of imgedge_requests_total, from the shield's outcome.
const (
	labelNone      = iota // failed before or during the fill
	labelHit              // fresh copy, or a remembered not-found
	labelStale            // stale copy served (while revalidating or on origin error)
	labelMiss             // computed (or revalidated) by this request
	labelCollapsed        // joined another request's computation
	labelCount
)

var labelNames = [labelCount]string{"none", "hit", "stale", "miss", "collapsed"}

// cacheLabel is the requests_total cache label of an answer.
func cacheLabel(a shield.Answer) int {
	switch {
	case a.Outcome == shield.None:
		return labelNone
	case a.Collapsed:
		return labelCollapsed
	case a.Outcome == shield.Hit || a.Outcome == shield.Negative:
		return labelHit
	case a.Outcome.Stale():
		return labelStale
	}
	return labelMiss
}

// commonStatuses get their request counters resolved at start-up, so that
// counting a request never allocates; others are resolved when first seen.
var commonStatuses = [...]int{200, 304, 400, 403, 404, 405, 413, 422, 500, 502, 503, 504}

// statusSlot is a status' index in commonStatuses, or -1.
func statusSlot(status int) int {
	for i, s := range commonStatuses {
		if s == status {
			return i
		}
	}
	return -1
}

// metrics is imgedge's Prometheus registry (the names the README lists). The
// client_golang counters and histograms are atomic and allocation-free once a
// label child is resolved; the hit path only touches resolved children.
type metrics struct {
	registry *prometheus.Registry

	requests        *prometheus.CounterVec
	byStatus        [labelCount][len(commonStatuses)]prometheus.Counter
	requestDuration prometheus.Histogram
	originRequests  *prometheus.CounterVec
	originDuration  prometheus.Histogram
	transforms      *prometheus.CounterVec
	transformTime   *prometheus.HistogramVec
	rungs           *prometheus.CounterVec
	cacheHits       *prometheus.CounterVec
	cacheMisses     *prometheus.CounterVec
	tierHits        [2]prometheus.Counter // [0] variants ("memory"), [1] originals ("memory_originals")
	redisHits       [2]prometheus.Counter // the same kinds from the shared tier ("redis", "redis_originals")
	redisDuration   *prometheus.HistogramVec
	redisMisses     [2]prometheus.Counter
	tierMisses      [2]prometheus.Counter
	collapsed       prometheus.Counter
	errors          *prometheus.CounterVec
	flags           [flagCount][2]prometheus.Counter // [flag][on]
}

// flagDecisions counts the decisions of the flags that mattered for spec:
// jxl and avif under auto=format, qualities when the URL sets no quality.
func (m *metrics) flagDecisions(spec *transform.Spec, d *flagDecisions) {
	mattered := [flagCount]bool{flagJXL: spec.AutoFormat, flagAVIF: spec.AutoFormat, flagQualities: spec.Quality == 0}
	for f := range flagCount {
		if mattered[f] {
			on := 0
			if d[f].on {
				on = 1
			}
			m.flags[f][on].Inc()
		}
	}
}

// Optional abilities of the transformer, reported as gauges when present
// (transform/libvips has them all).
type (
	queueReporter interface {
		Inflight() int64
		Queued() int64
		Stuck() int64
	}
	costReporter interface {
		Killed() int64
		Reserved() int64
	}
	memoryReporter interface {
		MemoryStats() (mem, high, files int64)
	}
	byteCounter interface{ Bytes() int64 }
)

func newMetrics(s *Server) *metrics {
	m := &metrics{registry: prometheus.NewRegistry()}
	m.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.registerTraffic()
	m.registerCache(s)
	m.registerErrors()
	if s.fleet != nil {
		m.registerFleet(s)
	}
	registerConnections(m.registry, s)
	registerTransformer(m.registry, s.transformer)
	registerMemory(m.registry, s, s.transformer)
	return m
}

// registerTraffic declares what the handler and the shield's observer count:
// public requests, origin fetches, transforms and collapses.
func (m *metrics) registerTraffic() {
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "imgedge_requests_total", Help: "Public requests by cache outcome (hit, stale, miss, collapsed, none) and status."},
		[]string{"cache", "status"})
	for o := range labelCount {
		for i, st := range commonStatuses {
			m.byStatus[o][i] = m.requests.WithLabelValues(labelNames[o], strconv.Itoa(st))
		}
	}
	// Hits take tens of microseconds, misses tens of milliseconds: the
	// buckets span both.
	m.requestDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "imgedge_request_duration_seconds", Help: "Time to answer a public request, in the handler.",
		Buckets: []float64{25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5, 10, 30}})
	m.originRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "imgedge_origin_requests_total", Help: "Origin fetches by origin and result (ok, not_modified, not_found, too_large, timeout, unavailable, no_connection, error)."},
		[]string{"origin", "result"})
	m.originDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "imgedge_origin_duration_seconds", Help: "Time of origin fetches.",
		Buckets: []float64{1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5, 10}})
	m.transforms = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "imgedge_transforms_total", Help: "Transforms run, by output format."}, []string{"format"})
	m.transformTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "imgedge_transform_duration_seconds", Help: "Time of transforms, by output format.",
		Buckets: []float64{2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5, 10, 30}}, []string{"format"})
	m.rungs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "imgedge_transform_rungs_total",
		Help: "Transforms that kept a rung of their source (a decode at reduced scale, for later variants) or started from one."}, []string{"use"})
	m.collapsed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "imgedge_collapsed_total", Help: "Requests that joined another request's computation."})
	m.registry.MustRegister(m.requests, m.requestDuration, m.originRequests, m.originDuration, m.transforms, m.transformTime, m.rungs,
		m.collapsed)
}

// registerCache declares the tiers' lookups, with the shared tier's children
// only when there is one, and the bytes each memory tier holds.
func (m *metrics) registerCache(s *Server) {
	m.cacheHits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "imgedge_cache_hits_total", Help: "Lookups answered from a tier (fresh or stale copies)."}, []string{"tier"})
	m.cacheMisses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "imgedge_cache_misses_total", Help: "Lookups a tier could not answer."}, []string{"tier"})
	for i, tier := range []string{"memory", "memory_originals"} {
		m.tierHits[i] = m.cacheHits.WithLabelValues(tier)
		m.tierMisses[i] = m.cacheMisses.WithLabelValues(tier)
	}
	if s.fleet != nil {
		for i, tier := range []string{"redis", "redis_originals"} {
			m.redisHits[i] = m.cacheHits.WithLabelValues(tier)
			m.redisMisses[i] = m.cacheMisses.WithLabelValues(tier)
		}
	}
	bytes := prometheus.NewDesc("imgedge_cache_bytes", "Bytes held by a cache tier (approximate).", []string{"tier"}, nil)
	m.registry.MustRegister(m.cacheHits, m.cacheMisses, collectorFunc{descs: []*prometheus.Desc{bytes}, collect: func(ch chan<- prometheus.Metric) {
		for tier, st := range map[string]cache.Store{"memory": s.variants, "memory_originals": s.originals} {
			if bc, ok := st.(byteCounter); ok {
				ch <- prometheus.MustNewConstMetric(bytes, prometheus.GaugeValue, float64(bc.Bytes()), tier)
			}
		}
	}})
}

// registerErrors declares the failure taxonomy and the feature flags'
// decisions.
func (m *metrics) registerErrors() {
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "imgedge_errors_total", Help: "Failed requests by class and code (README, Errors)."}, []string{"class", "code"})
	// Every class and code of the taxonomy exists from the start, at 0, so
	// that rates and alerts work before the first failure.
	for _, cc := range [][2]string{
		{classUser, "bad_param"}, {classUser, "signature_invalid"}, {classUser, "not_found"}, {classUser, "source_too_large"},
		{classUser, "unsupported_image"}, {classUser, "unsupported_format"}, {classRetryable, "overloaded"}, {classRetryable, "origin_unavailable"},
		{classRetryable, "origin_timeout"}, {classOperator, "origin_error"}, {classOperator, "origin_misconfigured"}, {classFatal, "internal"},
	} {
		m.errors.WithLabelValues(cc[0], cc[1])
	}
	flags := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "imgedge_flag_decisions_total", Help: "Feature flag decisions on requests they mattered for, by flag and decision (on, off)."},
		[]string{"flag", "decision"})
	for f := range flagCount {
		m.flags[f][0], m.flags[f][1] = flags.WithLabelValues(flagNames[f], "off"), flags.WithLabelValues(flagNames[f], "on")
	}
	m.registry.MustRegister(m.errors, flags)
}

// registerFleet declares the shared tier's calls, breaker and dropped writes,
// and the fleet purge log's state; only a node with a shared tier has them.
func (m *metrics) registerFleet(s *Server) {
	rd := s.fleet
	dropped := prometheus.NewDesc("imgedge_redis_dropped_writes_total", "Writes that did not reach Redis, by reason (queue_full, breaker_open, failed, too_large, stale_epoch).", []string{"reason"}, nil)
	m.redisDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "imgedge_redis_duration_seconds", Help: "Time of calls to the shared tier, by operation (failed ones included).",
		Buckets: []float64{100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3}}, []string{"op"})
	for _, op := range []string{"get", "set", "del", "lock", "renew", "await", "unlock", "purge", "announce"} {
		m.redisDuration.WithLabelValues(op)
	}
	m.registry.MustRegister(m.redisDuration,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "imgedge_redis_breaker_state", Help: "The shared tier's circuit breaker: 0 closed, 1 half-open, 2 open."},
			func() float64 { return float64(rd.BreakerState()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "imgedge_redis_errors_total", Help: "Calls to Redis that failed or timed out (each a miss or a dropped write)."},
			func() float64 { return float64(rd.Errors()) }),
		collectorFunc{descs: []*prometheus.Desc{dropped}, collect: func(ch chan<- prometheus.Metric) {
			for reason, name := range fleet.DropReasons {
				ch <- prometheus.MustNewConstMetric(dropped, prometheus.CounterValue, float64(rd.Dropped(reason)), name)
			}
		}},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "imgedge_purge_rules", Help: "Purge rules this node holds (fleet and node-only), pruned after the longest time an entry can be kept."},
			func() float64 { return float64(s.purges.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "imgedge_purge_log_position", Help: "The purge log's sequence up to which this node has applied every rule (what its fills record)."},
			func() float64 { return float64(s.purges.Seq()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "imgedge_purge_pending", Help: "Node-only purges waiting for Redis to reach the fleet."},
			func() float64 { return float64(s.purgeLog.Pending()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "imgedge_purge_epochs_total", Help: "Times this node found the fleet's purge history lost (Redis restarted, failed over or was flushed); entries stored before are revalidated."},
			func() float64 { return float64(s.purgeLog.Epochs()) }))
}

// registerConnections declares the public listener's connections and the
// origins' breakers.
func registerConnections(r *prometheus.Registry, s *Server) {
	r.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "imgedge_open_connections", Help: "Connections open on the public listener."},
			func() float64 { return float64(s.idle.openConns()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "imgedge_idle_connections_closed_total", Help: "Idle keep-alive connections closed, oldest first, to make room near server.max_conns."},
			func() float64 { return float64(s.idle.closedIdle()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "imgedge_connections_refused_total", Help: "Connections answered 503 and closed: over server.max_conns, or over server.max_conns_per_ip from one address."},
			func() float64 { return float64(s.refused.Load()) }))
	breaker := prometheus.NewDesc("imgedge_breaker_state", "Circuit breaker state by origin: 0 closed, 1 half-open, 2 open.", []string{"origin"}, nil)
	r.MustRegister(collectorFunc{descs: []*prometheus.Desc{breaker}, collect: func(ch chan<- prometheus.Metric) {
		// Routes may share an origin, each with its own breaker: one series
		// per origin, the most open of its breakers (two series with the same
		// labels fail the whole scrape).
		worst := map[string]int{}
		var order []string
		for _, up := range s.router.upstreams() {
			st, seen := worst[up.origin.ID]
			if !seen {
				order = append(order, up.origin.ID)
			}
			if now := up.breaker.State(); !seen || now > st {
				worst[up.origin.ID] = now
			}
		}
		for _, id := range order {
			ch <- prometheus.MustNewConstMetric(breaker, prometheus.GaugeValue, float64(worst[id]), id)
		}
	}})
}

// registerTransformer declares the gauges of the optional abilities tr has:
// a transformer without them (a test's wrapper) exports none of their series.
func registerTransformer(r *prometheus.Registry, tr transform.Transformer) {
	if q, ok := tr.(queueReporter); ok {
		r.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "imgedge_inflight_transforms", Help: "Transforms running now."},
				func() float64 { return float64(q.Inflight()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "imgedge_queued_transforms", Help: "Transforms waiting for a slot."},
				func() float64 { return float64(q.Queued()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "imgedge_stuck_transforms", Help: "Renders killed (timeout, client gone, shutdown) that have not returned yet."},
				func() float64 { return float64(q.Stuck()) }))
	}
	if c, ok := tr.(costReporter); ok {
		r.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "imgedge_transforms_killed_total", Help: "Renders stopped by a kill rather than finished."},
				func() float64 { return float64(c.Killed()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "imgedge_transform_memory_reserved_bytes", Help: "Estimated memory of the running renders, within transform.memory_budget."},
				func() float64 { return float64(c.Reserved()) }))
	}
	if mr, ok := tr.(memoryReporter); ok {
		stat := func(pick func(mem, high, files int64) int64) func() float64 {
			return func() float64 { return float64(pick(mr.MemoryStats())) }
		}
		r.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "imgedge_libvips_memory_bytes", Help: "Pixel buffers libvips itself tracks. Codecs (librsvg, libheif and aom, libjxl, libwebp) allocate outside this count: process_resident_memory_bytes is the true figure."},
				stat(func(m, _, _ int64) int64 { return m })),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "imgedge_libvips_memory_highwater_bytes", Help: "libvips' tracked memory high-water mark."},
				stat(func(_, h, _ int64) int64 { return h })),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "imgedge_libvips_open_files", Help: "Files libvips holds open."},
				stat(func(_, _, f int64) int64 { return f })))
	}
}

// redisCall times one call to the shared tier (cache.RedisConfig.Observe).
func (m *metrics) redisCall(op string, took time.Duration, _ bool) {
	m.redisDuration.WithLabelValues(op).Observe(took.Seconds())
}

// request counts one public request.
func (m *metrics) request(label, status int, took time.Duration) {
	if i := statusSlot(status); i >= 0 {
		m.byStatus[label][i].Inc()
	} else {
		m.requests.WithLabelValues(labelNames[label], strconv.Itoa(status)).Inc()
	}
	m.requestDuration.Observe(took.Seconds())
}

// answered counts what the shield's answer says: the request's own tier
// lookup (a hit when that tier answered without a fill; a variant whose
// original is a remembered not-found missed its own tier) and a collapse.
func (m *metrics) answered(original bool, a *shield.Answer) {
	tier := 0
	if original {
		tier = 1
	}
	hit := a.Outcome.FromTier() && a.Lookup != shield.LookupMiss
	if a.Outcome == shield.Hit && a.Tier == cache.TierRedis {
		hit = true // another node's fill, read from the shared tier
	}
	switch {
	case hit && a.Tier == cache.TierRedis:
		m.tierMisses[tier].Inc()
		m.redisHits[tier].Inc()
	case hit:
		m.tierHits[tier].Inc()
	default:
		m.tierMisses[tier].Inc()
		if m.redisMisses[tier] != nil {
			m.redisMisses[tier].Inc()
		}
	}
	if a.Collapsed {
		m.collapsed.Inc()
	}
}

// Fetched counts one origin fetch (shield.Observer).
func (m *metrics) Fetched(originID string, obj origin.Object, err error, took time.Duration) {
	m.originRequests.WithLabelValues(originID, fetchResult(obj, err)).Inc()
	m.originDuration.Observe(took.Seconds())
}

// Rendered counts one transform (shield.Observer).
func (m *metrics) Rendered(res *transform.Result, took time.Duration) {
	m.transforms.WithLabelValues(res.Format.String()).Inc()
	m.transformTime.WithLabelValues(res.Format.String()).Observe(took.Seconds())
	if res.Rung != transform.RungNone {
		m.rungs.WithLabelValues(res.Rung.String()).Inc()
	}
}

// fetchResult is the result label of imgedge_origin_requests_total.
func fetchResult(obj origin.Object, err error) string {
	switch {
	case err == nil && obj.NotModified:
		return "not_modified"
	case err == nil:
		return "ok"
	case errors.Is(err, origin.ErrNotFound):
		return "not_found"
	case errors.Is(err, origin.ErrTooLarge):
		return "too_large"
	case errors.Is(err, origin.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, origin.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, origin.ErrNoConnection):
		return "no_connection"
	case errors.Is(err, origin.ErrBytesInFlight):
		return "bytes_in_flight"
	}
	return "error"
}

// collectorFunc is a Collector of metrics computed at scrape time.
type collectorFunc struct {
	descs   []*prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
