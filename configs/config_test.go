package configs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDefaultsMatchSpec(t *testing.T) {
	t.Parallel()
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		key       string
		got, want any
	}{
		{"listen", c.Listen, "127.0.0.1:8080"},
		{"admin_listen", c.AdminListen, "127.0.0.1:9090"},
		{"origin", c.Origin, "file:bench/images"},
		{"origins", len(c.Origins), 0},
		{"fetch.timeout", c.Fetch.Timeout.D(), 10 * time.Second},
		{"fetch.connect_timeout", c.Fetch.ConnectTimeout.D(), 2 * time.Second},
		{"fetch.max_conns", c.Fetch.MaxConns, 256},
		{"breaker.failures", c.Breaker.Failures, 5},
		{"breaker.ratio", c.Breaker.Ratio, 0.5},
		{"breaker.open_for", c.Breaker.OpenFor.D(), 10 * time.Second},
		{"cache.memory", int64(c.Cache.Memory), int64(256 << 20)},
		{"cache.memory_originals", int64(c.Cache.MemoryOriginals), int64(128 << 20)},
		{"cache.ttl", c.Cache.TTL.D(), time.Hour},
		{"cache.min_ttl", c.Cache.MinTTL.D(), time.Minute},
		{"cache.max_ttl", c.Cache.MaxTTL.D(), 720 * time.Hour},
		{"cache.negative_ttl", c.Cache.NegativeTTL.D(), 10 * time.Second},
		{"cache.stale_while_revalidate", c.Cache.StaleWhileRevalidate.D(), time.Minute},
		{"cache.stale_if_error", c.Cache.StaleIfError.D(), 24 * time.Hour},
		{"cache.client_ttl", c.Cache.ClientTTL.D(), 24 * time.Hour},
		{"cache.cdn_ttl", c.Cache.CDNTTL.D(), time.Duration(0)},
		{"cache.cdn_stale", c.Cache.StaleDownstream(), true},
		{"transform.webp_effort", c.Transform.WebPEffort, 4},
		{"transform.avif_effort", c.Transform.AVIFEffort, 2},
		{"cache.canonical_redirect", c.Cache.CanonicalRedirect, false},
		{"purge.downstream", len(c.Purge.Downstream), 0},
		{"cors.allow_origins", len(c.CORS.AllowOrigins), 0},
		{"timing.allow_origins", len(c.Timing.AllowOrigins), 0},
		{"client_hints.accept_ch", c.Hints.AcceptCH, "Sec-CH-DPR, Sec-CH-Width, Sec-CH-Viewport-Width"},
		{"flags.jxl.rollout", c.Flags.JXL.Rollout, 0.0},
		{"flags.avif.rollout", c.Flags.AVIF.Rollout, 100.0},
		{"flags.qualities.rollout", c.Flags.Qualities.Rollout, 0.0},
		{"params.ignore", strings.Join(c.Params.Ignore, ","), "ixlib"},
		{"params.unknown", c.Params.Unknown, "reject"},
		{"signing.scheme", c.Signing.Scheme, "hmac-sha256"},
		{"transform.concurrency", c.Transform.Concurrency, 2 * runtime.NumCPU()},
		{"transform.queue", c.Transform.Queue, 64},
		{"transform.queue_timeout", c.Transform.QueueTimeout.D(), 2 * time.Second},
		{"transform.timeout", c.Transform.Timeout.D(), 30 * time.Second},
		{"transform.quality", c.Transform.Quality, Quality{JPEG: 80, WebP: 80, AVIF: 80, JXL: 80}},
		{"transform.avif_max_pixels", c.Transform.AVIFMaxPixels, int64(2_000_000)},
		{"limits.max_dimension", c.Limits.MaxDimension, 8192},
		{"limits.max_source_bytes", int64(c.Limits.MaxSourceBytes), int64(50 << 20)},
		{"limits.max_source_pixels", c.Limits.MaxSourcePixels, int64(50_000_000)},
		{"limits.widths", len(c.Limits.Widths), 0},
		{"server.read_timeout", c.Server.ReadTimeout.D(), 10 * time.Second},
		{"server.write_timeout", c.Server.WriteTimeout.D(), 30 * time.Second},
		{"server.idle_timeout", c.Server.IdleTimeout.D(), 60 * time.Second},
		{"server.drain_timeout", c.Server.DrainTimeout.D(), 15 * time.Second},
		{"server.max_conns", c.Server.MaxConns, 10000},
		{"signing.keys", len(c.Signing.Keys), 0},
		{"admin.token", c.Admin.Token, ""},
		{"redis.url", c.Redis.URL, ""},
		{"presets", len(c.Presets), 0},
		{"log.hit_sample", c.Log.HitSample, 0.01},
		{"tracing", c.Tracing, Tracing{Endpoint: "", Sample: 0.05}},
		{"fetch.max_bytes_in_flight", int64(c.Fetch.MaxBytesInFlight), int64(512 << 20)},
		{"transform.memory_budget", int64(c.Transform.MemoryBudget), machineMemory() / 4},
		{"limits.max_output_pixels", c.Limits.MaxOutputPixels, int64(16_000_000)},
		{"limits.max_output_frames_pixels", c.Limits.MaxOutputFramesPixels, int64(40_000_000)},
		{"limits.max_upscale", c.Limits.MaxUpscale, 1.0},
		{"limits.max_avif_pixels", c.Limits.MaxAVIFPixels, int64(8_000_000)},
		{"limits.max_jxl_pixels", c.Limits.MaxJXLPixels, int64(8_000_000)},
		{"server.max_conns_per_ip", c.Server.MaxConnsPerIP, 1000},
		{"signing.required", c.SigningRequired(), false},
		{"log.errors_per_second", c.Log.ErrorsPerSecond, 100},
		{"params.presets_only", c.Params.PresetsOnly, false},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %v, want %v", ch.key, ch.got, ch.want)
		}
	}
}

func TestFileOverDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load("testdata/override.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:18080" || c.Origin != "http://127.0.0.1:9999/images" {
		t.Errorf("listen/origin = %s %s", c.Listen, c.Origin)
	}
	if c.Cache.Memory != 64<<20 || c.Cache.MemoryOriginals != 128<<20 {
		t.Errorf("cache.memory = %d, memory_originals = %d: the file must override one key and keep the other's default", c.Cache.Memory, c.Cache.MemoryOriginals)
	}
	if c.Cache.TTL.D() != 2*time.Hour || c.Transform.Concurrency != 3 || c.Transform.Quality.WebP != 70 || c.Transform.Quality.JPEG != 80 {
		t.Errorf("nested overrides: %+v %+v", c.Cache, c.Transform)
	}
	want := []OriginRoute{{Hosts: []string{"cdn.example.com"}, Prefix: "/a", URL: "file:///srv/a"}}
	if !reflect.DeepEqual(c.Origins, want) {
		t.Errorf("origins = %+v", c.Origins)
	}
	if got := c.Presets["thumb"]; !reflect.DeepEqual(got, map[string]string{"w": "200", "h": "200", "fit": "crop"}) {
		t.Errorf("presets.thumb = %v", got)
	}
}

func TestEnvOverFile(t *testing.T) {
	t.Parallel()
	env := []string{
		"PATH=/usr/bin",
		"IMGEDGE_LISTEN=:8081",
		"IMGEDGE_ADMIN_LISTEN=127.0.0.1:9191",
		"IMGEDGE_ORIGIN=file:/tmp",
		"IMGEDGE_CACHE_MEMORY=0",
		"IMGEDGE_CACHE_MEMORY_ORIGINALS=1GiB",
		"IMGEDGE_SIGNING_KEYS=0123456789abcdef, fedcba9876543210",
		"IMGEDGE_REDIS_URL=redis://127.0.0.1:6379/0",
		"IMGEDGE_TRANSFORM_QUEUE_TIMEOUT=250ms",
		"IMGEDGE_TRANSFORM_QUALITY_AVIF=42",
		"IMGEDGE_BREAKER_RATIO=0.25",
		"IMGEDGE_LIMITS_WIDTHS=320, 640,1280",
		"IMGEDGE_ORIGINS=[{hosts: [a.test], url: 'http://127.0.0.1:1/x'}]",
		"IMGEDGE_PRESETS={hero: {w: 1200}}",
	}
	c, err := Load("testdata/override.yaml", env)
	if err != nil {
		t.Fatal(err)
	}
	got := []any{c.Listen, c.AdminListen, c.Origin, int64(c.Cache.Memory), int64(c.Cache.MemoryOriginals), c.Signing.Keys, c.Redis.URL,
		c.Transform.QueueTimeout.D(), c.Transform.Quality.AVIF, c.Breaker.Ratio, c.Limits.Widths, c.Origins[0].Hosts, c.Presets["hero"]["w"]}
	want := []any{":8081", "127.0.0.1:9191", "file:/tmp", int64(0), int64(1 << 30), []string{"0123456789abcdef", "fedcba9876543210"}, "redis://127.0.0.1:6379/0",
		250 * time.Millisecond, 42, 0.25, []int{320, 640, 1280}, []string{"a.test"}, "1200"}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("override %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

// Every key of the YAML has an environment variable, derived from its path.
func TestEveryKeyHasEnv(t *testing.T) {
	t.Parallel()
	fields := map[string]envField{}
	var c Config
	collectEnvFields(reflect.ValueOf(&c).Elem(), "", fields)
	for _, name := range []string{
		"IMGEDGE_LISTEN", "IMGEDGE_ADMIN_LISTEN", "IMGEDGE_ORIGIN", "IMGEDGE_ORIGINS",
		"IMGEDGE_FETCH_TIMEOUT", "IMGEDGE_FETCH_CONNECT_TIMEOUT", "IMGEDGE_FETCH_MAX_CONNS",
		"IMGEDGE_BREAKER_FAILURES", "IMGEDGE_BREAKER_RATIO", "IMGEDGE_BREAKER_OPEN_FOR",
		"IMGEDGE_CACHE_MEMORY", "IMGEDGE_CACHE_MEMORY_ORIGINALS", "IMGEDGE_CACHE_TTL", "IMGEDGE_CACHE_MIN_TTL",
		"IMGEDGE_CACHE_MAX_TTL", "IMGEDGE_CACHE_NEGATIVE_TTL", "IMGEDGE_CACHE_STALE_WHILE_REVALIDATE",
		"IMGEDGE_CACHE_STALE_IF_ERROR", "IMGEDGE_CACHE_CLIENT_TTL",
		"IMGEDGE_TRANSFORM_CONCURRENCY", "IMGEDGE_TRANSFORM_QUEUE", "IMGEDGE_TRANSFORM_QUEUE_TIMEOUT", "IMGEDGE_TRANSFORM_TIMEOUT",
		"IMGEDGE_TRANSFORM_QUALITY_JPEG", "IMGEDGE_TRANSFORM_QUALITY_WEBP", "IMGEDGE_TRANSFORM_QUALITY_AVIF", "IMGEDGE_TRANSFORM_QUALITY_JXL", "IMGEDGE_TRANSFORM_AVIF_MAX_PIXELS", "IMGEDGE_TRANSFORM_WEBP_EFFORT",
		"IMGEDGE_TRANSFORM_AVIF_EFFORT",
		"IMGEDGE_LIMITS_MAX_DIMENSION", "IMGEDGE_LIMITS_MAX_SOURCE_BYTES", "IMGEDGE_LIMITS_MAX_SOURCE_PIXELS", "IMGEDGE_LIMITS_WIDTHS",
		"IMGEDGE_SERVER_READ_TIMEOUT", "IMGEDGE_SERVER_WRITE_TIMEOUT", "IMGEDGE_SERVER_IDLE_TIMEOUT", "IMGEDGE_SERVER_DRAIN_TIMEOUT", "IMGEDGE_SERVER_MAX_CONNS",
		"IMGEDGE_SIGNING_KEYS", "IMGEDGE_ADMIN_TOKEN", "IMGEDGE_REDIS_URL", "IMGEDGE_PRESETS", "IMGEDGE_LOG_HIT_SAMPLE", "IMGEDGE_TRACING_ENDPOINT", "IMGEDGE_TRACING_SAMPLE",
		"IMGEDGE_FETCH_MAX_BYTES_IN_FLIGHT", "IMGEDGE_TRANSFORM_MEMORY_BUDGET", "IMGEDGE_LIMITS_MAX_OUTPUT_PIXELS",
		"IMGEDGE_LIMITS_MAX_OUTPUT_FRAMES_PIXELS", "IMGEDGE_LIMITS_MAX_UPSCALE", "IMGEDGE_LIMITS_MAX_AVIF_PIXELS", "IMGEDGE_LIMITS_MAX_JXL_PIXELS",
		"IMGEDGE_SERVER_MAX_CONNS_PER_IP", "IMGEDGE_SIGNING_REQUIRED", "IMGEDGE_LOG_ERRORS_PER_SECOND", "IMGEDGE_PARAMS_PRESETS_ONLY",
		"IMGEDGE_SERVER_TRUSTED_PROXIES", "IMGEDGE_S3_ENDPOINT", "IMGEDGE_S3_REGION", "IMGEDGE_S3_PATH_STYLE",
		"IMGEDGE_REDIS_ADDRS", "IMGEDGE_REDIS_CLUSTER", "IMGEDGE_REDIS_TIMEOUT", "IMGEDGE_REDIS_MAX_VALUE", "IMGEDGE_REDIS_QUEUE",
		"IMGEDGE_CACHE_CDN_TTL", "IMGEDGE_CACHE_CDN_STALE", "IMGEDGE_CACHE_CANONICAL_REDIRECT", "IMGEDGE_PURGE_DOWNSTREAM",
		"IMGEDGE_CORS_ALLOW_ORIGINS", "IMGEDGE_TIMING_ALLOW_ORIGINS", "IMGEDGE_CLIENT_HINTS_ACCEPT_CH", "IMGEDGE_FLAGS_INTERNAL_CIDRS",
		"IMGEDGE_FLAGS_JXL_ROLLOUT", "IMGEDGE_FLAGS_AVIF_ROLLOUT", "IMGEDGE_FLAGS_QUALITIES_ROLLOUT", "IMGEDGE_FLAGS_QUALITIES_QUALITY_JPEG",
		"IMGEDGE_FLAGS_QUALITIES_QUALITY_WEBP", "IMGEDGE_FLAGS_QUALITIES_QUALITY_AVIF", "IMGEDGE_FLAGS_QUALITIES_QUALITY_JXL",
		"IMGEDGE_PARAMS_IGNORE", "IMGEDGE_PARAMS_UNKNOWN", "IMGEDGE_SIGNING_SCHEME",
	} {
		if _, ok := fields[name]; !ok {
			t.Errorf("%s does not override anything", name)
		}
	}
	if len(fields) != 84 {
		t.Errorf("%d env names, want 84: a new key needs a line above", len(fields))
	}
}

// Every config error says where (the file and line, or the variable), which
// key, the value found and what is allowed, each once: the same kind of
// mistake through the file and through the environment.
func TestConfigErrorsSayWhereWhatAndAllowed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "edge.yaml")
	tests := []struct {
		name    string
		key     string // the key named; its variable is EnvName(key) unless env is given
		value   string // the bad value, as written in YAML and in the variable
		yaml    string // the file; line 2 holds the value (first line a comment)
		env     string // the variable's assignment, when not EnvName(key)=value
		allowed string
	}{
		{"duration", "cache.ttl", "1 hour", "cache:\n  ttl: 1 hour\n", "", "a duration like 10s, 500ms, 2m or 720h"},
		{"size", "cache.memory", "12 parsecs", "cache:\n  memory: 12 parsecs\n", "", "a size like 0, 1048576, 512KiB, 256MiB or 1GiB"},
		{"whole number", "fetch.max_conns", "many", "fetch:\n  max_conns: many\n", "", "a whole number"},
		{"true or false", "params.presets_only", "maybe", "params:\n  presets_only: maybe\n", "", "true or false"},
		{"optional true or false", "cache.cdn_stale", "maybe", "cache:\n  cdn_stale: maybe\n", "", "true or false"},
		{"integer range", "transform.quality.jpeg", "120", "transform:\n  quality: {jpeg: 120}\n", "IMGEDGE_TRANSFORM_QUALITY_JPEG=120", "an integer from 1 to 100"},
		{"effort range", "transform.avif_effort", "0", "transform:\n  avif_effort: 0\n", "", "an integer from 1 to 6"},
		{"ratio", "breaker.ratio", "2", "breaker:\n  ratio: 2\n", "", "a number above 0 and at most 1"},
		{"origin", "origin", "ftp://x/y", "# the origin\norigin: ftp://x/y\n", "", "a URL starting with file:, http://, https:// or s3://"},
		{"address", "listen", "8080", "# the listener\nlisten: '8080'\n", "", "host:port with a port from 0 to 65535, e.g. 127.0.0.1:8080 or :8080"},
		{"port", "listen", "127.0.0.1:99999", "# the listener\nlisten: 127.0.0.1:99999\n", "", "host:port with a port from 0 to 65535"},
		{"list for a duration", "cache.ttl", "a list", "cache:\n  ttl: [1h]\n", "IMGEDGE_CACHE_TTL=a list", "a duration like 10s"},
		{"enum", "params.unknown", "drop", "params:\n  unknown: drop\n", "", "reject (an unknown parameter answers 400) or ignore"},
		{"scheme", "signing.scheme", "md5", "signing:\n  scheme: md5\n", "", "hmac-sha256 or imgix"},
		{"list item", "limits.widths[0]", "0", "limits:\n  widths: [0]\n", "IMGEDGE_LIMITS_WIDTHS=0", "an integer from 1 to limits.max_dimension"},
		{"list of integers", "limits.widths", "big", "limits:\n  widths: big\n", "", "comma separated integers"},
		{"proxy", "server.trusted_proxies[0]", "10.0.0.0/33", "server:\n  trusted_proxies: [10.0.0.0/33]\n", "IMGEDGE_SERVER_TRUSTED_PROXIES=10.0.0.0/33", "an IP address or a CIDR block"},
		{"route url", "origins[0].url", "ftp://x", "origins:\n  - {prefix: /a, url: 'ftp://x'}\n", "IMGEDGE_ORIGINS=[{prefix: /a, url: 'ftp://x'}]", "a URL starting with file:, http://, https:// or s3://"},
		{"rollout", "flags.jxl.rollout", "120", "flags:\n  jxl: {rollout: 120}\n", "IMGEDGE_FLAGS_JXL_ROLLOUT=120", "a percentage from 0 to 100"},
		{"redis address", "redis.addrs", "10.0.0.5", "redis:\n  addrs: ['10.0.0.5']\n", "", "host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env
			if env == "" {
				env = EnvName(tt.key) + "=" + tt.value
			}
			name, _, _ := strings.Cut(env, "=")
			_, fileErr := loadFile(t, file, tt.yaml)
			_, envErr := Load("", []string{env})
			for _, c := range []struct {
				err   error
				where string
			}{{fileErr, file + ":2"}, {envErr, name}} {
				if c.err == nil {
					t.Fatalf("%s: loaded", c.where)
				}
				msg := c.err.Error()
				for _, want := range []string{"config: " + c.where + ": ", tt.key + ": ", strconv.Quote(tt.value), "allowed: " + tt.allowed} {
					if n := strings.Count(msg, want); n != 1 {
						t.Errorf("%q says %q %d times, want once", msg, want, n)
					}
				}
				// Go's names mean nothing to an operator.
				for _, never := range []string{"configs.", "!!str", " into ", "IMGEDGE_TRACING_SAMPLE"} {
					if strings.Contains(msg, never) {
						t.Errorf("%q shows %q", msg, never)
					}
				}
			}
		})
	}
}

// TestConfigMistakesOfOneSource: mistakes only a file can make, and only
// the environment, each placed and explained.
func TestConfigMistakesOfOneSource(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "edge.yaml")
	for _, tt := range []struct {
		yaml, env string
		want      []string
	}{
		{"cache:\n  memroy: 1MiB\n", "", []string{"config: " + file + ":2: cache.memroy: unknown key", "did you mean cache.memory?"}},
		{"cahce: {ttl: 1h}\n", "", []string{"config: " + file + ":1: cahce: unknown key", "did you mean cache?"}},
		{"origins: [{prefix: /a, ulr: 'http://x'}]\n", "", []string{"config: " + file + ":1: origins[0].ulr: unknown key", "did you mean origins[0].url?"}},
		{"cache: 5\n", "", []string{"config: " + file + ":1: cache: a section of keys"}},
		// YAML drops a null list item: a key list of one would start unsigned.
		{"signing:\n  keys: [null]\n", "", []string{"config: " + file + ":2: signing.keys[0]: a list item left empty"}},
		{"signing:\n  keys:\n    - \n", "", []string{"config: " + file + ":3: signing.keys[0]: a list item left empty"}},
		{"signing:\n  keys: [0123456789abcdef0123, ~]\n", "", []string{"config: " + file + ":2: signing.keys[1]: a list item left empty"}},
		{"limits:\n  widths: [100, null]\n", "", []string{"limits.widths[1]: a list item left empty"}},
		{"origins:\n  - {prefix: /a, url: 'file:/tmp', signing: {scheme: imgix}}\n", "", []string{"origins[0].signing.keys: invalid value \"[]\"", "keys of the route's own with its signing.scheme imgix"}},
		{"cache: {ttl: [\n", "", []string{"config: " + file + ":1: did not find expected node content"}},
		{"origins:\n  a: b\n", "", []string{"config: " + file + ":2: origins: invalid value \"a section of keys\"; allowed: a list"}},
		{"origins:\n  - {prefix: /x}\n", "", []string{"config: " + file + ":2: origins[0].url: invalid value \"\""}},
		{"server:\n  trusted_proxies: [" + strings.Repeat("10.0.0.1,", 20) + "10.0.0.1/99]\n", "", []string{`"10.0.0.1/99"`}},
		{"", "IMGEDGE_CACHE_MEMROY=1", []string{"config: unknown environment variable IMGEDGE_CACHE_MEMROY", "did you mean IMGEDGE_CACHE_MEMORY?"}},
		{"", "IMGEDGE_SIGNING_KEYS=", []string{"config: IMGEDGE_SIGNING_KEYS: signing.keys: invalid value \"\"", "at least one item"}},
		{"", "IMGEDGE_LIMITS_WIDTHS=", []string{"config: IMGEDGE_LIMITS_WIDTHS: limits.widths: invalid value \"\"", "at least one"}},
		// A misspelt key inside a route given in the environment is refused as
		// in a file: left alone, it would leave the route unsigned.
		{"", "IMGEDGE_ORIGINS=[{hosts: [a.example], url: 'file:/tmp', signing: {kyes: [0123456789abcdef0123]}}]",
			[]string{"config: IMGEDGE_ORIGINS:1: origins[0].signing.kyes: unknown key", "did you mean origins[0].signing.keys?"}},
		{"", "IMGEDGE_ORIGINS=[{hosts: [a", []string{"config: IMGEDGE_ORIGINS: origins: invalid value", "YAML flow syntax"}},
	} {
		var err error
		if tt.env != "" {
			_, err = Load("", []string{tt.env})
		} else {
			_, err = loadFile(t, file, tt.yaml)
		}
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%q %q: error %v lacks %q", tt.yaml, tt.env, err, w)
			}
		}
	}
	// A mistake that spans keys is placed at the key named.
	_, err := loadFile(t, file, "cache:\n  max_ttl: 1h\n  min_ttl: 2h\n")
	if err == nil || !strings.HasPrefix(err.Error(), "config: "+file+":3: cache.min_ttl: ") {
		t.Errorf("min over max ttl: %v", err)
	}
	var ke *KeyError
	_, err = loadFile(t, file, "transform: {queue: -1}")
	if !errors.As(err, &ke) || ke.Key != "transform.queue" || ke.Where != file+":1" {
		t.Errorf("err = %v, want a *KeyError for transform.queue at line 1", err)
	}
}

// loadFile writes body to path and loads it.
func loadFile(t *testing.T, path, body string) (*Config, error) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(path, nil)
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Size{"0": 0, "1048576": 1 << 20, "512KiB": 512 << 10, "256MiB": 256 << 20, "1GiB": 1 << 30, "50MB": 50e6, "7B": 7, " 2 MiB ": 2 << 20} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5MiB", "MiB", "12XB", "99999999999999999999"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
}

func TestEmptyFileIsNoOverride(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p, nil)
	if err != nil || c.Listen != "127.0.0.1:8080" {
		t.Fatalf("empty file: %v, %v", c, err)
	}
}

// TestRestartOnly: the keys a reload leaves unapplied come from the
// reload:"restart" tags, one dotted key per changed field.
func TestRestartOnly(t *testing.T) {
	t.Parallel()
	base, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		env  []string
		want string
	}{
		{nil, ""},
		{[]string{"IMGEDGE_CACHE_TTL=5m", "IMGEDGE_LIMITS_MAX_SOURCE_BYTES=1MiB", "IMGEDGE_TRANSFORM_TIMEOUT=3s"}, ""},
		{[]string{"IMGEDGE_LISTEN=127.0.0.1:1"}, "listen"},
		{[]string{"IMGEDGE_CACHE_MEMORY=1MiB", "IMGEDGE_CACHE_TTL=5m"}, "cache.memory"},
		{[]string{"IMGEDGE_FETCH_MAX_CONNS=3", "IMGEDGE_TRANSFORM_CONCURRENCY=1", "IMGEDGE_SERVER_DRAIN_TIMEOUT=1s"}, "fetch.max_conns server.drain_timeout transform.concurrency"},
	} {
		next, err := Load("", tt.env)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(RestartOnly(base, next), " "); got != tt.want {
			t.Errorf("%v: RestartOnly = %q, want %q", tt.env, got, tt.want)
		}
	}
}

// TestSigningFailsClosed: keys listed in the file make signing required; an
// empty, blank or comma-only override is an error rather than "off"; a
// reload to no keys is refused unless it says signing.required: false.
func TestSigningFailsClosed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	signed := write("signed.yaml", "signing:\n  keys: [0123456789abcdef0123]\n")
	running, err := Load(signed, nil)
	if err != nil || !running.SigningRequired() {
		t.Fatalf("keys in the file: required = %v, %v; want true", running != nil && running.SigningRequired(), err)
	}
	for _, v := range []string{"", " ", ",", " , "} {
		if _, err := Load(signed, []string{"IMGEDGE_SIGNING_KEYS=" + v}); err == nil || !strings.Contains(err.Error(), "signing.keys") {
			t.Errorf("IMGEDGE_SIGNING_KEYS=%q: err = %v, want a refusal naming signing.keys", v, err)
		}
	}
	if _, err := Load(signed, []string{"IMGEDGE_SIGNING_KEYS=[]"}); err == nil || !strings.Contains(err.Error(), "signing.required") {
		t.Errorf("an explicit [] over a file with keys: err = %v, want a refusal naming signing.required", err)
	}
	if c, err := Load(signed, []string{"IMGEDGE_SIGNING_KEYS=[]", "IMGEDGE_SIGNING_REQUIRED=false"}); err != nil || len(c.Signing.Keys) != 0 {
		t.Errorf("signing turned off on purpose: %v", err)
	}
	emptied, err := Load(write("emptied.yaml", "signing:\n  keys: []\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckReload(running, emptied); err == nil || !strings.Contains(err.Error(), "signing.required") {
		t.Errorf("reload to keys: []: err = %v, want a refusal", err)
	}
	off, err := Load(write("off.yaml", "signing:\n  keys: []\n  required: false\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckReload(running, off); err != nil {
		t.Errorf("reload that turns signing off on purpose: %v", err)
	}
	if err := CheckReload(off, emptied); err != nil {
		t.Errorf("reload between unsigned configs: %v", err)
	}
}

// TestCostLimitKeys: the limits on what a request may cost load, validate
// and default to safe values.
func TestCostLimitKeys(t *testing.T) {
	t.Parallel()
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.MaxOutputPixels != 16_000_000 || c.Limits.MaxUpscale != 1 || c.Server.MaxConnsPerIP <= 0 ||
		c.Server.MaxConnsPerIP >= c.Server.MaxConns || c.Transform.MemoryBudget < 64<<20 || c.Fetch.MaxBytesInFlight < c.Limits.MaxSourceBytes {
		t.Fatalf("defaults: %+v %+v %+v", c.Limits, c.Server, c.Transform)
	}
	for _, env := range []string{
		"IMGEDGE_LIMITS_MAX_OUTPUT_PIXELS=0", "IMGEDGE_LIMITS_MAX_UPSCALE=0.5", "IMGEDGE_TRANSFORM_MEMORY_BUDGET=1MiB",
		"IMGEDGE_FETCH_MAX_BYTES_IN_FLIGHT=1MiB", "IMGEDGE_SERVER_MAX_CONNS_PER_IP=0", "IMGEDGE_PARAMS_PRESETS_ONLY=true",
		"IMGEDGE_LOG_ERRORS_PER_SECOND=0",
	} {
		key := strings.ToLower(strings.TrimPrefix(strings.SplitN(env, "=", 2)[0], "IMGEDGE_"))
		if _, err := Load("", []string{env}); err == nil {
			t.Errorf("%s accepted", env)
		} else if section, _, _ := strings.Cut(key, "_"); !strings.Contains(err.Error(), section+".") {
			t.Errorf("%s: %v does not name the key", env, err)
		}
	}
}

// TestAdminBeyondLoopbackNeedsToken: pprof and /explain are never open on
// every interface: an admin listener beyond loopback without admin.token
// stops the start.
func TestAdminBeyondLoopbackNeedsToken(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		listen, token string
		ok            bool
	}{
		{"127.0.0.1:9090", "", true},
		{"localhost:9090", "", true},
		{"[::1]:9090", "", true},
		{":9090", "", false},
		{"0.0.0.0:9090", "", false},
		{"10.0.0.5:9090", "", false},
		{":9090", "admin-token-0123456789", true},
		{":9090", "short", false},
	} {
		env := []string{"IMGEDGE_ADMIN_LISTEN=" + tt.listen}
		if tt.token != "" {
			env = append(env, "IMGEDGE_ADMIN_TOKEN="+tt.token)
		}
		_, err := Load("", env)
		if (err == nil) != tt.ok || (err != nil && !strings.Contains(err.Error(), "admin.token")) {
			t.Errorf("admin_listen %s, token %q: %v; want ok=%v", tt.listen, tt.token, err, tt.ok)
		}
	}
}

// TestREADMEListsTheRestartKeys: the README's list of the keys a reload
// leaves for a restart is the one the reload follows (the reload:"restart"
// tags), whole. Before, it missed s3.* and transform.memory_budget, and
// named flags.qualities.quality restart-only while a reload applied it.
func TestREADMEListsTheRestartKeys(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "fixed at start: ")
	list, _, ok2 := strings.Cut(rest, " (tagged")
	if !ok || !ok2 {
		t.Fatal(`README.md has no "fixed at start: ... (tagged" sentence`)
	}
	// Every other piece between backquotes is a key.
	var listed []string
	pieces := strings.Split(list, "`")
	for i := 1; i < len(pieces); i += 2 {
		listed = append(listed, pieces[i])
	}
	if want := RestartKeys(); !slices.Equal(listed, want) {
		t.Errorf("README lists %v as fixed at start, the tags say %v", listed, want)
	}
}
