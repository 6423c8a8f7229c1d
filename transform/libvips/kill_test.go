package libvips

import (
	"errors"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/davidbyttow/govips/v2/vips"
)

// The kill switch holds the very image it was given: killing it stops the
// next computation that pulls pixels through that image.
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
		t.Fatalf("track holds %d images; want the one given", len(k.images))
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

// The kill switch reads govips' unexported ImageRef.image (kill.go says
// why). A govips upgrade that moves it must fail here, saying so, rather
// than leave every render unkillable.
func TestGovipsKeepsItsImageField(t *testing.T) {
	if !imageFieldOK() {
		version := "unknown"
		if info, ok := debug.ReadBuildInfo(); ok {
			for _, m := range info.Deps {
				if m.Path == "github.com/davidbyttow/govips/v2" {
					version = m.Version
				}
			}
		}
		t.Fatalf("govips %s has no ImageRef.%s of type *C.VipsImage: kill.go was written for v2.16.0; find the VipsImage of an ImageRef in this version", version, govipsImageField)
	}
}
