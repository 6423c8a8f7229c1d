// Package cache holds imgedge's cache tiers, purges and request collapsing,
// knowing nothing of HTTP, images or Redis:
//
//   - Entry is an immutable stored response (bytes, validators, freshness
//     horizons and the origin's Downstream directives), with the freshness
//     rules read from it (Fresh, ServesWhileRevalidating, TTL, Renewed,
//     Unproven, Keep).
//   - Store is one tier: Memory (ristretto, its cost the bytes held) and Off
//     (a budget of 0) here; the fleet's shared Redis tier is cache/fleet.
//   - Tiers puts the memory tier over the shared one, promotes shared hits
//     and names the Tier an answer came from.
//   - Purges is the index of PurgeRules every tier obeys, and the Verdict a
//     fleet node can give an entry from what it knows of the purge log.
//   - Group runs at most one fill (a Loader returning a Fill) per key at a
//     time, stores its result, and tells each caller its Outcome.
package cache
