// Package origin fetches source objects from origin storage, each origin a
// Fetcher (FetcherFunc adapts a function) that New builds from its URL and a
// Config (timeouts, connections, the byte Budget, S3Config):
//
//   - Dir, a folder (file:), opened through os.Root so that no path or
//     symlink leads out of it, and whose files changed within RacyAge are
//     compared by their bytes and, when empty or not a whole image, taken
//     as still being written (ErrWriting);
//   - HTTP, an http(s):// origin through a bounded fasthttp keep-alive pool;
//   - S3, an s3:// bucket and prefix through aws-sdk-go-v2 (S3Config), a
//     Checker that asks for its bucket once at start-up.
//
// Around them: Breaker, a circuit breaker per origin (BreakerConfig) that
// counts only the origin's own faults (Fault); Budget, the origin bytes
// being read at once across every origin (fetch.max_bytes_in_flight); and
// the errors the edge answers differently (ErrNotFound, ErrTooLarge,
// ErrTimeout, ErrUnavailable, ErrNoConnection, ErrBytesInFlight,
// ErrMisconfigured, ErrWriting, StatusError, UnavailableError). A Request carries the
// path, the validators for a conditional fetch and the byte limit; only the
// fields of an answer the edge needs cross into an Object (body, validators,
// freshness), nothing else (hop-by-hop headers, cookies) is ever passed on.
package origin
