package transform

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestReadmeListsEveryParameter: README.md's "Coming from imgix" table has
// one row per name of params, sorted, and no other; and no name of params
// is among the ones it says are not supported. Other names are added to
// both concurrently: a row forgotten, or one for a name the parser does
// not read, fails here.
func TestReadmeListsEveryParameter(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "\n## Coming from imgix\n")
	if start < 0 {
		t.Fatal(`README.md has no "## Coming from imgix" section`)
	}
	section := readme[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}

	// Rows of the table: | `name` | imgix's meaning | what differs here |
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\|")
	var listed []string
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		listed = append(listed, m[1])
	}
	if len(listed) == 0 {
		t.Fatal(`"Coming from imgix" has no parameter table (rows of "| ` + "`name`" + ` | ... |")`)
	}
	known := map[string]bool{}
	for _, p := range params {
		known[p.name] = true
	}
	inTable := map[string]bool{}
	for _, name := range listed {
		if !known[name] {
			t.Errorf("README.md lists %q as supported, but params (transform/parse.go) has no such name", name)
		}
		if inTable[name] {
			t.Errorf("README.md lists %q twice", name)
		}
		inTable[name] = true
	}
	for _, p := range params {
		if !inTable[p.name] {
			t.Errorf("params (transform/parse.go) reads %q; README.md's \"Coming from imgix\" table has no row for it", p.name)
		}
	}
	if !slices.IsSorted(listed) {
		t.Errorf("README.md's parameter rows are not sorted by name: %v", listed)
	}

	// The names it says are not supported: backquoted in that paragraph.
	_, after, ok := strings.Cut(section, "**Not supported**")
	if !ok {
		t.Fatal(`"Coming from imgix" has no **Not supported** paragraph`)
	}
	if end := strings.Index(after, "\n\n"); end >= 0 {
		after = after[:end]
	}
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(after, -1) {
		if known[m[1]] {
			t.Errorf("README.md says %q is not supported, but params (transform/parse.go) reads it", m[1])
		}
	}
}
