package testaddr

import (
	"net"
	"strconv"
	"testing"
)

// Ports come from below the kernel's ephemeral range, each once, and are
// free to bind when handed out.
func TestPortIsOutsideTheEphemeralRangeAndUnique(t *testing.T) {
	low := ephemeralLow()
	seen := map[string]bool{}
	for range 200 {
		p := Port(t)
		n, err := strconv.Atoi(p)
		if err != nil || n < 10000 || (low-10000 >= 1000 && n >= low) {
			t.Fatalf("port %q: want 10000 <= port < %d", p, low)
		}
		if seen[p] {
			t.Fatalf("port %s handed out twice", p)
		}
		seen[p] = true
	}
	ln, err := net.Listen("tcp", Addr(t))
	if err != nil {
		t.Fatalf("the address handed out does not bind: %v", err)
	}
	ln.Close()
}
