package edge_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	cachefleet "imgedge/cache/fleet"
	"imgedge/cache/redistest"
)

// The chaos checker, in the spirit of Jepsen: edge processes sharing a
// real Redis (or Redis Cluster), a real HTTP origin whose sources change
// during the run, a workload of reads, replacements and purges, and faults
// the test injects. Every request and answer is recorded; the invariants
// are checked over the whole history afterwards:
//
//  1. after a fleet purge answered 200, no node of this release serves
//     bytes older than the purge once PurgeBound has passed;
//  2. every answer's bytes are a version of its own source;
//  3. every ETag matches its bytes;
//  4. no request waits past its bound.
//
// The seed is printed; IMGEDGE_CHAOS_SEED replays a run's schedule and
// IMGEDGE_CHAOS_SECONDS makes runs longer (default 12 s per scenario, 6 s
// under the race detector).

// chaosSources is how many sources the origin serves; each starts at
// version 0 and gains one per replacement.
const chaosSources = 6

// chaosRequestBound is the most any request may take: a fetch, a wait for
// a render slot and a render, each bounded, plus Redis calls bounded by
// its timeout.
const chaosRequestBound = 6 * time.Second

// maxVersions is how many versions of a source the colours tell apart.
const maxVersions = 64 * 64

// versionColor is the solid colour of version v of source s: R and G
// carry v in base 64, each digit 4 apart (a resize's rounding never
// confuses two versions), B carries s.
func versionColor(s, v int) color.NRGBA {
	return color.NRGBA{R: uint8(4 * (v % 64)), G: uint8(4 * (v / 64 % 64)), B: uint8(30 * s), A: 255}
}

// decodeVersion reads back the (source, version) of a PNG body by its
// centre pixel; ok false when it is no version of any source.
func decodeVersion(body []byte) (s, v int, ok bool) {
	img, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		return 0, 0, false
	}
	b := img.Bounds()
	r, g, bl, _ := img.At((b.Min.X+b.Max.X)/2, (b.Min.Y+b.Max.Y)/2).RGBA()
	r, g, bl = r>>8, g>>8, bl>>8
	digit := func(a uint32) (int, bool) { // the multiple of 4 within 1 of a
		d := (int(a) + 1) / 4
		return d, int(a)-4*d <= 1 && 4*d-int(a) <= 1 && d < 64
	}
	lo, ok1 := digit(r)
	hi, ok2 := digit(g)
	if !ok1 || !ok2 || int(bl)%30 > 1 && int(bl)%30 < 29 {
		return 0, 0, false
	}
	return (int(bl) + 1) / 30, hi*64 + lo, true
}

// chaosOrigin serves the sources' current versions, with ETags and 304s.
type chaosOrigin struct {
	mu       sync.Mutex
	versions [chaosSources][][]byte // every version's bytes, in order
}

func newChaosOrigin(t *testing.T) (*chaosOrigin, *httptest.Server) {
	o := &chaosOrigin{}
	for s := range chaosSources {
		o.replace(s)
	}
	srv := httptest.NewServer(http.HandlerFunc(o.serve))
	t.Cleanup(srv.Close)
	return o, srv
}

// replace makes a new version of source s current and returns it.
func (o *chaosOrigin) replace(s int) int {
	img := image.NewNRGBA(image.Rect(0, 0, 64, 48))
	o.mu.Lock()
	defer o.mu.Unlock()
	v := len(o.versions[s])
	if v >= maxVersions {
		panic("chaos: more versions than the colours tell apart")
	}
	c := versionColor(s, v)
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img)
	o.versions[s] = append(o.versions[s], buf.Bytes())
	return v
}

// current is source s's current version.
func (o *chaosOrigin) current(s int) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.versions[s]) - 1
}

func (o *chaosOrigin) serve(w http.ResponseWriter, r *http.Request) {
	var s int
	if _, err := fmt.Sscanf(r.URL.Path, "/s%d.png", &s); err != nil || s < 0 || s >= chaosSources {
		http.NotFound(w, r)
		return
	}
	o.mu.Lock()
	v := len(o.versions[s]) - 1
	body := o.versions[s][v]
	o.mu.Unlock()
	tag := `"v` + strconv.Itoa(v) + `"`
	w.Header().Set("ETag", tag)
	// Only purges make a change visible within the run: invariant 1 is
	// about them.
	w.Header().Set("Cache-Control", "max-age=3600")
	if r.Header.Get("If-None-Match") == tag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(body)
}

// chaosEvent is one request or purge as a client saw it.
type chaosEvent struct {
	node       int
	url        string
	source     int
	start, end time.Time
	status     int
	err        error
	body       []byte
	etag       string
	cache      string // Cache-Status, for the report
	// purges only
	purge   bool
	version int // the source's version when the purge was sent
	scope   string
}

// chaosNode is one edge in the run: a process and whether it is of this
// release (invariant 1 is this release's promise).
type chaosNode struct {
	p       *edgeProc
	current bool
	mu      sync.Mutex // held while the node is being restarted
	down    []window   // when it was killed
}

type window struct{ from, to time.Time }

type chaosScenario struct {
	name     string
	previous int // nodes of the previous release among the three
	cluster  bool
	faults   []string
}

// TestChaos runs the workload and faults per scenario and checks the
// invariants over each history.
func TestChaos(t *testing.T) {
	// Its scenarios wait out their faults' timers; the clock-bound tests
	// wait beside them.
	t.Parallel()
	seed := time.Now().UnixNano()
	if s := os.Getenv("IMGEDGE_CHAOS_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("IMGEDGE_CHAOS_SEED=%q: %v", s, err)
		}
	}
	seconds := 12
	if raceEnabled {
		seconds = 6 // for races: the plain run checks the histories for 12 s
	}
	if s := os.Getenv("IMGEDGE_CHAOS_SECONDS"); s != "" {
		seconds, _ = strconv.Atoi(s)
	}
	t.Logf("chaos seed %d (replay: IMGEDGE_CHAOS_SEED=%d go test -run TestChaos ./edge/)", seed, seed)
	// The scenarios share nothing but the cores: each runs its faults
	// for the same time beside the others, all in this test's one slot
	// (as parallel subtests they would queue behind every other parallel
	// test and end the package's run alone).
	var wg sync.WaitGroup
	for i, sc := range []chaosScenario{
		{name: "redis", faults: []string{"redis-kill-empty", "redis-aof-replay", "redis-freeze", "node-restart"}},
		{name: "cluster", cluster: true, faults: []string{"master-kill-empty", "master-freeze", "node-restart"}},
		{name: "mixed-release", previous: 1, faults: []string{"redis-freeze", "node-restart"}},
	} {
		wg.Go(func() {
			t.Run(sc.name, func(t *testing.T) {
				runChaos(t, sc, seed+int64(i), time.Duration(seconds)*time.Second)
			})
		})
	}
	wg.Wait()
}

// chaosRun is one scenario's processes and the history its clients saw.
type chaosRun struct {
	sc      chaosScenario
	origin  *chaosOrigin
	rd      *redistest.Server   // the Redis, unless a cluster
	masters []*redistest.Server // the cluster's masters
	nodes   []*chaosNode
	client  *http.Client

	mu      sync.Mutex
	history []chaosEvent
}

func runChaos(t *testing.T, sc chaosScenario, seed int64, duration time.Duration) {
	r := startChaos(t, sc)
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var wg sync.WaitGroup
	for w := range 6 {
		wr := rand.New(rand.NewPCG(uint64(seed), uint64(w)))
		wg.Go(func() {
			for ctx.Err() == nil {
				r.step(wr)
			}
		})
	}
	faults := r.injectFaults(ctx, rand.New(rand.NewPCG(uint64(seed), 0x1dea)))
	wg.Wait()
	for i, n := range r.nodes {
		select {
		case err := <-n.p.done:
			n.p.running = false
			t.Errorf("node %d exited by itself: %v\n%s", i, err, crashLines(n.p.logs.String(), 60))
		default:
		}
	}
	t.Logf("%s: %d events, faults %v", sc.name, len(r.history), faults)
	checkChaos(t, r.history, r.nodes, r.origin, sc.previous == 0)
}

// startChaos starts the origin, Redis (or a cluster) and three edge
// nodes, the first sc.previous of them of the previous release.
func startChaos(t *testing.T, sc chaosScenario) *chaosRun {
	r := &chaosRun{sc: sc, client: &http.Client{Timeout: 2 * chaosRequestBound}}
	origin, originSrv := newChaosOrigin(t)
	r.origin = origin
	env := []string{"IMGEDGE_ORIGIN=" + originSrv.URL, "IMGEDGE_REDIS_TIMEOUT=250ms"}
	if sc.cluster {
		r.masters = redistest.StartClusterServers(t, 3)
		var addrs []string
		for _, m := range r.masters {
			addrs = append(addrs, m.Addr)
		}
		env = append(env, "IMGEDGE_REDIS_CLUSTER=true", "IMGEDGE_REDIS_ADDRS="+strings.Join(addrs, ","))
	} else {
		r.rd = redistest.StartAOF(t)
		env = append(env, "IMGEDGE_REDIS_URL="+r.rd.URL())
	}
	for i := range 3 {
		release, current := "", true
		if i < sc.previous {
			release, current = previousRelease, false
		}
		r.nodes = append(r.nodes, &chaosNode{p: newEdgeProc(t, fmt.Sprintf("node%d", i), edgeBinary(t, release), releaseEnv(release, env...)...), current: current})
	}
	return r
}

func (r *chaosRun) record(e chaosEvent) {
	r.mu.Lock()
	r.history = append(r.history, e)
	r.mu.Unlock()
}

// step is one client operation drawn from wr: a replacement of a source,
// a replacement followed by a purge of it, or (most often) a read.
func (r *chaosRun) step(wr *rand.Rand) {
	n := wr.IntN(len(r.nodes))
	s := wr.IntN(chaosSources)
	switch op := wr.IntN(100); {
	case op < 6:
		r.origin.replace(s)
	case op < 12:
		r.purge(n, s, r.origin.replace(s))
	default:
		r.read(n, s, "/s"+strconv.Itoa(s)+".png"+[]string{"", "?w=32&fm=png", "?w=16&h=16&fit=crop&fm=png"}[wr.IntN(3)])
	}
}

func (r *chaosRun) purge(n, s, version int) {
	e := chaosEvent{node: n, source: s, purge: true, version: version, start: time.Now()}
	r.nodes[n].mu.Lock() // no purge sent to a node while it restarts
	status, body, err := r.nodes[n].p.purge(context.Background(), "path=/s"+strconv.Itoa(s)+".png")
	r.nodes[n].mu.Unlock()
	e.end, e.status, e.err = time.Now(), status, err
	if strings.Contains(body, `"scope":"fleet"`) {
		e.scope = "fleet"
	}
	r.record(e)
}

func (r *chaosRun) read(n, s int, url string) {
	e := chaosEvent{node: n, url: url, source: s, start: time.Now()}
	resp, err := r.client.Get(r.nodes[n].p.base + url)
	if err == nil {
		e.body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		e.status, e.etag, e.cache = resp.StatusCode, resp.Header.Get("ETag"), resp.Header.Get("Cache-Status")
	}
	e.end, e.err = time.Now(), err
	r.record(e)
}

// injectFaults draws a fault from the scenario's every 1.5 to 3 s until
// ctx ends, and returns what it did when. The schedule runs on real time,
// as the processes do: how long Redis stays frozen and how far apart
// faults fall are the faults themselves. Nothing waits on a sleep for an
// event; the checks read the recorded history after the run.
func (r *chaosRun) injectFaults(ctx context.Context, rng *rand.Rand) []string {
	var faults []string
	for {
		select {
		case <-ctx.Done():
			return faults
		case <-time.After(time.Duration(1500+rng.IntN(1500)) * time.Millisecond):
		}
		if ctx.Err() != nil {
			return faults
		}
		f := r.sc.faults[rng.IntN(len(r.sc.faults))]
		faults = append(faults, time.Now().Format("15:04:05.000")+" "+f)
		r.fault(f, rng)
	}
}

func (r *chaosRun) fault(f string, rng *rand.Rand) {
	freeze := func(s *redistest.Server) {
		s.Pause()
		time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
		s.Resume()
	}
	switch f {
	case "redis-kill-empty":
		r.rd.Kill()
		r.rd.RestartEmpty()
	case "redis-aof-replay":
		r.rd.Kill()
		r.rd.Restart()
	case "redis-freeze":
		freeze(r.rd)
	case "master-kill-empty":
		m := r.masters[rng.IntN(len(r.masters))]
		m.Kill()
		m.RestartEmpty()
	case "master-freeze":
		freeze(r.masters[rng.IntN(len(r.masters))])
	case "node-restart":
		var candidates []*chaosNode
		for _, n := range r.nodes {
			if n.current {
				candidates = append(candidates, n)
			}
		}
		n := candidates[rng.IntN(len(candidates))]
		n.mu.Lock()
		from := time.Now()
		n.p.kill()
		n.p.start()
		n.down = append(n.down, window{from, time.Now()})
		n.mu.Unlock()
	}
}

// checkChaos checks the four invariants over history; purges (1) only when
// every node is of this release: the previous release records a fill's
// purge sequence before every earlier rule is applied, so its fills can
// outlive a purge on any node that reads them from Redis. A rolling deploy
// keeps the older release's purge promise until it is over.
func checkChaos(t *testing.T, history []chaosEvent, nodes []*chaosNode, origin *chaosOrigin, purges bool) {
	t.Helper()
	var violations []string
	violate := func(format string, args ...any) {
		if len(violations) < 20 {
			violations = append(violations, fmt.Sprintf(format, args...))
		}
	}
	wasDown := func(n int, e chaosEvent) bool {
		for _, w := range nodes[n].down {
			if e.start.Before(w.to) && e.end.After(w.from) {
				return true
			}
		}
		return false
	}
	reads, fleetPurges := 0, 0
	for _, e := range history {
		if e.purge {
			if e.scope == "fleet" {
				fleetPurges++
			}
			continue
		}
		if took := e.end.Sub(e.start); took > chaosRequestBound {
			violate("(4) %s on node %d took %v", e.url, e.node, took)
		}
		if e.err != nil || e.status != 200 {
			if !wasDown(e.node, e) {
				violate("%s on node %d at %s-%s: status %d, %v (the node was up; down %v)", e.url, e.node,
					e.start.Format("15:04:05.000"), e.end.Format("15:04:05.000"), e.status, e.err, nodes[e.node].down)
			}
			continue
		}
		reads++
		if e.etag != etagOf(e.body) {
			violate("(3) %s on node %d: ETag %s, bytes hash to %s", e.url, e.node, e.etag, etagOf(e.body))
		}
		s, v, ok := decodeVersion(e.body)
		if !ok || s != e.source || v > origin.current(e.source) {
			violate("(2) %s on node %d: bytes are no version of source %d (decoded %d/%d %v)", e.url, e.node, e.source, s, v, ok)
			continue
		}
		if e.url == "/s"+strconv.Itoa(e.source)+".png" {
			origin.mu.Lock()
			same := bytes.Equal(origin.versions[s][v], e.body)
			origin.mu.Unlock()
			if !same {
				violate("(2) original %s on node %d differs from the origin's version %d", e.url, e.node, v)
			}
		}
		if !purges {
			continue
		}
		for _, p := range history {
			if p.purge && p.scope == "fleet" && p.status == 200 && p.source == e.source &&
				e.start.After(p.end.Add(cachefleet.PurgeBound)) && v < p.version {
				violate("(1) %s on node %d at %s (answered %s, %s) served version %d, older than the purge on node %d answered at %s (version %d)",
					e.url, e.node, e.start.Format("15:04:05.000"), e.end.Format("15:04:05.000"), e.cache, v, p.node, p.end.Format("15:04:05.000"), p.version)
				break
			}
		}
	}
	t.Logf("checked %d reads and %d fleet purges", reads, fleetPurges)
	if reads == 0 || purges && fleetPurges == 0 {
		t.Fatalf("the run checked nothing: %d reads, %d fleet purges", reads, fleetPurges)
	}
	if len(violations) > 0 {
		t.Fatalf("%d invariant violations (first ones):\n%s", len(violations), strings.Join(violations, "\n"))
	}
}

// etagOf is the edge's strong validator of body.
func etagOf(body []byte) string {
	var sum [8]byte
	h := xxhash.Sum64(body)
	for i := range sum {
		sum[i] = byte(h >> (56 - 8*i))
	}
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// crashLines is n lines of a log from where the process crashed (a Go
// panic or fatal signal), or its last n lines.
func crashLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	from := max(0, len(lines)-n)
	for i, l := range lines {
		if strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "fatal error:") || strings.HasPrefix(l, "SIG") {
			from = i
			break
		}
	}
	return strings.Join(lines[from:min(len(lines), from+n)], "\n")
}
