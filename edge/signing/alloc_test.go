//go:build !race

package signing

import (
	"strings"
	"testing"
)

// TestVerifyAllocatesNothing: verifying a signature keeps the hit path free
// of allocations (the race detector allocates, hence the build tag).
func TestVerifyAllocatesNothing(t *testing.T) {
	v := NewVerifier([]string{"k1-0123456789abcd", "k2-0123456789abcd"})
	s, _ := Sign("k2-0123456789abcd", "/cat.jpg?w=300")
	p, q, _ := strings.Cut(s, "?")
	path, query := []byte(p), []byte(q)
	v.Verify(path, query)
	if n := testing.AllocsPerRun(1000, func() { v.Verify(path, query) }); n != 0 {
		t.Fatalf("%.1f allocations per Verify", n)
	}
}
