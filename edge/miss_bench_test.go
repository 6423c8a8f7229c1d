package edge_test

import (
	"net"
	"strconv"
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkMiss drives the real handler for a new variant of a cached
// original on every iteration: the shield's fill path, libvips' render of
// a 768x512 PNG to a ~200 px WebP, and the store, without the network.
func BenchmarkMiss(b *testing.B) {
	h := start(b, nil, nil)
	var req fasthttp.Request
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}, nil)
	get := func(path string) {
		ctx.Request.SetRequestURI("http://127.0.0.1" + path)
		ctx.Response.Reset()
		h.srv.Handle(ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("%s: %d %s", path, ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	get("/kodim23.png") // the original is cached: every iteration renders
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		get("/kodim23.png?fm=webp&w=" + strconv.Itoa(150+i%100) + "&q=" + strconv.Itoa(1+i/100%100))
	}
}
