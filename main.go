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
	"sort"
	"syscall"

	"imgedge/configs"
	"imgedge/edge"
	"imgedge/edge/signing"
	"imgedge/transform/libvips"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "imgedge:", err)
		os.Exit(1)
	}
}

// sign prints a URL signed with -key, else with the first signing key of the
// configuration (-config, IMGEDGE_SIGNING_KEYS).
func sign(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("imgedge sign", flag.ContinueOnError)
	key := fs.String("key", "", "signing key (default: the first of signing.keys)")
	configPath := fs.String("config", "", "YAML config file holding signing.keys")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: imgedge sign [-key K] [-config FILE] '/path.jpg?w=300'")
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
		*key = cfg.Signing.Keys[0]
	}
	signed, err := signing.Sign(*key, fs.Arg(0))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, signed)
	return err
}

func transformerConfig(cfg *configs.Config) libvips.Config {
	q := cfg.Transform.Quality
	return libvips.Config{
		Concurrency:     cfg.Transform.Concurrency,
		Queue:           cfg.Transform.Queue,
		QueueTimeout:    cfg.Transform.QueueTimeout.D(),
		Timeout:         cfg.Transform.Timeout.D(),
		Quality:         libvips.Quality{JPEG: q.JPEG, WebP: q.WebP, AVIF: q.AVIF, JXL: q.JXL},
		MaxSourcePixels: cfg.Limits.MaxSourcePixels,
		MaxDimension:    cfg.Limits.MaxDimension,
		AVIFMaxPixels:   cfg.Transform.AVIFMaxPixels,
	}
}

// reload reads the config file again on SIGHUP and applies what can change
// while serving (presets, limits, freshness, qualities, timeouts). A file
// that does not load or validate is refused with a log line and the running
// config stays. It returns the config now in force.
func reload(log *slog.Logger, path string, running *configs.Config, srv *edge.Server, tr *libvips.Transformer) *configs.Config {
	next, err := configs.Load(path, os.Environ())
	if err == nil {
		err = srv.Reload(next)
	}
	if err == nil {
		err = tr.Update(transformerConfig(next))
	}
	if err != nil {
		log.Error("config reload refused; the running config stays", "config", path, "err", err)
		return running
	}
	var restart []string
	for key, changed := range map[string]bool{
		"listen":                 next.Listen != running.Listen,
		"admin_listen":           next.AdminListen != running.AdminListen,
		"origin":                 next.Origin != running.Origin,
		"origins":                fmt.Sprint(next.Origins) != fmt.Sprint(running.Origins),
		"cache.memory":           next.Cache.Memory != running.Cache.Memory,
		"cache.memory_originals": next.Cache.MemoryOriginals != running.Cache.MemoryOriginals,
		"transform.concurrency":  next.Transform.Concurrency != running.Transform.Concurrency,
		"transform.queue":        next.Transform.Queue != running.Transform.Queue,
		"fetch":                  next.Fetch != running.Fetch,
		"breaker":                next.Breaker != running.Breaker,
		"server":                 next.Server != running.Server,
	} {
		if changed {
			restart = append(restart, key)
		}
	}
	sort.Strings(restart)
	if len(restart) > 0 {
		log.Warn("config reloaded; these keys changed but apply only after a restart", "keys", restart)
	} else {
		log.Info("config reloaded", "config", path)
	}
	return next
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
	defer libvips.Shutdown()
	tr, err := libvips.New(transformerConfig(cfg))
	if err != nil {
		return err
	}
	srv, err := edge.New(cfg, tr, log)
	if err != nil {
		return err
	}
	defer srv.Close()

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
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				cfg = reload(log, *configPath, cfg, srv, tr)
			}
		}
	}()
	log.Info("imgedge listening", "listen", public.Addr().String(), "admin_listen", admin.Addr().String(), "origin", cfg.Origin)
	if err := srv.Serve(ctx, public, admin); err != nil {
		return err
	}
	log.Info("imgedge stopped")
	return nil
}
