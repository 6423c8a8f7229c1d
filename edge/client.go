package edge

import (
	"bytes"
	"errors"
	"net"
	"strconv"

	"imgedge/configs"
	"imgedge/edge/origin"
	"imgedge/edge/shield"
)

// proxies is server.trusted_proxies, parsed.
type proxies []*net.IPNet

func newProxies(list []string) proxies {
	var p proxies
	for _, s := range list {
		if n, err := configs.ParseProxy(s); err == nil { // validated with the config
			p = append(p, n)
		}
	}
	return p
}

func (p proxies) trusted(ip net.IP) bool {
	for _, n := range p {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// cacheInFront says whether peer may be a cache this edge stands behind:
// on this machine, or a trusted proxy (server.trusted_proxies).
func (p proxies) cacheInFront(peer net.IP) bool {
	return peer.IsLoopback() || p.trusted(peer)
}

// client is the address the access log names: the peer, or, when the peer
// is a trusted proxy, the nearest address in X-Forwarded-For that is not
// one (the rightmost untrusted entry: anything left of it the client could
// have written itself).
func (p proxies) client(peer net.IP, forwardedFor []byte) string {
	if len(p) == 0 || len(forwardedFor) == 0 || !p.trusted(peer) {
		return peer.String()
	}
	rest := forwardedFor
	for len(rest) > 0 {
		i := bytes.LastIndexByte(rest, ',')
		entry := bytes.TrimSpace(rest[i+1:])
		rest = rest[:max(i, 0)]
		ip := net.ParseIP(string(entry))
		if ip == nil {
			break // a malformed hop: trust nothing beyond it
		}
		if !p.trusted(ip) {
			return ip.String()
		}
		if i < 0 {
			break
		}
	}
	return peer.String()
}

// originStatus is what the origin answered this request's fetch, for the
// access log: its HTTP status, "timeout" or "error", or "" when nothing was
// fetched (a hit, a remembered not-found, a cached original).
func originStatus(a *shield.Answer, err error) string {
	var fe *shield.FetchError
	var se *origin.StatusError
	switch {
	case errors.As(err, &se):
		return strconv.Itoa(se.Code)
	case errors.As(err, &fe) && fe.Remembered:
		return ""
	case errors.As(err, &fe) && errors.Is(err, origin.ErrNotFound):
		return "404"
	case errors.As(err, &fe) && errors.Is(err, origin.ErrTimeout):
		return "timeout"
	case errors.As(err, &fe):
		return "error"
	case a.Timings.Origin == 0:
		return ""
	case a.Outcome == shield.Revalidated:
		return "304"
	case a.Outcome == shield.StaleIfError:
		return "error"
	}
	return "200"
}
