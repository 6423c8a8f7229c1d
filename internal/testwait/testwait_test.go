package testwait

import (
	"flag"
	"fmt"
	"testing"
	"time"
)

// fakeT records a failure instead of ending the goroutine, and has the
// deadline the case gives it.
type fakeT struct {
	deadline time.Time
	bounded  bool
	failed   string
}

func (f *fakeT) Helper()                           {}
func (f *fakeT) Deadline() (time.Time, bool)       { return f.deadline, f.bounded }
func (f *fakeT) Fatalf(format string, args ...any) { f.failed = fmt.Sprintf(format, args...) }

func TestUntil(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		deadline time.Duration // from now; 0 for no deadline
		holdsAt  int           // the ask at which cond first holds; 0 for never
		failed   bool
	}{
		{"holds at once", time.Hour, 1, false},
		{"holds after asking again", time.Hour, 4, false},
		{"no deadline, holds later", 0, 6, false},
		{"never holds, deadline near", reportMargin / 2, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeT{}
			if c.deadline > 0 {
				f.deadline, f.bounded = time.Now().Add(c.deadline), true
			}
			asks := 0
			Until(f, func() bool {
				asks++
				// A failed wait returns here only because the fake does not
				// end the goroutine: stop asking once it has failed.
				return (c.holdsAt > 0 && asks >= c.holdsAt) || f.failed != ""
			}, func() string { return fmt.Sprintf("waited for %s", c.name) })
			if got := f.failed != ""; got != c.failed {
				t.Fatalf("failed %v (%q), want %v", got, f.failed, c.failed)
			}
			if c.failed && f.failed[:len("waited for")] != "waited for" {
				t.Fatalf("failure %q does not say what was waited for", f.failed)
			}
			if !c.failed && asks != c.holdsAt {
				t.Fatalf("asked %d times, want %d", asks, c.holdsAt)
			}
		})
	}
}

// AllowParallel sets -parallel only where the command line left it.
func TestAllowParallel(t *testing.T) {
	f := flag.Lookup("test.parallel")
	before := f.Value.String()
	given := false
	flag.Visit(func(v *flag.Flag) { given = given || v == f })
	AllowParallel(7)
	want := "7"
	if given {
		want = before
	}
	if got := f.Value.String(); got != want {
		t.Fatalf("-parallel %s after AllowParallel(7), want %s (given on the command line: %v)", got, want, given)
	}
}
