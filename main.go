// Command imgedge is an image CDN edge: a fasthttp reverse proxy that serves
// imgix-style image variants from its caches, computing misses with libvips.
//
//	go run .                   # embedded default config (configs/default.yaml)
//	go run . -config edge.yaml # a YAML file over the defaults; IMGEDGE_* env over both
//	go run . help              # the other commands: sign, version, healthcheck
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"imgedge/configs"
	"imgedge/edge"
	"imgedge/transform/libvips"
)

func main() {
	os.Exit(cli(os.Args[1:], os.Stdout, os.Stderr))
}

// reload reads the config file again on SIGHUP and applies every key that
// can change while serving. A file that does not load or validate is refused
// with a log line and the running config stays; keys fixed at start that
// changed are named in the log.
func reload(log *slog.Logger, path string, srv *edge.Server, tr *libvips.Transformer) {
	// All or nothing: the server's part, the only one that can still refuse
	// once the config validates, is built and checked before anything
	// applies.
	next, err := configs.Load(path, os.Environ())
	if err == nil {
		// The sample origin resolves as it did at start, or it would read
		// as a changed origin.
		err = findDefaultOrigin(next, originSearch())
	}
	var prepared *edge.PreparedReload
	if err == nil {
		prepared, err = srv.PrepareReload(next)
	}
	var restart []string
	if err == nil {
		tr.Update(libvips.FromConfig(next))
		restart = prepared.Apply()
	}
	switch {
	case err != nil:
		log.Error("config reload refused; the running config stays", "config", path, "err", err)
	case len(restart) > 0:
		log.Warn("config reloaded; these keys changed but apply only after a restart", "config", path, "keys", restart)
	default:
		log.Info("config reloaded", "config", path)
	}
}

// run serves until SIGTERM or SIGINT with the config at configPath (empty:
// the embedded defaults) and the environment.
func run(configPath string) error {
	// The only place that reads the environment: the configs package gets it
	// as a value.
	cfg, err := configs.Load(configPath, os.Environ())
	if err != nil {
		return err
	}
	// Not found, the sample folder is said missing only if nothing of the
	// operator's own fails first (their routes, below).
	originErr := findDefaultOrigin(cfg, originSearch())
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	limitGoHeap(cfg)

	libvips.Startup(log)
	tr, err := libvips.New(libvips.FromConfig(cfg))
	if err != nil {
		libvips.Shutdown()
		return err
	}
	srv, err := edge.New(cfg, tr, log)
	if err != nil {
		tr.Close()
		libvips.Shutdown()
		var re *edge.RouteError
		if originErr != nil && errors.As(err, &re) && re.Route == "origin" {
			return originErr
		}
		return err
	}
	libvips.SetLog(srv.BudgetedLogger())
	serveErr := serve(log, cfg, configPath, srv, tr)
	// Renders use libvips until they end: wait for them (fills, then the
	// renders a timed-out fill left behind), in the last quarter of
	// server.drain_timeout (the renders were killed at its half), and shut
	// libvips down only when none is left. The process exits either way.
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Server.DrainTimeout.D()/4)
	defer cancel()
	err = srv.Close(ctx)
	if err == nil {
		err = tr.Wait(ctx)
	}
	if err != nil {
		log.Warn("renders still running at exit; libvips left to the process exit", "err", err)
	} else {
		tr.Close()
		libvips.Shutdown()
	}
	if serveErr != nil {
		return serveErr
	}
	log.Info("imgedge stopped")
	return nil
}

// limitGoHeap gives Go's collector a soft limit at the cache budgets plus
// configs.GoHeapRoom, and at least configs.GoHeapFloor. By default it lets the heap grow to twice what is live
// (GOGC=100), and full cache tiers are live: 384 MiB of them made a heap
// of up to 768 MiB, which no pod sized from the budgets has. Past the limit
// the collector runs more often (the runtime caps it at half the CPU;
// full tiers and 32 connections asking for new 12 MP sources made 25
// collections a second, at the same throughput) and
// imgedge_memory_bytes{part="go_other"} shows what is held; it never fails
// a request. An operator's GOMEMLIMIT stands.
func limitGoHeap(cfg *configs.Config) {
	if debug.SetMemoryLimit(-1) != math.MaxInt64 {
		return
	}
	debug.SetMemoryLimit(max(int64(cfg.Cache.Memory+cfg.Cache.MemoryOriginals)+configs.GoHeapRoom, configs.GoHeapFloor))
}

// serve listens and serves until SIGTERM or SIGINT, reloading the config on
// SIGHUP.
func serve(log *slog.Logger, cfg *configs.Config, configPath string, srv *edge.Server, tr *libvips.Transformer) error {
	public, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen (listen=%s): %w", cfg.Listen, err)
	}
	admin, err := net.Listen("tcp", cfg.AdminListen)
	if err != nil {
		public.Close()
		return fmt.Errorf("listen (admin_listen=%s): %w", cfg.AdminListen, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reloads := make(chan struct{})
	go func() {
		defer close(reloads)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload(log, configPath, srv, tr)
			}
		}
	}()
	log.Info("imgedge listening", "listen", public.Addr().String(), "admin_listen", admin.Addr().String(), "origin", cfg.Origin)
	if len(cfg.Signing.Keys) == 0 {
		// signing.keys empty, null or left out alike: worth a line, since a
		// public edge without signatures lets anyone mint variants.
		log.Warn("URLs are not signed: anyone may ask for any variant; set signing.keys to require signatures (README, Security)")
	}
	err = srv.Serve(ctx, public, admin)
	stop()
	<-reloads
	return err
}
