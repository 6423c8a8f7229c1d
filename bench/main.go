// Command bench is imgedge's load generator: it replays a workload (image
// popularity, variants, the Accept mix of real browsers) against an image
// server in an open loop (a constant arrival rate, latency measured from the
// intended send time) or a closed loop (a fixed number of connections), and
// reports throughput, HDR latency percentiles, statuses and Cache-Status
// outcomes. It talks HTTP only and imports nothing from imgedge, so it can
// drive any image server (-url-template).
//
//	go run ./bench -workload bench/workloads/zipf.yaml -concurrency 32 -duration 30s
//	go run ./bench serve-bytes -file bench/images/kodim23-512w-q80.jpg
//	bench/hostile/run.sh   (go run ./bench hostile: the requests of an attacker, RSS sampled)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"
)

func main() {
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "serve-bytes":
		err = serveBytes(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "hostile":
		err = hostile(os.Args[2:])
	default:
		err = run(os.Args[1:])
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "base URL of the server under test")
	workloadPath := fs.String("workload", "bench/workloads/zipf.yaml", "workload file (YAML)")
	duration := fs.Duration("duration", 10*time.Second, "how long to run")
	rate := fs.Float64("rate", 0, "open loop: requests per second at a constant arrival rate (latency counts from the intended send time); 0: closed loop")
	concurrency := fs.Int("concurrency", 16, "closed loop: connections, each sending its next request when the last answered; open loop: the most requests in flight")
	template := fs.String("url-template", "", "URL template for another server's syntax, with {base} {image} {w} {h} {fit} {fm} {q} {dpr}; empty: imgix-style ?w=&h=&fit=&fm=&dpr=")
	timeout := fs.Duration("timeout", 30*time.Second, "per-request timeout")
	jsonOut := fs.Bool("json", false, "print the report as one JSON object (requests, rps, latency_ms{p50,p90,p99,p999,max}, status, cache, ...)")
	quiet := fs.Bool("quiet", false, "no progress line")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: go run ./bench [flags]
       go run ./bench serve-bytes -file F [-addr host:port]

Replays a workload against an image server and reports requests/s, latency
percentiles (HDR histogram), status counts, Cache-Status outcomes (hit, stale,
miss, collapsed), bytes and errors. Workloads: bench/workloads/*.yaml.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	w, err := loadWorkload(*workloadPath)
	if err != nil {
		return err
	}
	if *concurrency < 1 || *duration <= 0 || *rate < 0 {
		return errors.New("-concurrency must be at least 1, -duration above 0, -rate 0 or more")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	opts := Options{Base: *base, Template: *template, Workload: w, Duration: *duration, Rate: *rate,
		Concurrency: *concurrency, Timeout: *timeout}
	if !*quiet {
		opts.Progress = func(s Snapshot) {
			fmt.Fprintf(os.Stderr, "\r%5.0fs  %9d requests  %8.0f req/s  %d errors ", s.Elapsed.Seconds(), s.Requests, s.RPS, s.Errors)
		}
	}
	res := Run(ctx, opts)
	if !*quiet {
		fmt.Fprintln(os.Stderr)
	}
	if *jsonOut {
		return res.writeJSON(os.Stdout)
	}
	res.writeText(os.Stdout)
	return nil
}
