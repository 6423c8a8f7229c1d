package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"

	"imgedge/internal/testaddr"
)

// readmeCommands is the README's first two commands: the indented lines
// under its title.
func readmeCommands(t *testing.T) (run, test string) {
	t.Helper()
	f, err := os.Open("README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cmds []string
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(cmds) < 2 {
		if line := sc.Text(); strings.HasPrefix(line, "    ") {
			cmds = append(cmds, strings.TrimSpace(line))
		} else if len(cmds) > 0 {
			break
		}
	}
	if len(cmds) != 2 {
		t.Fatalf("the README's first lines give %d commands, want 2: %q", len(cmds), cmds)
	}
	return cmds[0], cmds[1]
}

// The README's two commands are the ones CI runs: the first installs with
// .ci/setup edge (which .ci/run's .ci/setup tests includes) and runs the
// edge; the second is .ci/run itself, which runs every test.
func TestREADMECommandsAreCIs(t *testing.T) {
	run, test := readmeCommands(t)
	if run != ".ci/setup edge && go run -v ." {
		t.Errorf("first command %q", run)
	}
	if test != ".ci/run" {
		t.Errorf("second command %q", test)
	}
	ci, err := os.ReadFile(".ci/run")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\n.ci/setup tests\n", "\ngo test -count=1 -timeout 10m ./...\n", "\ngo test -count=1 -race -timeout 15m ./...\n"} {
		if !strings.Contains(string(ci), want) {
			t.Errorf(".ci/run does not run %q", strings.TrimSpace(want))
		}
	}
	for _, script := range []string{".ci/run", ".ci/setup"} {
		if st, err := os.Stat(script); err != nil || st.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable: %v", script, err)
		}
	}
}

// readmeBuildLine is the README's build line (go build -trimpath ... -o
// PATH .) and the PATH it writes.
func readmeBuildLine(t *testing.T) (line, bin string) {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^    (go build -trimpath [^\n]*-o (\S+) \.)$`).FindSubmatch(readme)
	if m == nil {
		t.Fatal("no build line (go build -trimpath ... -o PATH .) in the README")
	}
	return string(m[1]), string(m[2])
}

// readmeBuilt is what the README's build line makes, built once for the
// tests that run it: each build relinks the whole binary (5 s of CPU).
var readmeBuilt struct {
	once sync.Once
	path string
	err  error
}

// readmeBinary is the binary the README's build line makes, written into
// TestMain's folder.
func readmeBinary(t *testing.T) string {
	t.Helper()
	line, bin := readmeBuildLine(t)
	readmeBuilt.once.Do(func() {
		out := filepath.Join(filepath.Dir(binary), "imgedge-readme")
		cmd := exec.Command("bash", "-c", strings.Replace(line, "-o "+bin, "-o "+out, 1))
		if msg, err := cmd.CombinedOutput(); err != nil {
			readmeBuilt.err = fmt.Errorf("%s: %w\n%s", line, err, msg)
			return
		}
		readmeBuilt.path = out
	})
	if readmeBuilt.err != nil {
		t.Fatal(readmeBuilt.err)
	}
	return readmeBuilt.path
}

// The README's build line is the one the Dockerfile runs and the systemd
// unit's comment gives, and the unit starts what it builds.
func TestBuildLineIsOne(t *testing.T) {
	t.Parallel()
	line, bin := readmeBuildLine(t)
	docker, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(docker), "\nRUN "+line+"\n") {
		t.Errorf("the Dockerfile does not RUN the README's build line %q", line)
	}
	unit, err := os.ReadFile("configs/systemd/imgedge.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "#   "+line+"\n") {
		t.Errorf("the systemd unit does not give the README's build line %q", line)
	}
	if !strings.Contains(string(unit), "\nExecStart="+bin+" ") {
		t.Errorf("the systemd unit does not start %s", bin)
	}
	// The line stamps the version: built by it, the binary says so.
	out := readmeBinary(t)
	rev, err := exec.Command("git", "describe", "--tags", "--always", "--dirty").Output()
	if err != nil {
		t.Fatal(err)
	}
	v, err := exec.Command(out, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(string(v), "\n"); first != "imgedge "+strings.TrimSpace(string(rev)) {
		t.Errorf("imgedge version says %q, want the commit %q", first, strings.TrimSpace(string(rev)))
	}
}

// A fresh clone, the README's first command run literally (ports moved to
// free ones through the environment the README documents): the edge comes
// up on its embedded defaults and serves the tour's first image.
func TestFreshCloneFirstCommand(t *testing.T) {
	t.Parallel()
	run, _ := readmeCommands(t)
	clone := filepath.Join(t.TempDir(), "imgedge")
	if msg, err := exec.Command("git", "clone", "--quiet", "--depth", "1", "file://"+mustAbs(t, "."), clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, msg)
	}
	public, admin := testaddr.Addr(t), testaddr.Addr(t)
	logs := &syncBuffer{}
	cmd := exec.Command("bash", "-c", run)
	cmd.Dir = clone
	cmd.Env = append(os.Environ(), "IMGEDGE_LISTEN="+public, "IMGEDGE_ADMIN_LISTEN="+admin)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	waitReady(t, "http://"+admin+"/readyz", logs, done)
	p := &edgeProcess{public: public, logs: logs}
	status, ctype, body := p.get(t, "/yellow_rose.png?w=300&fm=webp")
	if status != 200 || ctype != "image/webp" || len(body) == 0 {
		t.Fatalf("the tour's first image: %d %s, %d bytes\n%s", status, ctype, len(body), logs.String())
	}
	if !strings.Contains(logs.String(), "imgedge/edge") {
		t.Errorf("go run -v named no package as it compiled:\n%s", logs.String())
	}
	// SIGTERM to the whole group, as a terminal's Ctrl-C would: the edge
	// drains and the command ends.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-done // the drain is bounded by server.drain_timeout; a hang ends at go test's -timeout
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}
