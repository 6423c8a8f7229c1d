package shield

import (
	"reflect"
	"testing"
	"time"

	"imgedge/cache"
	"imgedge/transform/faces"
)

// A source's faces come back from the memory tier exactly as found (the
// crop of a later variant lands on the same pixel), a source found without
// faces is remembered as such, and a changed source is looked at again.
func TestFaceMemo(t *testing.T) {
	store, err := cache.NewMemory(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Unix(1_800_000_000, 0)
	src := &cache.Entry{ETag: `"v1"`, FreshUntil: now.Add(time.Hour)}
	memo := &faceMemo{store: store, key: "o|photo.jpg", src: src, now: now}
	if _, ok := memo.Faces(); ok {
		t.Fatal("faces before any were kept")
	}
	found := []faces.Box{{X: 0.1234567891234, Y: 0.2, W: 1.0 / 3, H: 0.25, Score: 258.7}, {X: 0.7, Y: 0.1, W: 0.05, H: 0.075, Score: 11.3}}
	memo.KeepFaces(found)
	if got, ok := memo.Faces(); !ok || !reflect.DeepEqual(got, found) {
		t.Fatalf("kept %v, got %v (%v)", found, got, ok)
	}
	memo.KeepFaces(nil)
	if got, ok := memo.Faces(); !ok || len(got) != 0 {
		t.Fatalf("a source without faces: got %v (%v), want none, remembered", got, ok)
	}
	changed := &faceMemo{store: store, key: "o|photo.jpg", src: &cache.Entry{ETag: `"v2"`, FreshUntil: now.Add(time.Hour)}, now: now}
	if _, ok := changed.Faces(); ok {
		t.Fatal("the faces of the old bytes answered for the new")
	}
	stale := &faceMemo{store: store, key: "o|other.jpg", src: &cache.Entry{ETag: `"v1"`, FreshUntil: now.Add(-time.Second)}, now: now}
	stale.KeepFaces(found)
	if _, ok := stale.Faces(); ok {
		t.Fatal("faces kept past the source's own lifetime")
	}
}
