package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// hostile sends every URL of a list (the requests an attacker would send)
// -parallel at a time, again and again for -duration, while one client
// keeps asking for small variants; it samples the edge's resident memory
// from its admin /metrics and reports, per hostile URL, the statuses and
// the slowest answer, the small requests' statuses and latency, and the
// peak RSS.
func hostile(args []string) error {
	fs := flag.NewFlagSet("bench hostile", flag.ContinueOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "public base URL of the edge")
	admin := fs.String("admin", "http://127.0.0.1:9090", "admin base URL of the edge (for process_resident_memory_bytes)")
	list := fs.String("requests", "bench/hostile/requests.txt", "file of hostile paths with queries, one a line (# comments); each %d becomes a digit (1 to 99) of a round counter, so each round is a miss")
	small := fs.String("small", "/kodim23.png?w=64&fm=webp&q=%d&sharp=%d", "small variant asked for meanwhile; the %d are replaced by a counter so that each is a miss")
	parallel := fs.Int("parallel", 8, "hostile requests in flight at once")
	duration := fs.Duration("duration", 20*time.Second, "how long to run")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: go run ./bench hostile [-url U] [-admin A] [-requests F] [-parallel N] [-duration D]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	paths, err := readLines(*list)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	client := &http.Client{Timeout: time.Minute}

	var peak atomic.Int64
	baseline, err := rss(client, *admin)
	if err != nil {
		return fmt.Errorf("admin metrics: %w", err)
	}
	peak.Store(baseline)
	var wg sync.WaitGroup
	wg.Go(func() { watchRSS(ctx, client, *admin, &peak) })
	h := &hostileRun{base: *base, paths: paths, results: map[string]*hostileResult{}}
	for range *parallel {
		wg.Go(func() { h.send(ctx, client) })
	}
	smallStatus, smallLat := askSmall(ctx, client, *base, *small)
	wg.Wait()

	fmt.Printf("hostile requests, %d in flight for %s:\n", *parallel, *duration)
	h.print()
	printSmall(smallStatus, smallLat)
	fmt.Printf("edge RSS: %d MiB before, peak %d MiB (growth %d MiB)\n", baseline>>20, peak.Load()>>20, (peak.Load()-baseline)>>20)
	return nil
}

// watchRSS raises peak to the edge's resident memory, sampled every 50 ms
// until ctx ends.
func watchRSS(ctx context.Context, client *http.Client, admin string, peak *atomic.Int64) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if v, err := rss(client, admin); err == nil && v > peak.Load() {
				peak.Store(v)
			}
		}
	}
}

// hostileResult is what one hostile URL was answered.
type hostileResult struct {
	statuses map[int]int
	slowest  time.Duration
}

// hostileRun sends the hostile URLs in turn from any number of senders and
// keeps, per URL of the list, what it was answered.
type hostileRun struct {
	base  string
	paths []string
	next  atomic.Int64

	mu      sync.Mutex // guards results
	results map[string]*hostileResult
}

// send is one sender: it asks for the next URL of the list, one at a time,
// until ctx ends.
func (h *hostileRun) send(ctx context.Context, client *http.Client) {
	for ctx.Err() == nil {
		n := int(h.next.Add(1) - 1)
		p := h.paths[n%len(h.paths)]
		url := h.base + p
		if k := strings.Count(p, "%d"); k > 0 {
			url = h.base + fmt.Sprintf(p, roundValues(n/len(h.paths), k)...) // a new variant each round
		}
		status, took := get(ctx, client, url)
		if status == 0 {
			continue
		}
		h.mu.Lock()
		r := h.results[p]
		if r == nil {
			r = &hostileResult{statuses: map[int]int{}}
			h.results[p] = r
		}
		r.statuses[status]++
		r.slowest = max(r.slowest, took)
		h.mu.Unlock()
	}
}

// roundValues are the k values, each 1 to 99, that round r puts in a
// path's %d: the digits of r in base 99, so that k of them make 99^k
// distinct variants before one repeats.
func roundValues(r, k int) []any {
	v := make([]any, k)
	for i := range v {
		v[i] = 1 + r%99
		r /= 99
	}
	return v
}

// print reports each URL of the list that was answered, in the list's
// order.
func (h *hostileRun) print() {
	for _, p := range h.paths {
		if r := h.results[p]; r != nil {
			fmt.Printf("  %-60s %v slowest %s\n", p, r.statuses, r.slowest.Round(time.Millisecond))
		}
	}
}

// askSmall asks for small variants (small, its two %d from a counter), one
// at a time, until ctx ends, and returns their statuses and latencies.
func askSmall(ctx context.Context, client *http.Client, base, small string) (map[int]int, []time.Duration) {
	statuses := map[int]int{}
	var lat []time.Duration
	for i := 0; ctx.Err() == nil; i++ {
		status, took := get(ctx, client, base+fmt.Sprintf(small, 1+i%100, i/100%101))
		if status == 0 {
			continue
		}
		statuses[status]++
		lat = append(lat, took)
	}
	return statuses, lat
}

// printSmall reports the small variants' statuses and latency percentiles,
// when any was answered.
func printSmall(statuses map[int]int, lat []time.Duration) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if n := len(lat); n > 0 {
		fmt.Printf("small variants meanwhile: %v, p50 %s, p99 %s, max %s\n", statuses,
			lat[n/2].Round(time.Millisecond), lat[n*99/100].Round(time.Millisecond), lat[n-1].Round(time.Millisecond))
	}
}

func get(ctx context.Context, client *http.Client, url string) (int, time.Duration) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0
	}
	req.Header.Set("Accept", "image/avif,image/webp,*/*")
	began := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(began)
}

// rss reads process_resident_memory_bytes from a Prometheus text page.
func rss(client *http.Client, admin string) (int64, error) {
	resp, err := client.Get(admin + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_resident_memory_bytes "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int64(f), err
		}
	}
	return 0, errors.New("no process_resident_memory_bytes")
}

func readLines(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for line := range strings.Lines(string(raw)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no requests", path)
	}
	return out, nil
}
