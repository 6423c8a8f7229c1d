// Package edge is imgedge's HTTP front door: it routes a request to its origin,
// parses the parameters into a canonical variant key, serves hits from the
// cache tiers, fills misses (fetch, transform, store) with one computation per
// key, and maps every failure to one problem+json answer. It also serves the
// admin listener.
package edge
