// Package origintest gives tests an origin address that refuses every
// connection, for as long as the test runs.
package origintest

import (
	"fmt"
	"net"
	"syscall"
	"testing"
)

// RefusedAddr is a 127.0.0.1 address whose connections are refused until the
// test ends.
//
// Closing a listener and reusing its port races with every other test that
// asks the kernel for a free port: under a full parallel suite another
// server took such a port and answered 404 where a refused connection was
// expected. Here the port stays bound (without SO_REUSEADDR, so no one else
// can bind it) but never listens, so the kernel answers each SYN with a
// reset: ECONNREFUSED.
func RefusedAddr(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("bind 127.0.0.1:0: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	in4, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		t.Fatalf("getsockname gave %T", sa)
	}
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(in4.Port))
}
