package libvips

import (
	"errors"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"
)

// The kill switch holds the very image it was given, learnt through public
// API: killing it stops the next computation that pulls pixels through
// that image. (Had it learnt the pointer of the copy it makes, the image
// itself would still compute.)
func TestKillSwitchStopsTheImageItTracks(t *testing.T) {
	img, err := vips.NewImageFromBuffer(readFile(t, filepath.Join(benchImages, "hopper.jpg")))
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	var k killSwitch
	defer k.release()
	k.track(img)
	if len(k.images) != 1 {
		t.Fatalf("track holds %d images; want the one given (libvips' postbuild hook installed: %v)", len(k.images), killHook)
	}
	k.track(img)
	if len(k.images) != 2 || k.images[0] != k.images[1] {
		t.Fatal("the same image tracked twice gave two pointers")
	}
	k.kill(errors.New("stop"))
	if _, err := img.Average(); err == nil {
		t.Fatal("an image whose kill flag the switch set still computed")
	}
}

// govips is used through its public API only: reading its unexported
// ImageRef.image by reflection (as kill.go did) turns a govips upgrade that
// renames the field into a panic on every render.
func TestNoReflectionIntoGovips(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if path, _ := strconv.Unquote(imp.Path.Value); path == "reflect" {
				t.Errorf("%s imports reflect: use govips' public API (kill.go learns image pointers through libvips' postbuild signal)", name)
			}
		}
	}
}
