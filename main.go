// Command imgedge is an image CDN edge: a fasthttp reverse proxy that serves
// imgix-style image variants from its caches, computing misses with libvips.
//
//	go run .                   # embedded default config (configs/default.yaml)
//	go run . -config edge.yaml # a YAML file over the defaults; IMGEDGE_* env over both
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"imgedge/configs"
	"imgedge/edge"
	"imgedge/transform/libvips"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "imgedge:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
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
	tr, err := libvips.New(libvips.Config{
		Concurrency:     cfg.Transform.Concurrency,
		Queue:           cfg.Transform.Queue,
		QueueTimeout:    cfg.Transform.QueueTimeout.D(),
		Timeout:         cfg.Transform.Timeout.D(),
		Quality:         libvips.Quality{JPEG: cfg.Transform.Quality.JPEG, WebP: cfg.Transform.Quality.WebP, AVIF: cfg.Transform.Quality.AVIF, JXL: cfg.Transform.Quality.JXL},
		MaxSourcePixels: cfg.Limits.MaxSourcePixels,
		MaxDimension:    cfg.Limits.MaxDimension,
		AVIFMaxPixels:   cfg.Transform.AVIFMaxPixels,
	})
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
	log.Info("imgedge listening", "listen", public.Addr().String(), "admin_listen", admin.Addr().String(), "origin", cfg.Origin)
	if err := srv.Serve(ctx, public, admin); err != nil {
		return err
	}
	log.Info("imgedge stopped")
	return nil
}
