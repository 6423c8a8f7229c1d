package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDefaultConfigServesSamples runs the real binary the way the README's
// first command does (embedded defaults, from the repository root), asks for
// a sample as a 300 px WebP, then stops it with SIGTERM and expects exit 0.
func TestDefaultConfigServesSamples(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "imgedge")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	public, admin := freePort(t), freePort(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "IMGEDGE_LISTEN="+public, "IMGEDGE_ADMIN_LISTEN="+admin)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	waitReady(t, "http://"+admin+"/readyz", &logs)
	resp, err := http.Get("http://" + public + "/giunchedi-portrait.jpg?w=300&fm=webp")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/webp" || !bytes.HasPrefix(body, []byte("RIFF")) {
		t.Fatalf("sample: %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit within 20 s of SIGTERM\n%s", logs.String())
	}
}

func TestInvalidConfigStopsStartup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("transform: {quality: {webp: 0}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run([]string{"-config", path})
	if err == nil || !strings.Contains(err.Error(), "transform.quality.webp") || !strings.Contains(err.Error(), "1 to 100") {
		t.Fatalf("run = %v, want an error naming transform.quality.webp and its range", err)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitReady(t *testing.T, url string, logs *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Logf("readyz: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("not ready within 20 s\n%s", logs.String())
}
