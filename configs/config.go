package configs

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

//go:embed default.yaml
var defaultYAML []byte

// Config is the whole configuration of one edge process. The YAML key of each
// field is its tag; the environment variable is IMGEDGE_ plus the dotted path in
// upper snake case (transform.queue_timeout -> IMGEDGE_TRANSFORM_QUEUE_TIMEOUT).
// A field tagged reload:"restart" is fixed when the edge starts (listeners,
// origins and their pools, cache budgets, worker counts); every other key
// applies on SIGHUP.
type Config struct {
	Listen      string        `yaml:"listen" reload:"restart"`       // public listener address
	AdminListen string        `yaml:"admin_listen" reload:"restart"` // admin listener address, never the public one
	Origin      string        `yaml:"origin" reload:"restart"`       // default origin URL: file:dir, file:///dir or http(s)://host/prefix
	Origins     []OriginRoute `yaml:"origins" reload:"restart"`      // routing list; first match wins, else Origin
	Fetch       Fetch         `yaml:"fetch" reload:"restart"`
	Breaker     Breaker       `yaml:"breaker" reload:"restart"`
	Cache       Cache         `yaml:"cache"`
	Transform   Transform     `yaml:"transform"`
	Limits      Limits        `yaml:"limits"`
	Server      Server        `yaml:"server" reload:"restart"`
	Signing     Signing       `yaml:"signing"`
	Admin       Admin         `yaml:"admin" reload:"restart"`
	S3          S3            `yaml:"s3" reload:"restart"`
	Redis       Redis         `yaml:"redis" reload:"restart"`
	Log         Log           `yaml:"log"`
	Tracing     Tracing       `yaml:"tracing"`
	// Presets maps a preset name to its parameters (?p=name); explicit
	// parameters in a request override the preset's. Values are checked by the
	// URL parser when the edge starts.
	Presets map[string]map[string]string `yaml:"presets"`
	Params  Params                       `yaml:"params"`
	Purge   Purge                        `yaml:"purge"`
	CORS    CORS                         `yaml:"cors"`
	Timing  Timing                       `yaml:"timing"`
	Hints   ClientHints                  `yaml:"client_hints"`
	Flags   Flags                        `yaml:"flags"`
}

// CORS lets pages on other origins read images (fetch, canvas, WebGL).
type CORS struct {
	// AllowOrigins are the origins (scheme://host[:port]) answered with
	// Access-Control-Allow-Origin, or "*" for every one; empty: none.
	AllowOrigins []string `yaml:"allow_origins"`
}

// Timing lets pages on other origins see Server-Timing in Resource Timing.
type Timing struct {
	AllowOrigins []string `yaml:"allow_origins"` // Timing-Allow-Origin: origins, or "*"
}

// ClientHints is what the edge asks browsers for.
type ClientHints struct {
	// AcceptCH is the Accept-CH sent with answers to URLs that name ch=;
	// a page opts in with the same list (its own Accept-CH, or a meta tag).
	AcceptCH string `yaml:"accept_ch"`
}

// Flags roll out format decisions gradually: each is on for a stable share
// of objects (a hash of origin and path), so every client and every cache
// sees the same bytes for the same URL, and a flag set back serves the
// variants made before it at once (its decision is part of the key).
type Flags struct {
	// InternalCIDRs are the clients whose Imgedge-Flags request header is
	// honoured (as is a signed URL's), to see a flag's effect before its
	// rollout reaches them.
	InternalCIDRs []string    `yaml:"internal_cidrs"`
	JXL           Flag        `yaml:"jxl"`       // JPEG XL in auto=format negotiation
	AVIF          Flag        `yaml:"avif"`      // AVIF in auto=format negotiation
	Qualities     QualityFlag `yaml:"qualities"` // the qualities below as the defaults
}

// Flag is one feature flag: the share of objects it is on for.
type Flag struct {
	Rollout float64 `yaml:"rollout"` // percent, 0 to 100
}

// QualityFlag is a Flag with the default qualities it brings.
type QualityFlag struct {
	Rollout float64 `yaml:"rollout"`
	Quality Quality `yaml:"quality"`
}

// Purge says where a purge goes besides this edge's own tiers.
type Purge struct {
	// Downstream lists the caches in front of the edge; the node that takes
	// a purge forwards it to each of them.
	Downstream []Downstream `yaml:"downstream"`
}

// Downstream kinds: how a purge is said to a cache in front.
const (
	DownstreamVarnishXKey = "varnish-xkey" // PURGE with an xkey header naming the source's tag; BAN for a prefix
	DownstreamVarnishBan  = "varnish-ban"  // BAN of the path (or prefix) as a regular expression
	DownstreamNginx       = "nginx"        // GET <url> with Imgedge-Cache-Key, on ngx_cache_purge, per key nginx filled
	DownstreamURL         = "url"          // a CDN's purge API: URL, method, headers and body, with {tag}, {path}, {origin_tag}
)

// Downstream is one cache in front of the edge.
type Downstream struct {
	Kind string `yaml:"kind"` // varnish-xkey, varnish-ban, nginx or url
	// URL is where the purge goes: the cache's address for Varnish (its
	// purge ACL must admit this edge), the purge location's prefix for
	// nginx, the API endpoint (with {tag}, {origin_tag}, {path}) for url.
	URL    string            `yaml:"url"`
	Host   string            `yaml:"host"`   // Host header to send, when the cache keys on the public host
	Method string            `yaml:"method"` // url only; POST when empty
	Header map[string]string `yaml:"header"` // url only, e.g. Authorization
	Body   string            `yaml:"body"`   // url only, e.g. {"tags":["{tag}"]}
}

// Params restricts the URL API for public, unsigned use.
type Params struct {
	// PresetsOnly accepts only p= (and s=): every variant is one an operator
	// named, so unsigned URLs cannot mint new ones.
	PresetsOnly bool `yaml:"presets_only"`
	// Ignore names parameters accepted and left out of the cache key, such
	// as imgix SDKs' ixlib; they never make cache entries of their own.
	Ignore []string `yaml:"ignore"`
	// Unknown is reject (an unknown parameter answers 400 naming it) or
	// ignore (treated as listed in Ignore).
	Unknown string `yaml:"unknown"`
}

// OriginRoute sends requests whose Host is one of Hosts (any host when empty)
// and whose path starts with Prefix (any path when empty) to URL. The prefix is
// stripped before the path is appended to URL's own path.
type OriginRoute struct {
	Hosts  []string `yaml:"hosts"`
	Prefix string   `yaml:"prefix"`
	URL    string   `yaml:"url"`
	// Signing, when it lists keys, is the route's own: its URLs verify
	// under these keys only, and signing.keys do not apply to it. Its
	// scheme defaults to signing.scheme.
	Signing RouteSigning `yaml:"signing"`
}

// RouteSigning is one route's own signing keys and scheme.
type RouteSigning struct {
	Keys   []string `yaml:"keys"`
	Scheme string   `yaml:"scheme"`
}

// RouteScheme is the signing scheme of origins[i]: its own, else
// signing.scheme.
func (c *Config) RouteScheme(i int) string {
	if s := c.Origins[i].Signing.Scheme; s != "" {
		return s
	}
	return c.Signing.Scheme
}

// Fetch bounds requests to each origin host.
type Fetch struct {
	Timeout        Duration `yaml:"timeout"`         // whole fetch, connect included
	ConnectTimeout Duration `yaml:"connect_timeout"` // TCP connect
	MaxConns       int      `yaml:"max_conns"`       // pooled connections per origin host
	// MaxBytesInFlight bounds the origin bytes being read at once, across
	// every origin; a fetch waits for its share, within its timeout.
	MaxBytesInFlight Size `yaml:"max_bytes_in_flight"`
}

// Breaker configures the circuit breaker kept for each origin host.
type Breaker struct {
	Failures int      `yaml:"failures"` // consecutive failures that trip it
	Ratio    float64  `yaml:"ratio"`    // failure ratio that trips it (after Failures requests)
	OpenFor  Duration `yaml:"open_for"` // how long it stays open before a probe
}

// Cache sets the memory tier budgets and freshness rules.
type Cache struct {
	Memory               Size     `yaml:"memory" reload:"restart"`           // variant budget in bytes; 0 disables the memory tier
	MemoryOriginals      Size     `yaml:"memory_originals" reload:"restart"` // original budget in bytes; 0 disables it
	TTL                  Duration `yaml:"ttl"`                               // freshness when the origin says nothing
	MinTTL               Duration `yaml:"min_ttl"`
	MaxTTL               Duration `yaml:"max_ttl"`
	NegativeTTL          Duration `yaml:"negative_ttl"` // how long an origin 404 is remembered
	StaleWhileRevalidate Duration `yaml:"stale_while_revalidate"`
	StaleIfError         Duration `yaml:"stale_if_error"`
	ClientTTL            Duration `yaml:"client_ttl"` // max-age sent to browsers, never above the origin's
	// CDNTTL is the s-maxage sent to caches in front; 0 sends each entry's
	// own freshness lifetime (with Age, so that a cache keeps exactly what
	// remains of it).
	CDNTTL Duration `yaml:"cdn_ttl"`
	// CDNStale sends the entry's stale-while-revalidate and stale-if-error
	// windows downstream, so that a cache in front keeps serving while this
	// edge refreshes or is down.
	CDNStale *bool `yaml:"cdn_stale"`
	// CanonicalRedirect answers a query that is not in canonical form
	// (parameter order, dpr folded into w and h, snapped sizes) with a 308 to
	// the canonical one, so that every key of a cache in front matches one
	// entry here.
	CanonicalRedirect bool `yaml:"canonical_redirect"`
}

// checkOrigin accepts "*" or a serialised origin (RFC 6454): scheme, host,
// optional port, nothing else, as browsers send it in Origin.
func checkOrigin(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil || o != strings.ToLower(o) {
		return errors.New(`"*" or an origin as browsers send it: scheme://host[:port] in lower case, no path, e.g. https://www.example.com`)
	}
	return nil
}

func checkDownstream(key string, d Downstream, bad func(string, any, string)) {
	switch d.Kind {
	case DownstreamVarnishXKey, DownstreamVarnishBan, DownstreamNginx, DownstreamURL:
	default:
		bad(key+".kind", d.Kind, "varnish-xkey, varnish-ban, nginx or url")
	}
	u, err := url.Parse(strings.NewReplacer("{tag}", "t", "{origin_tag}", "o", "{path}", "p").Replace(d.URL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad(key+".url", d.URL, "an http(s) URL of the cache (or its purge API)")
	}
	if d.Kind != DownstreamURL && (d.Method != "" || d.Body != "" || len(d.Header) > 0) {
		bad(key+".kind", d.Kind, "url, for a method, header or body of your own")
	}
}

// StaleDownstream reports cache.cdn_stale, on unless set to false.
func (c *Cache) StaleDownstream() bool { return c.CDNStale == nil || *c.CDNStale }

// Transform sets admission control and encoder defaults.
type Transform struct {
	Concurrency int `yaml:"concurrency" reload:"restart"` // transforms at once; 0 means 2 x CPUs
	// MemoryBudget is the estimated memory all running transforms may hold;
	// each is admitted by its estimate. 0 means a quarter of the machine's
	// memory (or of the cgroup's limit).
	MemoryBudget Size     `yaml:"memory_budget" reload:"restart"`
	Queue        int      `yaml:"queue" reload:"restart"` // transforms allowed to wait for a slot
	QueueTimeout Duration `yaml:"queue_timeout"`          // longest wait for a slot before 503 overloaded
	Timeout      Duration `yaml:"timeout"`                // longest a transform may run
	Quality      Quality  `yaml:"quality"`
	// AVIFMaxPixels: under auto=format, outputs with more pixels go to WebP
	// (AVIF encodes several times slower); 0 means never AVIF by negotiation.
	AVIFMaxPixels int64 `yaml:"avif_max_pixels"`
	// WebPEffort is libwebp's method, 0 (fastest) to 6; libvips' default
	// is 4. Effort 2 encodes in about half the time for 3-5 % more bytes at
	// the same quality (measured at 150 to 1200 px).
	WebPEffort int `yaml:"webp_effort"`
	// AVIFEffort is libheif's effort for AVIF, 1 (fastest) to 6 (aom's
	// speed 9 - effort). At the SSIM JPEG gives at q 80, effort 2 made
	// 236 KB of the benchmark photos within 600x600, 1 8 % more, 3 5 %
	// less for about 2x the time, 4 9 % less for about 5x (README, "One
	// quality scale"). 0 is refused: libheif's aom encoder then encodes
	// exactly as at 4, the same bytes at 4-8x the time of 2.
	AVIFEffort int `yaml:"avif_effort"`
}

// Quality holds the default quality of each lossy encoder (1..100).
type Quality struct {
	JPEG int `yaml:"jpeg"`
	WebP int `yaml:"webp"`
	AVIF int `yaml:"avif"`
	JXL  int `yaml:"jxl"`
}

// Limits protects the edge from expensive or hostile requests.
type Limits struct {
	MaxDimension    int   `yaml:"max_dimension"`     // largest w or h, after dpr
	MaxSourceBytes  Size  `yaml:"max_source_bytes"`  // largest original accepted from an origin
	MaxSourcePixels int64 `yaml:"max_source_pixels"` // largest width x height, read from the header before decoding
	Widths          []int `yaml:"widths"`            // when set, requested w and h snap up to one of these
	// The cost of what a request asks for, checked before any decoding.
	MaxOutputPixels       int64   `yaml:"max_output_pixels"`        // one output frame
	MaxOutputFramesPixels int64   `yaml:"max_output_frames_pixels"` // all frames of an animated output
	MaxUpscale            float64 `yaml:"max_upscale"`              // how far fit=scale may stretch an axis past the source
	MaxAVIFPixels         int64   `yaml:"max_avif_pixels"`          // largest AVIF output
	MaxJXLPixels          int64   `yaml:"max_jxl_pixels"`           // largest JPEG XL output
}

// Server configures the public listener.
type Server struct {
	ReadTimeout   Duration `yaml:"read_timeout"`
	WriteTimeout  Duration `yaml:"write_timeout"`
	IdleTimeout   Duration `yaml:"idle_timeout"`
	DrainTimeout  Duration `yaml:"drain_timeout"` // how long in-flight requests may finish on SIGTERM
	MaxConns      int      `yaml:"max_conns"`
	MaxConnsPerIP int      `yaml:"max_conns_per_ip"` // open connections from one client address
	// TrustedProxies are the addresses (IPs or CIDRs) whose X-Forwarded-For
	// the access log believes: a CDN or load balancer in front.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// Signing holds the URL signing keys; no keys means URLs are not signed,
// which Required forbids.
type Signing struct {
	Keys []string `yaml:"keys"`
	// Required refuses a config without a usable key, at start and on
	// reload. Unset, it is true when the config file lists keys, so that an
	// empty override cannot turn signing off by accident.
	Required *bool `yaml:"required"`
	// Scheme is hmac-sha256 (imgedge's) or imgix (MD5 of the token, path and
	// query, as imgix's SDKs sign).
	Scheme string `yaml:"scheme"`
}

// RoutesByHost reports whether any origin route matches on Host: signed
// URLs then sign the host too.
func (c *Config) RoutesByHost() bool {
	for _, r := range c.Origins {
		if len(r.Hosts) > 0 {
			return true
		}
	}
	return false
}

// sharedImgixKey names the first imgix route key that another route (or
// signing.keys, when some route falls back on them) also uses, or "".
func sharedImgixKey(c *Config) string {
	seen := map[string]bool{}
	for _, k := range c.Signing.Keys {
		seen[k] = true
	}
	for i, r := range c.Origins {
		if c.RouteScheme(i) != "imgix" {
			continue
		}
		for j, k := range r.Signing.Keys {
			if seen[k] {
				return fmt.Sprintf("origins[%d].signing.keys[%d]", i, j)
			}
			seen[k] = true
		}
	}
	return ""
}

// SigningRequired reports whether the edge must refuse unsigned operation.
func (c *Config) SigningRequired() bool {
	return c.Signing.Required != nil && *c.Signing.Required
}

// Admin holds the admin listener's bearer token for purge.
type Admin struct {
	Token string `yaml:"token"`
}

// S3 says where s3:// origins' buckets are served from; credentials come
// from the AWS default chain (environment, shared files, web identity,
// container and instance roles), never from this file.
type S3 struct {
	Endpoint  string `yaml:"endpoint"`   // empty: AWS; else e.g. https://<account>.r2.cloudflarestorage.com
	Region    string `yaml:"region"`     // empty: from the chain (AWS_REGION), else us-east-1
	PathStyle bool   `yaml:"path_style"` // bucket in the path (MinIO, Ceph, SeaweedFS, versitygw)
}

// Redis points at the shared cache tier; empty means none.
type Redis struct {
	URL      string   `yaml:"url"`       // redis://, rediss:// or unix://
	Addrs    []string `yaml:"addrs"`     // more addresses: a cluster's seed nodes
	Cluster  bool     `yaml:"cluster"`   // Redis Cluster
	Timeout  Duration `yaml:"timeout"`   // every call; a sick Redis is a miss, never a slow answer
	MaxValue Size     `yaml:"max_value"` // larger entries stay in memory only
	Queue    int      `yaml:"queue"`     // writes waiting to be sent; more are dropped and counted
}

// Enabled reports whether a shared tier is configured.
func (r Redis) Enabled() bool { return r.URL != "" || len(r.Addrs) > 0 }

// Log configures the access log.
type Log struct {
	// HitSample is the share of cache hits that get an access log line
	// (0..1); misses, stale answers and errors are always logged.
	HitSample float64 `yaml:"hit_sample"`
	// ErrorsPerSecond bounds the error lines written each second; the next
	// line written says how many were dropped.
	ErrorsPerSecond int `yaml:"errors_per_second"`
}

// Tracing configures OpenTelemetry spans, exported over OTLP/HTTP.
type Tracing struct {
	Endpoint string  `yaml:"endpoint"` // http(s)://collector:4318; empty: tracing off, at no cost
	Sample   float64 `yaml:"sample"`   // share of new traces recorded (0..1); incoming sampled traces are followed
}

// Memory that no key bounds, measured (bench/RESULTS.md, "Memory within its
// budgets") and used where a process or a pod is sized: main's soft limit
// for Go's collector (the tiers + GoHeapRoom, at least GoHeapFloor), and the
// Kubernetes manifest's limit, which is
// cache.memory + cache.memory_originals + transform.memory_budget +
// GoHeapRoom + RestingMemory.
const (
	// GoHeapRoom is what Go's heap may hold beyond the cache tiers before
	// its collector runs: origin bodies being fetched, answers being
	// written, connection buffers. Full tiers and new 1600x1200 sources
	// rendered to 1.5 MP JPEGs, 4 at a time for 70 s, peaked at 780 MiB
	// resident with no limit, 682 MiB with 128 MiB of room, 624 with 64 and
	// 591 with 32, at the same throughput: the tiers' bytes hold no
	// pointers, so a collection is cheap.
	GoHeapRoom = 32 << 20
	// GoHeapFloor is the least the soft limit is: with the tiers off or
	// small, what is live is the requests' own (origin bodies, up to
	// fetch.max_bytes_in_flight), and a limit of 32 MiB kept the collector
	// running all the time (uncached 2.6 MB originals at 32 connections:
	// 1,200 collections in 6 s and a third less throughput).
	GoHeapFloor = 256 << 20
	// RestingMemory is the rest: code, libraries, Go's runtime and libvips'
	// own state (about 75 MiB resident at start), with room for the C
	// allocator's free lists after a burst.
	RestingMemory = 128 << 20
)

// MinSigningKeyBytes is the shortest signing key accepted: 128 bits.
const MinSigningKeyBytes = 16

// EnvPrefix starts every environment variable that overrides a key.
const EnvPrefix = "IMGEDGE_"

// Default returns the embedded defaults, resolved and validated.
func Default() (*Config, error) { return Load("", nil) }

// defaultsName is where the embedded defaults' keys are said to be set.
const defaultsName = "the embedded configs/default.yaml"

// Load builds a Config from the embedded defaults, then the YAML file at path
// (when path is not empty), then every IMGEDGE_* entry of environ (as returned by
// os.Environ), and validates the result.
func Load(path string, environ []string) (*Config, error) {
	var c Config
	// Where each key was last set: the file and line, or the variable; the
	// errors Validate finds say where to fix them.
	where := map[string]string{}
	if err := decodeYAML(defaultYAML, &c, defaultsName, where); err != nil {
		return nil, err
	}
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if err := decodeYAML(raw, &c, path, where); err != nil {
			return nil, err
		}
	}
	if c.Signing.Required == nil && len(c.Signing.Keys) > 0 {
		required := true
		c.Signing.Required = &required
	}
	if err := applyEnv(&c, environ, where); err != nil {
		return nil, err
	}
	if c.Transform.Concurrency == 0 {
		c.Transform.Concurrency = 2 * runtime.NumCPU()
	}
	if c.Transform.MemoryBudget == 0 {
		c.Transform.MemoryBudget = Size(machineMemory() / 4)
	}
	if err := c.Validate(); err != nil {
		return nil, placed(err, where)
	}
	return &c, nil
}

// yamlSyntaxError is yaml's "yaml: line 3: mapping values are not allowed
// in this context".
var yamlSyntaxError = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// recordPaths records in where the file and line of every key of the
// document under n (sections, routes and lists included), by path.
func recordPaths(n *yaml.Node, path, file string, where map[string]string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			recordPaths(c, path, file, where)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := join(path, n.Content[i].Value)
			where[k] = fmt.Sprintf("%s:%d", file, n.Content[i].Line)
			recordPaths(n.Content[i+1], k, file, where)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			k := fmt.Sprintf("%s[%d]", path, i)
			where[k] = fmt.Sprintf("%s:%d", file, c.Line)
			recordPaths(c, k, file, where)
		}
	}
}

// placed gives each KeyError of err (one, or joined) the place its key was
// set, or for an item of a list or a route the place of the list; a key
// the operator did not set (its value the embedded defaults') is given
// none.
func placed(err error, where map[string]string) error {
	errs := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	}
	for _, e := range errs {
		var ke *KeyError
		if !errors.As(e, &ke) || ke.Where != "" {
			continue
		}
		for key := ke.Key; key != ""; key = parentKey(key) {
			if w, ok := where[key]; ok {
				if !strings.HasPrefix(w, defaultsName) {
					ke.Where = w
				}
				break
			}
		}
	}
	return err
}

// parentKey is key without its last segment: origins[1].url, origins[1],
// origins; "" after the first.
func parentKey(key string) string {
	i := strings.LastIndexAny(key, ".[")
	if i < 0 {
		return ""
	}
	return key[:i]
}

// decodeYAML lays the YAML document raw, read from file, over c, and records
// in where the file and line of every key it sets.
func decodeYAML(raw []byte, c *Config, file string, where map[string]string) error {
	var doc yaml.Node
	// An empty file is no overrides, not an error.
	if err := yaml.NewDecoder(bytes.NewReader(raw)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		if m := yamlSyntaxError.FindStringSubmatch(err.Error()); m != nil {
			return placedError(fmt.Sprintf("config: %s:%s: %s", file, m[1], m[2]))
		}
		return fmt.Errorf("config: %s: %w", file, err)
	}
	lines := map[int]keyAt{}
	if err := checkKeys(&doc, lines, file); err != nil {
		return err
	}
	recordPaths(&doc, "", file, where)
	if err := doc.Decode(c); err != nil {
		var ve *ValueError
		if errors.As(err, &ve) && ve.line > 0 {
			ke := &KeyError{Where: fmt.Sprintf("%s:%d", file, ve.line), Key: lines[ve.line].path, Value: ve.Value, Allowed: ve.Allowed}
			if ke.Key == "" {
				ke.Key = "a value"
			}
			return ke
		}
		return typeError(err, lines, file)
	}
	return nil
}

// KeyError reports one invalid key: where it was set (a file and line, or
// an environment variable; empty for the embedded defaults' derived
// values), its name, the value found and what is allowed.
type KeyError struct {
	Where   string
	Key     string
	Value   string
	Allowed string
}

func (e *KeyError) Error() string {
	where := ""
	if e.Where != "" {
		where = e.Where + ": "
	}
	return fmt.Sprintf("config: %s%s: invalid value %q; allowed: %s", where, e.Key, e.Value, e.Allowed)
}

// ValueError is a value its type cannot read: the value and what the type
// allows, which the caller places under its key.
type ValueError struct {
	Value   string
	Allowed string
	line    int // the YAML line, when read from a file
}

func (e *ValueError) Error() string {
	return fmt.Sprintf("invalid value %q; allowed: %s", e.Value, e.Allowed)
}

// Validate checks every key and returns all problems found, joined.
func (c *Config) Validate() error {
	var p problems
	c.validateListenersAndOrigins(&p)
	c.validateFetchAndCache(&p)
	c.validateBrowsersAndPurge(&p)
	c.validateTransformAndLimits(&p)
	c.validateServerAndServices(&p)
	return errors.Join(p.errs...)
}

// problems gathers the keys Validate finds wrong, with what each allows.
type problems struct{ errs []error }

func (p *problems) bad(key string, value any, allowed string) {
	p.errs = append(p.errs, &KeyError{Key: key, Value: fmt.Sprint(value), Allowed: allowed})
}

func (p *problems) addr(key, v string) {
	i := strings.LastIndexByte(v, ':')
	if port, err := strconv.Atoi(v[i+1:]); i < 0 || err != nil || port < 0 || port > 65535 {
		p.bad(key, v, "host:port with a port from 0 to 65535, e.g. 127.0.0.1:8080 or :8080")
	}
}

func (p *problems) positive(key string, d Duration) {
	if d <= 0 {
		p.bad(key, d, "a duration above 0, e.g. 10s")
	}
}

func (p *problems) nonNegative(key string, d Duration) {
	if d < 0 {
		p.bad(key, d, "a duration of 0 or more")
	}
}

func (p *problems) intRange(key string, v, lo, hi int) {
	if v < lo || v > hi {
		p.bad(key, v, fmt.Sprintf("an integer from %d to %d", lo, hi))
	}
}

func (p *problems) pixels(key string, v int64) {
	if v <= 0 {
		p.bad(key, v, "a pixel count above 0, e.g. 16000000")
	}
}

// validateListenersAndOrigins checks listen, admin_listen, admin.token, origin and origins.
func (c *Config) validateListenersAndOrigins(p *problems) {
	p.addr("listen", c.Listen)
	p.addr("admin_listen", c.AdminListen)
	if !Loopback(c.AdminListen) && c.Admin.Token == "" {
		p.bad("admin.token", "(empty)", "a secret while admin_listen ("+c.AdminListen+") is reachable beyond loopback: "+
			"pprof and /explain would be open to anyone who can reach it; set admin.token (IMGEDGE_ADMIN_TOKEN) or listen on 127.0.0.1")
	}
	if c.Admin.Token != "" && len(c.Admin.Token) < MinSigningKeyBytes {
		p.bad("admin.token", "(hidden, "+fmt.Sprint(len(c.Admin.Token))+" bytes)", "a secret of at least 16 bytes")
	}
	if c.Listen == c.AdminListen {
		p.bad("admin_listen", c.AdminListen, "an address other than listen")
	}
	if err := CheckOriginURL(c.Origin); err != nil {
		p.bad("origin", c.Origin, err.Error())
	}
	for i, r := range c.Origins {
		key := fmt.Sprintf("origins[%d]", i)
		if err := CheckOriginURL(r.URL); err != nil {
			p.bad(key+".url", r.URL, err.Error())
		}
		if r.Prefix != "" && !strings.HasPrefix(r.Prefix, "/") {
			p.bad(key+".prefix", r.Prefix, "a path starting with /")
		}
		if len(r.Hosts) == 0 && r.Prefix == "" {
			p.bad(key, "no hosts and no prefix", "at least one of hosts or prefix, or use origin for a catch-all")
		}
		if sc := r.Signing.Scheme; sc != "" && sc != "hmac-sha256" && sc != "imgix" {
			p.bad(key+".signing.scheme", sc, "hmac-sha256 or imgix, or unset for signing.scheme")
		} else if sc != "" && len(r.Signing.Keys) == 0 {
			// A route without keys of its own is checked with signing.keys
			// and signing.scheme: its own scheme would silently not apply.
			p.bad(key+".signing.keys", "[]", "keys of the route's own with its signing.scheme "+sc+", or no scheme on the route (signing.keys and signing.scheme then apply)")
		}
		for j, k := range r.Signing.Keys {
			if len(strings.TrimSpace(k)) < MinSigningKeyBytes {
				p.bad(fmt.Sprintf("%s.signing.keys[%d]", key, j), "(hidden, "+fmt.Sprint(len(k))+" bytes)", "a secret of at least 16 bytes")
			}
		}
		// imgix's scheme signs no host: a key shared by routes chosen by
		// Host would make a URL signed for one tenant verify on another's
		// host, serving that tenant's object under the same path.
		if len(r.Hosts) > 0 && len(c.Signing.Keys) > 0 && len(r.Signing.Keys) == 0 && c.Signing.Scheme == "imgix" {
			p.bad(key+".signing.keys", "[]", "keys of the route's own: signing.scheme imgix signs no host, so with origins chosen by Host each host's route needs its own imgix token, or a URL signed for one host verifies on every other")
		}
	}
	if shared := sharedImgixKey(c); shared != "" {
		p.bad(shared, "(hidden)", "a key no other route uses: the imgix scheme signs no host, so two routes sharing a token verify each other's URLs")
	}
}

// validateFetchAndCache checks fetch.*, breaker.* and cache.*.
func (c *Config) validateFetchAndCache(p *problems) {
	p.positive("fetch.timeout", c.Fetch.Timeout)
	p.positive("fetch.connect_timeout", c.Fetch.ConnectTimeout)
	p.intRange("fetch.max_conns", c.Fetch.MaxConns, 1, 1<<16)
	p.intRange("breaker.failures", c.Breaker.Failures, 1, 1<<20)
	if c.Breaker.Ratio <= 0 || c.Breaker.Ratio > 1 {
		p.bad("breaker.ratio", c.Breaker.Ratio, "a number above 0 and at most 1")
	}
	p.positive("breaker.open_for", c.Breaker.OpenFor)
	if c.Cache.Memory < 0 {
		p.bad("cache.memory", c.Cache.Memory, "a size of 0 (off) or more, e.g. 256MiB")
	}
	if c.Cache.MemoryOriginals < 0 {
		p.bad("cache.memory_originals", c.Cache.MemoryOriginals, "a size of 0 (off) or more, e.g. 128MiB")
	}
	p.positive("cache.ttl", c.Cache.TTL)
	p.nonNegative("cache.min_ttl", c.Cache.MinTTL)
	p.positive("cache.max_ttl", c.Cache.MaxTTL)
	if c.Cache.MinTTL > c.Cache.MaxTTL {
		p.bad("cache.min_ttl", c.Cache.MinTTL, "at most cache.max_ttl ("+c.Cache.MaxTTL.String()+")")
	}
	p.nonNegative("cache.negative_ttl", c.Cache.NegativeTTL)
	p.nonNegative("cache.stale_while_revalidate", c.Cache.StaleWhileRevalidate)
	p.nonNegative("cache.stale_if_error", c.Cache.StaleIfError)
	p.nonNegative("cache.client_ttl", c.Cache.ClientTTL)
	p.nonNegative("cache.cdn_ttl", c.Cache.CDNTTL)
	if c.Cache.CanonicalRedirect && c.Params.PresetsOnly {
		p.bad("cache.canonical_redirect", true, "false while params.presets_only is set: the canonical URL spells out a preset's parameters, which presets_only refuses")
	}
}

// validateBrowsersAndPurge checks flags.*, cors, timing, params, signing.scheme and purge.*.
func (c *Config) validateBrowsersAndPurge(p *problems) {
	for name, f := range map[string]float64{"flags.jxl.rollout": c.Flags.JXL.Rollout, "flags.avif.rollout": c.Flags.AVIF.Rollout, "flags.qualities.rollout": c.Flags.Qualities.Rollout} {
		if !(f >= 0 && f <= 100) {
			p.bad(name, f, "a percentage from 0 to 100")
		}
	}
	for i, cidr := range c.Flags.InternalCIDRs {
		if _, err := ParseProxy(cidr); err != nil {
			p.bad(fmt.Sprintf("flags.internal_cidrs[%d]", i), cidr, "an IP or CIDR, e.g. 10.0.0.0/8")
		}
	}
	for key, list := range map[string][]string{"cors.allow_origins": c.CORS.AllowOrigins, "timing.allow_origins": c.Timing.AllowOrigins} {
		for i, o := range list {
			if err := checkOrigin(o); err != nil {
				p.bad(fmt.Sprintf("%s[%d]", key, i), o, err.Error())
			}
		}
	}
	if c.Params.Unknown != "reject" && c.Params.Unknown != "ignore" {
		p.bad("params.unknown", c.Params.Unknown, "reject (an unknown parameter answers 400) or ignore")
	}
	if c.Signing.Scheme != "hmac-sha256" && c.Signing.Scheme != "imgix" {
		p.bad("signing.scheme", c.Signing.Scheme, "hmac-sha256 or imgix (URLs signed by imgix's SDKs)")
	}
	for i, d := range c.Purge.Downstream {
		key := fmt.Sprintf("purge.downstream[%d]", i)
		checkDownstream(key, d, p.bad)
	}
}

// validateTransformAndLimits checks transform.* and limits.*.
func (c *Config) validateTransformAndLimits(p *problems) {
	p.intRange("transform.concurrency", c.Transform.Concurrency, 1, 1024)
	if c.Transform.MemoryBudget < 64<<20 {
		p.bad("transform.memory_budget", c.Transform.MemoryBudget, "0 (a quarter of the machine's memory) or a size of at least 64MiB, e.g. 2GiB")
	}
	if c.Fetch.MaxBytesInFlight < c.Limits.MaxSourceBytes {
		p.bad("fetch.max_bytes_in_flight", c.Fetch.MaxBytesInFlight, "a size of at least limits.max_source_bytes ("+fmt.Sprint(int64(c.Limits.MaxSourceBytes))+" bytes), e.g. 512MiB")
	}
	p.intRange("transform.queue", c.Transform.Queue, 0, 1<<20)
	p.positive("transform.queue_timeout", c.Transform.QueueTimeout)
	p.positive("transform.timeout", c.Transform.Timeout)
	if c.Transform.AVIFMaxPixels < 0 {
		p.bad("transform.avif_max_pixels", c.Transform.AVIFMaxPixels, "a pixel count of 0 or more, e.g. 2000000")
	}
	p.intRange("transform.webp_effort", c.Transform.WebPEffort, 0, 6)
	p.intRange("transform.avif_effort", c.Transform.AVIFEffort, 1, 6)
	p.intRange("transform.quality.jpeg", c.Transform.Quality.JPEG, 1, 100)
	p.intRange("transform.quality.webp", c.Transform.Quality.WebP, 1, 100)
	p.intRange("transform.quality.avif", c.Transform.Quality.AVIF, 1, 100)
	p.intRange("transform.quality.jxl", c.Transform.Quality.JXL, 1, 100)
	p.intRange("flags.qualities.quality.jpeg", c.Flags.Qualities.Quality.JPEG, 1, 100)
	p.intRange("flags.qualities.quality.webp", c.Flags.Qualities.Quality.WebP, 1, 100)
	p.intRange("flags.qualities.quality.avif", c.Flags.Qualities.Quality.AVIF, 1, 100)
	p.intRange("flags.qualities.quality.jxl", c.Flags.Qualities.Quality.JXL, 1, 100)
	p.intRange("limits.max_dimension", c.Limits.MaxDimension, 1, 65535)
	if c.Limits.MaxSourceBytes <= 0 {
		p.bad("limits.max_source_bytes", c.Limits.MaxSourceBytes, "a size above 0, e.g. 50MiB")
	}
	if c.Limits.MaxSourcePixels <= 0 {
		p.bad("limits.max_source_pixels", c.Limits.MaxSourcePixels, "a pixel count above 0, e.g. 50000000")
	}
	p.pixels("limits.max_output_pixels", c.Limits.MaxOutputPixels)
	p.pixels("limits.max_output_frames_pixels", c.Limits.MaxOutputFramesPixels)
	p.pixels("limits.max_avif_pixels", c.Limits.MaxAVIFPixels)
	p.pixels("limits.max_jxl_pixels", c.Limits.MaxJXLPixels)
	if c.Limits.MaxUpscale < 1 || c.Limits.MaxUpscale > 64 {
		p.bad("limits.max_upscale", c.Limits.MaxUpscale, "a factor from 1 (never enlarge) to 64")
	}
	for i, w := range c.Limits.Widths {
		if w < 1 || w > c.Limits.MaxDimension {
			p.bad(fmt.Sprintf("limits.widths[%d]", i), w, fmt.Sprintf("an integer from 1 to limits.max_dimension (%d)", c.Limits.MaxDimension))
		}
	}
}

// validateServerAndServices checks server.*, signing keys, presets, log.*, tracing.*, s3.* and redis.*.
func (c *Config) validateServerAndServices(p *problems) {
	p.positive("server.read_timeout", c.Server.ReadTimeout)
	p.positive("server.write_timeout", c.Server.WriteTimeout)
	p.positive("server.idle_timeout", c.Server.IdleTimeout)
	p.positive("server.drain_timeout", c.Server.DrainTimeout)
	p.intRange("server.max_conns", c.Server.MaxConns, 1, 1<<24)
	p.intRange("server.max_conns_per_ip", c.Server.MaxConnsPerIP, 1, 1<<24)
	for i, proxy := range c.Server.TrustedProxies {
		if _, err := ParseProxy(proxy); err != nil {
			p.bad(fmt.Sprintf("server.trusted_proxies[%d]", i), proxy, "an IP address or a CIDR block, e.g. 10.0.0.0/8")
		}
	}
	for i, k := range c.Signing.Keys {
		if len(strings.TrimSpace(k)) < MinSigningKeyBytes {
			p.bad(fmt.Sprintf("signing.keys[%d]", i), "(hidden, "+fmt.Sprint(len(k))+" bytes)", "a secret of at least 16 bytes")
		}
	}
	if c.SigningRequired() && len(c.Signing.Keys) == 0 {
		p.bad("signing.keys", "[]", "at least one key while signing.required is true (the default once the config file has listed keys); to serve unsigned URLs set signing.required: false")
	}
	if c.Params.PresetsOnly && len(c.Presets) == 0 {
		p.bad("params.presets_only", true, "false, or true with at least one entry in presets")
	}
	p.intRange("log.errors_per_second", c.Log.ErrorsPerSecond, 1, 1<<20)
	if c.Log.HitSample < 0 || c.Log.HitSample > 1 {
		p.bad("log.hit_sample", c.Log.HitSample, "a share from 0 (no hit is logged) to 1 (every hit is)")
	}
	if c.Tracing.Endpoint != "" {
		if u, err := url.Parse(c.Tracing.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.bad("tracing.endpoint", c.Tracing.Endpoint, "an OTLP/HTTP collector URL, e.g. http://127.0.0.1:4318")
		}
	}
	if c.Tracing.Sample < 0 || c.Tracing.Sample > 1 {
		p.bad("tracing.sample", c.Tracing.Sample, "a share from 0 to 1")
	}
	if c.S3.Endpoint != "" {
		if u, err := url.Parse(c.S3.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.bad("s3.endpoint", c.S3.Endpoint, "an http(s)://host[:port] URL, or empty for AWS")
		}
	}
	if c.Redis.URL != "" {
		if u, err := url.Parse(c.Redis.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
			p.bad("redis.url", c.Redis.URL, "redis://host:port/db, rediss://... or unix:///path/redis.sock")
		}
	}
	if c.Redis.Cluster && !c.Redis.Enabled() {
		p.bad("redis.cluster", true, "false, or the cluster's seed nodes in redis.addrs (or one in redis.url)")
	}
	for _, a := range c.Redis.Addrs {
		if _, _, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(a, "redis://"), "rediss://")); err != nil {
			p.bad("redis.addrs", a, "host:port entries, e.g. 10.0.0.5:6379")
		}
	}
	p.positive("redis.timeout", c.Redis.Timeout)
	if c.Redis.MaxValue <= 0 {
		p.bad("redis.max_value", c.Redis.MaxValue, "a size above 0, e.g. 8MiB")
	}
	p.intRange("redis.queue", c.Redis.Queue, 1, 1<<20)
}

// ParseProxy reads one server.trusted_proxies entry: an IP is a block of one.
func ParseProxy(s string) (*net.IPNet, error) {
	if !strings.Contains(s, "/") {
		ip := net.ParseIP(strings.TrimSpace(s))
		if ip == nil {
			return nil, fmt.Errorf("%q is not an IP address", s)
		}
		bits := 128
		if ip.To4() != nil {
			ip, bits = ip.To4(), 32
		}
		return &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}, nil
	}
	_, n, err := net.ParseCIDR(strings.TrimSpace(s))
	return n, err
}

// Loopback reports whether addr (host:port) listens on loopback only: a
// 127.0.0.0/8 or ::1 address, or localhost. An empty host (":9090") listens
// on every interface.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckOriginURL reports why raw is not a usable origin URL, or nil.
func CheckOriginURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("file:dir, file:///abs/dir or http(s)://host[:port][/prefix]")
	}
	switch u.Scheme {
	case "file":
		if u.Opaque == "" && u.Path == "" {
			return errors.New("file: followed by a directory, e.g. file:bench/images")
		}
		if u.Host != "" {
			return errors.New("file:///abs/dir (three slashes) or file:relative/dir; a host is not allowed")
		}
	case "http", "https":
		if u.Host == "" {
			return errors.New("http(s)://host[:port][/prefix] with a host")
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return errors.New("http(s)://host[:port][/prefix] without a query or fragment")
		}
	case "s3":
		if u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return errors.New("s3://bucket[/prefix] with a bucket, without a query or fragment")
		}
	default:
		return errors.New("a URL starting with file:, http://, https:// or s3://")
	}
	return nil
}

// Duration is a time.Duration written as "10s", "1m30s" or "720h" in YAML.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &ValueError{Value: describeNode(n), Allowed: durationAllowed, line: n.Line}
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		err.(*ValueError).line = n.Line
		return err
	}
	*d = v
	return nil
}

const durationAllowed = "a duration like 10s, 500ms, 2m or 720h"

// ParseDuration parses a Go duration; a bare 0 is allowed. Its error is a
// *ValueError.
func ParseDuration(s string) (Duration, error) {
	if s == "0" {
		return 0, nil
	}
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, &ValueError{Value: s, Allowed: durationAllowed}
	}
	return Duration(v), nil
}

// Size is a byte count written as 1048576, "512KiB", "256MiB", "1GiB" or "50MB".
type Size int64

// UnmarshalYAML reads a byte count with an optional unit.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &ValueError{Value: describeNode(n), Allowed: sizeAllowed, line: n.Line}
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		err.(*ValueError).line = n.Line
		return err
	}
	*s = v
	return nil
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

const sizeAllowed = "a size like 0, 1048576, 512KiB, 256MiB or 1GiB"

// ParseSize parses a byte count with an optional unit (KiB, MiB, GiB, KB,
// MB, GB, B). Its error is a *ValueError.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	var n int64
	if _, err := fmt.Sscan(t, &n); err != nil || n < 0 || fmt.Sprint(n) != t || n > (1<<62)/mult {
		return 0, &ValueError{Value: s, Allowed: sizeAllowed}
	}
	return Size(n * mult), nil
}

// machineMemory is the memory this process may use: the cgroup v2 limit
// when one is set, else the machine's total (Linux); 4 GiB when neither
// can be read.
func machineMemory() int64 {
	total := int64(4 << 30)
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(raw)) {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb int64
				if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb); err == nil && kb > 0 {
					total = kb << 10
				}
			}
		}
	}
	if raw, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		var limit int64
		if _, err := fmt.Sscan(strings.TrimSpace(string(raw)), &limit); err == nil && limit > 0 && limit < total {
			total = limit
		}
	}
	return total
}
