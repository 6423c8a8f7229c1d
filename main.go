// Command imgedge is an image CDN edge: a fasthttp reverse proxy that serves
// imgix-style image variants from its caches, computing misses with libvips.
//
//	go run .                   # embedded default config (configs/default.yaml)
//	go run . -config edge.yaml # a YAML file over the defaults; IMGEDGE_* env over both
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"imgedge/configs"
	"imgedge/edge"
	"imgedge/edge/signing"
	"imgedge/transform/libvips"
)

func main() {
	limitMallocArenas()
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "imgedge:", err)
		os.Exit(1)
	}
}

// limitMallocArenas restarts the process (same pid, same arguments) with
// MALLOC_ARENA_MAX=2 unless the variable is set. glibc gives each busy
// thread an arena of its own, up to eight per core, and keeps what is freed
// in each: with two costly renders and a stream of small ones on 2 cores the
// edge peaked at 921 to 1555 MiB of RSS with the default and at 617 to 801
// MiB with two arenas, at the same throughput (bench/RESULTS.md, issue 11).
// glibc reads the variable when malloc starts, and mallopt later in the
// process measured no better than the default, hence the exec.
func limitMallocArenas() {
	if os.Getenv("MALLOC_ARENA_MAX") != "" {
		return
	}
	self, err := os.Executable()
	if err != nil {
		return
	}
	// On success Exec does not return; on failure the edge runs as it is.
	_ = syscall.Exec(self, os.Args, append(os.Environ(), "MALLOC_ARENA_MAX=2"))
}

// sign prints a URL signed with -key, else with the first signing key of the
// configuration (-config, IMGEDGE_SIGNING_KEYS). -host signs the host too,
// as an edge that routes by Host requires.
func sign(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("imgedge sign", flag.ContinueOnError)
	key := fs.String("key", "", "signing key (default: the first of signing.keys)")
	host := fs.String("host", "", "the Host the URL is served under; required when the config routes origins by host")
	configPath := fs.String("config", "", "YAML config file holding signing.keys")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: imgedge sign [-key K] [-host H] [-config FILE] '/path.jpg?w=300'")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("sign: give exactly one URL path with its query")
	}
	if *key == "" {
		cfg, err := configs.Load(*configPath, os.Environ())
		if err != nil {
			return err
		}
		if len(cfg.Signing.Keys) == 0 {
			return errors.New("sign: no -key and no signing.keys configured (IMGEDGE_SIGNING_KEYS)")
		}
		if cfg.RoutesByHost() && *host == "" {
			return errors.New("sign: this config routes origins by host, so signatures cover the host: give -host")
		}
		*key = cfg.Signing.Keys[0]
	}
	signed, err := signing.Sign(*key, *host, fs.Arg(0))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, signed)
	return err
}

// reload reads the config file again on SIGHUP and applies every key that
// can change while serving. A file that does not load or validate is refused
// with a log line and the running config stays; keys fixed at start that
// changed are named in the log.
func reload(log *slog.Logger, path string, srv *edge.Server, tr *libvips.Transformer) {
	next, err := configs.Load(path, os.Environ())
	if err == nil {
		err = srv.CheckReload(next)
	}
	if err == nil {
		// The transformer first: it is the only part that can still refuse.
		err = tr.Update(edge.TransformerConfig(next))
	}
	var restart []string
	if err == nil {
		restart, err = srv.Reload(next)
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

func run(args []string) error {
	if len(args) > 0 && args[0] == "sign" {
		return sign(args[1:], os.Stdout)
	}
	fs := flag.NewFlagSet("imgedge", flag.ContinueOnError)
	configPath := fs.String("config", "", "YAML config file laid over the embedded defaults")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// The only place that reads the environment: the configs package gets it
	// as a value.
	cfg, err := configs.Load(*configPath, os.Environ())
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))

	libvips.Startup(log)
	tr, err := libvips.New(edge.TransformerConfig(cfg))
	if err != nil {
		libvips.Shutdown()
		return err
	}
	srv, err := edge.New(cfg, tr, log)
	if err != nil {
		libvips.Shutdown()
		return err
	}
	serveErr := serve(log, cfg, *configPath, srv, tr)
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
		libvips.Shutdown()
	}
	if serveErr != nil {
		return serveErr
	}
	log.Info("imgedge stopped")
	return nil
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
	err = srv.Serve(ctx, public, admin)
	stop()
	<-reloads
	return err
}
