//go:build !race

package signing

import (
	"strings"
	"testing"
)

// TestVerifyAllocatesNothing: verifying a signature keeps the hit path free
// of allocations (the race detector allocates, hence the build tag).
func TestVerifyAllocatesNothing(t *testing.T) {
	v := NewVerifier([]string{"k1-0123456789abcd", "k2-0123456789abcd"}, true, HMACSHA256)
	s, _ := Sign("k2-0123456789abcd", "img.example.com", "/cat.jpg?w=300")
	p, q, _ := strings.Cut(s, "?")
	host, path, query := []byte("IMG.example.com:8080"), []byte(p), []byte(q)
	if !v.Verify(host, path, query) {
		t.Fatal("the signed URL does not verify")
	}
	if n := testing.AllocsPerRun(1000, func() { v.Verify(host, path, query) }); n != 0 {
		t.Fatalf("%.1f allocations per Verify", n)
	}
}
