package edge

import (
	"crypto/rand"
	_ "embed"
	"encoding/json"
	"html/template"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"
)

//go:embed demo.html
var demoHTML string

var demoPage = template.Must(template.New("demo").Parse(demoHTML))

// demo serves GET /demo: srcset, <picture>, client hints and a parameter
// playground against this edge's public listener (?image= names another
// path). It is the one admin page served without the token: it holds no
// secret, and it is where a browser, which cannot send a bearer token by
// navigation, is asked for it. The playground reads answers through
// /demo/fetch, which the token guards.
func (s *Server) demo(w http.ResponseWriter, r *http.Request) {
	// A path and nothing else: a space or a comma would add candidates of
	// any host to the page's srcset attributes.
	image := r.URL.Query().Get("image")
	if !strings.HasPrefix(image, "/") || strings.ContainsFunc(image, func(c rune) bool {
		return c <= ' ' || c == ',' || c == '?' || c == '#' || c == '"' || c == '\\' || c >= 0x7f
	}) {
		image = "/kodim23.png"
	}
	nonce := rand.Text()
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// The page keeps the admin token: only its own script runs (the
	// nonce), it talks to nothing but this origin (and reads back its own
	// blob: pictures, as the tests do), no form of it ever navigates (a
	// token in a URL would reach logs and history), and no other site may
	// frame it to catch what is typed.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'nonce-"+nonce+"'; "+
		"img-src 'self' "+s.publicBase(r)+" data: blob:; connect-src 'self' blob:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
	// Chrome sends client hints to the image origin only when this page
	// asks for them and delegates them to it (the meta tag).
	h.Set("Accept-CH", "Sec-CH-DPR, Sec-CH-Width, Sec-CH-Viewport-Width")
	_ = demoPage.Execute(w, struct {
		Base, Image, Nonce string
		NeedToken          bool
	}{s.publicBase(r), image, nonce, s.cfg.Admin.Token != ""})
}

// publicBase is the public listener as the browser that asked for r reaches
// it: the address it listens on, with the host r came to when that is every
// interface.
func (s *Server) publicBase(r *http.Request) string {
	addr := s.cfg.Listen
	if a := s.publicAddr.Load(); a != nil {
		addr = *a // the real port, where listen says :0
	}
	host, port, _ := net.SplitHostPort(addr)
	if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
		host = r.Host
		if h, _, err := net.SplitHostPort(r.Host); err == nil {
			host = h
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}

// demoRequestHeaders are what /demo/fetch passes on from the page's request:
// what a public answer depends on (Accept for auto=format, the client hints
// of ch= URLs), nothing else. Imgedge-Flags, X-Forwarded-For and validators
// stay behind: the helper asks as the page's browser would, not as a client
// of the caller's choosing.
var demoRequestHeaders = []string{"Accept", "Sec-CH-DPR", "DPR", "Sec-CH-Width", "Width", "Sec-CH-Viewport-Width", "Viewport-Width", "Save-Data"}

// demoFacts are the public answer's headers /demo/fetch relays: those the
// page shows.
var demoFacts = []string{"Content-Type", "Cache-Status", "Server-Timing", "Vary", "X-Request-Id"}

// demoFetch serves GET /demo/fetch?url=<escaped path and query>: the public
// listener's answer to that URL, body and facts, for the page on this
// origin, which could not read a cross-origin answer without CORS. The
// request runs through the public handler in this process rather than over
// a connection: it cannot reach anything but this edge's own public answers
// (no address is taken from the request), and it is bounded as every public
// request is (fetch.timeout, transform.queue_timeout and transform.timeout,
// the limits on sources and outputs). The token guards it as it guards
// /explain.
func (s *Server) demoFetch(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("url")
	if !strings.HasPrefix(raw, "/") {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(problem{Status: http.StatusBadRequest, Title: "Cannot fetch", Class: classUser, Code: "bad_param",
			Detail: "give url, an escaped path and query on this edge's public listener, e.g. /demo/fetch?url=%2Fphoto.jpg%3Fw%3D300"})
		return
	}
	var peer net.Addr
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		peer = net.TCPAddrFromAddrPort(ap) // the access log's client: the browser
	}
	_, host, _ := strings.Cut(s.publicBase(r), "://")
	ctx := s.demoAsk(raw, host, peer, r.Header)
	// cache.canonical_redirect sends a query to its canonical spelling on
	// the same listener, which answers it: follow it once, as the
	// browser's <img> would.
	if loc := string(ctx.Response.Header.Peek(fasthttp.HeaderLocation)); ctx.Response.StatusCode() == fasthttp.StatusPermanentRedirect &&
		strings.HasPrefix(loc, "/") {
		ctx = s.demoAsk(loc, host, peer, r.Header)
	}
	h := w.Header()
	for _, name := range demoFacts {
		if v := ctx.Response.Header.Peek(name); len(v) > 0 {
			h.Set(name, string(v))
		}
	}
	// Each Show is a new request through the edge, and an answer fetched
	// with the token is kept by no cache.
	h.Set("Cache-Control", "no-store")
	// This origin holds the token: whatever the bytes, they are never
	// sniffed or run as a page here.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	body := ctx.Response.Body()
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(ctx.Response.StatusCode())
	_, _ = w.Write(body)
}

// demoAsk runs the public handler on uri (a path and query) for Host host,
// with the page's headers that the answer depends on.
func (s *Server) demoAsk(uri, host string, peer net.Addr, from http.Header) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.SetRequestURI(uri)
	req.Header.SetHost(host)
	req.Header.SetUserAgent("imgedge /demo")
	for _, name := range demoRequestHeaders {
		if v := from.Get(name); v != "" {
			req.Header.Set(name, v)
		}
	}
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, peer, serverLog{s})
	s.Handle(ctx)
	return ctx
}
