package edge_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"imgedge/internal/testaddr"
	"imgedge/internal/testwait"
)

// previousRelease is the release before this one (main when the fleet's
// protocol last changed): a fleet mid-upgrade runs it beside this one.
// Bump it when a release changes what nodes share in Redis.
const previousRelease = "cf7922fc41b9c976e3fab949ae8e92018f7cd056"

// binaries builds each release's edge binary once per test process, in a
// folder removed when the tests are over.
var binaries struct {
	sync.Mutex
	builds map[string]*releaseBuild // release ("" for this one)
	dir    string
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// releaseBuild is one release's binary, built or being built.
type releaseBuild struct {
	done chan struct{} // closed when path or err is set
	path string
	err  error
}

// prebuildBinaries starts building the binaries the fleet tests run, at
// nice 10, while the first tests run: those use one core of two, and the
// two builds (16 s) were most of TestMixedReleaseFleet's 19 s. A focused
// run (-run) builds only what its tests ask for, when they ask.
func prebuildBinaries() {
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() != "" {
		return
	}
	startBuild("")
	startBuild(previousRelease)
}

// stopBuilds ends the builds still running and removes the binaries;
// TestMain calls it when the tests are over.
func stopBuilds() {
	binaries.Lock()
	cancel, dir := binaries.cancel, binaries.dir
	binaries.Unlock()
	if cancel != nil {
		cancel()
	}
	binaries.wg.Wait()
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
}

// edgeBinary is the edge at release ("" for the working tree; else a
// commit of this repository's history), with the race detector when the
// tests run under it, built once per test process.
func edgeBinary(t *testing.T, release string) string {
	t.Helper()
	b := startBuild(release)
	<-b.done
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// startBuild starts building release unless it is built or being built.
func startBuild(release string) *releaseBuild {
	binaries.Lock()
	defer binaries.Unlock()
	if b, ok := binaries.builds[release]; ok {
		return b
	}
	if binaries.builds == nil {
		binaries.builds = map[string]*releaseBuild{}
		binaries.ctx, binaries.cancel = context.WithCancel(context.Background())
	}
	b := &releaseBuild{done: make(chan struct{})}
	binaries.builds[release] = b
	if binaries.dir == "" {
		dir, err := os.MkdirTemp("", "imgedge-binaries-")
		if err != nil {
			b.err = fmt.Errorf("build %s: %w", releaseName(release), err)
			close(b.done)
			return b
		}
		binaries.dir = dir
	}
	ctx, dir := binaries.ctx, binaries.dir
	binaries.wg.Go(func() {
		defer close(b.done)
		b.path, b.err = buildRelease(ctx, dir, release)
	})
	return b
}

func releaseName(release string) string {
	if release == "" {
		return "imgedge-current"
	}
	return "imgedge-" + release[:12]
}

// buildRelease builds release's edge into dir.
func buildRelease(ctx context.Context, dir, release string) (string, error) {
	src := ".."
	name := releaseName(release)
	if release != "" {
		src = filepath.Join(dir, "src-"+release[:12])
		if err := exportRelease(ctx, release, src); err != nil {
			return "", err
		}
	}
	out := filepath.Join(dir, name)
	args := []string{"go", "build", "-o", out}
	if raceEnabled {
		args = append(args, "-race")
	}
	if _, err := exec.LookPath("nice"); err == nil {
		args = append([]string{"nice", "-n", "10"}, args...)
	}
	build := exec.CommandContext(ctx, args[0], append(args[1:], ".")...)
	build.Dir = src
	// go build runs the compilers as its children: a cancelled build ends
	// them too.
	build.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	build.Cancel = func() error { return syscall.Kill(-build.Process.Pid, syscall.SIGKILL) }
	build.WaitDelay = time.Second
	if msg, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build (%s): %w\n%s", name, err, msg)
	}
	return out, nil
}

// exportRelease writes release's tree as committed into src: git archive
// needs the commit in this clone's history. A shallow clone lacks it: it
// is fetched whole from where it was cloned, when that answers.
func exportRelease(ctx context.Context, release, src string) error {
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	var fetched []byte
	if exec.CommandContext(ctx, "git", "-C", "..", "cat-file", "-e", release+"^{commit}").Run() != nil {
		fetch := exec.CommandContext(ctx, "git", "-C", "..", "fetch", "--quiet", "--unshallow")
		// A cancelled fetch's remote helper may hold its output open.
		fetch.WaitDelay = time.Second
		if out, err := fetch.CombinedOutput(); err != nil {
			fetched = fmt.Appendf(nil, "git fetch --unshallow: %v %s", err, out)
		}
	}
	archive := exec.CommandContext(ctx, "git", "-C", "..", "archive", "--format=tar", release)
	untar := exec.CommandContext(ctx, "tar", "-x", "-C", src)
	var archiveErrs, untarErrs bytes.Buffer // two processes: a buffer each
	archive.Stderr, untar.Stderr = &archiveErrs, &untarErrs
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return err
	}
	untar.Stdin = pipe
	if err := untar.Start(); err != nil {
		return err
	}
	if err := archive.Run(); err != nil {
		_ = untar.Wait()
		return fmt.Errorf("git archive %s (the previous release must be in this clone's history): %w\n%s%s", release, err, archiveErrs.String(), fetched)
	}
	if err := untar.Wait(); err != nil {
		return fmt.Errorf("untar %s: %w\n%s", release, err, untarErrs.String())
	}
	return backportThreadSet(src)
}

// releaseEnv is what a release's process needs beside the test's own
// variables. An older release frees libvips' orc programs outside the
// lock orc allocates them under: two renders at once corrupted its heap now
// and then (this release frees them under orc's mutex), so it runs without
// orc's loops (VIPS_NOVECTOR), as an operator's hotfix would. It also ends
// an OS thread per render, so it runs with GLib's slice allocator off, as
// this release's edge does itself.
func releaseEnv(release string, env ...string) []string {
	if release == "" {
		return env
	}
	return append(slices.Clone(env), "VIPS_NOVECTOR=1", "G_SLICE=always-malloc")
}

// backportThreadSet gives a release older than the libvips thread-set fix
// (transform/libvips/threadset.c) that fix, as an operator's hotfix would:
// without it, one of its renders now and then waits for ever on a task
// libvips lost, or crashes the node by writing into freed memory, which is
// libvips 8.14.1's bug and not what the fleet scenarios check of it.
func backportThreadSet(src string) error {
	const file = "transform/libvips/threadset.c"
	dst := filepath.Join(src, file)
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	fix, err := os.ReadFile(filepath.Join("..", file))
	if err != nil {
		return fmt.Errorf("backport %s: %w", file, err)
	}
	if err := os.WriteFile(dst, fix, 0o644); err != nil {
		return fmt.Errorf("backport %s: %w", file, err)
	}
	return nil
}

// edgeProc is one edge process on fixed ports, which a test can kill and
// start again as a crash and a restart would.
type edgeProc struct {
	t       *testing.T
	bin     string
	name    string
	env     []string
	base    string // http://127.0.0.1:port, the public listener
	admin   string
	cmd     *exec.Cmd
	done    chan error
	logs    *syncWriter
	running bool
}

func newEdgeProc(t *testing.T, name, bin string, env ...string) *edgeProc {
	pub, adm := testaddr.Addr(t), testaddr.Addr(t)
	p := &edgeProc{t: t, bin: bin, name: name, base: "http://" + pub, admin: "http://" + adm, logs: &syncWriter{},
		env: append([]string{"IMGEDGE_LISTEN=" + pub, "IMGEDGE_ADMIN_LISTEN=" + adm, "IMGEDGE_ADMIN_TOKEN=" + fleetToken}, env...)}
	p.start()
	t.Cleanup(p.stop)
	return p
}

// start runs the process and waits until it is ready.
func (p *edgeProc) start() {
	p.t.Helper()
	p.cmd = exec.Command(p.bin)
	// The process's config is what the test sets: none of the test
	// process's own IMGEDGE_ variables (the chaos seed, say) leak in.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "IMGEDGE_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(p.cmd.Env, p.env...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.done = make(chan error, 1)
	go func(cmd *exec.Cmd, done chan error) { done <- cmd.Wait() }(p.cmd, p.done)
	p.running = true
	testwait.Until(p.t, func() bool {
		resp, err := http.Get(p.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return true
			}
		}
		select {
		case err := <-p.done:
			p.running = false
			p.t.Fatalf("%s exited at start: %v\n%s", p.name, err, p.logs.String())
		default:
		}
		return false
	}, func() string { return p.name + " never ready\n" + p.logs.String() })
}

// exitedEarly fails the test, with the end of the process's output, when
// the process ended before the test ended it: a crash (a Go panic, or
// glibc or a sanitizer aborting) would otherwise show only as refused
// connections.
func (p *edgeProc) exitedEarly() bool {
	select {
	case err := <-p.done:
		p.running = false
		out := p.logs.String()
		p.t.Errorf("%s exited on its own: %v\n...%s", p.name, err, out[max(0, len(out)-8192):])
		return true
	default:
		return false
	}
}

// kill ends the process as a crash would.
func (p *edgeProc) kill() {
	if !p.running || p.exitedEarly() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.running = false
}

// stop ends the process as an operator would (SIGTERM, drain).
func (p *edgeProc) stop() {
	if !p.running || p.exitedEarly() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.running = false
}

// sumMetric adds the values of every series of the process's /metrics
// whose line starts with prefix (a family over its label sets).
func (p *edgeProc) sumMetric(prefix string) float64 {
	p.t.Helper()
	resp, err := http.Get(p.admin + "/metrics")
	if err != nil {
		p.t.Fatalf("%s /metrics: %v", p.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var sum float64
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, prefix) {
			var v float64
			if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
				sum += v
			}
		}
	}
	return sum
}

// purge asks the process to purge query; it returns the status and body.
func (p *edgeProc) purge(ctx context.Context, query string) (int, string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.admin+"/purge?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+fleetToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}
