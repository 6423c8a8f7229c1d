package main

import (
	"bytes"
	"flag"
	"fmt"
	"mime"
	"net"
	"os"
	"path/filepath"

	"github.com/valyala/fasthttp"
)

// serveBytes is the ceiling for any Go edge: a bare fasthttp server that
// answers every request with the same bytes from memory. With -headers it
// sends the header lines of a file too (curl -D of the edge's answer), so
// that both servers put the very same response on the wire and the ratio
// is what the edge's handler costs, not what its headers cost the client.
func serveBytes(args []string) error {
	fs := flag.NewFlagSet("bench serve-bytes", flag.ContinueOnError)
	file := fs.String("file", "", "file whose bytes every answer carries (required)")
	addr := fs.String("addr", "127.0.0.1:8099", "listen address")
	headerFile := fs.String("headers", "", "file of response header lines (curl -D) to send as well; its status line, Server, Date and Content-Length are fasthttp's own")
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
	var names, values [][]byte
	if *headerFile != "" {
		raw, err := os.ReadFile(*headerFile)
		if err != nil {
			return err
		}
		for line := range bytes.Lines(raw) {
			name, value, ok := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(": "))
			switch {
			case !ok || bytes.HasPrefix(name, []byte("HTTP/")):
			case bytes.EqualFold(name, []byte("Content-Type")):
				ctype = string(value)
			case bytes.EqualFold(name, []byte("Server")), bytes.EqualFold(name, []byte("Date")), bytes.EqualFold(name, []byte("Content-Length")):
			default:
				names, values = append(names, name), append(values, value)
			}
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "serving %s (%d bytes) on %s\n", *file, len(body), ln.Addr())
	return (&fasthttp.Server{Name: "bare", Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType(ctype)
		for i, name := range names {
			ctx.Response.Header.SetCanonical(name, values[i])
		}
		ctx.Response.SetBodyRaw(body)
	}}).Serve(ln)
}
