package edge

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"imgedge/configs"
	"imgedge/edge/origin"
	"imgedge/edge/shield"
)

// upstream is one configured origin (its id is the origin URL), behind its
// own circuit breaker.
type upstream struct {
	origin  shield.Origin
	breaker *origin.Breaker
	tag     []byte // the downstream tag of everything from this origin
}

type route struct {
	hosts  [][]byte // lower case, no port; empty matches any host
	prefix []byte   // "" matches any path
	up     *upstream
}

// router picks the origin of a request from config only: the request can
// choose among configured origins by Host and path, never name a new one.
type router struct {
	routes []route
	def    *upstream
}

func newRouter(cfg *configs.Config, ocfg origin.Config) (*router, error) {
	bcfg := origin.BreakerConfig{Failures: cfg.Breaker.Failures, Ratio: cfg.Breaker.Ratio, OpenFor: cfg.Breaker.OpenFor.D()}
	mk := func(raw string) (*upstream, error) {
		f, err := origin.New(raw, ocfg)
		if err != nil {
			return nil, err
		}
		if c, ok := f.(origin.Checker); ok {
			if err := c.Check(context.Background()); err != nil {
				return nil, err
			}
		}
		b := origin.WithBreaker(f, raw, bcfg)
		return &upstream{origin: shield.Origin{ID: raw, Fetcher: b}, breaker: b, tag: appendOriginTag(nil, raw)}, nil
	}
	// The routes first: a mistake in the operator's own routes is reported
	// before the default origin's (which may be the sample folder, not
	// found outside the checkout).
	r := &router{routes: routesOf(cfg)}
	for i, o := range cfg.Origins {
		var err error
		if r.routes[i].up, err = mk(o.URL); err != nil {
			return nil, &RouteError{Route: fmt.Sprintf("origins[%d]", i), Err: err}
		}
	}
	def, err := mk(cfg.Origin)
	if err != nil {
		return nil, &RouteError{Route: "origin", Err: err}
	}
	r.def = def
	return r, nil
}

// RouteError is an origin the edge cannot use at start: Route names it
// ("origin", or "origins[i]").
type RouteError struct {
	Route string
	Err   error
}

func (e *RouteError) Error() string { return e.Route + ": " + e.Err.Error() }

func (e *RouteError) Unwrap() error { return e.Err }

// routesOf is cfg's origins as the router matches them, without their
// upstreams.
func routesOf(cfg *configs.Config) []route {
	routes := make([]route, 0, len(cfg.Origins))
	for _, o := range cfg.Origins {
		rt := route{prefix: []byte(strings.TrimRight(o.Prefix, "/"))}
		for _, h := range o.Hosts {
			rt.hosts = append(rt.hosts, []byte(strings.ToLower(h)))
		}
		routes = append(routes, rt)
	}
	return routes
}

// Signing is how the edge verifies a request for host and path: the keys
// and scheme of the route it hits (the route's own, or signing's), whether
// the signature covers the host, and the route's name for messages
// ("origin" or "origins[i]"). imgedge sign signs with it.
func Signing(cfg *configs.Config, host, path string) (keys []string, scheme string, withHost bool, route string) {
	i := (&router{routes: routesOf(cfg)}).route([]byte(host), []byte(path))
	keys, scheme, route = cfg.Signing.Keys, cfg.Signing.Scheme, "origin"
	if i >= 0 {
		route = fmt.Sprintf("origins[%d]", i)
		scheme = cfg.RouteScheme(i)
		if k := cfg.Origins[i].Signing.Keys; len(k) > 0 {
			keys = k
		} else {
			scheme = cfg.Signing.Scheme
		}
	}
	return keys, scheme, cfg.RoutesByHost(), route
}

// pick returns the origin for host and path, and the path at that origin (the
// route's prefix removed). It does not allocate.
func (r *router) pick(host, path []byte) (*upstream, []byte) {
	i := r.route(host, path)
	if i < 0 {
		return r.def, path
	}
	rt := &r.routes[i]
	return rt.up, path[len(rt.prefix):]
}

// route returns the index in origins of the route for host and path, or -1
// for origin. It does not allocate.
func (r *router) route(host, path []byte) int {
	if i := bytes.LastIndexByte(host, ':'); i >= 0 && bytes.IndexByte(host[i:], ']') < 0 {
		host = host[:i]
	}
	for i := range r.routes {
		rt := &r.routes[i]
		if len(rt.hosts) > 0 && !hostIn(host, rt.hosts) {
			continue
		}
		if len(rt.prefix) > 0 {
			if !bytes.HasPrefix(path, rt.prefix) || len(path) > len(rt.prefix) && path[len(rt.prefix)] != '/' {
				continue
			}
			return i
		}
		return i
	}
	return -1
}

func hostIn(host []byte, hosts [][]byte) bool {
	for _, h := range hosts {
		if bytes.EqualFold(host, h) {
			return true
		}
	}
	return false
}

// upstreams lists every configured origin once.
func (r *router) upstreams() []*upstream {
	ups := []*upstream{r.def}
	for _, rt := range r.routes {
		ups = append(ups, rt.up)
	}
	return ups
}
