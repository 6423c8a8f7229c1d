package edge_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestAdminToken: with admin.token set, the probes and /metrics stay open
// to orchestrators and scrapers, and so does the /demo page; everything
// else (pprof, /explain, the demo's /demo/fetch) needs the bearer token.
func TestAdminToken(t *testing.T) {
	const token = "admin-token-0123456789"
	h := start(t, []string{"IMGEDGE_ADMIN_TOKEN=" + token}, nil)
	get := func(path, auth string) int {
		req, err := http.NewRequest(http.MethodGet, h.admin+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	explain := "/explain?url=" + url.QueryEscape("/kodim23.png?w=10")
	for _, tt := range []struct {
		path, auth string
		want       int
	}{
		{"/healthz", "", 200},
		{"/readyz", "", 200},
		{"/metrics", "", 200},
		{explain, "", 401},
		{explain, "Bearer wrong-token-0123456789", 401},
		{explain, "Bearer " + token, 200},
		{"/debug/pprof/", "", 401},
		{"/debug/pprof/", "Bearer " + token, 200},
		// The demo page holds no secret; what it reads does.
		{"/demo", "", 200},
		{"/demo/fetch?url=%2Fkodim23.png%3Fw%3D10", "", 401},
		{"/demo/fetch?url=%2Fkodim23.png%3Fw%3D10", "Bearer " + token, 200},
	} {
		if got := get(tt.path, tt.auth); got != tt.want {
			t.Errorf("GET %s (auth %q): %d, want %d", tt.path, tt.auth, got, tt.want)
		}
	}
}

// TestDemoFetch: /demo/fetch answers what the public listener answers the
// page's browser (its Accept decides auto=format), follows the edge's own
// canonical redirect as an <img> would, and takes nothing but a path and
// query on this edge.
func TestDemoFetch(t *testing.T) {
	t.Parallel()
	h := start(t, []string{"IMGEDGE_CACHE_CANONICAL_REDIRECT=true"}, nil)
	get := func(target, accept string) *http.Response {
		req, err := http.NewRequest(http.MethodGet, h.admin+"/demo/fetch?url="+url.QueryEscape(target), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// w=64&auto=format is not the canonical order: the edge redirects.
	for accept, want := range map[string]string{"image/webp,*/*": "image/webp", "*/*": "image/jpeg"} {
		r := get("/kodim23.png?w=64&auto=format", accept)
		if r.StatusCode != 200 || r.Header.Get("Content-Type") != want || !strings.HasPrefix(r.Header.Get("Cache-Status"), "imgedge;") ||
			r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("Accept %s: %d %v, want 200 %s with the edge's facts", accept, r.StatusCode, r.Header, want)
		}
	}
	for _, target := range []string{"http://127.0.0.1:1/a.png", "kodim23.png", ""} {
		if r := get(target, "*/*"); r.StatusCode != 400 {
			t.Errorf("url=%q: %d, want 400", target, r.StatusCode)
		}
	}
}

// TestDemoImageIsAPath: /demo?image= names a path on this edge and nothing
// else; the page loads images from this edge only. Before, a space and a
// comma in it added another host's picture to the page's srcset, and the
// page's CSP let it load.
func TestDemoImageIsAPath(t *testing.T) {
	h := start(t, nil, nil)
	resp, err := http.Get(h.admin + "/demo?image=" + url.QueryEscape("/x.png?w=1 1w, https://evil.example/p.png 2000w, /y.png"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(string(body), "evil.example") {
		t.Errorf("/demo with a srcset in image: %d, page names evil.example: %v", resp.StatusCode, strings.Contains(string(body), "evil.example"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); strings.Contains(csp, "img-src *") {
		t.Errorf("the demo page may load images from anywhere: %s", csp)
	}
}
