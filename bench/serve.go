package main

import (
	"flag"
	"fmt"
	"mime"
	"net"
	"os"
	"path/filepath"

	"github.com/valyala/fasthttp"
)

// serveBytes is the ceiling for any Go edge: a bare fasthttp server that
// answers every request with the same bytes from memory.
func serveBytes(args []string) error {
	fs := flag.NewFlagSet("bench serve-bytes", flag.ContinueOnError)
	file := fs.String("file", "", "file whose bytes every answer carries (required)")
	addr := fs.String("addr", "127.0.0.1:8099", "listen address")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: go run ./bench serve-bytes -file F [-addr host:port]\n\nA bare fasthttp server answering every request with F's bytes: the hit-path ceiling.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	body, err := os.ReadFile(*file)
	if err != nil {
		return err
	}
	ctype := mime.TypeByExtension(filepath.Ext(*file))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "serving %s (%d bytes) on %s\n", *file, len(body), ln.Addr())
	return (&fasthttp.Server{Name: "bare", Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType(ctype)
		ctx.Response.SetBodyRaw(body)
	}}).Serve(ln)
}
