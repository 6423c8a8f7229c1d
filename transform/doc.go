// Package transform turns imgix-style URL parameters into a canonical Spec and
// defines the Transformer that renders a Spec from source bytes. It is pure Go:
// the libvips implementation lives in the libvips subpackage, the only one that
// needs cgo.
package transform
