// Package cache holds imgedge's cache tiers and request collapsing: an Entry is
// an immutable stored response, a Store is one tier (the ristretto memory tier
// here), and a Group runs at most one fill per key at a time and stores its
// result.
package cache
