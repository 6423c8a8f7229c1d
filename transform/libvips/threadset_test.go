package libvips

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/davidbyttow/govips/v2/vips"
)

// libvipsWorkers counts this process's libvips worker threads by the name
// libvips gives them.
func libvipsWorkers(t *testing.T) int {
	t.Helper()
	tasks, err := filepath.Glob("/proc/self/task/*/comm")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err == nil && strings.TrimSpace(string(b)) == "libvips worker" {
			n++
		}
	}
	return n
}

// threadSetAlone is set in the process TestThreadSetKeepsIdleWorkers runs
// its check in.
const threadSetAlone = "IMGEDGE_THREADSET_ALONE"

// libvips 8.14.1 stops a worker after 15 s without work, and a task handed
// to a worker as it stops is lost, its memory written after it was freed
// (threadset.c). With the edge's wait, libvips binds the edge's definition
// and a worker left idle for longer than that is still there.
func TestThreadSetKeepsIdleWorkers(t *testing.T) {
	if os.Getenv(threadSetAlone) == "" {
		// The count is of the process's workers, which other tests' renders
		// start and end: the test runs in a process of its own, beside them.
		t.Parallel()
		cmd := exec.Command(os.Args[0], "-test.run=^TestThreadSetKeepsIdleWorkers$", "-test.count=1", "-test.timeout=5m")
		cmd.Env = append(os.Environ(), threadSetAlone+"=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return
	}
	if !threadSetWaitsForever() {
		t.Fatal("libvips binds its own vips_semaphore_down_timeout: its workers stop after 15 s idle, racing the tasks handed to them")
	}
	// A burst far wider than the renders of the other tests: most of the
	// workers it starts are left idle, deep in libvips' free list.
	const wide = 24
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for range wide {
		img, err := vips.Black(1500, 1500)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer img.Close()
			<-gate
			if _, err := img.Average(); err != nil {
				t.Error(err)
			}
		})
	}
	close(gate)
	wg.Wait()
	started := libvipsWorkers(t)
	if started == 0 {
		t.Fatal("no libvips worker thread found by name")
	}
	// libvips' own idle limit, and a margin: the point is what its timer
	// does, so the test waits it out.
	time.Sleep(15*time.Second + 2*time.Second)
	if left := libvipsWorkers(t); left < started {
		t.Fatalf("%d libvips workers after the burst, %d after 17 s idle: workers still stop when idle", started, left)
	}
}

// libvips' orc loops run, and their programs are freed under orc's mutex
// (orcfree.c): libvips' own free, outside any lock, corrupted the heap when
// two renders dropped their reduces at once.
func TestOrcFreesSerialised(t *testing.T) {
	if !orcFreesSerialised() {
		t.Fatal("libvips binds orc's own orc_program_free: two renders freeing their programs at once corrupt the heap")
	}
	if !vectorsEnabled() {
		t.Fatal("libvips' orc vectors are off: misses run the plain C loops, up to 11 % slower")
	}
}
