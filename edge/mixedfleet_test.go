package edge_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"imgedge/cache/redistest"
)

// fleetRun is what one fleet did with the cold-burst workload.
type fleetRun struct {
	renders, fetches float64
	slowest          map[string]time.Duration // per URL, over its burst
	errors           []string
}

// coldBursts runs bursts of concurrent first requests for new variants
// over a fleet of the given releases ("" for this one) sharing one Redis.
func coldBursts(t *testing.T, releases []string) fleetRun {
	src, err := os.ReadFile("../bench/images/kodim23.png")
	if err != nil {
		t.Fatal(err)
	}
	var fetches atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		time.Sleep(20 * time.Millisecond) // an origin a little away: every node misses before the fill ends
		w.Header().Set("Cache-Control", "max-age=3600")
		_, _ = w.Write(src)
	}))
	defer origin.Close()
	rd := redistest.Start(t)
	var nodes []*edgeProc
	for i, rel := range releases {
		p := newEdgeProc(t, fmt.Sprintf("node%d", i), edgeBinary(t, rel), releaseEnv(rel, "IMGEDGE_ORIGIN="+origin.URL, "IMGEDGE_REDIS_URL="+rd.URL())...)
		defer p.stop()
		nodes = append(nodes, p)
	}
	run := fleetRun{slowest: map[string]time.Duration{}}
	var mu sync.Mutex
	client := &http.Client{Timeout: 30 * time.Second}
	for b := range 24 {
		url := fmt.Sprintf("/src%d.png?w=%d&fm=webp", b%4, 120+b)
		gate := make(chan struct{})
		var wg sync.WaitGroup
		for i := range 8 {
			n := nodes[i%len(nodes)]
			wg.Go(func() {
				<-gate
				t0 := time.Now()
				resp, err := client.Get(n.base + url)
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				took := time.Since(t0)
				mu.Lock()
				defer mu.Unlock()
				run.slowest[url] = max(run.slowest[url], took)
				switch {
				case err != nil:
					run.errors = append(run.errors, fmt.Sprintf("%s on %s: %v", url, n.name, err))
				case resp.StatusCode != 200:
					run.errors = append(run.errors, fmt.Sprintf("%s on %s: %d %s", url, n.name, resp.StatusCode, body))
				case resp.Header.Get("ETag") != etagOf(body):
					run.errors = append(run.errors, fmt.Sprintf("%s on %s: ETag %s does not match its bytes", url, n.name, resp.Header.Get("ETag")))
				}
			})
		}
		close(gate)
		wg.Wait()
	}
	for _, n := range nodes {
		run.renders += n.sumMetric("imgedge_transforms_total{")
	}
	run.fetches = float64(fetches.Load())
	return run
}

// TestMixedReleaseFleet: a fleet mid-upgrade (one node of the previous
// release, one of this) on one Redis does the work of a single-release
// fleet: no errors, renders and origin fetches within 1.1x, and no request
// slow (over 500 ms) where the single-release fleet was quick (under
// 100 ms). Both releases read and write the same entries and leases.
func TestMixedReleaseFleet(t *testing.T) {
	// Both releases built before either run: a build beside the first
	// run would slow it alone, and the comparison with it.
	edgeBinary(t, previousRelease)
	single := coldBursts(t, []string{"", ""})
	mixed := coldBursts(t, []string{previousRelease, ""})
	t.Logf("single release: %v renders, %v origin fetches; mixed: %v renders, %v origin fetches", single.renders, single.fetches, mixed.renders, mixed.fetches)
	if errs := append(single.errors, mixed.errors...); len(errs) > 0 {
		t.Fatalf("%d errors:\n%s", len(errs), strings.Join(errs, "\n"))
	}
	if mixed.renders > 1.1*single.renders || mixed.fetches > 1.1*single.fetches {
		t.Fatalf("the mixed fleet did more work: %v renders and %v fetches against %v and %v", mixed.renders, mixed.fetches, single.renders, single.fetches)
	}
	for url, took := range mixed.slowest {
		if took > 500*time.Millisecond && single.slowest[url] < 100*time.Millisecond {
			t.Errorf("%s: %v in the mixed fleet, %v in a single-release one", url, took, single.slowest[url])
		}
	}
}
