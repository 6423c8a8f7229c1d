// Package testaddr hands tests 127.0.0.1 addresses for servers they start
// in other processes (Redis, Varnish, nginx, the S3 server, the edge).
//
// Such an address is chosen before its server binds it, so something else
// may take it in between. Asking the kernel for a port (listening on :0
// and closing) leaves exactly that window open: the kernel hands the same
// ephemeral range to every other :0 listener and to every outgoing
// connection's source port, so an httptest server or a client socket could
// take the port and answer in the test's server's stead. The ports here
// are drawn from below the ephemeral range instead, which the kernel never
// hands out on its own, and each is given out once per process.
package testaddr

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var handedOut struct {
	sync.Mutex
	ports map[int]bool
}

// Port returns a free TCP port on 127.0.0.1 that neither the kernel nor an
// earlier call will hand out.
func Port(t testing.TB) string {
	t.Helper()
	return strconv.Itoa(Ports(t, 0))
}

// Ports returns a port P such that P+d is free, and handed to no one
// else, for every d in offsets: a run of ports a program derives from one
// (a Redis Cluster's nodes at P, P+1, P+2 and their buses at P+10000 on).
func Ports(t testing.TB, offsets ...int) int {
	t.Helper()
	lo, hi := 10000, ephemeralLow()
	if hi-lo < 1000 { // no room below the range: take our chances above it
		lo, hi = 10000, 65536
	}
	handedOut.Lock()
	defer handedOut.Unlock()
	if handedOut.ports == nil {
		handedOut.ports = map[int]bool{}
	}
	for range 1000 {
		p := lo + rand.IntN(hi-lo)
		if free(p, offsets) {
			for _, d := range offsets {
				handedOut.ports[p+d] = true
			}
			return p
		}
	}
	t.Fatalf("no free run of ports %v above a base in %d-%d after 1000 tries", offsets, lo, hi)
	return 0
}

// free says whether p+d is free and not handed out for every d; the
// caller holds handedOut.
func free(p int, offsets []int) bool {
	for _, d := range offsets {
		if p+d > 65535 || handedOut.ports[p+d] {
			return false
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+d))
		if err != nil {
			return false
		}
		_ = ln.Close()
	}
	return true
}

// Addr is Port as host:port.
func Addr(t testing.TB) string {
	t.Helper()
	return "127.0.0.1:" + Port(t)
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default, 32768, when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}
