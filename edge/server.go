package edge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"imgedge/cache"
	"imgedge/cache/fleet"
	"imgedge/configs"
	"imgedge/edge/origin"
	"imgedge/edge/shield"
	"imgedge/edge/signing"
	"imgedge/transform"
)

// Server is one edge node: the public handler in front of its shield, and
// the admin handler.
type Server struct {
	cfg         *configs.Config // as started: what only a restart changes is read from here
	log         *slog.Logger
	router      *router
	transformer transform.Transformer
	policy      atomic.Pointer[policy] // swapped whole on reload

	shield              *shield.Shield
	variants, originals cache.Store
	purges              *cache.Purges
	fleet               *fleet.Fleet    // nil: no shared tier
	purgeLog            *fleet.PurgeLog // with fleet
	stopSync            context.CancelFunc
	syncDone            chan struct{}
	closers             []func()

	forwardClient *http.Client // purges forwarded to caches in front
	variantLog    variantLog   // queries answered per path, for nginx purges

	flags atomic.Pointer[flagState] // feature flags: from the config, or PUT /flags until the next reload

	scratch  sync.Pool     // *scratch, so the hit path allocates nothing
	resolved *resolvedMemo // what resolve made of the URLs seen last
	now      func() time.Time
	metrics  *metrics
	tracing  atomic.Pointer[tracing] // nil: off; swapped on reload

	idPrefix   string        // this process's request ids start with it
	idCounter  atomic.Uint64 // and go on with a count
	hitLines   atomic.Uint64 // hits seen by the access log, for sampling
	errorLines lineLimiter   // error lines written each second
	idle       *idleConns    // the public listener's connections, idle ones oldest first
	refused    atomic.Int64  // connections over server.max_conns or max_conns_per_ip, answered 503
	proxies    proxies       // server.trusted_proxies, for the access log\'s client

	ready    atomic.Bool
	draining atomic.Bool

	publicAddr atomic.Pointer[string] // where Serve's public listener listens, for /demo
}

// policy is the part of the configuration a reload may change without
// dropping a request: signing keys, URL parsing (presets, limits) and the
// headers derived from cache.*. The shield holds its own part.
type policy struct {
	cfg *configs.Config // the config it came from
	// signers[0] checks the URLs of origin and of the routes without keys of
	// their own (signing.*); signers[i+1] those of origins[i].
	signers           []signer
	perRoute          bool // some route has keys of its own: its route decides a request's signer
	parser            *transform.Parser
	tracing           configs.Tracing
	down              downstream     // Cache-Control, Age and expiry sent to browsers and caches in front
	browser           browserHeaders // CORS, Timing-Allow-Origin, Accept-CH
	errorCacheControl string         // user-class errors
	logVariants       bool           // an nginx cache in front purges by exact key: remember them
	hitLogEvery       uint64         // log one hit in this many; 0: none
	errorsPerSecond   int            // error lines the access log writes each second
}

func newPolicy(cfg *configs.Config) (*policy, error) {
	parser, err := transform.NewParser(transform.Limits{MaxDimension: cfg.Limits.MaxDimension, Widths: cfg.Limits.Widths, PresetsOnly: cfg.Params.PresetsOnly,
		Ignore: cfg.Params.Ignore, IgnoreUnknown: cfg.Params.Unknown == "ignore"}, cfg.Presets)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	signers, err := newSigners(cfg)
	if err != nil {
		return nil, err
	}
	maxAge := func(d time.Duration) string {
		return "public, max-age=" + strconv.FormatInt(int64(d/time.Second), 10)
	}
	return &policy{
		cfg:               cfg,
		signers:           signers,
		perRoute:          slices.ContainsFunc(signers[1:], func(sg signer) bool { return sg.verifier != signers[0].verifier }),
		parser:            parser,
		tracing:           cfg.Tracing,
		down:              newDownstream(&cfg.Cache),
		browser:           newBrowserHeaders(cfg),
		logVariants:       slices.ContainsFunc(cfg.Purge.Downstream, func(d configs.Downstream) bool { return d.Kind == configs.DownstreamNginx }),
		errorCacheControl: maxAge(cfg.Cache.NegativeTTL.D()),
		hitLogEvery:       sampleEvery(cfg.Log.HitSample),
		errorsPerSecond:   cfg.Log.ErrorsPerSecond,
	}, nil
}

// signer checks one route's signatures and signs its redirects.
type signer struct {
	verifier *signing.Verifier // nil: the route's URLs are not signed
	key      string            // the first key, for the redirects the edge signs
	scheme   signing.Scheme
}

// newSigners builds the signer of the default route and of each route of
// origins, which is the default's unless the route lists keys of its own:
// a URL signed for one route then never verifies on another.
func newSigners(cfg *configs.Config) ([]signer, error) {
	withHost := cfg.RoutesByHost()
	mk := func(keys []string, name string) (signer, error) {
		scheme, err := signing.ParseScheme(name)
		if err != nil {
			return signer{}, fmt.Errorf("config: %w", err)
		}
		sg := signer{verifier: signing.NewVerifier(keys, withHost, scheme), scheme: scheme}
		if len(keys) > 0 {
			sg.key = keys[0]
		}
		return sg, nil
	}
	def, err := mk(cfg.Signing.Keys, cfg.Signing.Scheme)
	if err != nil {
		return nil, err
	}
	signers := []signer{def}
	for i, r := range cfg.Origins {
		sg := def
		if len(r.Signing.Keys) > 0 {
			if sg, err = mk(r.Signing.Keys, cfg.RouteScheme(i)); err != nil {
				return nil, err
			}
		}
		signers = append(signers, sg)
	}
	return signers, nil
}

// signer returns the signer of route (router.route's index).
func (p *policy) signer(route int) *signer {
	if route+1 < len(p.signers) {
		return &p.signers[route+1]
	}
	return &p.signers[0]
}

// shieldPolicy is the shield's part of cfg: freshness, negative caching, the
// bounds of a fill and the source byte limit.
func shieldPolicy(cfg *configs.Config) shield.Policy {
	c := &cfg.Cache
	fetch := cfg.Fetch.Timeout.D()
	return shield.Policy{
		Fresh: shield.Rules{Default: c.TTL.D(), Min: c.MinTTL.D(), Max: c.MaxTTL.D(),
			SWR: c.StaleWhileRevalidate.D(), SIE: c.StaleIfError.D()},
		NegativeTTL:    c.NegativeTTL.D(),
		FetchTimeout:   fetch,
		RenderTimeout:  fetch + cfg.Transform.QueueTimeout.D() + cfg.Transform.Timeout.D(),
		MaxSourceBytes: int64(cfg.Limits.MaxSourceBytes),
		FleetWait:      cfg.Transform.QueueTimeout.D(),
	}
}

// sampleEvery turns a share of hits into "one in N"; 0 logs none.
func sampleEvery(share float64) uint64 {
	if share <= 0 {
		return 0
	}
	return uint64(math.Round(1 / share))
}

// refreshers bounds background refreshes; more stale hits than this at once
// skip their refresh (a later hit triggers it).
const refreshers = 4

// New builds a Server from cfg. tr renders variants (transform/libvips in
// production, wired in by main); the edge never imports cgo itself, and
// reaches what libvips offers beyond Transform (stall detection, queue,
// cost and memory gauges, Cancel) through the small interfaces staller,
// queueReporter, costReporter, memoryReporter and canceller.
func New(cfg *configs.Config, tr transform.Transformer, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if tr == nil || log == nil {
		return nil, errors.New("edge: New needs a transformer and a logger")
	}
	pol, err := newPolicy(cfg)
	if err != nil {
		return nil, err
	}
	rt, err := newRouter(cfg, origin.Config{
		Timeout:        cfg.Fetch.Timeout.D(),
		ConnectTimeout: cfg.Fetch.ConnectTimeout.D(),
		MaxConns:       cfg.Fetch.MaxConns,
		Bytes:          origin.NewBudget(int64(cfg.Fetch.MaxBytesInFlight)),
		S3:             origin.S3Config{Endpoint: cfg.S3.Endpoint, Region: cfg.S3.Region, PathStyle: cfg.S3.PathStyle},
	})
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	s := &Server{cfg: cfg, log: log, router: rt, transformer: tr, now: time.Now, resolved: newResolvedMemo(), proxies: newProxies(cfg.Server.TrustedProxies),
		idle: newIdleConns(cfg.Server.MaxConns)}
	s.policy.Store(pol)
	s.flags.Store(newFlagState(&cfg.Flags))
	var prefix [4]byte
	_, _ = rand.Read(prefix[:])
	s.idPrefix = hex.EncodeToString(prefix[:]) + "-"
	s.scratch.New = func() any { return &scratch{key: make([]byte, 0, 256), hdr: make([]byte, 0, 128)} }
	s.purges = cache.NewPurges(cfg.Redis.Enabled(), fleet.PurgeBound)
	s.forwardClient = &http.Client{Timeout: forwardTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if cfg.Redis.Enabled() {
		if s.fleet, err = fleet.New(fleet.Config{URL: cfg.Redis.URL, Addrs: cfg.Redis.Addrs, Cluster: cfg.Redis.Cluster,
			Timeout: cfg.Redis.Timeout.D(), MaxValue: int(cfg.Redis.MaxValue), Queue: cfg.Redis.Queue, Log: log,
			// Calls start once New has returned: s.metrics is set by then.
			Observe: func(op string, took time.Duration, failed bool) { s.metrics.redisCall(op, took, failed) }}); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		s.closers = append(s.closers, s.fleet.Close)
		started := purgeRetention(cfg)
		s.purgeLog = s.fleet.PurgeLog(s.purges, func() time.Duration {
			return max(started, purgeRetention(s.policy.Load().cfg))
		})
	}
	if s.variants, err = s.memoryTier(int64(cfg.Cache.Memory)); err != nil {
		return nil, err
	}
	if s.originals, err = s.memoryTier(int64(cfg.Cache.MemoryOriginals)); err != nil {
		return nil, err
	}
	s.metrics = newMetrics(s)
	var rungs cache.Store
	if _, off := s.originals.(cache.Off); !off {
		rungs = s.originals
	}
	sc := shield.Config{Rungs: rungs, Transformer: tr, Purges: s.purges, Observer: s.metrics, Refreshers: refreshers, Log: log}
	var sharedVariants, sharedOriginals *fleet.Tier
	if s.fleet != nil {
		sharedVariants, sharedOriginals = s.fleet.Tier(fleet.VariantsPrefix), s.fleet.Tier(fleet.OriginalsPrefix)
		sc.FleetVariants, sc.FleetOriginals = sharedVariants, sharedOriginals
	}
	s.variants, s.originals = s.tiers(s.variants, sharedVariants), s.tiers(s.originals, sharedOriginals)
	sc.Variants, sc.Originals = s.variants, s.originals
	s.shield, err = shield.New(sc, shieldPolicy(cfg))
	if err != nil {
		return nil, err
	}
	t, err := newTracing(cfg.Tracing)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	s.tracing.Store(t)
	if s.purgeLog != nil {
		ctx, stop := context.WithCancel(context.Background())
		s.stopSync, s.syncDone = stop, make(chan struct{})
		go func() {
			defer close(s.syncDone)
			s.purgeLog.Run(ctx)
		}()
	}
	s.ready.Store(true)
	return s, nil
}

// CheckReload reports why the edge would refuse to reload to cfg: it does
// not validate, or it would turn URL signing off without saying so
// (configs.CheckReload).
func (s *Server) CheckReload(cfg *configs.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	return configs.CheckReload(s.policy.Load().cfg, cfg)
}

// Reload applies what a new configuration may change while serving (every
// key without reload:"restart" in configs), or refuses it whole and keeps
// the running one. It returns the keys that changed but apply only after a
// restart.
func (s *Server) Reload(cfg *configs.Config) ([]string, error) {
	r, err := s.PrepareReload(cfg)
	if err != nil {
		return nil, err
	}
	return r.Apply(), nil
}

// PreparedReload is a new configuration's state, built and checked whole
// before any of it is used: Apply cannot fail. A process reloading more
// than this server (the transformer) prepares every part first, then
// applies them, so that a refusal anywhere leaves everything as it was.
type PreparedReload struct {
	s       *Server
	cfg     *configs.Config
	pol     *policy
	shield  shield.Policy
	tracing *tracing // nil when tracing is unchanged
	changed bool     // tracing changed (to off, tracing is nil)
}

// PrepareReload builds and checks everything cfg changes, changing nothing.
func (s *Server) PrepareReload(cfg *configs.Config) (*PreparedReload, error) {
	if err := s.CheckReload(cfg); err != nil {
		return nil, err
	}
	// Routes are fixed at start (origins is reload:"restart"), and their
	// signing keys with them: a reload may not give a route keys its
	// running router does not know it by.
	running := *cfg
	running.Origins = s.cfg.Origins
	pol, err := newPolicy(&running)
	if err != nil {
		return nil, err
	}
	sp := shieldPolicy(cfg)
	if err := shield.CheckPolicy(sp); err != nil {
		return nil, err
	}
	r := &PreparedReload{s: s, cfg: cfg, pol: pol, shield: sp, changed: cfg.Tracing != s.policy.Load().tracing}
	if r.changed {
		// Last: the only part that holds a resource, closed by Apply's swap.
		if r.tracing, err = newTracing(cfg.Tracing); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	return r, nil
}

// Apply swaps the prepared state in and returns the keys that changed but
// apply only after a restart.
func (r *PreparedReload) Apply() []string {
	s := r.s
	_ = s.shield.SetPolicy(r.shield) // checked by PrepareReload
	s.policy.Store(r.pol)
	s.flags.Store(newFlagState(&r.cfg.Flags))
	s.resolved.clear() // after both: an entry stored meanwhile holds a replaced one only until its slot is asked for
	if r.changed {
		s.tracing.Swap(r.tracing).close()
	}
	return configs.RestartOnly(s.cfg, r.cfg)
}

// tiers puts a memory tier under the purges and, with a fleet, over its
// shared tier.
func (s *Server) tiers(memory cache.Store, shared *fleet.Tier) *cache.Tiers {
	t := &cache.Tiers{Memory: memory, Purges: s.purges, Now: time.Now}
	if shared != nil {
		t.Shared = shared
		t.OnStale = func() { s.fleet.Drop(fleet.DropStaleEpoch) }
	}
	return t
}

// purgeRetention is how long cfg lets an entry be kept: max_ttl plus the
// longest stale window (capped at max_ttl) or the not-found memory. A
// purge older than that covers nothing that can still be served.
func purgeRetention(cfg *configs.Config) time.Duration {
	c := &cfg.Cache
	maxTTL := c.MaxTTL.D()
	return maxTTL + max(min(c.StaleWhileRevalidate.D(), maxTTL), min(c.StaleIfError.D(), maxTTL), c.NegativeTTL.D())
}

func (s *Server) memoryTier(budget int64) (cache.Store, error) {
	if budget == 0 {
		return cache.Off{}, nil
	}
	m, err := cache.NewMemory(budget)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, m.Close)
	return m, nil
}

// Close stops background refreshes and waits, within ctx, for the fills
// still running (their renders use libvips, which the caller shuts down
// next), then releases the tracer and the cache tiers. The error says fills
// were still running when ctx ended.
func (s *Server) Close(ctx context.Context) error {
	err := s.shield.Close(ctx)
	if s.stopSync != nil {
		s.stopSync()
		<-s.syncDone
	}
	s.tracing.Load().close()
	for _, c := range s.closers {
		c()
	}
	return err
}

// PublicServer returns the fasthttp server for the public listener, with the
// timeouts and connection bound of the server.* settings.
func (s *Server) PublicServer() *fasthttp.Server {
	return &fasthttp.Server{
		Handler:      s.Handle,
		Name:         "imgedge",
		ReadTimeout:  s.cfg.Server.ReadTimeout.D(),
		WriteTimeout: s.cfg.Server.WriteTimeout.D(),
		IdleTimeout:  s.cfg.Server.IdleTimeout.D(),
		// server.max_conns and max_conns_per_ip are held by the listener
		// (connLimit), which answers in the error taxonomy.
		NoDefaultContentType: true,
		ErrorHandler:         s.unreadable,
		// The read buffer bounds a request's headers: larger ones get 431.
		ReadBufferSize: 8192,
		Logger:         serverLog{s},
		ConnState:      s.idle.state,
	}
}

// Serve runs the public and admin listeners until ctx is done, then stops
// accepting, marks the node not ready, and lets in-flight requests finish
// within server.drain_timeout: half of it, then the renders still running
// are killed so that their requests answer, and a quarter later the
// listeners close whatever is left. The last quarter is the caller's, to
// Close. A drain that ran out of time is logged, not an error: the edge
// stopped as configured.
func (s *Server) Serve(ctx context.Context, public, admin net.Listener) error {
	addr := public.Addr().String()
	s.publicAddr.Store(&addr)
	pub := s.PublicServer()
	adm := &http.Server{Handler: s.AdminHandler(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 2)
	go func() {
		errc <- pub.Serve(newConnLimit(public, s.cfg.Server.MaxConns, s.cfg.Server.MaxConnsPerIP, &s.refused))
	}()
	go func() {
		if err := adm.Serve(admin); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
			return
		}
		errc <- nil
	}()
	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
	}
	s.draining.Store(true)
	s.ready.Store(false)
	drain := s.cfg.Server.DrainTimeout.D()
	dctx, cancel := context.WithTimeout(context.Background(), drain*3/4)
	defer cancel()
	if c, ok := s.transformer.(canceller); ok {
		kill := time.AfterFunc(drain/2, c.Cancel)
		defer kill.Stop()
	}
	if err := pub.ShutdownWithContext(dctx); err != nil {
		s.log.Warn("drain: requests still open at server.drain_timeout; closed", "err", err)
	}
	if err := adm.Shutdown(dctx); err != nil && first == nil {
		first = fmt.Errorf("admin shutdown: %w", err)
	}
	return first
}

// canceller is a transformer that can kill its running renders
// (transform/libvips can), so that a drain does not wait on them.
type canceller interface{ Cancel() }

// serverLog writes fasthttp's own lines (a request it could not parse, a
// connection it dropped) within the error line budget, cut like the access
// log's: they quote what the client sent, so a flood of malformed requests
// would otherwise write as many bytes of log as it sends.
type serverLog struct{ s *Server }

func (l serverLog) Printf(format string, args ...any) {
	ok, dropped := l.s.errorLines.allow(l.s.now(), l.s.policy.Load().errorsPerSecond)
	if !ok {
		return
	}
	msg := capLogged([]byte(fmt.Sprintf(format, args...)))
	if dropped > 0 {
		l.s.log.Warn(msg, "error_lines_dropped", dropped)
		return
	}
	l.s.log.Warn(msg)
}

// unreadable answers a request fasthttp could not read, in the error
// taxonomy and never cacheable: it says nothing about any URL.
func (s *Server) unreadable(ctx *fasthttp.RequestCtx, err error) {
	p := problem{Status: 400, Title: "Bad Request", Class: classUser, Code: "bad_param", transient: true,
		Detail: "The request is not valid HTTP/1.1; send a GET or HEAD with a path and a Host header."}
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.As(err, &small):
		p.Status, p.Title, p.Detail = 431, "Request Header Fields Too Large", "The request's headers are over 8 KiB; send fewer or shorter ones."
	case errors.As(err, &ne) && ne.Timeout():
		p.Status, p.Title, p.Detail = 408, "Request Timeout", "The request did not arrive whole within server.read_timeout; send it at once."
	}
	s.metrics.errors.WithLabelValues(p.Class, p.Code).Inc()
	s.writeProblem(ctx, p)
}
