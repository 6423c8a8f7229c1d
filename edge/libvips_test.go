//go:build cgo

package edge_test

import (
	"flag"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"imgedge/configs"
	"imgedge/edge/origin/s3test"
	"imgedge/internal/testwait"
	"imgedge/transform"
	"imgedge/transform/libvips"
)

// The edge's tests render with real libvips, wired in as main wires it.
// They are the only part of edge that needs cgo: without it (see
// nolibvips_test.go) the package still builds and vets.

func TestMain(m *testing.M) {
	for _, kv := range s3test.ChainEnv() {
		k, v, _ := strings.Cut(kv, "=")
		if err := os.Setenv(k, v); err != nil {
			panic(err)
		}
	}
	libvips.Startup(slog.New(slog.NewTextHandler(io.Discard, nil)))
	flag.Parse()
	testwait.AllowParallel(4)
	prebuildBinaries()
	code := m.Run()
	stopBuilds()
	libvips.Shutdown()
	os.Exit(code)
}

// newLibvips is the transformer main builds for cfg.
func newLibvips(t testing.TB, cfg *configs.Config) transform.Transformer {
	t.Helper()
	tr, err := libvips.New(libvips.FromConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr
}
