package origin

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

var (
	// ErrNotFound means the origin has no object at the path (HTTP 404 or 410,
	// or no such file). The origin is healthy.
	ErrNotFound = errors.New("origin: not found")
	// ErrTooLarge means the object is larger than the configured maximum; the
	// read stopped at the limit.
	ErrTooLarge = errors.New("origin: object too large")
	// ErrTimeout means the origin did not connect or answer in time.
	ErrTimeout = errors.New("origin: timed out")
	// ErrUnavailable means the origin's circuit breaker is open: no request
	// was sent. Errors wrapping it are *UnavailableError.
	ErrUnavailable = errors.New("origin: unavailable (circuit breaker open)")
)

// UnavailableError is ErrUnavailable with the time left until the breaker
// lets a probe through.
type UnavailableError struct{ RetryAfter time.Duration }

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%v; next probe in %s", ErrUnavailable, e.RetryAfter.Round(time.Millisecond))
}

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// StatusError is an HTTP origin's answer other than 200, 404 or 410.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return fmt.Sprintf("origin: answered HTTP %d", e.Code) }

// Validators make a fetch conditional: an origin whose object still matches
// answers NotModified instead of the bytes. Zero values are not sent.
type Validators struct {
	ETag         string
	LastModified time.Time
}

// Object is a fetched source. The origin's Content-Type is not kept: the edge
// trusts only the bytes' magic numbers (transform.Sniff).
type Object struct {
	// NotModified: the object matches the Validators; Body is empty and the
	// freshness headers are the origin's current ones.
	NotModified  bool
	Body         []byte
	ETag         string
	LastModified time.Time
	// CacheControl and Expires are the origin's freshness headers, verbatim.
	CacheControl string
	Expires      string
}

// Fetcher fetches the object at path (decoded, starting with /), or reports
// that it still matches v. It returns ErrNotFound, ErrTooLarge, ErrTimeout,
// ErrUnavailable, a *StatusError, or a transport error.
type Fetcher interface {
	Fetch(ctx context.Context, path string, v Validators) (Object, error)
}

// FetcherFunc adapts a function to Fetcher.
type FetcherFunc func(ctx context.Context, path string, v Validators) (Object, error)

// Fetch calls f.
func (f FetcherFunc) Fetch(ctx context.Context, path string, v Validators) (Object, error) {
	return f(ctx, path, v)
}

// Config bounds every origin.
type Config struct {
	Timeout        time.Duration // whole fetch
	ConnectTimeout time.Duration // TCP connect (HTTP origins)
	MaxConns       int           // pooled connections (HTTP origins)
	MaxBytes       int64         // largest object accepted
}

// New returns the Fetcher for an origin URL: file:dir, file:///abs/dir or
// http(s)://host[:port][/prefix].
func New(raw string, cfg Config) (Fetcher, error) {
	if cfg.Timeout <= 0 || cfg.ConnectTimeout <= 0 || cfg.MaxConns <= 0 || cfg.MaxBytes <= 0 {
		return nil, fmt.Errorf("origin %s: timeouts, connection and size limits must all be above 0", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("origin %s: %w", raw, err)
	}
	switch u.Scheme {
	case "file":
		dir := u.Opaque
		if dir == "" {
			dir = u.Path
		}
		return NewDir(dir, cfg.MaxBytes)
	case "http", "https":
		return NewHTTP(u, cfg)
	}
	return nil, fmt.Errorf("origin %s: scheme %q is not supported; use file: or http(s)://", raw, u.Scheme)
}

// cleanName turns a request path into a name relative to an origin's root, or
// reports that it names nothing (a directory, or a path with NUL bytes).
func cleanName(path string) (string, bool) {
	name := strings.TrimLeft(path, "/")
	if name == "" || strings.HasSuffix(name, "/") || strings.ContainsRune(name, 0) {
		return "", false
	}
	return name, true
}
