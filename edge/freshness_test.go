package edge_test

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"image"
	"image/png"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/valyala/fasthttp"

	"imgedge/cache/redistest"
	"imgedge/edge/origin/s3test"
)

// The freshness checker. The promise (README, "Caching and headers"): when
// a source is replaced at its origin, whatever the origin and whatever the
// way of replacing it, the new bytes are served within the lifetime the
// edge's headers promised, and the old bytes never after it. For each
// front (what clients talk to), origin kind and kind of replacement, a
// client loop records every answer while the source is replaced at a
// recorded time; the invariants are checked over the whole history
// afterwards (checkFreshness):
//
//	(a) every 200's ETag is the one the edge derives from its bytes;
//	(b) no request sent after the bound is answered with the old bytes (a
//	    304 confirms the copy the client holds, so a 304 to a client
//	    holding the old bytes counts as old bytes); the bound is the end of
//	    the replacement plus the s-maxage (else max-age) and the
//	    stale-while-revalidate the edge sent before it;
//	(c) the new bytes appear: every front node answers every URL after the
//	    bound, with the new bytes;
//	(d) every answer is 200 or 304, its bytes are the old or the new
//	    version (never a torn or foreign one), and no request answered
//	    before the replacement began sees the new bytes;
//	(e) no answer served as fresh was already past its lifetime when
//	    its request was sent: its Age (rounded up, so less a second), less
//	    the time the request took (the edge writes Age when it answers),
//	    stays below its s-maxage.
//
// Why the bound is counted from the replacement and not from the Age of
// the last answer before it: a refresh begun before the replacement (a
// stale-while-revalidate hit, an unproven fleet entry) may fetch the old
// bytes again just before it, and no answer before the replacement shows
// that fetch. But ages count from the request the origin answered (RFC
// 9111 4.2.3), and every request answered with the old bytes was sent
// before the replacement ended, so their lifetime and stale window end at
// the bound at the latest.
// The bound is applied to the time a request was sent: the edge judges
// freshness when a request arrives, after it was sent, so a request sent
// after the bound must not get the old bytes however long its answer takes
// (a render included): there is no slack, and no assertion depends on how
// the machine schedules the loop.
//
// Phases are random: IMGEDGE_FRESHNESS_SEED replays a run's (the seed is
// printed, and each case's phase depends on the seed and its name only).

const (
	freshLifetime = 2 * time.Second        // the origin's max-age, or cache.ttl for a folder
	freshSWR      = 1 * time.Second        // cache.stale_while_revalidate
	freshPace     = 25 * time.Millisecond  // between one client's requests
	freshAfter    = 1 * time.Second        // the loop runs this long past the bound
	freshSlow     = 500 * time.Millisecond // how long the slow origin takes to answer
	freshCap      = 20 * time.Second       // no case runs longer, whatever its headers say
	freshSource   = 1                      // the source index in versionColor
)

// freshURLs are what the clients ask for: the original and a variant.
var freshURLs = []string{"/a.png", "/a.png?w=32&fm=png"}

// freshEnv gives the edge short lifetimes: every case takes a few seconds.
var freshEnv = []string{"IMGEDGE_CACHE_MIN_TTL=0s", "IMGEDGE_CACHE_TTL=" + freshLifetime.String(),
	"IMGEDGE_CACHE_STALE_WHILE_REVALIDATE=" + freshSWR.String()}

// freshFront is what the clients talk to: a name and how to start it in
// front of an origin (env is the edge's environment), returning its base
// URLs; each client alternates between them. A cache in front of the
// edge is one more entry: start the edge, then the cache before it, and
// return the cache's base URL, e.g.
//
//	{"varnish", func(t *testing.T, _ *freshShared, env []string) []string {
//		return []string{startVarnish(t, start(t, env, nil).base).base}
//	}},
//
// The bound stays what the headers before the replacement promised. A
// cache in front may keep a stale-while-revalidate answer of the edge for
// the s-maxage that answer carries (README: 1 s); if it does, the chain
// serves old bytes past the edge's promise, and the checker says so.
type freshFront struct {
	name  string
	start func(t *testing.T, shared *freshShared, env []string) []string
}

// freshShared are the servers every case uses, started once before the
// cases run (starting one per case, at once, races for free ports): one
// S3 server (each case has its own key) and one Redis (each case's fleet
// has its own origin, which every key names).
type freshShared struct {
	s3    *s3test.Server
	redis *redistest.Server
	// starting holds a place for each case from the start of its servers
	// to the first 200 of every URL. Started all at once, the cases'
	// Varnish compilers, edges and cold renders kept two cores busy for
	// seconds, and a first render behind nginx now and then outlasted its
	// 5 s first-byte timeout (a 504 the history rightly counts); once warm
	// the cases mostly wait, and all of them run together.
	starting chan struct{}
}

// freshStarting is how many cases start at once.
const freshStarting = 12

var freshFronts = []freshFront{
	{"edge", func(t *testing.T, _ *freshShared, env []string) []string { return []string{start(t, env, nil).base} }},
	{"fleet", func(t *testing.T, shared *freshShared, env []string) []string {
		env = append(env, "IMGEDGE_REDIS_URL="+shared.redis.URL(), slowRedis)
		return []string{start(t, env, nil).base, start(t, env, nil).base}
	}},
	{"varnish", func(t *testing.T, _ *freshShared, env []string) []string {
		return []string{startVarnish(t, start(t, env, nil).base).base}
	}},
	{"nginx", func(t *testing.T, _ *freshShared, env []string) []string {
		return []string{startNginx(t, start(t, env, nil).base).base}
	}},
}

// freshWhen is when a replacement lands.
type freshWhen int

const (
	// atPhase: at a random moment within the lifetime and stale window
	// after the first answers.
	atPhase freshWhen = iota
	// afterFirst: right after the first answers, in the same second as
	// the first fetch.
	afterFirst
	// duringAnswer: while the origin takes freshSlow to answer a
	// revalidation; its answer is the old version, made before.
	duringAnswer
)

// freshStore is an origin holding /a.png, opened by a freshOrigin.
type freshStore struct {
	env  []string
	dir  string // folder
	http *freshHTTP
	s3   *s3test.Server
	key  string // the S3 key
}

type freshKind struct {
	name    string
	when    freshWhen
	replace func(t *testing.T, s *freshStore, body []byte)
	// prepare, when set, runs just before the clients start (for
	// afterFirst: early in a second) with the old bytes.
	prepare func(t *testing.T, s *freshStore, old []byte)
}

// freshOrigin is one origin kind: open stores the old bytes as /a.png;
// each kind replaces them its own way.
type freshOrigin struct {
	name  string
	open  func(t *testing.T, old []byte, s3 *s3test.Server, id string) *freshStore
	kinds []freshKind
}

var freshOrigins = []freshOrigin{
	{
		name: "folder",
		open: func(t *testing.T, old []byte, _ *s3test.Server, _ string) *freshStore {
			dir := t.TempDir()
			freshMust(t, os.WriteFile(filepath.Join(dir, "a.png"), old, 0o644))
			return &freshStore{dir: dir, env: []string{"IMGEDGE_ORIGIN=file:" + dir}}
		},
		kinds: []freshKind{
			{name: "overwrite", when: atPhase, replace: func(t *testing.T, s *freshStore, body []byte) {
				freshMust(t, os.WriteFile(filepath.Join(s.dir, "a.png"), body, 0o644))
			}},
			{name: "rename-over", when: atPhase, replace: func(t *testing.T, s *freshStore, body []byte) {
				tmp := filepath.Join(s.dir, ".a.png.tmp")
				freshMust(t, os.WriteFile(tmp, body, 0o644))
				freshMust(t, os.Rename(tmp, filepath.Join(s.dir, "a.png")))
			}},
			{name: "older-mtime", when: atPhase, replace: func(t *testing.T, s *freshStore, body []byte) { // cp -p, rsync -t
				path := filepath.Join(s.dir, "a.png")
				st, err := os.Stat(path)
				freshMust(t, err)
				freshMust(t, os.WriteFile(path, body, 0o644))
				past := st.ModTime().Add(-time.Hour)
				freshMust(t, os.Chtimes(path, past, past))
			}},
			{name: "same-second", when: afterFirst, replace: func(t *testing.T, s *freshStore, body []byte) {
				// The same size (every version is), and the very same
				// modification time: only the change time differs.
				path := filepath.Join(s.dir, "a.png")
				st, err := os.Stat(path)
				freshMust(t, err)
				freshMust(t, os.WriteFile(path, body, 0o644))
				freshMust(t, os.Chtimes(path, st.ModTime(), st.ModTime()))
			}},
		},
	},
	{
		name: "http",
		open: func(t *testing.T, old []byte, _ *s3test.Server, _ string) *freshStore {
			o := newFreshHTTP(t, old)
			return &freshStore{http: o, env: []string{"IMGEDGE_ORIGIN=" + o.url}}
		},
		kinds: []freshKind{
			{name: "new-etag", when: atPhase, replace: func(t *testing.T, s *freshStore, body []byte) { s.http.set(body) }},
			{name: "same-second", when: afterFirst, replace: func(t *testing.T, s *freshStore, body []byte) { s.http.set(body) }},
			{name: "during-answer", when: duringAnswer, replace: func(t *testing.T, s *freshStore, body []byte) { s.http.set(body) }},
		},
	},
	{
		name: "s3",
		open: func(t *testing.T, old []byte, srv *s3test.Server, id string) *freshStore {
			s := &freshStore{s3: srv, key: id + "/a.png", env: []string{"IMGEDGE_ORIGIN=s3://fresh/" + id}}
			srv.Put("fresh", s.key, old, "max-age="+strconv.Itoa(int(freshLifetime/time.Second)))
			s.env = append(s.env, srv.Env()...)
			return s
		},
		kinds: []freshKind{
			{name: "put", when: atPhase, replace: func(t *testing.T, s *freshStore, body []byte) {
				s.s3.Put("fresh", s.key, body, "max-age="+strconv.Itoa(int(freshLifetime/time.Second)))
			}},
			{name: "put-same-second", when: afterFirst, replace: func(t *testing.T, s *freshStore, body []byte) {
				// S3 dates are to the second: If-Modified-Since alone would
				// call the new object not modified.
				before := s.lastModified(t)
				s.s3.Put("fresh", s.key, body, "max-age="+strconv.Itoa(int(freshLifetime/time.Second)))
				if after := s.lastModified(t); !after.Equal(before) {
					t.Logf("the object's Last-Modified moved from %v to %v: not the same second this time", before, after)
				}
			}, prepare: func(t *testing.T, s *freshStore, old []byte) {
				// The old object dated in the second the clients start in.
				s.s3.Put("fresh", s.key, old, "max-age="+strconv.Itoa(int(freshLifetime/time.Second)))
			}},
		},
	},
}

// lastModified is the S3 object's Last-Modified.
func (s *freshStore) lastModified(t *testing.T) time.Time {
	out, err := s.s3.Client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("fresh"), Key: aws.String(s.key)})
	freshMust(t, err)
	return aws.ToTime(out.LastModified)
}

// freshHTTP is an HTTP origin serving one object with a strong ETag, a
// Last-Modified that never changes (every version in the same second) and
// max-age; it answers conditional requests as net/http does (If-None-Match
// first). With slow set, it holds its first answer to a revalidation for
// freshSlow after saying so on inFlight.
type freshHTTP struct {
	url      string
	mu       sync.Mutex
	body     []byte
	version  int
	slow     bool
	inFlight chan struct{}
	once     sync.Once
}

var freshLastModified = time.Date(2025, 6, 3, 10, 0, 0, 0, time.UTC)

func newFreshHTTP(t *testing.T, body []byte) *freshHTTP {
	o := &freshHTTP{body: body, inFlight: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(o.serve))
	t.Cleanup(srv.Close)
	o.url = srv.URL
	return o
}

func (o *freshHTTP) set(body []byte) {
	o.mu.Lock()
	o.body, o.version = body, o.version+1
	o.mu.Unlock()
}

func (o *freshHTTP) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/a.png" {
		http.NotFound(w, r)
		return
	}
	o.mu.Lock()
	body, tag, slow := o.body, `"v`+strconv.Itoa(o.version)+`"`, o.slow
	o.mu.Unlock()
	if slow && r.Header.Get("If-None-Match") != "" {
		first := false
		o.once.Do(func() { first = true; close(o.inFlight) })
		if first {
			time.Sleep(freshSlow) // the answer was made above, before the replacement
		}
	}
	w.Header().Set("ETag", tag)
	w.Header().Set("Cache-Control", "max-age="+strconv.Itoa(int(freshLifetime/time.Second)))
	http.ServeContent(w, r, "a.png", freshLastModified, bytes.NewReader(body))
}

// freshVersion is version v of the source as a PNG: a solid colour that
// survives resizing (versionColor), stored uncompressed, so that every
// version has the same size.
func freshVersion(t testing.TB, v int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 64, 48))
	c := versionColor(freshSource, v)
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.NoCompression}).Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// freshAnswer is one request as its client saw it.
type freshAnswer struct {
	base         int // which of the front's base URLs
	url          string
	sent, recv   time.Time
	err          error
	status       int
	etag         string // the ETag header
	bodyTag      string // etagOf(body), for a 200
	version      int    // the version the client holds after the answer (a 304: its copy); -1: none
	held         int    // the version the client held when it sent the request (-1: none)
	age          int    // the Age header, -1 when absent
	cacheControl string
	cacheStatus  string
}

// freshChange is the replacement: from start to end, version old became
// version new.
type freshChange struct {
	start, end time.Time
	old, new   int
}

var (
	reSMaxAge = regexp.MustCompile(`(?:^|[ ,])s-maxage=(\d+)`)
	reMaxAge  = regexp.MustCompile(`(?:^|[ ,])max-age=(\d+)`)
	reSWR     = regexp.MustCompile(`(?:^|[ ,])stale-while-revalidate=(\d+)`)
)

func directive(re *regexp.Regexp, cc string) (time.Duration, bool) {
	m := re.FindStringSubmatch(cc)
	if m == nil {
		return 0, false
	}
	n, _ := strconv.Atoi(m[1])
	return time.Duration(n) * time.Second, true
}

// lifetime is what an answer's Cache-Control promises a shared cache:
// s-maxage, else max-age.
func lifetime(cc string) (time.Duration, bool) {
	if d, ok := directive(reSMaxAge, cc); ok {
		return d, true
	}
	return directive(reMaxAge, cc)
}

// promisedBound is when the old bytes must be gone: the replacement's end
// plus the longest lifetime and stale-while-revalidate window of the
// answers received before it began. ok is false when no 200 came before.
func promisedBound(history []freshAnswer, ch freshChange) (bound time.Time, life, swr time.Duration, ok bool) {
	for _, a := range history {
		if a.status != http.StatusOK || !a.recv.Before(ch.start) {
			continue
		}
		ok = true
		if d, found := lifetime(a.cacheControl); found {
			life = max(life, d)
		}
		if d, found := directive(reSWR, a.cacheControl); found {
			swr = max(swr, d)
		}
	}
	return ch.end.Add(life + swr), life, swr, ok
}

// checkFreshness checks the invariants over a history of bases front
// nodes; it returns the violations (at most 20 described) and a summary.
func checkFreshness(history []freshAnswer, ch freshChange, bases int) (violations []string, summary string) {
	count := 0
	violate := func(format string, args ...any) {
		count++
		if count <= 20 {
			violations = append(violations, fmt.Sprintf(format, args...))
		}
	}
	at := func(t time.Time) string { return fmt.Sprintf("%+.3fs", t.Sub(ch.start).Seconds()) }
	bound, life, swr, ok := promisedBound(history, ch)
	if !ok {
		violate("no answer before the replacement: the run checked nothing")
		return violations, ""
	}
	if life <= 0 {
		violate("the answers before the replacement promised no lifetime: the run checked nothing")
	}
	var lastOld, firstNew time.Time
	after := map[[2]string]int{} // (base, url) -> answers to requests sent after the bound
	for _, a := range history {
		where := fmt.Sprintf("%s on node %d sent at %s, answered at %s", a.url, a.base, at(a.sent), at(a.recv))
		if a.err != nil || (a.status != http.StatusOK && a.status != http.StatusNotModified) {
			violate("(d) %s: status %d, %v", where, a.status, a.err)
			continue
		}
		if a.status == http.StatusOK && a.etag != a.bodyTag {
			violate("(a) %s: ETag %s, the bytes' is %s", where, a.etag, a.bodyTag)
		}
		switch {
		case a.version != ch.old && a.version != ch.new:
			violate("(d) %s: %d, bytes of no version (%d) of the source (Cache-Status %q)", where, a.status, a.version, a.cacheStatus)
			continue
		case a.version == ch.new && a.recv.Before(ch.start):
			violate("(d) %s: the new bytes before the replacement began", where)
		case a.version == ch.new && (firstNew.IsZero() || a.recv.Before(firstNew)):
			firstNew = a.recv
		case a.version == ch.old && a.recv.After(lastOld):
			lastOld = a.recv
		}
		if a.status == http.StatusOK && !servedStale(a.cacheStatus) && a.age >= 0 {
			// Age is rounded up: the copy was more than Age-1 s old.
			if s, found := lifetime(a.cacheControl); found && s > 0 && time.Duration(a.age-1)*time.Second-a.recv.Sub(a.sent) >= s {
				violate("(e) %s: served fresh with Age %d and %q (Cache-Status %q)", where, a.age, a.cacheControl, a.cacheStatus)
			}
		}
		if a.sent.After(bound) {
			after[[2]string{strconv.Itoa(a.base), a.url}]++
			if a.version == ch.old {
				violate("(b) %s: %d with the old bytes %s after the bound (%s: the replacement's end + %v + stale-while-revalidate %v); Cache-Status %q, Cache-Control %q, Age %d",
					where, a.status, a.sent.Sub(bound).Round(time.Millisecond), at(bound), life, swr, a.cacheStatus, a.cacheControl, a.age)
			}
		}
	}
	urls := map[string]bool{}
	for _, a := range history {
		urls[a.url] = true
	}
	for u := range urls {
		for b := range bases {
			if after[[2]string{strconv.Itoa(b), u}] == 0 {
				violate("(c) %s on node %d: no answer to a request sent after the bound %s", u, b, at(bound))
			}
		}
	}
	if firstNew.IsZero() {
		violate("(c) the new bytes never appeared")
	}
	summary = fmt.Sprintf("%d answers; replaced in %v; bound %s (lifetime %v, stale-while-revalidate %v); last old bytes at %s, first new at %s",
		len(history), ch.end.Sub(ch.start).Round(time.Microsecond), at(bound), life, swr, at(lastOld), at(firstNew))
	if count > 20 {
		violations = append(violations, fmt.Sprintf("... and %d more", count-20))
	}
	return violations, summary
}

// freshSeed is the run's seed: IMGEDGE_FRESHNESS_SEED, else the time.
func freshSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("IMGEDGE_FRESHNESS_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("IMGEDGE_FRESHNESS_SEED=%q: %v", s, err)
		}
	}
	t.Logf("freshness seed %d (replay: IMGEDGE_FRESHNESS_SEED=%d go test ./edge -run 'TestFreshness$' -count=1; "+
		"add /front/origin/kind/load to -run for one case)", seed, seed)
	return seed
}

// freshLoads are the clients' patterns: steady asks all the time; quiet
// stops while the source is replaced and asks again at the bound, so that
// nothing refreshes the old copy early and any stale window of it that
// outlives the bound shows.
var freshLoads = []string{"steady", "quiet"}

// TestFreshness runs the client loop for every front, origin kind, kind of
// replacement and load, all at once (they mostly wait: t.Parallel would run
// only GOMAXPROCS of them together, so they are goroutines), and checks
// each history.
func TestFreshness(t *testing.T) {
	t.Parallel() // its cases mostly wait on clocks, as the others marked so do
	seed := freshSeed(t)
	// The AWS chain reads the S3 server's credentials from the process
	// environment, which TestMain set (s3test.ChainEnv).
	shared := &freshShared{s3: s3test.Start(t), redis: redistest.Start(t), starting: make(chan struct{}, freshStarting)}
	shared.s3.Bucket("fresh")
	old, updated := freshVersion(t, 0), freshVersion(t, 1)
	if len(old) != len(updated) {
		t.Fatalf("the versions differ in size: %d, %d bytes", len(old), len(updated))
	}
	var wg sync.WaitGroup
	for _, front := range freshFronts {
		for _, o := range freshOrigins {
			for _, k := range o.kinds {
				for _, load := range freshLoads {
					if raceEnabled && load != freshLoads[0] {
						// Under the race detector the cases are there for
						// races, not for more histories (the plain run checks
						// every one): half of them, so that 36 cases, not 72,
						// share two cores, and cold renders stay under the
						// caches' 5 s first-byte timeout.
						continue
					}
					name := front.name + "/" + o.name + "/" + k.name + "/" + load
					wg.Go(func() {
						t.Run(name, func(t *testing.T) {
							h := fnv.New64a()
							h.Write([]byte(name))
							c := freshCase{front: front, origin: o, kind: k, quiet: load == "quiet",
								rng: rand.New(rand.NewPCG(seed, h.Sum64())), id: strings.ReplaceAll(name, "/", "-")}
							c.run(t, old, updated, shared)
						})
					})
				}
			}
		}
	}
	wg.Wait()
}

// freshCase is one front, origin kind, kind of replacement and load.
type freshCase struct {
	front  freshFront
	origin freshOrigin
	kind   freshKind
	quiet  bool
	rng    *rand.Rand
	id     string
}

// freshRun is one case's running clients and the history they record.
type freshRun struct {
	bases        []string
	old, updated []byte
	client       *fasthttp.Client
	// quietUntil (unix nanoseconds) holds the quiet load's clients back.
	quietUntil atomic.Int64

	mu       sync.Mutex
	history  []freshAnswer
	firstOK  map[string]bool
	firstAll chan struct{} // closed once every URL has answered 200
}

func (c *freshCase) run(t *testing.T, old, updated []byte, shared *freshShared) {
	k := c.kind
	store := c.origin.open(t, old, shared.s3, c.id)
	if k.when == duringAnswer {
		store.http.mu.Lock()
		store.http.slow = true
		store.http.mu.Unlock()
	}
	shared.starting <- struct{}{}
	var started sync.Once
	warm := func() { started.Do(func() { <-shared.starting }) }
	defer warm()
	r := &freshRun{bases: c.front.start(t, shared, append(append([]string{}, freshEnv...), store.env...)),
		old: old, updated: updated, firstOK: map[string]bool{}, firstAll: make(chan struct{}),
		client: &fasthttp.Client{ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}}
	began := time.Now()
	if k.when == afterFirst {
		// Early in a second, so that the first fetch and the replacement
		// right after it share it.
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 20*time.Millisecond)))
	}
	if k.prepare != nil {
		k.prepare(t, store, old)
	}
	ctx, cancel := context.WithTimeout(context.Background(), freshCap)
	defer cancel()
	var wg sync.WaitGroup
	for w, u := range append(append([]string{}, freshURLs...), freshURLs...) {
		// The two clients of a URL begin on different nodes.
		wg.Go(func() { r.ask(ctx, u, w/len(freshURLs)) })
	}
	defer wg.Wait()
	defer cancel()

	// The replacement, at its kind's moment.
	select {
	case <-r.firstAll:
		warm()
	case <-ctx.Done():
		cancel()
		wg.Wait() // before the history is read
		t.Fatalf("no 200 for every URL within %v: %v", freshCap, lastAnswers(r.history, 4))
	}
	r.mu.Lock()
	_, life, swr, _ := promisedBound(r.history, freshChange{start: time.Now(), end: time.Now()})
	r.mu.Unlock()
	switch k.when {
	case atPhase:
		phase := time.Duration(c.rng.Int64N(int64(min(life+swr, freshCap/4)) + 1))
		t.Logf("replacing %v after the first answers", phase.Round(time.Millisecond))
		time.Sleep(phase)
	case duringAnswer:
		select {
		case <-store.http.inFlight:
		case <-ctx.Done():
			cancel()
			wg.Wait()
			t.Fatalf("the edge never revalidated within %v", freshCap)
		}
	}
	if c.quiet {
		r.quietUntil.Store(time.Now().Add(freshCap).UnixNano())
	}
	ch := freshChange{start: time.Now(), old: 0, new: 1}
	k.replace(t, store, updated)
	ch.end = time.Now()
	r.runPastBound(ctx, ch, c.quiet)
	cancel()
	wg.Wait()

	violations, summary := checkFreshness(r.history, ch, len(r.bases))
	t.Logf("%s; %v in all", summary, time.Since(began).Round(time.Millisecond))
	if len(violations) > 0 {
		t.Errorf("%d invariant violations:\n%s", len(violations), strings.Join(violations, "\n"))
	}
}

// runPastBound waits until the bound the answers before the replacement ch
// promised, freshAfter more, and until every node has answered every URL
// asked after the bound (however slow the machine); the quiet load asks
// again from the bound on.
func (r *freshRun) runPastBound(ctx context.Context, ch freshChange, quiet bool) {
	r.mu.Lock()
	bound, _, _, _ := promisedBound(r.history, ch)
	r.mu.Unlock()
	if quiet {
		r.quietUntil.Store(bound.UnixNano())
	}
	for done := false; !done && ctx.Err() == nil; {
		select {
		case <-ctx.Done():
		case <-time.After(max(time.Until(bound.Add(freshAfter)), 10*time.Millisecond)):
		}
		r.mu.Lock()
		done = time.Now().After(bound.Add(freshAfter)) && answeredAfter(r.history, bound, len(r.bases))
		r.mu.Unlock()
	}
}

func (r *freshRun) record(a freshAnswer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.history = append(r.history, a)
	if a.status == http.StatusOK && !r.firstOK[a.url] {
		r.firstOK[a.url] = true
		if len(r.firstOK) == len(freshURLs) {
			close(r.firstAll)
		}
	}
}

// freshHeld is the version and ETag of the copy a client keeps from a node.
type freshHeld struct {
	version int
	etag    string
}

// ask is one client of u until ctx ends: it goes round the nodes from
// first, at freshPace, keeping each node's copy and revalidating it on
// every other request as a browser or a cache in front does.
func (r *freshRun) ask(ctx context.Context, u string, first int) {
	held := map[int]freshHeld{}
	for n := 0; ctx.Err() == nil; {
		if d := time.Until(time.Unix(0, r.quietUntil.Load())); d > 0 {
			// Held back; quietUntil moves, so look again soon.
			select {
			case <-ctx.Done():
				return
			case <-time.After(min(d, 5*time.Millisecond)):
			}
			continue
		}
		b := (first + n) % len(r.bases)
		c, have := held[b]
		a := r.get(b, u, c, have && n/len(r.bases)%2 == 1)
		if a.status == http.StatusOK {
			held[b] = freshHeld{a.version, a.etag}
		}
		r.record(a)
		n++
		select {
		case <-ctx.Done():
		case <-time.After(freshPace):
		}
	}
}

// get asks node b for u, conditionally on the copy c when revalidate.
func (r *freshRun) get(b int, u string, c freshHeld, revalidate bool) freshAnswer {
	a := freshAnswer{base: b, url: u, version: -1, held: -1, age: -1}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(r.bases[b] + u)
	if revalidate {
		req.Header.Set("If-None-Match", c.etag)
		a.held = c.version
	}
	a.sent = time.Now()
	a.err = r.client.DoTimeout(req, resp, 10*time.Second)
	a.recv = time.Now()
	if a.err != nil {
		return a
	}
	a.status = resp.StatusCode()
	a.etag = string(resp.Header.Peek("ETag"))
	a.cacheControl = string(resp.Header.Peek("Cache-Control"))
	a.cacheStatus = string(bytes.Join(resp.Header.PeekAll("Cache-Status"), []byte(", ")))
	if v := resp.Header.Peek("Age"); len(v) > 0 {
		a.age, _ = strconv.Atoi(string(v))
	}
	switch a.status {
	case http.StatusOK:
		a.bodyTag = etagOf(resp.Body())
		a.version = freshVersionOf(u, resp.Body(), r.old, r.updated)
	case http.StatusNotModified:
		a.version = a.held
	}
	return a
}

// answeredAfter reports whether every node has answered every URL asked
// after bound.
func answeredAfter(history []freshAnswer, bound time.Time, bases int) bool {
	seen := map[[2]string]bool{}
	for _, a := range history {
		if a.sent.After(bound) {
			seen[[2]string{strconv.Itoa(a.base), a.url}] = true
		}
	}
	return len(seen) == bases*len(freshURLs)
}

// freshVersionOf is the version of the source a body is: the original
// equals one version's bytes; a variant is read back by its colour.
func freshVersionOf(url string, body, old, updated []byte) int {
	if !strings.Contains(url, "?") {
		switch {
		case bytes.Equal(body, old):
			return 0
		case bytes.Equal(body, updated):
			return 1
		}
		return -1
	}
	s, v, ok := decodeVersion(body)
	if !ok || s != freshSource {
		return -1
	}
	return v
}

func freshMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func lastAnswers(h []freshAnswer, n int) []string {
	var out []string
	for _, a := range h[max(0, len(h)-n):] {
		out = append(out, fmt.Sprintf("%s: %d %v %q", a.url, a.status, a.err, a.cacheStatus))
	}
	return out
}

// TestFreshnessChecker: checkFreshness flags each invariant's violation
// in a made-up history, and nothing in a clean one (no I/O).
func TestFreshnessChecker(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ch := freshChange{start: t0.Add(time.Second), end: t0.Add(time.Second + time.Millisecond), old: 0, new: 1}
	const fresh = "public, max-age=2, s-maxage=2, stale-while-revalidate=1"
	bound := ch.end.Add(3 * time.Second)
	// answer is a 200 of version v on node b, sent at sent and taking 1 ms.
	answer := func(b int, url string, sent time.Time, v int) freshAnswer {
		return freshAnswer{base: b, url: url, sent: sent, recv: sent.Add(time.Millisecond), status: 200, etag: `"e"`, bodyTag: `"e"`,
			version: v, held: -1, age: -1, cacheControl: fresh, cacheStatus: "imgedge; hit; ttl=1"}
	}
	// clean is a history without violations on two nodes.
	clean := func() []freshAnswer {
		var h []freshAnswer
		for b := range 2 {
			for _, u := range freshURLs {
				h = append(h, answer(b, u, t0, 0), answer(b, u, bound.Add(10*time.Millisecond), 1))
			}
		}
		return h
	}
	for _, tt := range []struct {
		name   string
		change func(h []freshAnswer) []freshAnswer
		want   []string // the invariants violated, in order
	}{
		{"clean", func(h []freshAnswer) []freshAnswer { return h }, nil},
		{"old bytes sent before the bound, answered after it", func(h []freshAnswer) []freshAnswer {
			a := answer(0, freshURLs[0], bound.Add(-time.Millisecond), 0)
			a.recv = bound.Add(time.Second)
			return append(h, a)
		}, nil},
		{"old bytes asked for after the bound", func(h []freshAnswer) []freshAnswer {
			return append(h, answer(1, freshURLs[1], bound.Add(time.Millisecond), 0))
		}, []string{"(b)"}},
		{"a 304 to a client holding the old bytes after the bound", func(h []freshAnswer) []freshAnswer {
			a := answer(0, freshURLs[0], bound.Add(time.Millisecond), 0)
			a.status, a.bodyTag, a.held = 304, "", 0
			return append(h, a)
		}, []string{"(b)"}},
		{"an ETag not the bytes'", func(h []freshAnswer) []freshAnswer {
			h[0].bodyTag = `"other"`
			return h
		}, []string{"(a)"}},
		{"a torn body", func(h []freshAnswer) []freshAnswer {
			return append(h, answer(0, freshURLs[0], ch.end, -1))
		}, []string{"(d)"}},
		{"an error", func(h []freshAnswer) []freshAnswer {
			a := answer(0, freshURLs[0], ch.end, -1)
			a.status = 503
			return append(h, a)
		}, []string{"(d)"}},
		{"the new bytes before the replacement", func(h []freshAnswer) []freshAnswer {
			return append(h, answer(0, freshURLs[0], t0, 1))
		}, []string{"(d)"}},
		{"a node never asked after the bound", func(h []freshAnswer) []freshAnswer {
			return slices.DeleteFunc(h, func(a freshAnswer) bool { return a.base == 1 && a.url == freshURLs[0] && a.sent.After(bound) })
		}, []string{"(c)"}},
		{"the new bytes never", func(h []freshAnswer) []freshAnswer {
			for i := range h {
				if h[i].version == 1 {
					h[i].version = 0
				}
			}
			return h
		}, []string{"(b)", "(b)", "(b)", "(b)", "(c)"}},
		{"served fresh past its lifetime", func(h []freshAnswer) []freshAnswer {
			a := answer(0, freshURLs[0], t0, 0)
			a.age = 4 // more than 3 s old when answered (Age is rounded up), 1 ms after it was asked
			return append(h, a)
		}, []string{"(e)"}},
		{"a slow answer's Age", func(h []freshAnswer) []freshAnswer {
			a := answer(0, freshURLs[0], t0, 0)
			a.age, a.recv = 3, t0.Add(1500*time.Millisecond) // fresh when asked
			return append(h, a)
		}, nil},
		{"nothing before the replacement", func(h []freshAnswer) []freshAnswer {
			return slices.DeleteFunc(h, func(a freshAnswer) bool { return a.sent.Before(ch.start) })
		}, []string{"no answer before"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			violations, _ := checkFreshness(tt.change(clean()), ch, 2)
			var got []string
			for _, v := range violations {
				got = append(got, strings.SplitN(v, " ", 2)[0])
			}
			var want []string
			for _, w := range tt.want {
				want = append(want, strings.SplitN(w, " ", 2)[0])
			}
			if !slices.Equal(got, want) {
				t.Fatalf("violations %q, want %q:\n%s", got, want, strings.Join(violations, "\n"))
			}
		})
	}
}

// servedStale says whether the cache that answered served its copy stale:
// the last member of Cache-Status (RFC 9211) that is not a forward (a cache
// that forwarded relays what the one before it answered) is a hit with a
// negative ttl, or has a detail saying so (the edge's
// stale-while-revalidate and stale-if-error, nginx's stale and updating).
func servedStale(cacheStatus string) bool {
	members := strings.Split(cacheStatus, ",")
	for i := len(members) - 1; i >= 0; i-- {
		m := members[i]
		if strings.Contains(m, "fwd=") && i > 0 {
			continue
		}
		return strings.Contains(m, "ttl=-") || strings.Contains(m, "stale") || strings.Contains(m, "updating")
	}
	return false
}
