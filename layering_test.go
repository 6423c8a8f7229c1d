package main

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// goList runs go list with args in the module root and returns its lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.Fields(string(out))
}

// The layering of the README's Layout, as .ci/run checks it: edge and
// everything under it compile without cgo, main wiring transform/libvips
// in through transform.Transformer, and nothing but main imports edge. A
// failure names the package that brought cgo in and who imports it.
func TestEdgeCompilesWithoutCgo(t *testing.T) {
	t.Parallel()
	bad := func(pkg string) bool {
		return pkg == "imgedge/transform/libvips" || strings.HasPrefix(pkg, "github.com/davidbyttow/govips")
	}
	// Every package edge/... depends on, "path cgo" for those with cgo files
	// outside the standard library.
	deps := goList(t, "-deps", "-f", `{{.ImportPath}}{{if and .CgoFiles (not .Standard)}}:cgo{{end}}`, "./edge/...")
	var offending []string
	for _, d := range deps {
		pkg, cgo := strings.CutSuffix(d, ":cgo")
		if cgo || bad(pkg) {
			offending = append(offending, pkg)
		}
	}
	if len(offending) > 0 {
		// Who imports them, among edge's dependencies.
		var importers []string
		for _, line := range goList(t, "-deps", "-f", `{{.ImportPath}}={{join .Imports ","}}`, "./edge/...") {
			pkg, imports, _ := strings.Cut(line, "=")
			for _, imp := range strings.Split(imports, ",") {
				if slices.Contains(offending, imp) {
					importers = append(importers, pkg+" imports "+imp)
				}
			}
		}
		t.Errorf("edge/... depends on cgo packages %v (%s); edge must reach libvips only through transform.Transformer, wired in by main",
			offending, strings.Join(importers, "; "))
	}
	build := exec.Command("go", "build", "./edge/...")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Errorf("CGO_ENABLED=0 go build ./edge/...: %v\n%s", err, out)
	}
	for _, line := range goList(t, "-f", `{{.ImportPath}}={{join .Imports ","}}`, "./...") {
		pkg, imports, _ := strings.Cut(line, "=")
		if pkg != "imgedge" && slices.Contains(strings.Split(imports, ","), "imgedge/edge") {
			t.Errorf("%s imports imgedge/edge: only main may", pkg)
		}
	}
}

// One Redis client in the module: rueidis, which the fleet uses; test
// helpers and benchmarks use it too. go-redis was kept only for a
// comparison benchmark (its figures stay in bench/RESULTS.md).
func TestOneRedisClient(t *testing.T) {
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(mod), "\n") {
		if strings.Contains(line, "github.com/redis/go-redis") {
			t.Errorf("go.mod:%d requires go-redis (%s): use rueidis, as cache/fleet and cache/redistest do", i+1, strings.TrimSpace(line))
		}
	}
}
