package edge_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestLadder: the second variant of a large JPEG keeps the source's rung
// (the first, which fetched the source, does not: most sources are asked
// for once), later ones start from it, all with the bytes a render from the
// source gives; and when the source changes, a rung of the old bytes is
// never used.
func TestLadder(t *testing.T) {
	t.Parallel()
	h := start(t, []string{"IMGEDGE_ADMIN_TOKEN=" + fleetToken}, nil)
	// With no memory for originals there is nowhere to keep a rung: every
	// variant is rendered from the source.
	fresh := start(t, []string{"IMGEDGE_CACHE_MEMORY_ORIGINALS=0"}, nil)
	camera, err := os.ReadFile(filepath.Join(images, "camera-4000x3000-q90.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	h.origin.bodies.Store("/big.jpg", camera)
	fresh.origin.bodies.Store("/big.jpg", camera)
	widths := []int{100, 120, 90, 480} // all decoded at 1/8
	for _, w := range widths {
		path := fmt.Sprintf("/big.jpg?w=%d&fm=webp", w)
		got, want := h.get(t, path), fresh.get(t, path)
		if got.status != 200 || !bytes.Equal(got.body, want.body) {
			t.Fatalf("%s: %d, %d bytes; from the source %d bytes", path, got.status, len(got.body), len(want.body))
		}
	}
	m := scrape(t, h)
	if kept, climbed := metricValue(m, `imgedge_transform_rungs_total{use="kept"}`), metricValue(m, `imgedge_transform_rungs_total{use="climbed"}`); kept != 1 || climbed != float64(len(widths)-2) {
		t.Errorf("rungs kept %v, climbed %v; want the second render to keep one and the %d after it to start from it", kept, climbed, len(widths)-2)
	}

	// The origin's bytes change and the source is purged: the next variant,
	// decoded at the same scale, is drawn from the new bytes.
	portrait, err := os.ReadFile(filepath.Join(images, "giunchedi-portrait.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	h.origin.bodies.Store("/big.jpg", portrait)
	fresh.origin.bodies.Store("/big.jpg", portrait)
	purgeOn(t, h, "path=/big.jpg")
	path := "/big.jpg?w=95&fm=webp"
	if got, want := h.get(t, path), fresh.get(t, path); got.status != 200 || !bytes.Equal(got.body, want.body) {
		t.Errorf("after the source changed: %d, %d bytes; from the new source %d bytes", got.status, len(got.body), len(want.body))
	}
}
