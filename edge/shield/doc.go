// Package shield owns the life of a cached entry between the HTTP front door
// and the origin: lookup, fresh / stale / negative, one collapsed fill
// (revalidate, fetch, render), store, and what to serve when the origin
// fails. It knows nothing of HTTP: given a key, an origin, a parsed spec and
// the time, Serve returns an Answer (the entry, one Outcome, stage timings)
// or an error for the edge to classify. Clock, fetcher, transformer and
// stores are injected, so its rules are tested without sockets or libvips.
package shield
