package edge_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cachefleet "imgedge/cache/fleet"
	"imgedge/cache/redistest"
	"imgedge/internal/testwait"
)

// purgeWindow is how long after a purge answered "fleet" a node may still
// serve the old bytes: the promise.
const purgeWindow = cachefleet.PurgeBound

// untilNew polls h for url until it answers want; a request that began
// more than window after since and still got other bytes fails the test:
// the promise under test is a time bound.
func untilNew(t *testing.T, h *harness, url string, want []byte, since time.Time, window time.Duration, what string) {
	t.Helper()
	for {
		began := time.Now()
		if r := h.get(t, url); r.status == 200 && bytes.Equal(r.body, want) {
			return
		}
		if began.Sub(since) > window {
			t.Fatalf("%s: %s, asked %v after the purge, still answers the old bytes", what, url, began.Sub(since))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFleetPurgeAfterAnEmptyRedisRestart: Redis restarts empty (its purge
// sequence starts again); purges by path and by prefix made after that
// still reach every node, the purging one included, also when the new
// file is dated before the old one.
func TestFleetPurgeAfterAnEmptyRedisRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyFile(t, "../bench/images/hopper.jpg", filepath.Join(dir, "a.jpg"))
	copyFile(t, "../bench/images/hopper.jpg", filepath.Join(dir, "products/42/b.jpg"))
	rd := redistest.Start(t)
	nodes := fleet(t, 3, dir, rd)
	for range 5 { // the log moves past what the restarted Redis will hand out
		purgeOn(t, nodes[0], "path=/warm.jpg")
	}
	for _, n := range nodes {
		testwait.Until(t, func() bool { return metricValue(scrape(t, n), "imgedge_purge_log_position") >= 5 },
			func() string { return "a node did not read the purge log" })
		for _, u := range []string{"/a.jpg", "/products/42/b.jpg", "/a.jpg?w=40&fm=png"} {
			if r := n.get(t, u); r.status != 200 {
				t.Fatalf("%s: %d", u, r.status)
			}
		}
	}
	rd.Kill()
	rd.Restart()
	newBytes, err := os.ReadFile("../bench/images/kodim23-512w-q80.jpg")
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range fleetPurges {
		if err := os.WriteFile(filepath.Join(dir, tt.file), newBytes, 0o644); err != nil {
			t.Fatal(err)
		}
		// A replacement dated before the cached copy (cp -p, rsync -t, a
		// restore): a revalidation by date would keep the old bytes; the
		// purge must not.
		past := time.Now().Add(-24 * time.Hour)
		if err := os.Chtimes(filepath.Join(dir, tt.file), past, past); err != nil {
			t.Fatal(err)
		}
		var out string
		for try := 0; ; try++ { // the nodes' first call after the restart may find a dropped connection
			status, body := adminCall(t, nodes[i], http.MethodPost, "/purge?"+tt.purge, "")
			if status == 200 {
				out = body
				break
			}
			if try == 2 {
				t.Fatalf("purge %s: %d %s", tt.purge, status, body)
			}
		}
		if !strings.Contains(out, `"scope":"fleet"`) {
			t.Fatalf("purge answered %s", out)
		}
		purged := time.Now()
		for j, n := range nodes {
			untilNew(t, n, tt.url, newBytes, purged, purgeWindow, fmt.Sprintf("node %d", j))
		}
	}
}

// TestFleetNodeOnlyPurgeReachesTheFleetLater: with Redis down, a purge
// answers 202 "scope":"node", "fleet":"pending" and applies on its node at
// once; when Redis answers again, every other node applies it.
func TestFleetNodeOnlyPurgeReachesTheFleetLater(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyFile(t, "../bench/images/hopper.jpg", filepath.Join(dir, "a.jpg"))
	rd := redistest.Start(t)
	nodes := fleet(t, 2, dir, rd)
	for _, n := range nodes {
		if r := n.get(t, "/a.jpg"); r.status != 200 {
			t.Fatal(r.status)
		}
	}
	newBytes, _ := os.ReadFile("../bench/images/kodim23-512w-q80.jpg")
	if err := os.WriteFile(filepath.Join(dir, "a.jpg"), newBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	rd.Kill()
	status, out := adminCall(t, nodes[0], http.MethodPost, "/purge?path=/a.jpg", "")
	if status != http.StatusAccepted || !strings.Contains(out, `"scope":"node"`) || !strings.Contains(out, `"fleet":"pending"`) ||
		strings.Contains(out, "in memory and Redis") {
		t.Fatalf("purge with Redis down answered %d %s", status, out)
	}
	if r := nodes[0].get(t, "/a.jpg"); !bytes.Equal(r.body, newBytes) {
		t.Fatal("the purging node serves the old bytes")
	}
	rd.Restart()
	back := time.Now()
	// The other node may revalidate or refetch meanwhile; once Redis is
	// back, the pending purge reaches it within a read of the log.
	untilNew(t, nodes[1], "/a.jpg", newBytes, back, purgeWindow+time.Second, "node 1")
	if v := metricValue(scrape(t, nodes[0]), "imgedge_purge_pending"); v != 0 {
		t.Fatalf("imgedge_purge_pending %v after Redis returned", v)
	}
}

// TestFleetReportsWhatRedisDid: an answer another node filled counts as a
// Redis hit and says so in Server-Timing; writes skipped while the breaker
// is open are counted with their reason; the Redis state is logged at
// start.
func TestFleetReportsWhatRedisDid(t *testing.T) {
	// Not beside other tests: node b waits on node a's fill only while a's
	// lease renewals land within LeaseTTL (250 ms), which their renders can
	// delay.
	rd := redistest.Start(t)
	a := start(t, []string{"IMGEDGE_REDIS_URL=" + rd.URL(), slowRedis}, nil)
	b := start(t, []string{"IMGEDGE_REDIS_URL=" + rd.URL(), "IMGEDGE_ORIGIN=" + a.origin.url, slowRedis}, nil)
	if !strings.Contains(a.logs.String(), "redis: connected") {
		t.Fatalf("no connection line in the log:\n%s", a.logs.String())
	}
	// a leads the fill (its origin is slow); b's request waits for a's
	// entry: to b, a Redis hit.
	a.origin.delay.Store(int64(300 * time.Millisecond))
	var wg sync.WaitGroup
	var fromA response
	wg.Go(func() { fromA = a.get(t, "/kodim23.png?w=123&fm=webp") })
	for a.origin.count("/kodim23.png") == 0 {
		time.Sleep(time.Millisecond) // a holds the lease once its fetch began
	}
	fromB := b.get(t, "/kodim23.png?w=123&fm=webp")
	wg.Wait()
	if fromB.status != 200 || !bytes.Equal(fromB.body, fromA.body) || !strings.Contains(fromB.header["cache-status"], "detail=redis") {
		t.Fatalf("b: %d %s", fromB.status, fromB.header["cache-status"])
	}
	if st := fromB.header["server-timing"]; !strings.Contains(st, "cache;desc=redis") {
		t.Fatalf("b's Server-Timing %q does not name Redis", st)
	}
	if v := metricValue(scrape(t, b), `imgedge_cache_hits_total{tier="redis"}`); v != 1 {
		t.Fatalf("b counted %v Redis hits, want 1", v)
	}
	if b.tr.n.Load() != 0 {
		t.Fatal("b rendered")
	}
	rd.Pause()
	defer rd.Resume()
	for i := 0; metricValue(scrape(t, b), "imgedge_redis_breaker_state") != 2; i++ {
		if i > 200 {
			t.Fatal("b's breaker did not open")
		}
		b.get(t, fmt.Sprintf("/kodim23.png?w=%d", 20+i))
	}
	for i := range 5 {
		b.get(t, fmt.Sprintf("/kodim23.png?w=%d&fm=png", 300+i))
	}
	text := scrape(t, b)
	if v := metricValue(text, `imgedge_redis_dropped_writes_total{reason="breaker_open"}`); v == 0 {
		t.Fatalf("writes skipped with the breaker open were not counted:\n%s", grepLines(text, "dropped"))
	}
	if !strings.Contains(b.logs.String(), "redis: breaker open") {
		t.Fatal("the breaker opening was not logged")
	}
}

// TestFleetNodeStartsWithRedisDown: a node whose Redis is down at start
// says so, serves, and connects once Redis is up.
func TestFleetNodeStartsWithRedisDown(t *testing.T) {
	t.Parallel()
	rd := redistest.Start(t)
	rd.Kill()
	h := start(t, []string{"IMGEDGE_REDIS_URL=" + rd.URL(), slowRedis}, nil)
	if !strings.Contains(h.logs.String(), "redis: not reachable at start") {
		t.Fatalf("no line about Redis being down:\n%s", h.logs.String())
	}
	if r := h.get(t, "/kodim23.png?w=40"); r.status != 200 {
		t.Fatalf("with Redis down: %d", r.status)
	}
	rd.Restart()
	testwait.Until(t, func() bool { return strings.Contains(h.logs.String(), "redis: connected") },
		func() string { return "no line about Redis being reached after its start" })
}
