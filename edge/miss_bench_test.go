package edge_test

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"imgedge/edge/origin/s3test"
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

// BenchmarkMissFetchingOriginal is BenchmarkMiss with the originals tier
// off: every iteration fetches the 768x512 PNG (473 KB) from the origin,
// then renders. The difference between the origins is the fetch cost of a
// miss: a folder, or a private bucket on a real S3 server (versitygw over a
// folder, SigV4 checked, on 127.0.0.1).
func BenchmarkMissFetchingOriginal(b *testing.B) {
	for _, kind := range []string{"folder", "s3"} {
		b.Run(kind, func(b *testing.B) {
			env := []string{"IMGEDGE_CACHE_MEMORY_ORIGINALS=0", "IMGEDGE_ORIGIN=file:../bench/images"}
			if kind == "s3" {
				srv := s3test.Start(b)
				srv.Bucket("photos")
				img, err := os.ReadFile("../bench/images/kodim23.png")
				if err != nil {
					b.Fatal(err)
				}
				srv.Put("photos", "kodim23.png", img, "")
				for _, kv := range srv.Env() {
					k, v, _ := strings.Cut(kv, "=")
					b.Setenv(k, v)
				}
				env = append(srv.Env(), "IMGEDGE_CACHE_MEMORY_ORIGINALS=0", "IMGEDGE_ORIGIN=s3://photos")
			}
			h := start(b, env, nil)
			var req fasthttp.Request
			ctx := &fasthttp.RequestCtx{}
			ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4000}, nil)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				ctx.Request.SetRequestURI("http://127.0.0.1/kodim23.png?fm=webp&w=" + strconv.Itoa(150+i%100) + "&q=" + strconv.Itoa(1+i/100%100))
				ctx.Response.Reset()
				h.srv.Handle(ctx)
				if ctx.Response.StatusCode() != 200 {
					b.Fatalf("%d %s", ctx.Response.StatusCode(), ctx.Response.Body())
				}
			}
		})
	}
}
