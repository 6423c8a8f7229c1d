package transform

import (
	"context"
	"time"
)

// Transformer renders a job from a source image. Implementations return
// ErrBusy, ErrUnsupported, ErrTooLarge or ErrTimeout (wrapped) for the
// failures the edge answers differently.
type Transformer interface {
	Transform(ctx context.Context, src []byte, job Job) (Result, error)
}

// TransformerFunc adapts a function to Transformer.
type TransformerFunc func(ctx context.Context, src []byte, job Job) (Result, error)

// Transform calls f.
func (f TransformerFunc) Transform(ctx context.Context, src []byte, job Job) (Result, error) {
	return f(ctx, src, job)
}

// Job is one render: the variant it produces (Spec, which alone decides
// the bytes) and what the render reads besides the source, which the edge
// gathers for it. Nothing in a Job enters the cache key.
type Job struct {
	Spec Spec
	// Mark is the watermark's bytes, fetched from Spec.Mark; nil when the
	// spec names none.
	Mark []byte
	// Ladder holds the source's rungs; nil: the render decodes the source.
	// A rung renders the same bytes as the source would.
	Ladder Ladder
	// Faces keeps the faces found in the source; nil: each render that
	// needs them looks.
	Faces FaceMemo
}

// Result is a rendered variant.
type Result struct {
	Body          []byte
	Format        Format // never FormatSource
	Width, Height int
	// Source describes the decoded original, for explain output and logs.
	SourceFormat              Format
	SourceWidth, SourceHeight int
	// FormatReason says why Format was chosen ("fm", "source", "accept", "alpha").
	FormatReason string
	Timings      Timings
	Rung         RungUse // what the render did with Job.Ladder
	// Decoded is the size the source's pixels were decoded at, and how:
	// smaller than the source with shrink-on-load, an embedded thumbnail or
	// a rung.
	DecodedWidth, DecodedHeight int
	DecodedBy                   string
	// Clamp is the limit that brought the output down to the largest
	// allowed size of the shape asked for (ClampNone: as asked).
	Clamp Clamp
}

// Timings are the stages of one render. libvips is demand-driven: Decode is
// the header and load set-up, Resize the building of the pipeline, and Encode
// the pull of every pixel through it (most decoding and resampling happen
// there).
type Timings struct {
	Decode, Resize, Encode time.Duration
}
