// Package bytesconv converts between []byte and string without copying,
// for the request path, where fasthttp hands out views of its own buffers
// and a copy per header or parameter would be an allocation per request.
//
// A result shares memory with its argument: it is valid only while the
// argument is, and must never be modified (a string) or kept (a view of
// request memory, reused once the request is answered). Anything kept is
// copied first.
package bytesconv

import "unsafe"

// String views b as a string.
func String(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// Bytes views s as bytes, for callees that only read or copy them (fasthttp
// setters copy what they are given).
func Bytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
