package edge_test

import (
	"net/http"
	"net/url"
	"testing"
)

// TestAdminToken: with admin.token set, the probes and /metrics stay open
// to orchestrators and scrapers, and everything else (pprof, /explain)
// needs the bearer token.
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
	} {
		if got := get(tt.path, tt.auth); got != tt.want {
			t.Errorf("GET %s (auth %q): %d, want %d", tt.path, tt.auth, got, tt.want)
		}
	}
}
