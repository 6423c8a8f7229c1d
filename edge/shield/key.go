package shield

import "imgedge/transform"

// AppendKey writes the cache key of a request: the tier, the origin, the
// object path and, for variants, the canonical spec (which holds the
// negotiated format, never the raw Accept or query). The request path and
// /explain both build keys with it, so they can never disagree.
func AppendKey(dst []byte, originID string, path []byte, original bool, spec *transform.Spec) []byte {
	if original {
		dst = append(dst, "o|"...)
	} else {
		dst = append(dst, "v|"...)
	}
	dst = append(dst, originID...)
	dst = append(dst, '|')
	dst = append(dst, path...)
	if !original {
		dst = append(dst, '?')
		dst = spec.AppendKey(dst)
	}
	return dst
}
