// Package cache holds imgedge's cache tiers and request collapsing: an Entry is
// an immutable stored response, a Store is one tier (the ristretto memory tier
// here; the fleet's shared tier is cache/fleet), Tiers puts memory over the
// shared tier, Purges is the index of purges every tier obeys (and how far a
// fleet node can vouch for it), and a Group runs at most one fill per key at
// a time and stores its result.
package cache
