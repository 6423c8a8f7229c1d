package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"imgedge/configs"
)

// forwardTimeout bounds each purge sent to a cache in front, and
// forwardBudget all of one target's (an nginx prefix purge may be one
// request per remembered key and bucket).
const (
	forwardTimeout = 5 * time.Second
	forwardBudget  = time.Minute
)

// purgeTarget is what one purge names, in the terms caches in front use:
// the public path (or prefix) they keyed, the source's tag, the origin's.
type purgeTarget struct {
	path      string // as requested from the edge: a cache in front keyed it
	prefix    bool
	host      string // the purge's host=, when origins are routed by Host
	sourceTag string // "" for a prefix
	originTag string
}

// forwarded is what one cache in front said to a purge.
type forwarded struct {
	Kind   string `json:"kind"`
	URL    string `json:"url"`
	Status int    `json:"status,omitempty"`
	Sent   int    `json:"requests"`
	Error  string `json:"error,omitempty"`
}

// forwardPurge says t to every cache in purge.downstream, all at once, and
// waits for their answers (each request bounded by forwardTimeout, all of
// them by forwardBudget): the purge's caller learns which caches took it.
// The goroutines end before it returns.
func (s *Server) forwardPurge(ctx context.Context, targets []configs.Downstream, t purgeTarget) []forwarded {
	ctx, cancel := context.WithTimeout(ctx, forwardBudget)
	defer cancel()
	out := make([]forwarded, len(targets))
	var wg sync.WaitGroup
	for i, d := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = forwarded{Kind: d.Kind, URL: d.URL}
			reqs, err := s.purgeRequests(d, t)
			if err == nil || errors.Is(err, errKeysForgotten) {
				// What is known is purged; what was forgotten is said.
				var sendErr error
				out[i].Status, out[i].Sent, sendErr = s.sendAll(ctx, reqs)
				err = errors.Join(sendErr, err)
			}
			if err != nil {
				out[i].Error = err.Error()
			}
		}()
	}
	wg.Wait()
	return out
}

// purgeRequests builds the requests that purge t at d.
func (s *Server) purgeRequests(d configs.Downstream, t purgeTarget) ([]*http.Request, error) {
	base := strings.TrimRight(d.URL, "/")
	var reqs []*http.Request
	add := func(method, u string, body io.Reader, header map[string]string) error {
		r, err := http.NewRequest(method, u, body)
		if err != nil {
			return fmt.Errorf("purge request to %s: %w", u, err)
		}
		for k, v := range header {
			r.Header.Set(k, v)
		}
		if d.Host != "" {
			r.Host = d.Host
		} else if t.host != "" {
			r.Host = t.host
		}
		reqs = append(reqs, r)
		return nil
	}
	ban := func() error {
		// Varnish stores the URL as the client sent it: percent-encoded.
		re := "^" + regexp.QuoteMeta((&url.URL{Path: t.path}).EscapedPath())
		if !t.prefix {
			re += `(\?|$)`
		}
		return add("BAN", base+"/", nil, map[string]string{"X-Ban-Url": re})
	}
	switch d.Kind {
	case configs.DownstreamVarnishXKey:
		if t.prefix {
			return reqs, ban()
		}
		return reqs, add("PURGE", base+"/", nil, map[string]string{"Xkey": t.sourceTag})
	case configs.DownstreamVarnishBan:
		return reqs, ban()
	case configs.DownstreamNginx:
		keys, complete := s.variantLog.keys(t.path, t.prefix)
		for _, key := range keys {
			if err := add(http.MethodGet, base, nil, map[string]string{string(cacheKeyHeader): key}); err != nil {
				return nil, err
			}
		}
		if !complete {
			return reqs, errKeysForgotten
		}
		return reqs, nil
	case configs.DownstreamURL:
		tag := t.sourceTag
		if t.prefix {
			// A tag cannot name a path prefix: everything from the origin goes.
			tag = t.originTag
		}
		fill := func(v string, escape func(string) string) string {
			return strings.NewReplacer("{tag}", escape(tag), "{origin_tag}", escape(t.originTag), "{path}", escape(t.path)).Replace(v)
		}
		method := d.Method
		if method == "" {
			method = http.MethodPost
		}
		var body io.Reader
		if d.Body != "" {
			body = strings.NewReader(fill(d.Body, jsonEscape))
		}
		return reqs, add(method, fill(d.URL, url.QueryEscape), body, d.Header)
	}
	return nil, fmt.Errorf("purge.downstream kind %q", d.Kind)
}

// errKeysForgotten is a purge at nginx that may have missed keys: more were
// named for a path than are remembered, or some were dropped for memory.
var errKeysForgotten = errors.New("nginx: this node forgot some of the keys nginx stored for this path (more than 1024, or dropped for memory): purge nginx's cache zone, or wait for the copies to expire")

func jsonEscape(v string) string {
	b, _ := json.Marshal(v)
	return string(b[1 : len(b)-1])
}

// sendAll sends reqs in turn; a 404 from a purge means there was nothing to
// drop. It returns the last status.
func (s *Server) sendAll(ctx context.Context, reqs []*http.Request) (int, int, error) {
	status, sent := 0, 0
	for _, r := range reqs {
		rctx, cancel := context.WithTimeout(ctx, forwardTimeout)
		resp, err := s.forwardClient.Do(r.WithContext(rctx))
		if err != nil {
			cancel()
			return status, sent, fmt.Errorf("purge %s %s: %w", r.Method, r.URL, err)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		cancel()
		sent++
		status = resp.StatusCode
		if status >= 300 && status != http.StatusNotFound {
			return status, sent, fmt.Errorf("purge %s %s: answered %s", r.Method, r.URL, resp.Status)
		}
	}
	return status, sent, nil
}
