package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"imgedge/configs"
	"imgedge/edge/signing"
	"imgedge/internal/testaddr"
	"imgedge/internal/testwait"
)

// edgeProcess is the real binary running on two free ports.
type edgeProcess struct {
	cmd           *exec.Cmd
	public, admin string
	logs          *syncBuffer
	done          chan error
}

type syncBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	wrote chan struct{} // a token after each write, for waitReady
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	select {
	case s.writes() <- struct{}{}:
	default: // a token is already waiting
	}
	return n, err
}

// writes is the channel a token arrives on after a write (made on first use,
// under s.mu, so that the zero value works).
func (s *syncBuffer) writes() chan struct{} {
	if s.wrote == nil {
		s.wrote = make(chan struct{}, 1)
	}
	return s.wrote
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// binary is the imgedge executable TestMain builds once for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "imgedge-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "imgedge")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func startEdge(t *testing.T, args []string, env ...string) *edgeProcess {
	t.Helper()
	return startEdgeIn(t, "", args, env...)
}

// startEdgeIn starts the edge with dir as its working directory ("": this
// one).
func startEdgeIn(t *testing.T, dir string, args []string, env ...string) *edgeProcess {
	t.Helper()
	p := &edgeProcess{public: testaddr.Addr(t), admin: testaddr.Addr(t), logs: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Dir = dir
	p.cmd.Env = append(append(os.Environ(), "IMGEDGE_LISTEN="+p.public, "IMGEDGE_ADMIN_LISTEN="+p.admin), env...)
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })
	waitReady(t, "http://"+p.admin+"/readyz", p.logs, p.done)
	return p
}

func (p *edgeProcess) get(t *testing.T, path string) (int, string, []byte) {
	t.Helper()
	resp, err := http.Get("http://" + p.public + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

// stop sends SIGTERM and expects exit 0; it returns how long the exit took.
func (p *edgeProcess) stop(t *testing.T) time.Duration {
	t.Helper()
	began := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit within 20 s of SIGTERM\n%s", p.logs.String())
	}
	return time.Since(began)
}

// TestDefaultConfigServesSamples runs the real binary the way the README's
// first command does (embedded defaults, from the repository root), asks for
// a sample as a 300 px WebP, then stops it with SIGTERM and expects exit 0.
func TestDefaultConfigServesSamples(t *testing.T) {
	p := startEdge(t, nil)
	status, ctype, body := p.get(t, "/giunchedi-portrait.jpg?w=300&fm=webp")
	if status != 200 || ctype != "image/webp" || !bytes.HasPrefix(body, []byte("RIFF")) {
		t.Fatalf("sample: %d %s, %d bytes", status, ctype, len(body))
	}
	p.stop(t)
}

// The edge restarts itself with glibc's two arenas and GLib's slice
// allocator off (limitMallocArenas): both read from the environment before
// main runs.
func TestAllocatorEnvironment(t *testing.T) {
	p := startEdge(t, nil)
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"MALLOC_ARENA_MAX=2", "G_SLICE=always-malloc"} {
		if !slices.Contains(strings.Split(string(environ), "\x00"), want) {
			t.Errorf("the edge runs without %s", want)
		}
	}
	p.stop(t)
}

// TestGoHeapLimitFollowsTheBudgets: the collector's soft limit is the two
// cache budgets plus configs.GoHeapRoom, so full tiers do not let the heap
// double, and never under configs.GoHeapFloor; an operator's GOMEMLIMIT
// stands.
func TestGoHeapLimitFollowsTheBudgets(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want int64
	}{
		{[]string{"IMGEDGE_CACHE_MEMORY=400MiB", "IMGEDGE_CACHE_MEMORY_ORIGINALS=28MiB"}, 428<<20 + configs.GoHeapRoom},
		{[]string{"IMGEDGE_CACHE_MEMORY=0", "IMGEDGE_CACHE_MEMORY_ORIGINALS=0"}, configs.GoHeapFloor},
		{[]string{"IMGEDGE_CACHE_MEMORY=100MiB", "GOMEMLIMIT=3GiB"}, 3 << 30},
	} {
		p := startEdge(t, nil, tc.env...)
		resp, err := http.Get("http://" + p.admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		text, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var got float64
		for _, line := range strings.Split(string(text), "\n") {
			if v, ok := strings.CutPrefix(line, "go_gc_gomemlimit_bytes "); ok {
				fmt.Sscan(v, &got)
			}
		}
		if int64(got) != tc.want {
			t.Errorf("%v: Go memory limit %.0f, want %d", tc.env, got, tc.want)
		}
		p.stop(t)
	}
}

// TestSIGHUPReloadsConfig: a changed file applies without a restart; a bad
// one is refused with a log line and the running config stays.
func TestSIGHUPReloadsConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.yaml")
	write := func(body string) {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("presets: {small: {w: 16}}\n")
	p := startEdge(t, []string{"-config", path})
	if status, _, _ := p.get(t, "/hopper.jpg?p=small"); status != 200 {
		t.Fatalf("p=small before reload: %d", status)
	}
	write("presets: {tiny: {w: 8}}\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { s, _, _ := p.get(t, "/hopper.jpg?p=tiny"); return s == 200 }, p.logs)
	if status, _, _ := p.get(t, "/hopper.jpg?p=small"); status != 400 {
		t.Fatalf("p=small after it was removed: %d", status)
	}
	write("transform: {quality: {jpeg: 0}}\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(p.logs.String(), "config reload refused") }, p.logs)
	if !strings.Contains(p.logs.String(), "transform.quality.jpeg") {
		t.Errorf("the refusal does not name the key:\n%s", p.logs.String())
	}
	if status, _, _ := p.get(t, "/hopper.jpg?p=tiny"); status != 200 {
		t.Fatalf("the running config did not survive a bad reload: %d", status)
	}
	p.stop(t)
}

// TestSIGHUPAppliesHotKeys: every key the README calls hot applies through a
// real SIGHUP, and the keys fixed at start that changed are named. Before,
// limits.max_source_bytes stayed as the origin was built with, tracing never
// started, and fill deadlines kept their start-up values.
func TestSIGHUPAppliesHotKeys(t *testing.T) {
	t.Parallel()
	var spans atomic.Int32
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/traces" {
			spans.Add(1)
		}
	}))
	defer collector.Close()
	path := filepath.Join(t.TempDir(), "edge.yaml")
	write := func(body string) {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("transform: {timeout: 1ms}\n")
	p := startEdge(t, []string{"-config", path})
	if status, _, body := p.get(t, "/giunchedi-portrait.jpg?w=301"); status == 200 {
		t.Fatalf("a render within transform.timeout=1ms: %d %s", status, body)
	}
	write("transform: {timeout: 30s}\nlimits: {max_source_bytes: 100KiB}\ncache: {memory: 64MiB}\n" +
		"tracing: {endpoint: " + collector.URL + ", sample: 1}\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(p.logs.String(), "config reloaded") }, p.logs)
	if !strings.Contains(p.logs.String(), `"keys":["cache.memory"]`) {
		t.Errorf("the reload does not name the one restart-only key that changed:\n%s", p.logs.String())
	}
	if status, _, body := p.get(t, "/giunchedi-portrait.jpg?w=302"); status != 200 {
		t.Errorf("raised transform.timeout not applied: %d %s", status, body)
	}
	if status, _, body := p.get(t, "/kodim04.png?w=10"); status != 413 || !strings.Contains(string(body), "source_too_large") {
		t.Errorf("lowered limits.max_source_bytes not applied to a 637 KB source: %d %s", status, body)
	}
	waitFor(t, func() bool { return spans.Load() > 0 }, p.logs)
	p.stop(t)
}

// TestSIGTERMDrainsInFlight: a request in flight when SIGTERM arrives still
// gets its answer, then the process exits 0.
func TestSIGTERMDrainsInFlight(t *testing.T) {
	img, err := os.ReadFile("bench/images/hopper.jpg")
	if err != nil {
		t.Fatal(err)
	}
	arrived := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		time.Sleep(700 * time.Millisecond) // the origin's latency: the request is in flight when SIGTERM comes
		_, _ = w.Write(img)
	}))
	defer slow.Close()
	p := startEdge(t, nil, "IMGEDGE_ORIGIN="+slow.URL)
	got := make(chan int, 1)
	go func() { s, _, _ := p.get(t, "/hopper.jpg?w=50"); got <- s }()
	<-arrived
	p.stop(t)
	if s := <-got; s != 200 {
		t.Fatalf("in-flight request during drain: %d", s)
	}
}

func waitFor(t *testing.T, ok func() bool, logs *syncBuffer) {
	t.Helper()
	testwait.Until(t, ok, func() string { return "condition not met\n" + logs.String() })
}

func TestInvalidConfigStopsStartup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("transform: {quality: {webp: 0}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(path)
	if err == nil || !strings.Contains(err.Error(), "transform.quality.webp") || !strings.Contains(err.Error(), "1 to 100") {
		t.Fatalf("run = %v, want an error naming transform.quality.webp and its range", err)
	}
}

func waitReady(t *testing.T, url string, logs *syncBuffer, done <-chan error) {
	t.Helper()
	// The edge logs "imgedge listening" once both listeners are bound, and
	// it is ready from before that line (edge.New): the log is the event to
	// wait for, however long a build or a start takes on a loaded machine.
	for {
		logs.mu.Lock()
		listening := strings.Contains(logs.b.String(), `"msg":"imgedge listening"`)
		wrote := logs.writes()
		logs.mu.Unlock()
		if listening {
			break
		}
		select {
		case <-wrote:
		case err := <-done:
			t.Fatalf("the edge ended before it listened: %v\n%s", err, logs.String())
		}
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("readyz: %v\n%s", err, logs.String())
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("readyz: %d once listening\n%s", resp.StatusCode, logs.String())
	}
}

func TestSignCommand(t *testing.T) {
	var out bytes.Buffer
	if err := sign([]string{"-key", "0123456789abcdef", "/photos/cat.jpg?w=300"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	url := strings.TrimSpace(out.String())
	path, query, _ := strings.Cut(url, "?")
	if !strings.HasPrefix(query, "w=300&s=") || !signing.NewVerifier([]string{"0123456789abcdef"}, false, signing.HMACSHA256).Verify(nil, []byte(path), []byte(query)) {
		t.Fatalf("sign printed %q, which does not verify", url)
	}
	if err := sign([]string{"-key", "0123456789abcdef", "no-slash"}, &out, io.Discard); err == nil {
		t.Fatal("a URL without its path was signed")
	}
}

// imgedge sign signs for the route the URL hits, as the edge configured by
// -config verifies it, and refuses what that edge would refuse: every URL it
// prints, the edge answers.
func TestSignFollowsTheRoutes(t *testing.T) {
	t.Parallel()
	const (
		shared = "shared-key-0123456789"
		tokenA = "imgix-token-a-0123456789"
	)
	dir := t.TempDir()
	config := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	samples := mustAbs(t, "bench/images")
	byHost := config("hosts.yaml", "signing: {keys: ["+shared+"]}\norigins:\n"+
		"  - {hosts: [a.example], url: 'file:"+samples+"', signing: {scheme: imgix, keys: ["+tokenA+"]}}\n"+
		"  - {hosts: [b.example], url: 'file:"+samples+"'}\n")
	plain := config("plain.yaml", "signing: {keys: ["+shared+"]}\n")
	const own = "prefix-key-0123456789"
	byPrefix := config("prefix.yaml", "signing: {keys: ["+shared+"]}\norigins:\n"+
		"  - {prefix: /p, url: 'file:"+samples+"', signing: {keys: ["+own+"]}}\n")
	for _, tt := range []struct {
		args []string
		fail string // the refusal, or "" for a URL to fetch
		host string
	}{
		{[]string{"-config", byHost, "-host", "a.example", "/hopper.jpg?w=16"}, "", "a.example"}, // the route's imgix token
		{[]string{"-config", byHost, "-host", "b.example", "/hopper.jpg?w=16"}, "", "b.example"}, // signing.keys, with the host
		{[]string{"-config", byHost, "/hopper.jpg?w=16"}, "give -host", ""},
		{[]string{"-config", byHost, "-host", "a.example", "-scheme", "hmac-sha256", "/hopper.jpg?w=16"}, "with the imgix scheme", ""},
		{[]string{"-config", byHost, "-host", "a.example", "-key", shared, "/hopper.jpg?w=16"}, "not one of them", ""},
		{[]string{"-config", plain, "/hopper.jpg?w=16"}, "", ""},
		// The route the edge picks by the path as it reads it: decoded and
		// normalised.
		{[]string{"-config", byPrefix, "/p/hopper.jpg?w=16"}, "", ""},
		{[]string{"-config", byPrefix, "/%70/hopper.jpg?w=16"}, "", ""},
		{[]string{"-config", byPrefix, "//p/hopper.jpg?w=16"}, "", ""},
		{[]string{"-config", byPrefix, "/x/../p/hopper.jpg?w=16"}, "", ""},
		{[]string{"-config", plain, "-host", "a.example", "/hopper.jpg?w=16"}, "drop -host", ""},
		{[]string{"/hopper.jpg?w=16"}, "its URLs need none", ""},
	} {
		var out bytes.Buffer
		err := sign(tt.args, &out, io.Discard)
		switch {
		case tt.fail != "":
			if err == nil || !strings.Contains(err.Error(), tt.fail) {
				t.Errorf("sign %q: %v, want a refusal saying %q", tt.args, err, tt.fail)
			}
			continue
		case err != nil:
			t.Errorf("sign %q: %v", tt.args, err)
			continue
		}
		// The edge of that config answers the URL.
		cfgPath := tt.args[1]
		p := startEdge(t, []string{"-config", cfgPath})
		// Sent as printed: Go's client would clean //p and /x/../p.
		status := rawGet(t, p.public, tt.host, strings.TrimSpace(out.String()))
		if status != 200 {
			t.Errorf("sign %q printed %s, which the edge answers %d", tt.args, strings.TrimSpace(out.String()), status)
		}
		p.stop(t)
	}
}

// TestSigningCannotBeTurnedOffByAccident: with keys in the file, an empty
// IMGEDGE_SIGNING_KEYS stops the start, and a SIGHUP to a file without keys
// is refused while signed URLs stay required.
func TestSigningCannotBeTurnedOffByAccident(t *testing.T) {
	const key = "0123456789abcdef0123"
	path := filepath.Join(t.TempDir(), "edge.yaml")
	write := func(body string) {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("signing: {keys: [" + key + "]}\n")
	t.Setenv("IMGEDGE_SIGNING_KEYS", " ")
	if err := run(path); err == nil || !strings.Contains(err.Error(), "signing.keys") {
		t.Fatalf("run with a blank IMGEDGE_SIGNING_KEYS = %v, want a refusal naming signing.keys", err)
	}
	os.Unsetenv("IMGEDGE_SIGNING_KEYS")
	p := startEdge(t, []string{"-config", path})
	if status, _, _ := p.get(t, "/hopper.jpg?w=16"); status != 403 {
		t.Fatalf("unsigned request on a signing edge: %d", status)
	}
	write("signing: {keys: []}\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(p.logs.String(), "config reload refused") }, p.logs)
	if status, _, _ := p.get(t, "/hopper.jpg?w=16"); status != 403 {
		t.Fatalf("unsigned request after a reload to no keys: %d", status)
	}
	p.stop(t)
}

// TestSIGTERMStopsLongRender: a render that would run far past
// server.drain_timeout is killed when the drain is half over, its request
// answers, and the process exits 0 within the drain timeout (plus the time
// a process takes to be reaped).
func TestSIGTERMStopsLongRender(t *testing.T) {
	p := startEdge(t, nil, "IMGEDGE_SERVER_DRAIN_TIMEOUT=2s", "IMGEDGE_TRANSFORM_TIMEOUT=10m",
		"IMGEDGE_LIMITS_MAX_OUTPUT_PIXELS=50000000", "IMGEDGE_CACHE_MEMORY=0")
	got := make(chan int, 1)
	go func() {
		resp, err := http.Get("http://" + p.public + "/camera-4000x3000-q90.jpg?w=4000&blur=800&fm=png")
		if err != nil {
			got <- 0
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	// The gate: the render is running.
	waitFor(t, func() bool {
		resp, err := http.Get("http://" + p.admin + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "imgedge_inflight_transforms 1")
	}, p.logs)
	if took := p.stop(t); took > 3*time.Second {
		t.Errorf("exit %v after SIGTERM, with server.drain_timeout 2s", took)
	}
	if s := <-got; s != 503 {
		t.Errorf("the killed render's request got %d, want 503 (retry elsewhere)", s)
	}
}

// TestUnsignedStartSaysSo: a config whose signing.keys is null (the key
// written, its value left out) starts like one with an empty list, unsigned,
// and says so in the log. Before, it started unsigned without a word.
func TestUnsignedStartSaysSo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.yaml")
	if err := os.WriteFile(path, []byte("signing:\n  keys:\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startEdge(t, []string{"-config", path})
	if status, _, _ := p.get(t, "/hopper.jpg?w=16"); status != 200 {
		t.Fatalf("unsigned request on an unsigned edge: %d", status)
	}
	waitFor(t, func() bool { return strings.Contains(p.logs.String(), "URLs are not signed") }, p.logs)
	p.stop(t)
}

// TestReloadIsAllOrNothing: a reload that changes the default WebP quality
// and adds a preset the URL parser refuses is refused whole: renders keep
// the running quality. Before, the transformer took the new quality before
// the preset was checked, and the log said "the running config stays".
func TestReloadIsAllOrNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edge.yaml")
	write := func(body string) {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("transform: {quality: {webp: 80}}\n")
	p := startEdge(t, []string{"-config", path})
	write("transform: {quality: {webp: 20}}\npresets: {bad: {w: wide}}\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(p.logs.String(), "config reload refused") }, p.logs)
	_, _, after := p.get(t, "/hopper.jpg?w=201&fm=webp")
	_, _, q80 := p.get(t, "/hopper.jpg?w=201&fm=webp&q=80")
	_, _, q20 := p.get(t, "/hopper.jpg?w=201&fm=webp&q=20")
	if !bytes.Equal(after, q80) || bytes.Equal(after, q20) {
		t.Fatalf("after a refused reload the default quality rendered %d bytes; q=80 makes %d, q=20 %d", len(after), len(q80), len(q20))
	}
	p.stop(t)
}

// rawGet sends GET target to addr exactly as given, with Host host
// (addr's when empty), and returns the status.
func rawGet(t *testing.T, addr, host, target string) int {
	t.Helper()
	if host == "" {
		host = addr
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, host); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
