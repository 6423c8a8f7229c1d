package transform

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrBusy means no transform slot became free within the queue timeout, or
	// the queue was full: the edge is overloaded and the client should retry.
	ErrBusy = errors.New("transform: busy")
	// ErrUnsupported means the source is not an image this edge can decode: not
	// an image at all, corrupt, truncated, or a format it refuses to load.
	ErrUnsupported = errors.New("transform: unsupported image")
	// ErrTooLarge means the source exceeds a pixel or frame limit.
	ErrTooLarge = errors.New("transform: image too large")
	// ErrTimeout means the transform ran past its deadline.
	ErrTimeout = errors.New("transform: timed out")
)

// ParamError is a URL parameter that is unknown, repeated or out of range.
type ParamError struct {
	Param   string // the parameter as sent
	Value   string // the value as sent ("" for unknown or repeated names)
	Problem string // "unknown", "repeated" or what is wrong with the value
	Allowed string // what would be accepted
	Suggest string // nearest known parameter name, for a typo
}

func (e *ParamError) Error() string {
	var b strings.Builder
	switch e.Problem {
	case "unknown":
		fmt.Fprintf(&b, "unknown parameter %q", e.Param)
		if e.Suggest != "" {
			fmt.Fprintf(&b, "; did you mean %q?", e.Suggest)
		}
	case "repeated":
		fmt.Fprintf(&b, "parameter %q is repeated; give it once", e.Param)
	case unsupportedImgix:
		fmt.Fprintf(&b, "parameter %q %s", e.Param, e.Problem)
	default:
		fmt.Fprintf(&b, "parameter %s=%q %s", e.Param, e.Value, e.Problem)
	}
	if e.Allowed != "" {
		fmt.Fprintf(&b, "; allowed: %s", e.Allowed)
	}
	return b.String()
}

// LibraryError is a failure inside the image library while reading or
// writing pixels. Its Error is safe to show a client: the stage and what it
// means. The library's own text stays in Detail, for the log: libvips keeps
// one error buffer per process, so that text may even belong to another
// request.
type LibraryError struct {
	Stage  string // the pipeline step: load, resize, encode webp, ...
	Detail string // what the library said
}

func (e *LibraryError) Error() string {
	return e.Stage + ": the image data could not be decoded or written (corrupt or unsupported content)"
}

// Unwrap makes every LibraryError an ErrUnsupported.
func (e *LibraryError) Unwrap() error { return ErrUnsupported }
