//go:build !race

package edge_test

// raceEnabled: the tests run under the race detector, and so do the edge
// binaries they build.
const raceEnabled = false
