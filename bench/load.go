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

// load is one run's shared state: what its workers, scheduler and
// progress reporter read and count.
type load struct {
	o        Options
	client   *fasthttp.Client
	start    time.Time
	jobs     chan time.Time // open loop: the intended start of each request
	requests atomic.Int64
	errs     atomic.Int64
}

// Run drives the load and returns the merged results. In the open loop a
// scheduler releases request i at start + i/rate whether or not earlier ones
// have finished, and latency counts from that intended time, so a stalled
// server cannot hide its stall by slowing the sender (no coordinated omission).
func Run(ctx context.Context, o Options) *Result {
	l := &load{o: o, client: &fasthttp.Client{
		MaxConnsPerHost:          o.Concurrency,
		ReadTimeout:              o.Timeout,
		WriteTimeout:             o.Timeout,
		MaxConnWaitTimeout:       o.Timeout,
		MaxIdleConnDuration:      time.Minute,
		NoDefaultUserAgentHeader: true,
	}}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var counter atomic.Int64
	l.start = time.Now()
	l.jobs = make(chan time.Time, max(o.Concurrency*4, 1024))
	tallies := make([]*tally, o.Concurrency)
	var wg sync.WaitGroup
	for i := range o.Concurrency {
		tallies[i] = newTally()
		gen := newGenerator(o.Workload, uint64(i)+1, &counter)
		wg.Go(func() { l.work(ctx, tallies[i], gen) })
	}
	if o.Rate > 0 {
		wg.Go(func() { l.schedule(ctx) })
	}
	if o.Progress != nil {
		wg.Go(func() { l.report(ctx) })
	}
	wg.Wait()
	return merge(tallies, time.Since(l.start), o)
}

// work is one worker: it sends the generator's requests, one at a time,
// until the run ends, into its own tally.
func (l *load) work(ctx context.Context, t *tally, gen *generator) {
	o := l.o
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	for {
		var intended time.Time
		if o.Rate > 0 {
			select {
			case intended = <-l.jobs:
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
		err := l.client.DoTimeout(req, resp, o.Timeout)
		took := time.Since(intended)
		l.requests.Add(1)
		if err != nil {
			if ctx.Err() != nil {
				return // cut off by the end of the run, not the server's fault
			}
			t.errors++
			t.lastErr = err.Error()
			l.errs.Add(1)
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
			l.errs.Add(1)
		}
		t.cache[cacheClass(string(resp.Header.Peek("Cache-Status")))]++
		t.bytes += int64(len(resp.Body()))
	}
}

// schedule is the open loop's scheduler: the run's clock, not the workers',
// sets the pace.
func (l *load) schedule(ctx context.Context) {
	interval := time.Duration(float64(time.Second) / l.o.Rate)
	for i := 0; ; i++ {
		at := l.start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return
			}
		}
		select {
		case l.jobs <- at:
		case <-ctx.Done():
			return
		}
	}
}

// report calls Progress about once a second until the run ends.
func (l *load) report(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := int64(0)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			n := l.requests.Load()
			l.o.Progress(Snapshot{Elapsed: now.Sub(l.start), Requests: n, Errors: l.errs.Load(), RPS: float64(n - last)})
			last = n
		}
	}
}
