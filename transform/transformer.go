package transform

import "context"

// Transformer renders spec from a source image. Implementations return
// ErrBusy, ErrUnsupported, ErrTooLarge or ErrTimeout (wrapped) for the
// failures the edge answers differently.
type Transformer interface {
	Transform(ctx context.Context, src []byte, spec Spec) (Result, error)
}

// TransformerFunc adapts a function to Transformer.
type TransformerFunc func(ctx context.Context, src []byte, spec Spec) (Result, error)

// Transform calls f.
func (f TransformerFunc) Transform(ctx context.Context, src []byte, spec Spec) (Result, error) {
	return f(ctx, src, spec)
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
}
