package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"imgedge/configs"
	"imgedge/edge"
	"imgedge/edge/signing"
	"imgedge/transform/libvips"
)

const usage = `usage:
  imgedge [-config FILE]            serve (the embedded defaults, FILE laid over them, IMGEDGE_* over both)
  imgedge sign [-key K] [-scheme S] [-host H] [-config FILE] '/path.jpg?w=300'
                                    print the URL with its signature (sign -h: every flag)
  imgedge version                   print the build, Go, libvips and its codecs
  imgedge healthcheck [-config FILE] [-url URL]
                                    exit 0 when the admin /healthz answers 200 (for a container HEALTHCHECK)
  imgedge help                      this text
`

// cli runs one command line and returns the process's exit status: 0 done,
// 1 failed, 2 a usage error (an unknown command, flag or argument).
func cli(args []string, stdout, stderr io.Writer) int {
	cmd, rest := "", args
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, rest = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "":
		err = serveCommand(rest, stderr)
	case "sign":
		err = sign(rest, stdout, stderr)
	case "version":
		err = versionCommand(rest, stdout)
	case "healthcheck":
		err = healthcheck(rest, stderr)
	case "help":
		if len(rest) > 0 {
			err = usageError("help takes no argument, got %q", rest[0])
			break
		}
		fmt.Fprint(stdout, usage)
		printKeys(stdout)
		return 0
	default:
		err = usageError("unknown command %q", cmd)
		if ext := filepath.Ext(cmd); ext == ".yaml" || ext == ".yml" {
			err = usageError("unknown command %q; a config file is given with -config: imgedge -config %s", cmd, cmd)
		}
	}
	var ue *usageErr
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "imgedge: %v\n\n%s", err, usage)
		return 2
	}
	fmt.Fprintln(stderr, "imgedge:", err)
	return 1
}

// printKeys lists every config key with the variable that overrides it.
func printKeys(w io.Writer) {
	fmt.Fprintln(w, "\nconfig keys (YAML path, then the environment variable that overrides it):")
	for _, k := range configs.Keys() {
		fmt.Fprintf(w, "  %-36s %s\n", k[0], k[1])
	}
}

// usageErr is a command line that names nothing imgedge knows.
type usageErr struct{ msg string }

func (e *usageErr) Error() string { return e.msg }

func usageError(format string, a ...any) error { return &usageErr{fmt.Sprintf(format, a...)} }

// parseFlags parses args, mapping flag errors to usage errors and refusing
// positional arguments beyond want.
func parseFlags(fs *flag.FlagSet, args []string, want int) error {
	fs.SetOutput(io.Discard) // cli prints the usage once
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			if fs.Name() == "imgedge" {
				fmt.Fprint(os.Stdout, usage)
				printKeys(os.Stdout)
				return err
			}
			// A command's own flags, every one.
			fmt.Fprintf(os.Stdout, "usage: imgedge %s [flags]\n", fs.Name())
			fs.SetOutput(os.Stdout)
			fs.PrintDefaults()
			return err
		}
		return usageError("%v", err)
	}
	if fs.NArg() != want {
		switch {
		case want == 0 && fs.Name() == "imgedge":
			return usageError("unexpected argument %q (a config file is given with -config)", fs.Arg(0))
		case want == 0:
			return usageError("%s takes no argument, got %q", fs.Name(), fs.Arg(0))
		}
		return usageError("%s takes %d argument(s), got %d", fs.Name(), want, fs.NArg())
	}
	return nil
}

func serveCommand(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("imgedge", flag.ContinueOnError)
	configPath := fs.String("config", "", "YAML config file laid over the embedded defaults")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	limitMallocArenas()
	return run(*configPath)
}

// signUsage is sign's own usage, every flag listed (sign -h).
const signUsage = `usage: imgedge sign [-key K] [-scheme S] [-host H] [-config FILE] '/path.jpg?w=300'

Prints the URL with its signature, as the edge configured by -config (and
IMGEDGE_* variables) verifies it: with the keys and scheme of the route the
URL hits (a route's own signing, else signing.keys and signing.scheme).

  -config FILE  the edge's YAML config (default: the embedded defaults)
  -key K        the key to sign with (default: the route's first key); it
                must be one the edge holds for that route
  -scheme S     hmac-sha256 or imgix (default: the route's); it must be
                the route's scheme
  -host H       the Host the URL is served under: required when the config
                routes origins by host (the signature covers the host then),
                refused otherwise
`

// sign prints a URL signed as the edge configured by -config verifies it:
// the route the URL hits (by -host and path) gives the keys and the scheme.
// What the edge would refuse (a key it does not hold for the route, another
// scheme, a missing or needless -host, a key under 16 bytes) is refused
// here, with what to do.
func sign(args []string, out, _ io.Writer) error {
	fs := flag.NewFlagSet("sign", flag.ContinueOnError)
	key := fs.String("key", "", "")
	host := fs.String("host", "", "")
	configPath := fs.String("config", "", "")
	schemeName := fs.String("scheme", "", "")
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(out, signUsage)
			return err
		}
		return usageError("sign: %v", err)
	}
	if fs.NArg() != 1 {
		return usageError("sign takes one URL path with its query, e.g. '/photos/cat.jpg?w=300', got %d arguments", fs.NArg())
	}
	cfg, err := configs.Load(*configPath, os.Environ())
	if err != nil {
		return err
	}
	// The route is picked by the path as the edge reads it: decoded once
	// and normalised (fasthttp's, the edge's own parser), so that
	// /%70/a.jpg, //p/a.jpg and /x/../p/a.jpg pick the /p route here too.
	raw, _, _ := strings.Cut(fs.Arg(0), "?")
	var uri fasthttp.URI
	uri.SetPath(raw)
	keys, scheme, withHost, route := edge.Signing(cfg, *host, string(uri.Path()))
	switch {
	case withHost && *host == "":
		return errors.New("sign: this config routes origins by host, so a signature covers the host: give -host with the Host the URL is served under")
	case !withHost && *host != "":
		return errors.New("sign: this config routes no origin by host, so the edge verifies signatures without one: drop -host (or give the -config that routes by host)")
	case *schemeName != "" && *schemeName != scheme:
		return fmt.Errorf("sign: the edge verifies %s with the %s scheme, not %s: drop -scheme", route, scheme, *schemeName)
	}
	if *key == "" {
		if len(keys) == 0 {
			return fmt.Errorf("sign: the edge of this config verifies no signature on %s (no signing.keys): its URLs need none; give -key to sign for another edge", route)
		}
		*key = keys[0]
	} else if len(keys) > 0 && !slices.Contains(keys, *key) {
		return fmt.Errorf("sign: the edge verifies %s with its own keys and -key is not one of them: drop -key, or add it to the config", route)
	}
	if len(strings.TrimSpace(*key)) < configs.MinSigningKeyBytes {
		return fmt.Errorf("sign: the key is %d bytes; the edge refuses keys under %d bytes", len(*key), configs.MinSigningKeyBytes)
	}
	sch, err := signing.ParseScheme(scheme)
	if err != nil {
		return err
	}
	signed, err := sch.Sign(*key, *host, fs.Arg(0))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, signed)
	return err
}

// version is the build's own name for itself, stamped by the README's build
// line (-ldflags "-X main.version=$(git describe --tags --always --dirty)");
// empty in a build without it, such as go run.
var version string

// versionCommand prints the stamped version (else the module's version and
// VCS revision Go recorded), Go's, libvips' and whether each codec the edge
// uses is present in that libvips.
func versionCommand(args []string, out io.Writer) error {
	if err := parseFlags(flag.NewFlagSet("version", flag.ContinueOnError), args, 0); err != nil {
		return err
	}
	mod, rev := version, ""
	if bi, ok := debug.ReadBuildInfo(); ok && mod == "" {
		mod = bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				rev = " " + s.Value
			}
		}
	}
	libvips.Startup(slog.New(slog.DiscardHandler))
	defer libvips.Shutdown()
	vv, codecs := libvips.Codecs()
	fmt.Fprintf(out, "imgedge %s%s\n%s %s/%s\nlibvips %s\n", mod, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH, vv)
	for _, c := range codecs {
		state := func(ok, used bool) string {
			switch {
			case !used:
				return "-"
			case ok:
				return "yes"
			}
			return "MISSING"
		}
		fmt.Fprintf(out, "  %-10s load %-7s save %s\n", c.Format, state(c.Load, true), state(c.Save, c.WritesToo))
	}
	return nil
}

// healthcheck asks the admin listener's /healthz, as a container's
// HEALTHCHECK does, without curl in the image.
func healthcheck(args []string, _ io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	configPath := fs.String("config", "", "YAML config file (for admin_listen)")
	url := fs.String("url", "", "URL to ask (default: http://<admin_listen>/healthz, on loopback when it listens on every interface)")
	timeout := fs.Duration("timeout", 2*time.Second, "longest wait for the answer")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *url == "" {
		cfg, err := configs.Load(*configPath, os.Environ())
		if err != nil {
			return err
		}
		host, port, err := net.SplitHostPort(cfg.AdminListen)
		if err != nil {
			return fmt.Errorf("healthcheck: admin_listen %q: %w", cfg.AdminListen, err)
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		*url = "http://" + net.JoinHostPort(host, port) + "/healthz"
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("healthcheck: %s answered %d: %s", *url, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

// limitMallocArenas restarts the process (same pid, same arguments) with
// MALLOC_ARENA_MAX=2 unless the variable is set. glibc gives each busy
// thread an arena of its own, up to eight per core, and keeps what is freed
// in each: with two costly renders and a stream of small ones on 2 cores the
// edge peaked at 921 to 1555 MiB of RSS with the default and at 617 to 801
// MiB with two arenas, at the same throughput (bench/RESULTS.md, issue 11).
// glibc reads the variable when malloc starts, and mallopt later in the
// process measured no better than the default, hence the exec. Under a
// preloaded jemalloc the variable means nothing.
//
// The same restart turns GLib's slice allocator off (G_SLICE=always-malloc,
// what GLib 2.76 and later do anyway; Debian 12 ships 2.74): its per-thread
// magazines are freed by a destructor at each thread's exit, and that is
// where an edge's heap corruption surfaced (a chaos run's core file:
// start_thread, __nptl_deallocate_tsd, g_slice_free1). GLib reads the
// variable before main runs, hence the exec for it too.
func limitMallocArenas() {
	var add []string
	if os.Getenv("MALLOC_ARENA_MAX") == "" && !libvips.JemallocInUse() {
		add = append(add, "MALLOC_ARENA_MAX=2")
	}
	if os.Getenv("G_SLICE") == "" {
		add = append(add, "G_SLICE=always-malloc")
	}
	if len(add) == 0 {
		return
	}
	self, err := os.Executable()
	if err != nil {
		return
	}
	// On success Exec does not return; on failure the edge runs as it is.
	_ = syscall.Exec(self, os.Args, append(os.Environ(), add...))
}

// originSearch is where findDefaultOrigin looks for bench/images: the
// working directory, the binary's folder, the checkout it was built from.
func originSearch() []string {
	var dirs []string
	if wd, err := os.Getwd(); err == nil {
		dirs = append(dirs, wd)
	}
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(exe))
	}
	if src := sourceDir(); src != "" {
		dirs = append(dirs, src)
	}
	return dirs
}

// sourceDir is the folder this file was compiled from: where the sample
// images are when the binary was built from a checkout (empty under
// -trimpath, as in the Docker image, which copies them beside the binary).
func sourceDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return ""
	}
	return filepath.Dir(file)
}

// findDefaultOrigin lets the sample origin (file:bench/images, the embedded
// default, or the same value in a config copied from it) work from any
// directory, with or without a -config file: relative to the working
// directory, else to the binary, else to the checkout it was built from;
// failing that it says how to name an origin. Any other origin is left
// alone.
func findDefaultOrigin(cfg *configs.Config, dirs []string) error {
	if cfg.Origin != "file:bench/images" {
		return nil
	}
	for _, d := range dirs {
		if st, err := os.Stat(filepath.Join(d, "bench", "images")); err == nil && st.IsDir() {
			cfg.Origin = "file:" + filepath.Join(d, "bench", "images")
			return nil
		}
	}
	return errors.New("the default origin, the sample images in bench/images, is not here nor beside the binary; " +
		"point the edge at your images: IMGEDGE_ORIGIN=file:/path/to/images or IMGEDGE_ORIGIN=https://images.example.com " +
		"(or origin: in a -config file)")
}
