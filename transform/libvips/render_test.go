package libvips

import (
	"errors"
	"path/filepath"
	"testing"

	"imgedge/transform"
)

// TestFailedReloadLeavesJobClosable: when loading at the planned size fails
// after the header read succeeded, the step reports a user-class error and
// the job holds no image to close twice. Before, the reload path closed the
// image, lost it to a nil on error, and the deferred close panicked inside
// govips: a 500 where a 422 was due.
func TestFailedReloadLeavesJobClosable(t *testing.T) {
	cfg := testConfig()
	j := &job{orig: readFile(t, filepath.Join(benchImages, "hopper.jpg")), spec: transform.Spec{Width: 20}, cfg: &cfg}
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("closing the job after a failed reload panicked: %v", p)
		}
	}()
	if err := j.admit(); err != nil {
		t.Fatal(err)
	}
	if j.opts.shrink < 2 {
		t.Fatalf("plan chose shrink %d for a 20 px thumbnail; the reload path is not taken", j.opts.shrink)
	}
	j.src = []byte("\xff\xd8\xff but the rest is gone") // the bytes the reload reads are now unreadable
	err := loadSized(j)
	if !errors.Is(err, transform.ErrUnsupported) {
		t.Fatalf("failed reload: %v, want ErrUnsupported", err)
	}
	j.close()
}
