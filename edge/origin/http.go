package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// HTTP fetches from one HTTP origin host through a bounded keep-alive pool.
type HTTP struct {
	client  *fasthttp.HostClient
	scheme  string
	host    string // Host header, as configured
	prefix  string // path prefix at the origin, without a trailing slash
	timeout time.Duration
	budget  *Budget
}

// NewHTTP returns a fetcher for the origin at u.
func NewHTTP(u *url.URL, cfg Config) (*HTTP, error) {
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	connect := cfg.ConnectTimeout
	return &HTTP{
		client: &fasthttp.HostClient{
			Addr:                addr,
			Name:                "imgedge",
			IsTLS:               u.Scheme == "https",
			MaxConns:            cfg.MaxConns,
			MaxIdleConnDuration: 30 * time.Second,
			ReadTimeout:         cfg.Timeout,
			WriteTimeout:        cfg.Timeout,
			MaxConnWaitTimeout:  cfg.Timeout,
			// Bodies are streamed and bounded per request (Request.MaxBytes,
			// which a reload may change): a too-large object is refused from
			// its Content-Length before any of it is read, and otherwise read
			// into one buffer of the announced size.
			StreamResponseBody: true,
			// fasthttp retries idempotent requests up to 5 times by default;
			// a sick origin must not see more than one retry (Fetch's own).
			MaxIdemponentCallAttempts: 1,
			Dial: func(addr string) (net.Conn, error) {
				return fasthttp.DialTimeout(addr, connect)
			},
		},
		scheme:  u.Scheme,
		host:    u.Host,
		prefix:  strings.TrimRight(u.EscapedPath(), "/"),
		timeout: cfg.Timeout,
		budget:  cfg.Bytes,
	}, nil
}

// Fetch GETs prefix+path from the origin, retrying once after a jittered
// pause when a pooled connection turns out to be reset (the origin closed an
// idle keep-alive connection); any other failure is final. The request is
// built from nothing but the path and v: no header of the client's request
// reaches the origin.
func (h *HTTP) Fetch(ctx context.Context, r Request) (Object, error) {
	if _, ok := cleanName(r.Path); !ok {
		return Object{}, ErrNotFound
	}
	obj, err := h.fetch(ctx, r)
	if err == nil || !connectionReset(err) {
		return obj, err
	}
	pause := 20*time.Millisecond + time.Duration(rand.Int64N(int64(60*time.Millisecond)))
	select {
	case <-time.After(pause):
	case <-ctx.Done():
		return Object{}, err
	}
	return h.fetch(ctx, r)
}

// transportError classifies a failed exchange: a timeout, this edge's own
// pool running dry, or a transport fault of the origin.
func (h *HTTP) transportError(path string, err error) error {
	switch {
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return fmt.Errorf("%w: %v", ErrNoConnection, err)
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout):
		return fmt.Errorf("%w: %s%s: %v", ErrTimeout, h.host, path, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %s%s: %v", ErrTimeout, h.host, path, err)
	}
	return fmt.Errorf("GET %s%s: %w", h.host, path, err)
}

// connectionReset reports a connection the origin closed or reset.
func connectionReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, fasthttp.ErrConnectionClosed)
}

func (h *HTTP) fetch(ctx context.Context, r Request) (Object, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)

	path := r.Path
	req.SetRequestURI(h.scheme + "://" + h.host + h.prefix + (&url.URL{Path: path}).EscapedPath())
	req.Header.SetHost(h.host)
	req.Header.Set("Accept", "image/*,*/*;q=0.8")
	if r.ETag != "" {
		req.Header.Set(fasthttp.HeaderIfNoneMatch, r.ETag)
	}
	if !r.LastModified.IsZero() {
		req.Header.Set(fasthttp.HeaderIfModifiedSince, r.LastModified.Format(http.TimeFormat))
	}

	deadline := time.Now().Add(h.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := h.client.DoDeadline(req, resp, deadline); err != nil {
		return Object{}, h.transportError(path, err)
	}
	defer func() { _ = resp.CloseBodyStream() }() // what is left unread is dropped with the connection
	notModified := false
	switch code := resp.StatusCode(); code {
	case fasthttp.StatusOK:
	case fasthttp.StatusNotModified:
		notModified = true
	case fasthttp.StatusNotFound, fasthttp.StatusGone:
		return Object{}, ErrNotFound
	default:
		return Object{}, &StatusError{Code: code}
	}
	var body []byte
	if !notModified {
		announced := int64(resp.Header.ContentLength()) // -1 chunked, -2 until close
		if announced > r.MaxBytes {
			return Object{}, fmt.Errorf("%w: announced %d bytes, the limit is %d (limits.max_source_bytes)", ErrTooLarge, announced, r.MaxBytes)
		}
		rctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		var err error
		if body, err = readBody(rctx, h.budget, resp.BodyStream(), announced, r.MaxBytes); err != nil {
			if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrBytesInFlight) {
				return Object{}, err
			}
			return Object{}, h.transportError(path, err)
		}
	}
	obj := Object{
		NotModified:  notModified,
		Body:         body,
		ETag:         string(resp.Header.Peek(fasthttp.HeaderETag)),
		CacheControl: string(resp.Header.Peek(fasthttp.HeaderCacheControl)),
		Expires:      string(resp.Header.Peek(fasthttp.HeaderExpires)),
	}
	if lm := resp.Header.Peek(fasthttp.HeaderLastModified); len(lm) > 0 {
		if t, err := http.ParseTime(string(lm)); err == nil {
			obj.LastModified = t.UTC()
		}
	}
	return obj, nil
}
