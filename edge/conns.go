package edge

import (
	"net"
	"sync"

	"github.com/valyala/fasthttp"
)

// idleConns closes the oldest idle keep-alive connections once the public
// listener holds more than its limit, as nginx reuses its oldest idle
// connections when it runs short: sockets that only wait cannot lock out the
// clients that ask. Closing an idle HTTP/1.1 connection is always allowed
// (RFC 9112 9.5); clients retry a GET on a fresh one.
type idleConns struct {
	mu    sync.Mutex
	limit int // open connections above which idle ones are closed
	open  int
	// closing is the connections closed here whose StateClosed has not come
	// yet: they are gone already, or one new connection would close every
	// idle one while open still counts them.
	closing int
	conns   map[net.Conn]*connNode
	// The idle connections, oldest first: a list threaded through the
	// nodes, so that a request's idle-active round trip allocates nothing.
	head, tail *connNode
	closed     int64 // idle connections closed to make room
}

type connNode struct {
	c          net.Conn
	prev, next *connNode
	idle       bool
	closing    bool
}

// newIdleConns keeps a tenth of maxConns (at least one) for new
// connections: above maxConns less that, idle ones are closed.
func newIdleConns(maxConns int) *idleConns {
	return &idleConns{limit: maxConns - max(maxConns/10, 1), conns: map[net.Conn]*connNode{}}
}

// state is fasthttp's ConnState hook.
func (ic *idleConns) state(c net.Conn, st fasthttp.ConnState) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	switch st {
	case fasthttp.StateNew:
		ic.conns[c] = &connNode{c: c}
		ic.open++
		for ic.open-ic.closing > ic.limit && ic.head != nil {
			oldest := ic.head
			ic.unlink(oldest)
			oldest.closing = true
			ic.closing++
			ic.closed++
			// Its worker sees the close and ends it: StateClosed follows.
			_ = oldest.c.Close()
		}
	case fasthttp.StateActive:
		if n := ic.conns[c]; n != nil && n.idle {
			ic.unlink(n)
		}
	case fasthttp.StateIdle:
		if n := ic.conns[c]; n != nil && !n.idle && !n.closing {
			n.idle, n.prev = true, ic.tail
			if ic.tail != nil {
				ic.tail.next = n
			} else {
				ic.head = n
			}
			ic.tail = n
		}
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		if n := ic.conns[c]; n != nil {
			if n.idle {
				ic.unlink(n)
			}
			if n.closing {
				ic.closing--
			}
			delete(ic.conns, c)
			ic.open--
		}
	}
}

func (ic *idleConns) unlink(n *connNode) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		ic.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		ic.tail = n.prev
	}
	n.prev, n.next, n.idle = nil, nil, false
}

// openConns is how many connections are open.
func (ic *idleConns) openConns() int {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	return ic.open
}

// closedIdle is how many idle connections were closed to make room.
func (ic *idleConns) closedIdle() int64 {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	return ic.closed
}
