//go:build !cgo

package edge_test

import (
	"testing"

	"imgedge/configs"
	"imgedge/transform"
)

// newLibvips skips: without cgo there is no libvips to render with, but the
// tests still compile, so `CGO_ENABLED=0 go vet ./edge/...` covers them.
func newLibvips(t testing.TB, _ *configs.Config) transform.Transformer {
	t.Skip("renders with libvips, which needs cgo")
	return nil
}
