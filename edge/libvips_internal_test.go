//go:build cgo

package edge

import "imgedge/transform/libvips"

// The transformer main wires in has every ability the edge looks for
// beyond Transform: a renamed or retyped method would otherwise drop a
// gauge, /healthz's stall check or the drain's kill without a word.
var (
	_ staller        = (*libvips.Transformer)(nil)
	_ queueReporter  = (*libvips.Transformer)(nil)
	_ costReporter   = (*libvips.Transformer)(nil)
	_ memoryReporter = (*libvips.Transformer)(nil)
	_ canceller      = (*libvips.Transformer)(nil)
)
