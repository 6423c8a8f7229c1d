package edge

import (
	"net"
	"testing"

	"github.com/valyala/fasthttp"
)

// fakeConn records that it was closed.
type fakeConn struct {
	net.Conn
	name   string
	closed bool
}

func (c *fakeConn) Close() error { c.closed = true; return nil }

// TestIdleConnsCloseOldestIdleFirst: near the limit, a new connection
// closes the idle connections that have waited longest, never an active
// one, and only as many as it takes.
func TestIdleConnsCloseOldestIdleFirst(t *testing.T) {
	ic := newIdleConns(10) // keeps 1 free: above 9 open, idle ones close
	conns := map[string]*fakeConn{}
	do := func(name string, st fasthttp.ConnState) {
		c := conns[name]
		if c == nil {
			c = &fakeConn{name: name}
			conns[name] = c
		}
		ic.state(c, st)
	}
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"} {
		do(n, fasthttp.StateNew)
		do(n, fasthttp.StateActive)
	}
	do("c", fasthttp.StateIdle) // idle first: the oldest
	do("a", fasthttp.StateIdle)
	do("b", fasthttp.StateIdle)
	do("b", fasthttp.StateActive) // busy again
	do("j", fasthttp.StateNew)    // 10 open: one idle goes
	do("d", fasthttp.StateIdle)
	do("e", fasthttp.StateIdle)
	// 11 open before c's close is seen: c counts as gone, so one more
	// idle goes, the next oldest, and not every idle one (d and e stay).
	do("k", fasthttp.StateNew)
	do("c", fasthttp.StateClosed)
	for name, want := range map[string]bool{"c": true, "a": true, "b": false, "d": false, "e": false, "j": false, "k": false} {
		if conns[name].closed != want {
			t.Errorf("%s closed %v, want %v", name, conns[name].closed, want)
		}
	}
	if got := ic.closedIdle(); got != 2 {
		t.Errorf("closedIdle %d, want 2", got)
	}
	do("a", fasthttp.StateClosed)
	if got := ic.openConns(); got != 9 {
		t.Errorf("open %d, want 9", got)
	}
}
