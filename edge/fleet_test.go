package edge_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"imgedge/cache/redistest"
	"imgedge/internal/testwait"
)

const fleetToken = "fleet-admin-token-0123456789"

// fleet starts n edges sharing one Redis and one folder origin.
func fleet(t *testing.T, n int, dir string, rd *redistest.Server, env ...string) []*harness {
	t.Helper()
	var nodes []*harness
	for range n {
		nodes = append(nodes, start(t, append([]string{"IMGEDGE_ORIGIN=file:" + dir, "IMGEDGE_REDIS_URL=" + rd.URL(),
			"IMGEDGE_ADMIN_TOKEN=" + fleetToken, slowRedis}, env...), nil))
	}
	return nodes
}

// slowRedis gives Redis calls room under the race detector, where a healthy
// call can take longer than the 50 ms default: these tests are about what a
// healthy Redis does (TestFleetSurvivesSickRedis sets its own).
const slowRedis = "IMGEDGE_REDIS_TIMEOUT=1s"

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func purgeOn(t *testing.T, h *harness, query string) string {
	t.Helper()
	status, body := adminCall(t, h, http.MethodPost, "/purge?"+query, "")
	if status != 200 {
		t.Fatalf("purge %s: %d %s", query, status, body)
	}
	return body
}

// adminCall sends an admin request with the fleet's token and returns the
// status and body.
func adminCall(t *testing.T, h *harness, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, h.admin+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+fleetToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// TestFleetSharesRenders: a variant rendered on one node is a Redis hit on
// another, promoted to its memory after.
func TestFleetSharesRenders(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyFile(t, "../bench/images/kodim23.png", filepath.Join(dir, "a.png"))
	rd := redistest.Start(t)
	nodes := fleet(t, 2, dir, rd)
	first := nodes[0].get(t, "/a.png?w=120&fm=webp")
	if first.status != 200 {
		t.Fatalf("node A: %d", first.status)
	}
	// A's write to Redis is queued off its request path: wait for it, or B
	// would render the variant itself.
	waitForVariant(t, rd.Addr)
	var b response
	testwait.Until(t, func() bool {
		b = nodes[1].get(t, "/a.png?w=120&fm=webp")
		return strings.Contains(b.header["cache-status"], "detail=redis") && bytes.Equal(b.body, first.body)
	}, func() string { return "node B never answered A's variant from Redis: " + b.header["cache-status"] })
	if again := nodes[1].get(t, "/a.png?w=120&fm=webp"); !strings.HasPrefix(again.header["cache-status"], "imgedge; hit;") || strings.Contains(again.header["cache-status"], "redis") {
		t.Fatalf("after promotion: %s", again.header["cache-status"])
	}
}

// TestFleetPurge: under load on three nodes, a purge by path and one by
// prefix make every node answer the new bytes within 1 s of the purge
// returning, also when every node's Redis connection is cut during it.
func TestFleetPurge(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyFile(t, "../bench/images/hopper.jpg", filepath.Join(dir, "a.jpg"))
	copyFile(t, "../bench/images/hopper.jpg", filepath.Join(dir, "products/42/b.jpg"))
	rd := redistest.Start(t)
	nodes := fleet(t, 3, dir, rd)
	stop := make(chan struct{})
	var failed atomic.Int64
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				for _, u := range []string{"/a.jpg", "/products/42/b.jpg", fmt.Sprintf("/a.jpg?w=%d", 20+(i+j)%3)} {
					if r := n.get(t, u); r.status != 200 {
						failed.Add(1)
					}
				}
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	for _, n := range nodes { // every node holds the old bytes
		if r := n.get(t, "/a.jpg"); r.status != 200 {
			t.Fatal(r.status)
		}
	}
	newBytes, err := os.ReadFile("../bench/images/kodim23-512w-q80.jpg")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range fleetPurges {
		if err := os.WriteFile(filepath.Join(dir, tt.file), newBytes, 0o644); err != nil {
			t.Fatal(err)
		}
		rd.KillClients() // the nodes' connections drop during the purge
		out := purgeOn(t, nodes[1], tt.purge)
		if !strings.Contains(out, `"scope":"fleet"`) {
			t.Fatalf("purge answered %s", out)
		}
		purged := time.Now()
		for i, n := range nodes {
			untilNew(t, n, tt.url, newBytes, purged, purgeWindow, fmt.Sprintf("node %d", i))
		}
	}
	if failed.Load() != 0 {
		t.Fatalf("%d requests failed during the purges", failed.Load())
	}
}

// fleetPurges are the purges the fleet tests make: one by path, one by
// prefix, of files every node has served.
var fleetPurges = []struct{ file, url, purge string }{
	{"a.jpg", "/a.jpg", "path=/a.jpg"},
	{"products/42/b.jpg", "/products/42/b.jpg", "prefix=/products/42/"},
}

// TestFleetSurvivesSickRedis: with Redis killed, then frozen, the fleet
// answers every request (memory hits, misses from the origin), the Redis
// breaker opens, and closes again once Redis is back.
func TestFleetSurvivesSickRedis(t *testing.T) {
	// It mostly waits on clocks, so it waits beside the others that do.
	t.Parallel()
	dir := t.TempDir()
	copyFile(t, "../bench/images/kodim23.png", filepath.Join(dir, "a.png"))
	rd := redistest.Start(t)
	nodes := fleet(t, 2, dir, rd, "IMGEDGE_REDIS_TIMEOUT=200ms")
	var fresh atomic.Int64 // every call asks for a new variant too: a memory miss that looks in Redis
	request := func(round int) {
		for _, n := range nodes {
			for _, u := range []string{"/a.png?w=64", fmt.Sprintf("/a.png?w=%d", 65+fresh.Add(1)%4000)} {
				if r := n.get(t, u); r.status != 200 {
					t.Fatalf("round %d %s: %d %s", round, u, r.status, r.body)
				}
			}
		}
	}
	breaker := func(h *harness) string {
		for line := range strings.Lines(scrape(t, h)) {
			if v, ok := strings.CutPrefix(line, "imgedge_redis_breaker_state "); ok {
				return strings.TrimSpace(v)
			}
		}
		return "absent"
	}
	request(0)
	for _, sick := range []struct {
		name       string
		down, back func()
	}{{"killed", rd.Kill, rd.Restart}, {"frozen", rd.Pause, rd.Resume}} {
		sick.down()
		for round := 1; breaker(nodes[0]) != "2"; round++ {
			request(round)
			if round > 200 {
				t.Fatalf("%s: the Redis breaker did not open: %s", sick.name, breaker(nodes[0]))
			}
		}
		sick.back()
		deadline := time.Now().Add(15 * time.Second)
		for round := 300; breaker(nodes[0]) != "0"; round++ {
			request(round)
			if time.Now().After(deadline) {
				t.Fatalf("%s: the Redis breaker did not close within 15 s of its return: %s", sick.name, breaker(nodes[0]))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestFleetPurgeReachesANodeWithItsBreakerOpen: a node whose Redis breaker
// opened (Redis hung, then back) still learns of a purge made on another
// node, before the breaker closes: the purge log is not behind it.
func TestFleetPurgeReachesANodeWithItsBreakerOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyFile(t, "../bench/images/kodim23.png", filepath.Join(dir, "a.png"))
	rd := redistest.Start(t)
	nodes := fleet(t, 2, dir, rd, "IMGEDGE_REDIS_TIMEOUT=200ms")
	for _, n := range nodes {
		if r := n.get(t, "/a.png"); r.status != 200 {
			t.Fatal(r.status)
		}
	}
	breaker := func(h *harness) string {
		for line := range strings.Lines(scrape(t, h)) {
			if v, ok := strings.CutPrefix(line, "imgedge_redis_breaker_state "); ok {
				return strings.TrimSpace(v)
			}
		}
		return "absent"
	}
	rd.Pause()
	for i := 0; breaker(nodes[0]) != "2"; i++ { // new variants: memory misses that ask Redis
		if i > 200 {
			t.Fatal("node 0's Redis breaker did not open")
		}
		nodes[0].get(t, fmt.Sprintf("/a.png?w=%d", 10+i))
	}
	rd.Resume()
	newBytes, err := os.ReadFile("../bench/images/kodim23-512w-q80.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.png"), newBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	purgeOn(t, nodes[1], "path=/a.png")
	for {
		open := breaker(nodes[0]) == "2"
		if r := nodes[0].get(t, "/a.png"); bytes.Equal(r.body, newBytes) {
			return
		}
		if !open {
			t.Fatal("node 0 served the purged bytes until its Redis breaker closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFleetCollapses: 300 concurrent cold requests for one variant, spread
// over three nodes sharing Redis, make one origin fetch and one render in
// the whole fleet; every request is answered.
func TestFleetCollapses(t *testing.T) {
	// Not beside other tests: one render in the fleet needs the leader's
	// renewals to land within LeaseTTL (250 ms), which a machine loaded
	// by other tests' renders can delay, and then each node fills itself.
	rd := redistest.Start(t)
	a := start(t, []string{"IMGEDGE_REDIS_URL=" + rd.URL(), slowRedis}, nil)
	nodes := []*harness{a}
	for range 2 {
		nodes = append(nodes, start(t, []string{"IMGEDGE_REDIS_URL=" + rd.URL(), "IMGEDGE_ORIGIN=" + a.origin.url, slowRedis}, nil))
	}
	a.origin.delay.Store(int64(200 * time.Millisecond)) // every node misses before the fill ends
	var wg sync.WaitGroup
	var failed atomic.Int64
	gate := make(chan struct{})
	for i := range 300 {
		wg.Go(func() {
			<-gate
			if r := nodes[i%3].get(t, "/kodim23.png?w=222&fm=webp"); r.status != 200 {
				failed.Add(1)
			}
		})
	}
	close(gate)
	wg.Wait()
	renders := int64(0)
	for _, n := range nodes {
		renders += int64(n.tr.n.Load())
	}
	if failed.Load() != 0 || a.origin.count("/kodim23.png") != 1 || renders != 1 {
		t.Fatalf("%d failed, %d origin fetches, %d renders; want 0, 1, 1", failed.Load(), a.origin.count("/kodim23.png"), renders)
	}
}

// TestFleetOnRedisCluster: the shared tier, collapsing and purge work on a
// three-master Redis Cluster, whose keys spread over the masters.
func TestFleetOnRedisCluster(t *testing.T) {
	t.Parallel()
	addrs := redistest.StartCluster(t, 3)
	dir := t.TempDir()
	copyFile(t, "../bench/images/hopper.jpg", filepath.Join(dir, "a.jpg"))
	var nodes []*harness
	for range 2 {
		nodes = append(nodes, start(t, []string{"IMGEDGE_ORIGIN=file:" + dir, "IMGEDGE_REDIS_CLUSTER=true",
			"IMGEDGE_REDIS_ADDRS=" + strings.Join(addrs, ","), "IMGEDGE_ADMIN_TOKEN=" + fleetToken, slowRedis}, nil))
	}
	first := nodes[0].get(t, "/a.jpg?w=50&fm=webp")
	waitForVariant(t, addrs...)
	var b response
	testwait.Until(t, func() bool {
		b = nodes[1].get(t, "/a.jpg?w=50&fm=webp")
		return strings.Contains(b.header["cache-status"], "redis") && bytes.Equal(b.body, first.body)
	}, func() string { return "node B never read A's variant from the cluster: " + b.header["cache-status"] })
	newBytes, _ := os.ReadFile("../bench/images/kodim23-512w-q80.jpg")
	if err := os.WriteFile(filepath.Join(dir, "a.jpg"), newBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	purgeOn(t, nodes[0], "path=/a.jpg")
	untilNew(t, nodes[1], "/a.jpg", newBytes, time.Now(), purgeWindow, "node B")
}

// waitForVariant waits until a variant entry is in one of the Redis servers
// at addrs (each master of a cluster, asked directly: a cluster client's
// view of a cluster that has just formed can miss a master, and it only
// refreshes on a redirect, which KEYS never causes).
func waitForVariant(t *testing.T, addrs ...string) {
	t.Helper()
	ctx := context.Background()
	var clients []rueidis.Client
	for _, a := range addrs {
		c := redistest.Client(t, a)
		defer c.Close()
		clients = append(clients, c)
	}
	testwait.Until(t, func() bool {
		for _, c := range clients {
			if keys, err := c.Do(ctx, c.B().Keys().Pattern("imgedge:v:*").Build()).AsStrSlice(); err == nil && len(keys) > 0 {
				return true
			}
		}
		return false
	}, func() string { return "no variant reached Redis" })
}

// TestPurgeWithoutRedis: a single node purges its own tiers; purge needs
// admin.token configured and sent.
func TestPurgeWithoutRedis(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, "../bench/images/hopper.jpg", filepath.Join(dir, "a.jpg"))
	open := start(t, []string{"IMGEDGE_ORIGIN=file:" + dir}, nil)
	resp, err := http.Post(open.admin+"/purge?path=/a.jpg", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("purge on an edge without admin.token: %d, want 403", resp.StatusCode)
	}
	h := start(t, []string{"IMGEDGE_ORIGIN=file:" + dir, "IMGEDGE_ADMIN_TOKEN=" + fleetToken}, nil)
	old := h.get(t, "/a.jpg?w=30&fm=png")
	newBytes, _ := os.ReadFile("../bench/images/kodim23-512w-q80.jpg")
	if err := os.WriteFile(filepath.Join(dir, "a.jpg"), newBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := h.get(t, "/a.jpg"); bytes.Equal(r.body, newBytes) {
		t.Fatal("the original changed before any purge: the test sees nothing")
	}
	if out := purgeOn(t, h, "path=/a.jpg"); !strings.Contains(out, `"scope":"node"`) {
		t.Fatalf("purge answered %s", out)
	}
	if r := h.get(t, "/a.jpg"); !bytes.Equal(r.body, newBytes) {
		t.Fatal("the original after the purge is still the old one")
	}
	if r := h.get(t, "/a.jpg?w=30&fm=png"); r.status != 200 || bytes.Equal(r.body, old.body) {
		t.Fatal("the variant after the purge is still rendered from the old original")
	}
}
