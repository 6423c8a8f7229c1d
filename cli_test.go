package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"imgedge/configs"
	"imgedge/edge/origin/origintest"
	"imgedge/edge/origin/s3test"
)

// runBinary runs the built edge with args in dir and returns its exit
// status and output.
func runBinary(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatal(err)
	return 0, "", ""
}

// TestCLI: every command line either does what it says or exits 2 with the
// usage; nothing is silently ignored.
func TestCLI(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		code int
		out  string // in stdout, or in stderr for a failure
	}{
		{[]string{"edge.yaml"}, 2, `unknown command "edge.yaml"; a config file is given with -config: imgedge -config edge.yaml`},
		{[]string{"serve"}, 2, "usage:"},
		{[]string{"-config", "x.yaml", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"-bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"-h"}, 0, "usage:"},
		{[]string{"-h"}, 0, "s3.path_style                        IMGEDGE_S3_PATH_STYLE"},
		{[]string{"help"}, 0, "imgedge version"},
		{[]string{"version"}, 0, "libvips 8."},
		{[]string{"version", "now"}, 2, `version takes no argument, got "now"`},
		{[]string{"help", "extra"}, 2, `help takes no argument, got "extra"`},
		{[]string{"version", "-h"}, 0, "usage: imgedge version [flags]"},
		{[]string{"healthcheck", "-h"}, 0, "-url string"},
		{[]string{"sign", "-key", "short", "/a.jpg?w=1"}, 1, "under 16 bytes"},
		{[]string{"sign", "-key", "0123456789abcdef", "/a.jpg?w=1"}, 0, "/a.jpg?w=1&s="},
		{[]string{"sign", "-key", "0123456789abcdef"}, 2, "sign takes one URL path"},
		{[]string{"sign", "-h"}, 0, "-scheme S     hmac-sha256 or imgix"},
		{[]string{"sign", "-h"}, 0, "-host H"},
		{[]string{"help"}, 0, "imgedge sign [-key K] [-scheme S] [-host H] [-config FILE]"},
		{[]string{"healthcheck", "-url", "http://" + origintest.RefusedAddr(t) + "/healthz"}, 1, "healthcheck"},
	} {
		code, stdout, stderr := runBinary(t, ".", tt.args...)
		got := stdout
		if code != 0 {
			got = stderr
		}
		if code != tt.code || !strings.Contains(got, tt.out) {
			t.Errorf("imgedge %s: exit %d, %q; want exit %d with %q", strings.Join(tt.args, " "), code, got, tt.code, tt.out)
		}
	}
	_, stdout, _ := runBinary(t, ".", "version")
	for _, codec := range []string{"jpeg", "webp", "avif/heif", "jxl", "svg"} {
		if !strings.Contains(stdout, codec) || strings.Contains(stdout, "MISSING") {
			t.Errorf("version does not report %s present:\n%s", codec, stdout)
		}
	}
}

// TestRunsFromAnyDirectory: started elsewhere with the embedded defaults,
// the edge finds the sample images and serves the tour; the container
// health check answers through the binary itself.
func TestRunsFromAnyDirectory(t *testing.T) {
	p := startEdgeIn(t, t.TempDir(), nil)
	if status, ctype, _ := p.get(t, "/kodim23.png?w=100&fm=webp"); status != 200 || ctype != "image/webp" {
		t.Fatalf("a sample from another directory: %d %s", status, ctype)
	}
	if code, _, stderr := runBinary(t, ".", "healthcheck", "-url", "http://"+p.admin+"/healthz"); code != 0 {
		t.Fatalf("healthcheck of a healthy edge: exit %d %s", code, stderr)
	}
	p.stop(t)
}

// TestDefaultOriginMissing: when the sample images are nowhere to be found,
// the error says how to name an origin, once; an origin the operator set is
// left alone.
func TestDefaultOriginMissing(t *testing.T) {
	cfg, err := configs.Default()
	if err != nil {
		t.Fatal(err)
	}
	err = findDefaultOrigin(cfg, []string{t.TempDir(), t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "IMGEDGE_ORIGIN=file:") || strings.Count(err.Error(), "origin") > 3 {
		t.Fatalf("err = %v", err)
	}
	here, _ := os.Getwd()
	if err := findDefaultOrigin(cfg, []string{t.TempDir(), here}); err != nil || cfg.Origin != "file:"+here+"/bench/images" {
		t.Fatalf("found %q, %v", cfg.Origin, err)
	}
	set, err := configs.Load("", []string{"IMGEDGE_ORIGIN=file:testdata/faces"})
	if err != nil {
		t.Fatal(err)
	}
	if err := findDefaultOrigin(set, []string{here}); err != nil || set.Origin != "file:testdata/faces" {
		t.Fatalf("an origin the operator set became %q (%v)", set.Origin, err)
	}
	// A config copied from configs/default.yaml names the sample origin
	// itself: found the same way.
	copied, err := configs.Load("", []string{"IMGEDGE_ORIGIN=file:bench/images"})
	if err != nil {
		t.Fatal(err)
	}
	if err := findDefaultOrigin(copied, []string{t.TempDir(), here}); err != nil || copied.Origin != "file:"+here+"/bench/images" {
		t.Fatalf("the sample origin set explicitly: %q (%v)", copied.Origin, err)
	}
}

// The sample origin is found the same with a -config file that names no
// origin as without one; and when it cannot be found, a mistake in the
// operator's own routes is what the error reports.
func TestDefaultOriginWithConfig(t *testing.T) {
	t.Parallel()
	elsewhere := t.TempDir()
	cfg := filepath.Join(elsewhere, "edge.yaml")
	if err := os.WriteFile(cfg, []byte("cache: {ttl: 1h}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startEdgeIn(t, elsewhere, []string{"-config", cfg})
	if status, ctype, _ := p.get(t, "/kodim23.png?w=100&fm=webp"); status != 200 || ctype != "image/webp" {
		t.Fatalf("a sample with -config, from another directory: %d %s", status, ctype)
	}
	p.stop(t)
	// A binary that knows no checkout (the README's build line, -trimpath),
	// run where there are no samples, with a route to a folder that does not
	// exist.
	trimmed := readmeBinary(t)
	if err := os.WriteFile(cfg, []byte("origins: [{prefix: /x, url: 'file:/nonexistent-imgedge-route'}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(trimmed, "-config", cfg)
	cmd.Dir = elsewhere
	cmd.Env = append(os.Environ(), "IMGEDGE_LISTEN=127.0.0.1:0", "IMGEDGE_ADMIN_LISTEN=127.0.0.1:1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "origins[0]: file:/nonexistent-imgedge-route") || strings.Contains(string(out), "bench/images") {
		t.Fatalf("%v: %s", err, out)
	}
	// With the route fixed, the missing samples are what it says.
	if err := os.WriteFile(cfg, []byte("cache: {ttl: 1h}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(trimmed, "-config", cfg)
	cmd.Dir = elsewhere
	cmd.Env = append(os.Environ(), "IMGEDGE_LISTEN=127.0.0.1:0", "IMGEDGE_ADMIN_LISTEN=127.0.0.1:1")
	if out, err = cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "the default origin, the sample images in bench/images, is not here") {
		t.Fatalf("%v: %s", err, out)
	}
}

// TestREADMETour: every URL of the README's tour answers as the tour says:
// an image, JSON for fm=json, or (the mistake it shows) a 400 that names
// the parameter.
func TestREADMETour(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	urls := regexp.MustCompile(`curl [^\n]*'http://127\.0\.0\.1:8080(/[^']*)'`).FindAllStringSubmatch(string(raw), -1)
	if len(urls) < 6 {
		t.Fatalf("found %d tour URLs in the README", len(urls))
	}
	t.Run("folder", func(t *testing.T) { tour(t, startEdge(t, nil), urls) })
	// A private bucket on a real S3 server, with nothing but the origin, its
	// endpoint and credentials in the environment.
	t.Run("s3", func(t *testing.T) {
		srv := s3test.Start(t)
		srv.Bucket("tour")
		srv.PutDir("tour", "", "bench/images", "")
		tour(t, startEdge(t, nil, append(srv.Env(), "IMGEDGE_ORIGIN=s3://tour")...), urls)
	})
}

func tour(t *testing.T, p *edgeProcess, urls [][]string) {
	for _, u := range urls {
		status, ctype, body := p.get(t, u[1])
		switch {
		case strings.Contains(u[1], "width="):
			if status != 400 || !strings.Contains(string(body), "did you mean") {
				t.Errorf("%s: %d %s", u[1], status, body)
			}
		case strings.Contains(u[1], "fm=json"):
			if status != 200 || ctype != "application/json" || !json.Valid(body) {
				t.Errorf("%s: %d %s %.200s", u[1], status, ctype, body)
			}
		case status != 200 || !strings.HasPrefix(ctype, "image/"):
			t.Errorf("%s: %d %s %.200s", u[1], status, ctype, body)
		}
	}
	p.stop(t)
}

// TestMissingOriginFolder: a folder origin that does not exist stops the
// start with one plain sentence naming the key and the folder.
func TestMissingOriginFolder(t *testing.T) {
	cmd := exec.Command(binary)
	cmd.Env = append(os.Environ(), "IMGEDGE_ORIGIN=file:/nonexistent-imgedge", "IMGEDGE_LISTEN=127.0.0.1:0", "IMGEDGE_ADMIN_LISTEN=127.0.0.1:1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v", err)
	}
	msg := string(out)
	if !strings.Contains(msg, "origin: file:/nonexistent-imgedge: the folder cannot be opened") || strings.Count(msg, "origin") != 1 {
		t.Fatalf("message: %s", msg)
	}
}
