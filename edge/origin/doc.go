// Package origin fetches source objects from origin storage: an HTTP origin
// through a bounded fasthttp connection pool, or a folder that requests can
// never leave. Only the fields the edge needs cross from an origin response;
// nothing else (hop-by-hop headers, cookies) is ever passed on.
package origin
