package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Result is a run's report; its JSON form is what -json prints.
type Result struct {
	Workload    string           `json:"workload"`
	Mode        string           `json:"mode"` // open (rate) or closed (concurrency)
	Rate        float64          `json:"rate,omitempty"`
	Concurrency int              `json:"concurrency"`
	DurationS   float64          `json:"duration_s"`
	Requests    int64            `json:"requests"`
	RPS         float64          `json:"rps"`
	LatencyMS   Latency          `json:"latency_ms"`
	Status      map[string]int64 `json:"status"`
	Cache       map[string]int64 `json:"cache"`
	Bytes       int64            `json:"bytes"`
	Errors      int64            `json:"errors"` // transport failures and answers outside 2xx/3xx
	LastError   string           `json:"last_error,omitempty"`
}

// Latency are percentiles in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

func merge(tallies []*tally, took time.Duration, o Options) *Result {
	hist := hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
	r := &Result{Workload: o.Workload.Name, Mode: "closed", Concurrency: o.Concurrency, DurationS: took.Seconds(),
		Status: map[string]int64{}, Cache: map[string]int64{}}
	if o.Rate > 0 {
		r.Mode, r.Rate = "open", o.Rate
	}
	for _, t := range tallies {
		hist.Merge(t.hist)
		for s, n := range t.status {
			r.Status[fmt.Sprint(s)] += n
			r.Requests += n
		}
		for c, n := range t.cache {
			r.Cache[c] += n
		}
		r.Bytes += t.bytes
		r.Errors += t.errors
		if t.lastErr != "" {
			r.LastError = t.lastErr
		}
	}
	r.RPS = float64(r.Requests) / took.Seconds()
	ms := func(us int64) float64 { return float64(us) / 1000 }
	r.LatencyMS = Latency{P50: ms(hist.ValueAtQuantile(50)), P90: ms(hist.ValueAtQuantile(90)), P99: ms(hist.ValueAtQuantile(99)),
		P999: ms(hist.ValueAtQuantile(99.9)), Max: ms(hist.Max())}
	return r
}

func (r *Result) writeText(w io.Writer) {
	fmt.Fprintf(w, "workload %s, %s loop", r.Workload, r.Mode)
	if r.Mode == "open" {
		fmt.Fprintf(w, " at %.0f req/s", r.Rate)
	}
	fmt.Fprintf(w, ", %d connections, %.1f s\n", r.Concurrency, r.DurationS)
	fmt.Fprintf(w, "requests  %d (%.1f req/s), %d errors, %.1f MB\n", r.Requests, r.RPS, r.Errors, float64(r.Bytes)/1e6)
	l := r.LatencyMS
	fmt.Fprintf(w, "latency   p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms\n", l.P50, l.P90, l.P99, l.P999, l.Max)
	fmt.Fprintf(w, "status   %s\n", counts(r.Status))
	fmt.Fprintf(w, "cache    %s\n", counts(r.Cache))
	if r.LastError != "" {
		fmt.Fprintf(w, "last error: %s\n", r.LastError)
	}
}

func counts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for _, k := range keys {
		s += fmt.Sprintf(" %s=%d", k, m[k])
	}
	return s
}

func (r *Result) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
