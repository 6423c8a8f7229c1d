package edge_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	_ "image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"imgedge/configs"
	"imgedge/internal/testaddr"
	"imgedge/internal/testwait"
)

// The caches in front of the edge run the configurations the README shows,
// from configs/cdn, started by the README's command lines, with only their
// addresses and state folders changed.
const cdnConfigs = "../configs/cdn"

// frontCache is a real Varnish or nginx on 127.0.0.1 in front of an edge.
type frontCache struct {
	name     string
	base     string // http://127.0.0.1:port
	purgeURL string // what purge.downstream names
	kind     string // its purge.downstream kind
	stop     func()
}

// sharedDir is a directory that a server dropping root privileges (Varnish's
// compiler and workers) can use; t.TempDir's parents are private to root.
func sharedDir(t *testing.T, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// configured returns the file at path with each old string replaced by its
// new one; every old string must be in the file once, so that a changed
// configuration cannot leave the test running another.
func configured(t *testing.T, path string, replace ...string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(replace); i += 2 {
		if n := strings.Count(s, replace[i]); n != 1 {
			t.Fatalf("%s holds %q %d times, want once", path, replace[i], n)
		}
		s = strings.Replace(s, replace[i], replace[i+1], 1)
	}
	return s
}

// runServer starts cmd, waits until port accepts connections (or the
// process ends), and returns the function that stops it.
func runServer(t *testing.T, name string, cmd *exec.Cmd, port string) func() {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v (.ci/run installs it)", name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
			}
		})
	}
	t.Cleanup(stop)
	testwait.Until(t, func() bool {
		select {
		case <-exited:
			t.Fatalf("%s exited: %s", name, out.String())
		default:
		}
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	}, func() string { return fmt.Sprintf("%s did not listen on %s: %s", name, port, out.String()) })
	return stop
}

// cdnFolder is a checkout's configs/cdn copied where a server dropping
// root privileges can read it, with the site files replaced as an operator
// would edit them (old and new strings, as configured takes them).
func cdnFolder(t *testing.T, prefix string, edits map[string][]string) string {
	t.Helper()
	dir := sharedDir(t, prefix)
	cdn := filepath.Join(dir, "configs", "cdn")
	if err := os.MkdirAll(cdn, 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := os.ReadDir(cdnConfigs)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		body := configured(t, filepath.Join(cdnConfigs, f.Name()), edits[f.Name()]...)
		if err := os.WriteFile(filepath.Join(cdn, f.Name()), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// readmeCommand is the line of the README's "Starting Varnish and nginx"
// block that starts with prefix, with each old string replaced by its new
// one (each must be in the line).
func readmeCommand(t *testing.T, prefix string, replace ...string) string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "### Starting Varnish and nginx")
	if !ok {
		t.Fatal("README.md has no section \"Starting Varnish and nginx\"")
	}
	for _, line := range strings.Split(block, "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		for i := 0; i+1 < len(replace); i += 2 {
			if !strings.Contains(line, replace[i]) {
				t.Fatalf("the README's command %q has no %q", line, replace[i])
			}
			line = strings.ReplaceAll(line, replace[i], replace[i+1])
		}
		return line
	}
	t.Fatalf("the README's \"Starting Varnish and nginx\" has no line starting %q", prefix)
	return ""
}

// startVarnish runs the README's VCL in front of the edge at edgeBase.
func startVarnish(t *testing.T, edgeBase string) *frontCache {
	t.Helper()
	_, edgePort, _ := net.SplitHostPort(strings.TrimPrefix(edgeBase, "http://"))
	dir := cdnFolder(t, "imgedge-varnish-", map[string][]string{
		"varnish-site.vcl": {`.port = "8080";`, `.port = "` + edgePort + `";`},
	})
	port := testaddr.Port(t)
	line := readmeCommand(t, "varnishd ", "127.0.0.1:6081", "127.0.0.1:"+port, "/var/cache/imgedge-varnish", filepath.Join(dir, "varnish"))
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = dir
	stop := runServer(t, "varnishd", cmd, port)
	base := "http://127.0.0.1:" + port
	return &frontCache{name: "varnish", base: base, purgeURL: base, kind: configs.DownstreamVarnishXKey, stop: stop}
}

// startNginx runs the README's nginx configuration in front of the edge at
// edgeBase. Its workers run as www-data, as the README's command has them.
func startNginx(t *testing.T, edgeBase string) *frontCache {
	t.Helper()
	port := testaddr.Port(t)
	dir := cdnFolder(t, "imgedge-nginx-", map[string][]string{
		"nginx-site.conf": {"server 127.0.0.1:8080;", "server " + strings.TrimPrefix(edgeBase, "http://") + ";",
			"listen 127.0.0.1:8081;", "listen 127.0.0.1:" + port + ";"},
	})
	line := readmeCommand(t, "install -d -o www-data ", "/var/cache/imgedge-nginx", filepath.Join(dir, "nginx"))
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = dir
	stop := runServer(t, "nginx", cmd, port)
	base := "http://127.0.0.1:" + port
	return &frontCache{name: "nginx", base: base, purgeURL: base + "/purge", kind: configs.DownstreamNginx, stop: stop}
}

// noRedirects is a client that shows redirects rather than following them.
var noRedirects = &http.Client{
	Timeout:       60 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

type cdnAnswer struct {
	status int
	header http.Header
	body   []byte
}

func fetch(t *testing.T, base, path string, headers ...string) cdnAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		switch headers[i] {
		case "": // a table's row without a header
			continue
		case "Host":
			req.Host = headers[i+1]
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", base, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s%s: %v", base, path, err)
	}
	return cdnAnswer{status: resp.StatusCode, header: resp.Header, body: body}
}

// edgeRequests counts the requests the edge logged for path and query in
// any order of its parameters (Varnish sorts them); the edge runs with
// log.hit_sample 1, so every request is a line.
func edgeRequests(t *testing.T, h *harness, path, query string) int {
	t.Helper()
	sorted := func(q string) string {
		pairs := strings.Split(q, "&")
		slices.Sort(pairs)
		return strings.Join(pairs, "&")
	}
	query = sorted(query)
	n := 0
	sc := bufio.NewScanner(strings.NewReader(h.logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct{ Msg, Path, Query string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "request" && line.Path == path && sorted(line.Query) == query {
			n++
		}
	}
	return n
}

// browserAccepts are real Accept headers for images, with the formats each
// allows (JPEG, PNG and GIF every client decodes).
var browserAccepts = []struct {
	name, accept    string
	jxl, avif, webp bool
}{
	{"Chromium", "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", false, true, true},
	{"Chromium with JPEG XL", "image/jxl,image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", true, true, true},
	{"Firefox 93+", "image/avif,image/webp,*/*", false, true, true},
	{"Firefox 65", "image/webp,*/*", false, false, true},
	{"Safari 14", "image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5", false, false, true},
	{"Safari 17", "image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5", true, true, true},
	{"Safari 13", "image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5", false, false, false},
	{"IE 11", "image/png,image/svg+xml,image/jxr,image/*;q=0.8,*/*;q=0.5", false, false, false},
	{"anything", "*/*", false, false, false},
	{"none", "", false, false, false},
	{"AVIF refused", "image/avif;q=0,image/webp,*/*", false, false, true},
	{"WebP refused", "image/avif,image/webp;q=0,*/*", false, true, false},
	{"both refused", "image/avif;q=0.0,image/webp;q=0.000,image/*", false, false, false},
	{"AVIF alone", "image/avif,image/jpeg", false, true, false},
	{"spacing and case", "IMAGE/WEBP ; q=0.9, image/AVIF;q=0.8", false, true, true},
	{"JPEG XL refused", "image/jxl;q=0,image/avif,image/webp,*/*", false, true, true},
	{"JPEG XL alone", "image/jxl,image/jpeg", true, false, false},
	{"look-alike types", "image/jxl-foo,image/avifx,image/webp2,*/*", false, false, false},
}

func allowed(contentType string, jxl, avif, webp bool) bool {
	switch contentType {
	case "image/jpeg", "image/png", "image/gif":
		return true
	case "image/jxl":
		return jxl
	case "image/avif":
		return avif
	case "image/webp":
		return webp
	}
	return false
}

// TestBehindCachesEveryBrowserGetsAFormatItAccepts: seventeen real Accept
// headers, with the jxl flag on, on images below and above the AVIF size
// limit and an animation, through the edge alone and through Varnish and
// nginx configured as the README says: never a format the browser did not
// list, JPEG XL for the browsers that list it with AVIF and WebP (behind a
// cache too), and at most four objects per URL in each cache (four edge
// fetches).
func TestBehindCachesEveryBrowserGetsAFormatItAccepts(t *testing.T) {
	t.Parallel()
	h := start(t, []string{"IMGEDGE_LOG_HIT_SAMPLE=1", "IMGEDGE_FLAGS_JXL_ROLLOUT=100"}, nil)
	anim, err := os.ReadFile("../testdata/corpus/formats/gif-animated-rotating-squares.gif")
	if err != nil {
		t.Fatal(err)
	}
	h.origin.bodies.Store("/anim.gif", anim)
	caches := []*frontCache{startVarnish(t, h.base), startNginx(t, h.base)}
	urls := []struct {
		path, query string
		jxl         bool // within limits.max_jxl_pixels and not animated
	}{
		{"/kodim23.png", "w=300&auto=format", true},              // below transform.avif_max_pixels
		{"/photo-1600x1200-q85.jpg", "w=1700&auto=format", true}, // above it: WebP or legacy
		{"/anim.gif", "w=100&auto=format", false},                // animated: never AVIF
	}
	bases := []struct{ name, base string }{{"edge", h.base}}
	for _, c := range caches {
		bases = append(bases, struct{ name, base string }{c.name, c.base})
	}
	for _, b := range bases {
		for _, u := range urls {
			before := edgeRequests(t, h, u.path, u.query)
			for _, a := range browserAccepts {
				r := fetch(t, b.base, u.path+"?"+u.query, "Accept", a.accept)
				ct := r.header.Get("Content-Type")
				if r.status != 200 || !allowed(ct, a.jxl, a.avif, a.webp) {
					t.Errorf("%s %s?%s, %s (%q): %d %s", b.name, u.path, u.query, a.name, a.accept, r.status, ct)
				}
				// Behind a cache, JPEG XL needs the bucket that lists all three.
				if wantJXL := u.jxl && a.jxl && (b.name == "edge" || a.avif && a.webp); wantJXL != (ct == "image/jxl") {
					t.Errorf("%s %s?%s, %s: %s, want JPEG XL %v", b.name, u.path, u.query, a.name, ct, wantJXL)
				}
				if r.header.Get("Vary") != "Accept" {
					t.Errorf("%s %s?%s: Vary %q, want Accept", b.name, u.path, u.query, r.header.Get("Vary"))
				}
			}
			if b.name == "edge" {
				continue
			}
			fetched := edgeRequests(t, h, u.path, u.query) - before
			t.Logf("%s: %d objects for %s?%s", b.name, fetched, u.path, u.query)
			if fetched > 4 || fetched < 1 {
				t.Errorf("%s asked the edge %d times for %s?%s across %d Accept headers: want 1 to 4 objects",
					b.name, fetched, u.path, u.query, len(browserAccepts))
			}
		}
	}
}

// TestBehindCachesFreshnessRevalidationAndOutage: a cache in front answers
// a conditional request itself, shows a changed source within the lifetime
// and stale window the edge sent, and keeps serving its copy while the edge
// is down, past every lifetime it sent.
func TestBehindCachesFreshnessRevalidationAndOutage(t *testing.T) {
	// It mostly waits on clocks, so it waits beside the others that do.
	t.Parallel()
	h := start(t, []string{"IMGEDGE_LOG_HIT_SAMPLE=1", "IMGEDGE_CACHE_MIN_TTL=0s", "IMGEDGE_CACHE_STALE_WHILE_REVALIDATE=1s"}, nil)
	first, second := readImage(t, "kodim04.png"), readImage(t, "kodim07.png")
	caches := []*frontCache{startVarnish(t, h.base), startNginx(t, h.base)}
	const query = "w=64"
	// A conditional request for a copy that is fresh, on a source with an
	// hour's lifetime: with the 2 s one below, a render slowed by a loaded
	// machine (Age is counted from the source's fetch) left the copy stale
	// before the conditional request came (CI, Varnish).
	h.origin.cacheControl.Store("max-age=3600")
	h.origin.bodies.Store("/steady.png", first)
	for _, c := range caches {
		r := fetch(t, c.base, "/steady.png?"+query)
		if r.status != 200 || r.header.Get("ETag") == "" {
			t.Fatalf("%s: %d, ETag %q", c.name, r.status, r.header.Get("ETag"))
		}
		before := edgeRequests(t, h, "/steady.png", query)
		if nm := fetch(t, c.base, "/steady.png?"+query, "If-None-Match", r.header.Get("ETag")); nm.status != 304 || len(nm.body) != 0 {
			t.Errorf("%s: conditional request got %d with %d bytes, want 304", c.name, nm.status, len(nm.body))
		}
		if n := edgeRequests(t, h, "/steady.png", query) - before; n != 0 {
			t.Errorf("%s asked the edge %d times to answer a conditional request for a fresh copy", c.name, n)
		}
	}

	h.origin.cacheControl.Store("max-age=2")
	h.origin.bodies.Store("/changing.png", first)
	const path = "/changing.png"
	etags := map[string]string{}
	for _, c := range caches {
		r := fetch(t, c.base, path+"?"+query)
		if r.status != 200 || r.header.Get("ETag") == "" {
			t.Fatalf("%s: %d, ETag %q", c.name, r.status, r.header.Get("ETag"))
		}
		etags[c.name] = r.header.Get("ETag")
	}

	// The source changes: each cache shows it once the 2 s lifetime and the
	// 1 s stale windows (the edge's and the cache's) have passed.
	h.origin.bodies.Store(path, second)
	changed := time.Now()
	const within = 2*time.Second + 1*time.Second + 1*time.Second + 8*time.Second // s-maxage, both stale windows, a render, slack
	for _, c := range caches {
		for {
			r := fetch(t, c.base, path+"?"+query)
			if r.status == 200 && r.header.Get("ETag") != etags[c.name] {
				etags[c.name] = r.header.Get("ETag")
				break
			}
			if time.Since(changed) > within {
				t.Fatalf("%s still serves the old image %v after the source changed (s-maxage 2 s, stale windows 1 s)", c.name, time.Since(changed))
			}
			time.Sleep(250 * time.Millisecond)
		}
	}

	// The edge goes away: for 8 s, past every lifetime and stale window it
	// sent (2 s, 1 s), each cache serves its copy (the edge sent
	// stale-if-error=86400).
	// Time is the subject: how long the caches, on their own clocks, stand
	// in.
	h.stop()
	for end := time.Now().Add(8 * time.Second); time.Now().Before(end); time.Sleep(time.Second) {
		for _, c := range caches {
			r := fetch(t, c.base, path+"?"+query)
			if r.status != 200 || r.header.Get("ETag") != etags[c.name] || len(r.body) == 0 {
				t.Fatalf("%s during the edge outage: %d, ETag %q (want %q)", c.name, r.status, r.header.Get("ETag"), etags[c.name])
			}
		}
	}
}

func readImage(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(images, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPurgeReachesCachesInFront: with purge.downstream naming Varnish
// (xkey, and a ban for a prefix) and nginx (cache purge by key), a purge at
// the edge drops the original and every variant in each cache in front,
// and nothing else.
func TestPurgeReachesCachesInFront(t *testing.T) {
	t.Parallel()
	env := []string{"IMGEDGE_ADMIN_TOKEN=" + fleetToken, "IMGEDGE_CACHE_CANONICAL_REDIRECT=true"}
	h := start(t, env, nil)
	caches := []*frontCache{startVarnish(t, h.base), startNginx(t, h.base)}
	var downstream []string
	for _, c := range caches {
		downstream = append(downstream, fmt.Sprintf("{kind: %s, url: %q}", c.kind, c.purgeURL))
	}
	cfg, err := configs.Load("", append([]string{"IMGEDGE_ORIGIN=" + h.origin.url, "IMGEDGE_LISTEN=127.0.0.1:0", "IMGEDGE_ADMIN_LISTEN=127.0.0.1:1",
		"IMGEDGE_PURGE_DOWNSTREAM=[" + strings.Join(downstream, ", ") + "]"}, env...))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	h.origin.bodies.Store("/p/a.png", readImage(t, "kodim04.png"))
	h.origin.bodies.Store("/p/b.png", readImage(t, "kodim07.png"))
	h.origin.bodies.Store("/q/c.png", readImage(t, "kodim15.png"))
	chrome := browserAccepts[0].accept
	// The same variants under other Host names and page origins: a purge
	// drops every key a cache filled for the path.
	type view struct{ path, accept, host, origin string }
	views := []view{{"/p/a.png", "", "", ""}, {"/p/a.png?w=120", "", "", ""}, {"/p/a.png?auto=format&w=100", chrome, "", ""},
		{"/p/a.png?auto=format&w=100", "*/*", "", ""}, {"/p/a.png?w=120", "", "img.example", ""},
		{"/p/a.png?auto=format&w=100", chrome, "IMG.other.example", "https://page.example"},
		{"/p/b.png?w=80", chrome, "", ""}, {"/p/b.png?w=80", chrome, "img.example", ""}, {"/q/c.png?w=50", "", "", ""}}
	seen := func(c *frontCache) map[view]string {
		tags := map[view]string{}
		for _, v := range views {
			r := fetch(t, c.base, v.path, "Accept", v.accept, "Host", v.host, "Origin", v.origin)
			if r.status != 200 {
				t.Fatalf("%s %s: %d %s", c.name, v.path, r.status, r.body)
			}
			tags[v] = r.header.Get("ETag")
		}
		return tags
	}
	before := map[string]map[view]string{}
	for _, c := range caches {
		before[c.name] = seen(c)
	}
	// Every source changes at the origin; only the purged ones may change
	// in the caches (the others are fresh for an hour).
	h.origin.bodies.Store("/p/a.png", readImage(t, "kodim23.png"))
	h.origin.bodies.Store("/p/b.png", readImage(t, "yellow_rose.png"))
	h.origin.bodies.Store("/q/c.png", readImage(t, "hopper.jpg"))
	purge := func(query string) {
		t.Helper()
		body := purgeOn(t, h, query)
		var answer struct {
			Downstream []struct {
				Kind, Error string
				Requests    int
			}
		}
		if err := json.Unmarshal([]byte(body), &answer); err != nil || len(answer.Downstream) != len(caches) {
			t.Fatalf("purge %s answered %s (%v)", query, body, err)
		}
		for _, d := range answer.Downstream {
			if d.Error != "" || d.Requests == 0 {
				t.Errorf("purge %s at %s: %d requests, %q", query, d.Kind, d.Requests, d.Error)
			}
		}
	}
	purge("path=" + url.QueryEscape("/p/a.png"))
	for _, c := range caches {
		after := seen(c)
		for _, v := range views {
			purged := v.path != "/p/b.png?w=80" && v.path != "/q/c.png?w=50"
			if changed := after[v] != before[c.name][v]; changed != purged {
				t.Errorf("%s %+v after purging /p/a.png: changed %v, want %v", c.name, v, changed, purged)
			}
		}
		before[c.name] = after
	}
	purge("prefix=" + url.QueryEscape("/p/"))
	for _, c := range caches {
		after := seen(c)
		for _, v := range views {
			purged := v.path == "/p/b.png?w=80"
			if changed := after[v] != before[c.name][v]; changed != purged {
				t.Errorf("%s %+v after purging the prefix /p/: changed %v, want %v", c.name, v, changed, purged)
			}
		}
	}
}

// TestCanonicalRedirect: with cache.canonical_redirect, every spelling of a
// variant but one answers 308 to that one, signed when URLs are signed.
func TestCanonicalRedirect(t *testing.T) {
	t.Parallel()
	key := "0123456789abcdef0123"
	for _, withKeys := range []bool{false, true} {
		env := []string{"IMGEDGE_CACHE_CANONICAL_REDIRECT=true"}
		if withKeys {
			env = append(env, "IMGEDGE_SIGNING_KEYS="+key)
		}
		h := start(t, env, nil)
		sign := func(uri string) string {
			if !withKeys {
				return uri
			}
			return signed(t, key, uri)
		}
		for _, tt := range []struct{ uri, location string }{
			{"/kodim23.png?w=60&dpr=2&fm=webp", "/kodim23.png?fm=webp&w=120"},
			{"/kodim23.png?w=120&fm=webp", "/kodim23.png?fm=webp&w=120"},
			{"/kodim23.png?fit=clip&auto=compress,format&w=99", "/kodim23.png?auto=format,compress&w=99"},
		} {
			r := fetch(t, h.base, sign(tt.uri))
			if want := sign(tt.location); r.status != 308 || r.header.Get("Location") != want {
				t.Errorf("signed %v %s: %d Location %q, want 308 %q", withKeys, tt.uri, r.status, r.header.Get("Location"), want)
				continue
			}
			if r2 := fetch(t, h.base, r.header.Get("Location")); r2.status != 200 {
				t.Errorf("signed %v: the canonical %s answered %d", withKeys, r.header.Get("Location"), r2.status)
			}
		}
		if r := fetch(t, h.base, sign("/kodim23.png")); r.status != 200 {
			t.Errorf("signed %v: the original answered %d", withKeys, r.status)
		}
	}
}

// TestDownstreamHeaders: what a cache in front is told, from what the
// origin said.
func TestDownstreamHeaders(t *testing.T) {
	t.Parallel()
	h := start(t, []string{"IMGEDGE_CACHE_MIN_TTL=0s"}, nil)
	clock := withClock(h)
	for _, tt := range []struct {
		image, origin, want string
	}{
		{"kodim04.png", "max-age=600, stale-while-revalidate=30, stale-if-error=3600", "public, max-age=600, s-maxage=600, stale-while-revalidate=30, stale-if-error=3600"},
		{"kodim07.png", "s-maxage=30", "public, max-age=30, s-maxage=30, stale-while-revalidate=60, stale-if-error=86400"},
		{"kodim15.png", "max-age=120, must-revalidate", "public, max-age=120, s-maxage=120, must-revalidate"},
		{"kodim23.png", "no-cache", "public, max-age=0, s-maxage=0, no-cache, stale-if-error=86400"},
	} {
		h.origin.cacheControl.Store(tt.origin)
		miss := h.get(t, "/"+tt.image+"?w=40")
		if miss.header["cache-control"] != tt.want {
			t.Errorf("origin %q: Cache-Control %q, want %q", tt.origin, miss.header["cache-control"], tt.want)
		}
		tags := strings.Fields(miss.header["surrogate-key"])
		if len(tags) != 2 || !strings.HasPrefix(tags[0], "imgedge-src-") || !strings.HasPrefix(tags[1], "imgedge-origin-") ||
			miss.header["cache-tag"] != tags[0]+","+tags[1] {
			t.Errorf("origin %q: Surrogate-Key %q, Cache-Tag %q", tt.origin, miss.header["surrogate-key"], miss.header["cache-tag"])
		}
		if orig := h.get(t, "/"+tt.image); orig.header["surrogate-key"] != miss.header["surrogate-key"] {
			t.Errorf("the original's tags %q differ from its variant's %q", orig.header["surrogate-key"], miss.header["surrogate-key"])
		}
	}
	// Age counts from the origin's answer, for the original and its
	// variants alike, so that s-maxage minus Age is what remains.
	h.origin.cacheControl.Store("max-age=600")
	h.get(t, "/hopper.jpg?w=41")
	clock.Advance(100 * time.Second)
	hit := h.get(t, "/hopper.jpg?w=41")
	fresh := h.get(t, "/hopper.jpg?w=42") // rendered now from the 100 s old original
	for name, r := range map[string]response{"hit": hit, "new variant": fresh} {
		if r.header["age"] != "100" || r.header["cache-control"] != "public, max-age=600, s-maxage=600, stale-while-revalidate=60, stale-if-error=86400" {
			t.Errorf("%s: Age %q, Cache-Control %q", name, r.header["age"], r.header["cache-control"])
		}
		if want := strconv.FormatInt(clock.Now().Add(500*time.Second).Unix()-1, 10); r.header["x-accel-expires"] != "@"+want {
			t.Errorf("%s: X-Accel-Expires %q, want @%s", name, r.header["x-accel-expires"], want)
		}
	}
}

// TestREADMEShowsTheTestedCacheConfigs: the README's Varnish and nginx
// configurations are the files the tests run, whole.
func TestREADMEShowsTheTestedCacheConfigs(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	fences := map[string]string{".vcl": "```vcl\n", ".conf": "```nginx\n", ".js": "```js\n"}
	files, err := os.ReadDir(cdnConfigs)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(cdnConfigs, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(readme, []byte(fences[filepath.Ext(f.Name())]+string(b)+"```\n")) {
			t.Errorf("README.md does not show configs/cdn/%s as it is: copy the file into its fenced block", f.Name())
		}
	}
}

// TestBehindCachesVaryOnOriginAndHints: with cors.allow_origins a list,
// each page's origin gets its own Access-Control-Allow-Origin through every
// cache, and none another's; a ch=DPR URL is as wide as each client's DPR
// asks, from the cache too.
func TestBehindCachesVaryOnOriginAndHints(t *testing.T) {
	t.Parallel()
	other := newTestOrigin(t)
	other.bodies.Store("/only-b.png", readImage(t, "kodim15.png"))
	h := start(t, []string{"IMGEDGE_CORS_ALLOW_ORIGINS=https://a.example,https://b.example",
		"IMGEDGE_PRESETS={hero: {w: 100, fm: png, ch: DPR}}",
		"IMGEDGE_ORIGINS=[{hosts: [b.test], url: '" + other.url + "'}]"}, nil)
	caches := []*frontCache{startVarnish(t, h.base), startNginx(t, h.base)}
	for _, c := range caches {
		// The edge routes by Host: a cache in front must pass it on.
		if r := fetch(t, c.base, "/only-b.png?w=30", "Host", "b.test"); r.status != 200 {
			t.Errorf("%s: Host b.test's own image: %d", c.name, r.status)
		}
		if r := fetch(t, c.base, "/only-b.png?w=30"); r.status != 404 {
			t.Errorf("%s: b.test's image under another Host: %d, want 404", c.name, r.status)
		}
		// Hints named by a preset, or by ch= spelled another way, vary too.
		for _, u := range []string{"/kodim23.png?p=hero", "/kodim23.png?w=100&fm=png&%63h=DPR"} {
			for _, dpr := range []struct {
				value string
				width int
			}{{"", 100}, {"2", 200}, {"", 100}} {
				r := fetch(t, c.base, u, "Sec-CH-DPR", dpr.value)
				cfg, _, err := image.DecodeConfig(bytes.NewReader(r.body))
				if r.status != 200 || err != nil || cfg.Width != dpr.width {
					t.Errorf("%s %s, Sec-CH-DPR %q: %d, %d px wide (%v), want %d", c.name, u, dpr.value, r.status, cfg.Width, err, dpr.width)
				}
			}
		}
		for round := range 2 { // the second round answers from the cache
			for _, tt := range []struct{ origin, want string }{
				{"https://a.example", "https://a.example"}, {"https://b.example", "https://b.example"},
				{"", ""}, {"https://evil.example", ""},
			} {
				r := fetch(t, c.base, "/kodim23.png?w=64", "Origin", tt.origin)
				if got := r.header.Get("Access-Control-Allow-Origin"); r.status != 200 || got != tt.want {
					t.Errorf("%s round %d, Origin %q: %d, Access-Control-Allow-Origin %q, want %q", c.name, round, tt.origin, r.status, got, tt.want)
				}
				if !strings.Contains(r.header.Get("Vary"), "Origin") {
					t.Errorf("%s round %d, Origin %q: Vary %q, want Origin in it", c.name, round, tt.origin, r.header.Get("Vary"))
				}
			}
			for _, tt := range []struct {
				header, dpr string
				width       int
			}{{"Sec-CH-DPR", "1", 100}, {"Sec-CH-DPR", "2", 200}, {"DPR", "2", 200}, {"Sec-CH-DPR", "1.5", 150}, {"", "", 100}} {
				r := fetch(t, c.base, "/kodim23.png?w=100&ch=DPR", tt.header, tt.dpr)
				cfg, _, err := image.DecodeConfig(bytes.NewReader(r.body))
				if r.status != 200 || err != nil || cfg.Width != tt.width {
					t.Errorf("%s round %d, %s: %q: %d, %d px wide (%v), want %d", c.name, round, tt.header, tt.dpr, r.status, cfg.Width, err, tt.width)
				}
			}
		}
	}
}

// TestBehindCachesCORSStar: with cors.allow_origins "*", a copy a cache
// filled for an <img> (no Origin) serves a later fetch() (with one): every
// answer carries Access-Control-Allow-Origin: *.
func TestBehindCachesCORSStar(t *testing.T) {
	t.Parallel()
	h := start(t, []string{"IMGEDGE_CORS_ALLOW_ORIGINS=*"}, nil)
	for _, c := range []*frontCache{startVarnish(t, h.base), startNginx(t, h.base)} {
		for _, origin := range []string{"", "https://a.example", ""} {
			r := fetch(t, c.base, "/kodim15.png?w=60", "Origin", origin)
			if got := r.header.Get("Access-Control-Allow-Origin"); r.status != 200 || got != "*" {
				t.Errorf("%s, Origin %q: %d, Access-Control-Allow-Origin %q, want *", c.name, origin, r.status, got)
			}
		}
	}
}

// TestBehindCachesAgeGrowsAndEachAddsCacheStatus: a copy held by a cache
// in front ages (RFC 9111 4.2.3), and the cache adds its own Cache-Status
// member after the edge's (RFC 9211) instead of replaying the edge's as
// its own. Time is the subject: the test waits 2 s.
func TestBehindCachesAgeGrowsAndEachAddsCacheStatus(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	caches := []*frontCache{startVarnish(t, h.base), startNginx(t, h.base)}
	type seen struct {
		age    int
		status []string
	}
	look := func(c *frontCache) seen {
		r := fetch(t, c.base, "/kodim07.png?w=70")
		if r.status != 200 {
			t.Fatalf("%s: %d", c.name, r.status)
		}
		age, err := strconv.Atoi(r.header.Get("Age"))
		if err != nil {
			t.Fatalf("%s: Age %q: %v", c.name, r.header.Get("Age"), err)
		}
		var members []string
		for _, v := range r.header.Values("Cache-Status") {
			for _, m := range strings.Split(v, ",") {
				members = append(members, strings.TrimSpace(m))
			}
		}
		return seen{age, members}
	}
	first := map[string]seen{}
	for _, c := range caches {
		first[c.name] = look(c)
	}
	time.Sleep(2 * time.Second)
	for _, c := range caches {
		then, now := first[c.name], look(c)
		if now.age < then.age+2 {
			t.Errorf("%s: Age %d, then %d 2 s later: a held copy must age", c.name, then.age, now.age)
		}
		for i, st := range []seen{then, now} {
			want := c.name + "; fwd=miss"
			if i == 1 {
				want = c.name + "; hit; ttl="
			}
			if len(st.status) != 2 || !strings.HasPrefix(st.status[0], "imgedge; ") || !strings.HasPrefix(st.status[1], want) {
				t.Errorf("%s answer %d: Cache-Status %q, want the edge's member then %q...", c.name, i, st.status, want)
			}
		}
		ttl, err := strconv.Atoi(strings.TrimPrefix(now.status[1], c.name+"; hit; ttl="))
		if err != nil || ttl > 3600-2 || ttl < 3600-60 {
			t.Errorf("%s: its member %q: the remaining freshness of a copy 2 s old, want about 3598", c.name, now.status[1])
		}
	}
}

// TestVarnishAnswersStaleWhileTheEdgeHangs: the edge process freezes after
// an idle spell (its copies in Varnish past their freshness and stale-while-
// revalidate); 60 clients that give up after 10 s all get the stale copy:
// the VCL's probe and first-byte timeout turn the hang into stale answers.
func TestVarnishAnswersStaleWhileTheEdgeHangs(t *testing.T) {
	// It mostly waits on clocks, so it waits beside the others that do.
	t.Parallel()
	img := readImage(t, "kodim04.png")
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=1")
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(img)
	}))
	t.Cleanup(origin.Close)
	p := newEdgeProc(t, "edge", edgeBinary(t, ""), "IMGEDGE_ORIGIN="+origin.URL, "IMGEDGE_CACHE_MIN_TTL=0s", "IMGEDGE_CACHE_STALE_WHILE_REVALIDATE=1s")
	v := startVarnish(t, p.base)
	etags := map[string]string{}
	for i := range 6 {
		u := fmt.Sprintf("/a.png?w=%d", 50+i)
		r := fetch(t, v.base, u)
		if r.status != 200 {
			t.Fatalf("%s: %d", u, r.status)
		}
		etags[u] = r.header.Get("ETag")
	}
	// The idle spell: every copy past its 1 s lifetime and 1 s of
	// stale-while-revalidate. Time is the subject: Varnish keeps its own
	// clock, which a test cannot move, and asking it would refresh them.
	time.Sleep(3 * time.Second)
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Signal(syscall.SIGCONT) })
	client := &http.Client{Timeout: 10 * time.Second}
	type result struct {
		url, etag string
		status    int
		err       error
	}
	results := make(chan result, 60)
	for i := range 60 {
		u := fmt.Sprintf("/a.png?w=%d", 50+i%6)
		go func() {
			resp, err := client.Get(v.base + u)
			if err != nil {
				results <- result{url: u, err: err}
				return
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			results <- result{u, resp.Header.Get("ETag"), resp.StatusCode, err}
		}()
	}
	for range 60 {
		r := <-results
		if r.err != nil || r.status != 200 || r.etag != etags[r.url] {
			t.Errorf("%s while the edge hangs: %d, ETag %q (want the stale %q): %v", r.url, r.status, r.etag, etags[r.url], r.err)
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
}

// TestBehindCachesObeyEachObjectsStaleWindow: a cache in front serves a
// copy stale only within the windows the edge sent for that object (the
// origin's stale-while-revalidate=1 here, and none with must-revalidate),
// not a window fixed in its config. Before, the VCL's req.grace of 60 s
// served the old bytes 25 s after a replacement promised within 7 s. Time
// is the subject: the test waits out the 2 s lifetime and the 1 s window.
func TestBehindCachesObeyEachObjectsStaleWindow(t *testing.T) {
	// It mostly waits on clocks, so it waits beside the others that do.
	t.Parallel()
	h := start(t, []string{"IMGEDGE_CACHE_MIN_TTL=0s"}, nil) // cache.stale_while_revalidate: 60 s
	caches := []*frontCache{startVarnish(t, h.base), startNginx(t, h.base)}
	first, second := readImage(t, "kodim04.png"), readImage(t, "kodim07.png")
	for _, cc := range []string{"max-age=2, stale-while-revalidate=1", "max-age=2, must-revalidate"} {
		h.origin.cacheControl.Store(cc)
		path := "/window-" + strconv.Itoa(len(cc)) + ".png?w=40"
		h.origin.bodies.Store(strings.Split(path, "?")[0], first)
		old := map[string]string{}
		for _, c := range caches {
			old[c.name] = fetch(t, c.base, path).header.Get("ETag")
		}
		h.origin.bodies.Store(strings.Split(path, "?")[0], second)
		time.Sleep(3*time.Second + 500*time.Millisecond) // past the lifetime and the window
		for _, c := range caches {
			for range 3 {
				if r := fetch(t, c.base, path); r.status != 200 || r.header.Get("ETag") == old[c.name] {
					t.Errorf("%s, origin %q: %d with the old bytes 3.5 s after the replacement (%q)", c.name, cc, r.status, r.header.Get("Cache-Status"))
				}
			}
		}
	}
}
