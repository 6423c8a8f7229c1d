package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"
)

// Options is one run.
type Options struct {
	Base        string
	Template    string
	Workload    *Workload
	Duration    time.Duration
	Rate        float64 // requests/s: open loop; 0: closed loop
	Concurrency int     // closed loop: connections; open loop: the most requests in flight
	Timeout     time.Duration
	Progress    func(Snapshot) // called about once a second; nil: none
}

// Snapshot is the state of a run so far.
type Snapshot struct {
	Elapsed  time.Duration
	Requests int64
	Errors   int64
	RPS      float64 // over the last interval
}

// worker state, merged at the end: no locks on the request path.
type tally struct {
	hist    *hdrhistogram.Histogram
	status  map[int]int64
	cache   map[string]int64
	bytes   int64
	errors  int64
	lastErr string
}

func newTally() *tally {
	return &tally{hist: hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3), status: map[int]int64{}, cache: map[string]int64{}}
}

// cacheClass reads a Cache-Status header (RFC 9211) into hit, stale,
// collapsed, miss or none.
func cacheClass(cs string) string {
	switch {
	case cs == "":
		return "none"
	case strings.Contains(cs, "detail=stale"):
		return "stale"
	case strings.Contains(cs, "; hit"):
		return "hit"
	case strings.Contains(cs, "collapsed"):
		return "collapsed"
	case strings.Contains(cs, "fwd="):
		return "miss"
	}
	return "none"
}

// Run drives the load and returns the merged results. In the open loop a
// scheduler releases request i at start + i/rate whether or not earlier ones
// have finished, and latency counts from that intended time, so a stalled
// server cannot hide its stall by slowing the sender (no coordinated omission).
func Run(ctx context.Context, o Options) *Result {
	client := &fasthttp.Client{
		MaxConnsPerHost:          o.Concurrency,
		ReadTimeout:              o.Timeout,
		WriteTimeout:             o.Timeout,
		MaxConnWaitTimeout:       o.Timeout,
		MaxIdleConnDuration:      time.Minute,
		NoDefaultUserAgentHeader: true,
	}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var counter, requests, errs atomic.Int64
	start := time.Now()
	jobs := make(chan time.Time, max(o.Concurrency*4, 1024))
	tallies := make([]*tally, o.Concurrency)
	var wg sync.WaitGroup
	for i := range o.Concurrency {
		tallies[i] = newTally()
		wg.Add(1)
		go func(t *tally, gen *generator) {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for {
				var intended time.Time
				if o.Rate > 0 {
					select {
					case intended = <-jobs:
					case <-ctx.Done():
						return
					}
				} else {
					if ctx.Err() != nil {
						return
					}
					intended = time.Now()
				}
				r := gen.next()
				req.Reset()
				req.SetRequestURI(urlFor(o.Base, o.Template, r))
				req.Header.Set("Accept", r.Accept)
				err := client.DoTimeout(req, resp, o.Timeout)
				took := time.Since(intended)
				requests.Add(1)
				if err != nil {
					if ctx.Err() != nil {
						return // cut off by the end of the run, not the server's fault
					}
					t.errors++
					t.lastErr = err.Error()
					errs.Add(1)
					continue
				}
				_ = t.hist.RecordValue(max(took.Microseconds(), 1))
				t.status[resp.StatusCode()]++
				if code := resp.StatusCode(); code >= 400 || code < 200 {
					// An answer that is not an image is a failure of the run,
					// whatever the transport did: 404s over a workload naming
					// missing images must not read as "0 errors".
					t.errors++
					t.lastErr = fmt.Sprintf("HTTP %d for %s", code, req.URI().RequestURI())
					errs.Add(1)
				}
				t.cache[cacheClass(string(resp.Header.Peek("Cache-Status")))]++
				t.bytes += int64(len(resp.Body()))
			}
		}(tallies[i], newGenerator(o.Workload, uint64(i)+1, &counter))
	}
	if o.Rate > 0 {
		wg.Add(1)
		go func() { // the scheduler: the run's clock, not the workers', sets the pace
			defer wg.Done()
			interval := time.Duration(float64(time.Second) / o.Rate)
			for i := 0; ; i++ {
				at := start.Add(time.Duration(i) * interval)
				if d := time.Until(at); d > 0 {
					select {
					case <-time.After(d):
					case <-ctx.Done():
						return
					}
				}
				select {
				case jobs <- at:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	if o.Progress != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			last := int64(0)
			for {
				select {
				case <-ctx.Done():
					return
				case now := <-tick.C:
					n := requests.Load()
					o.Progress(Snapshot{Elapsed: now.Sub(start), Requests: n, Errors: errs.Load(), RPS: float64(n - last)})
					last = n
				}
			}
		}()
	}
	wg.Wait()
	return merge(tallies, time.Since(start), o)
}
