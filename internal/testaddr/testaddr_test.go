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

// Ports hands out a run at the offsets asked, each free and never handed
// out again, by Port or by Ports.
func TestPortsRun(t *testing.T) {
	offsets := []int{0, 1, 2, 10000, 10001, 10002}
	p := Ports(t, offsets...)
	seen := map[int]bool{}
	for _, d := range offsets {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+d))
		if err != nil {
			t.Fatalf("port %d (base %d + %d) is not free: %v", p+d, p, d, err)
		}
		ln.Close()
		seen[p+d] = true
	}
	for range 200 {
		n, _ := strconv.Atoi(Port(t))
		if seen[n] {
			t.Fatalf("Port handed out %d, part of the run at %d", n, p)
		}
	}
	q := Ports(t, offsets...)
	for _, d := range offsets {
		if seen[q+d] {
			t.Fatalf("a second run at %d overlaps the first at %d", q, p)
		}
	}
}
