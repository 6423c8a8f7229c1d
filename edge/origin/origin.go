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
	// ErrNotFound means the origin has no object at the path that it will
	// give: HTTP 404 or 410, another 4xx the path chose (403 is what a bucket
	// without ListBucket answers for a missing key), or a name the folder
	// cannot hold (no such file, not a directory, too long, a symlink loop).
	// The origin is healthy: it answered.
	ErrNotFound = errors.New("origin: not found")
	// ErrTooLarge means the object is larger than the configured maximum; the
	// read stopped at the limit.
	ErrTooLarge = errors.New("origin: object too large")
	// ErrTimeout means the origin did not connect or answer in time.
	ErrTimeout = errors.New("origin: timed out")
	// ErrUnavailable means the origin's circuit breaker is open: no request
	// was sent. Errors wrapping it are *UnavailableError.
	ErrUnavailable = errors.New("origin: unavailable (circuit breaker open)")
	// ErrNoConnection means every pooled connection to the origin was busy
	// for as long as the fetch could wait (fetch.max_conns): this edge is
	// overloaded, the origin has not failed.
	ErrNoConnection = errors.New("origin: no free connection (fetch.max_conns)")
)

// UnavailableError is ErrUnavailable with the time left until the breaker
// lets a probe through.
type UnavailableError struct{ RetryAfter time.Duration }

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%v; next probe in %s", ErrUnavailable, e.RetryAfter.Round(time.Millisecond))
}

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// StatusError is an HTTP origin's answer other than 200 or 304. A 4xx other
// than 408 and 429 is the origin's answer about this path: the error then
// matches ErrNotFound. 408, 429 and 5xx are faults of the origin.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return fmt.Sprintf("origin: answered HTTP %d", e.Code) }

// Is makes errors.Is(err, ErrNotFound) true for the statuses a path chose.
func (e *StatusError) Is(target error) bool {
	return target == ErrNotFound && e.Code >= 400 && e.Code < 500 && e.Code != 408 && e.Code != 429
}

// Request is one fetch. ETag and LastModified are the validators of a copy
// the caller holds: an origin whose object still matches answers NotModified
// instead of the bytes (zero values are not sent). MaxBytes bounds the body;
// a larger object is ErrTooLarge, refused from its announced size when the
// origin gives one, before any of it is read.
type Request struct {
	Path         string // decoded, starting with /
	ETag         string
	LastModified time.Time
	MaxBytes     int64
}

// Object is a fetched source. The origin's Content-Type is not kept: the edge
// trusts only the bytes' magic numbers (transform.Sniff).
type Object struct {
	// NotModified: the object matches the request's validators; Body is
	// empty and the freshness headers are the origin's current ones.
	NotModified  bool
	Body         []byte
	ETag         string
	LastModified time.Time
	// CacheControl and Expires are the origin's freshness headers, verbatim.
	CacheControl string
	Expires      string
}

// Fetcher fetches the object at r.Path, or reports that it still matches the
// request's validators. It returns ErrNotFound, ErrTooLarge, ErrTimeout,
// ErrUnavailable, ErrNoConnection, a *StatusError, or a transport error.
type Fetcher interface {
	Fetch(ctx context.Context, r Request) (Object, error)
}

// FetcherFunc adapts a function to Fetcher.
type FetcherFunc func(ctx context.Context, r Request) (Object, error)

// Fetch calls f.
func (f FetcherFunc) Fetch(ctx context.Context, r Request) (Object, error) { return f(ctx, r) }

// Fault reports whether err is a failure of the origin itself (an error
// status, a refused or reset connection, a timeout, an unreadable disk): what
// a circuit breaker counts. The origin's answers about a path (not found,
// too large), a fetch nobody waits for any more, and this edge's own
// connection pool running dry are not faults.
func Fault(err error) bool {
	return err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrTooLarge) &&
		!errors.Is(err, ErrNoConnection) && !errors.Is(err, ErrBytesInFlight) && !errors.Is(err, context.Canceled)
}

// Config bounds every origin; the byte limit comes with each Request, so
// that a reload can change it.
type Config struct {
	Timeout        time.Duration // whole fetch
	ConnectTimeout time.Duration // TCP connect (HTTP origins)
	MaxConns       int           // pooled connections (HTTP origins)
	Bytes          *Budget       // origin bytes being read, shared by every origin; nil: unbounded
	S3             S3Config      // for s3:// origins
}

// Checker is an origin that can verify, once at start-up, that it is usable
// (S3: the bucket answers these credentials).
type Checker interface {
	Check(ctx context.Context) error
}

// New returns the Fetcher for an origin URL: file:dir, file:///abs/dir,
// http(s)://host[:port][/prefix] or s3://bucket[/prefix].
func New(raw string, cfg Config) (Fetcher, error) {
	if cfg.Timeout <= 0 || cfg.ConnectTimeout <= 0 || cfg.MaxConns <= 0 {
		return nil, fmt.Errorf("%s: timeouts and connection limits must all be above 0", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", raw, err)
	}
	switch u.Scheme {
	case "file":
		dir := u.Opaque
		if dir == "" {
			dir = u.Path
		}
		return NewDir(dir, cfg.Bytes)
	case "http", "https":
		return NewHTTP(u, cfg)
	case "s3":
		return NewS3(u, cfg)
	}
	return nil, fmt.Errorf("%s: scheme %q is not supported; use file:, http(s):// or s3://", raw, u.Scheme)
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
