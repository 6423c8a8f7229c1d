package testwait

import (
	"flag"
	"strconv"
)

// AllowParallel lets n parallel tests run at once, unless the command line
// set -parallel. go test's default is GOMAXPROCS (two on the machines the
// suite runs on), which suits tests that keep a core busy; the parallel
// tests of a package that call this spend most of their time waiting on
// clocks and on other processes (Varnish, Redis, libvips' idle timer), so
// at the default they queue behind each other while the cores idle.
// TestMain calls it after flag.Parse and before m.Run, which reads the
// flag.
func AllowParallel(n int) {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if set {
		return
	}
	if err := flag.Set("test.parallel", strconv.Itoa(n)); err != nil {
		panic("testwait.AllowParallel before the testing flags exist: " + err.Error())
	}
}
