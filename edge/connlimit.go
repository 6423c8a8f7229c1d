package edge

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// connLimit holds the public listener to server.max_conns open connections,
// and each client address to server.max_conns_per_ip, answering a
// connection over either itself: 503 overloaded as application/problem+json
// with Retry-After and no-store, the taxonomy's answer for a full edge.
// fasthttp's own limits answer text/plain without Retry-After, which a cache
// in front may keep and a client cannot tell from a broken edge.
type connLimit struct {
	net.Listener
	max, perAddr int
	mu           sync.Mutex
	open         int
	byAddr       map[netip.Addr]int
	full, busy   []byte        // the answers over max and over perAddr
	refused      *atomic.Int64 // connections answered and closed here
}

// connRetryAfter is the Retry-After of a refused connection: a connection
// frees up when a request ends or an idle one is closed.
const connRetryAfter = 1

func newConnLimit(l net.Listener, max, perAddr int, refused *atomic.Int64) *connLimit {
	return &connLimit{Listener: l, max: max, perAddr: perAddr, byAddr: map[netip.Addr]int{}, refused: refused,
		full: refusal(fmt.Sprintf("This edge holds its most connections (server.max_conns, %d); retry after the Retry-After delay.", max)),
		busy: refusal(fmt.Sprintf("Your address holds its most connections (server.max_conns_per_ip, %d); reuse one, or retry after the Retry-After delay.", perAddr))}
}

// refusal is a whole HTTP/1.1 response refusing a connection.
func refusal(detail string) []byte {
	body, _ := json.Marshal(problem{Status: 503, Title: "Service Unavailable", Detail: detail, Class: classRetryable, Code: "overloaded"})
	return fmt.Appendf(nil, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\n"+
		"Cache-Control: no-store\r\nRetry-After: %d\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		connRetryAfter, len(body), body)
}

// Accept returns the next connection within the limits; those over them
// are answered and closed here.
func (l *connLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := remoteAddr(c)
		l.mu.Lock()
		answer := l.busy
		if l.open >= l.max {
			answer = l.full
		} else if !addr.IsValid() || l.byAddr[addr] < l.perAddr {
			l.open++
			if addr.IsValid() {
				l.byAddr[addr]++
			}
			answer = nil
		}
		l.mu.Unlock()
		if answer == nil {
			return &limitedConn{Conn: c, l: l, addr: addr}, nil
		}
		l.refused.Add(1)
		// A fresh socket's send buffer takes the answer at once; the
		// deadline only keeps a broken one from holding the accept loop.
		_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = c.Write(answer)
		_ = c.Close()
	}
}

func (l *connLimit) release(addr netip.Addr) {
	l.mu.Lock()
	l.open--
	if addr.IsValid() {
		if l.byAddr[addr]--; l.byAddr[addr] <= 0 {
			delete(l.byAddr, addr)
		}
	}
	l.mu.Unlock()
}

func remoteAddr(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// limitedConn gives its place back once, when it closes.
type limitedConn struct {
	net.Conn
	l        *connLimit
	addr     netip.Addr
	released atomic.Bool
}

func (c *limitedConn) Close() error {
	if c.released.CompareAndSwap(false, true) {
		c.l.release(c.addr)
	}
	return c.Conn.Close()
}
