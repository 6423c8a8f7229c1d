package edge_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	_ "image/png"
	"net/http"
	"strings"
	"testing"

	_ "golang.org/x/image/webp"

	"github.com/valyala/fasthttp"

	"imgedge/configs"
)

// TestCORSAndTimingHeaders: with cors.allow_origins and
// timing.allow_origins, every answer (hits, errors, 304s, preflights) tells
// a listed page it may read it, and none else; Vary says the answer depends
// on Origin unless every origin is allowed.
func TestCORSAndTimingHeaders(t *testing.T) {
	t.Parallel()
	h := start(t, []string{"IMGEDGE_CORS_ALLOW_ORIGINS=https://a.example", "IMGEDGE_TIMING_ALLOW_ORIGINS=https://a.example,https://b.example"}, nil)
	ok := h.get(t, "/kodim23.png?w=60&auto=format", "Origin", "https://a.example", "Accept", "image/webp")
	for _, r := range []struct {
		name string
		resp response
	}{
		{"hit", ok},
		{"error", h.get(t, "/missing.png?w=60", "Origin", "https://a.example")},
		{"304", h.get(t, "/kodim23.png?w=60&auto=format", "Origin", "https://a.example", "Accept", "image/webp", "If-None-Match", ok.header["etag"])},
	} {
		if r.resp.header["access-control-allow-origin"] != "https://a.example" || !strings.Contains(r.resp.header["vary"], "Origin") ||
			r.resp.header["timing-allow-origin"] != "https://a.example, https://b.example" ||
			!strings.Contains(r.resp.header["access-control-expose-headers"], "Server-Timing") {
			t.Errorf("%s (%d): ACAO %q, Vary %q, TAO %q, expose %q", r.name, r.resp.status, r.resp.header["access-control-allow-origin"],
				r.resp.header["vary"], r.resp.header["timing-allow-origin"], r.resp.header["access-control-expose-headers"])
		}
	}
	if ok.status != 200 || ok.header["vary"] != "Accept, Origin" {
		t.Errorf("hit: %d, Vary %q, want Accept, Origin", ok.status, ok.header["vary"])
	}
	if r := h.get(t, "/kodim23.png?w=60", "Origin", "https://evil.example"); r.header["access-control-allow-origin"] != "" || r.header["vary"] != "Origin" {
		t.Errorf("an unlisted origin: ACAO %q, Vary %q", r.header["access-control-allow-origin"], r.header["vary"])
	}
	pre := h.do(t, fasthttp.MethodOptions, "/kodim23.png?w=60", "Origin", "https://a.example",
		"Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "x-trace")
	if pre.status != 204 || pre.header["access-control-allow-origin"] != "https://a.example" || pre.header["access-control-allow-methods"] != "GET, HEAD, OPTIONS" ||
		pre.header["access-control-allow-headers"] != "x-trace" || pre.header["access-control-max-age"] != "86400" {
		t.Errorf("preflight: %d %v", pre.status, pre.header)
	}

	if r := h.get(t, "/kodim23.png?w=60"); r.header["access-control-allow-origin"] != "" || r.header["vary"] != "Origin" {
		t.Errorf("a list, no Origin (an <img>): ACAO %q, Vary %q; want Vary: Origin so that no cache hands this copy to a listed page", r.header["access-control-allow-origin"], r.header["vary"])
	}
	any := start(t, []string{"IMGEDGE_CORS_ALLOW_ORIGINS=*"}, nil)
	for _, origin := range []string{"https://z.example", ""} {
		var headers []string
		if origin != "" {
			headers = []string{"Origin", origin}
		}
		if r := any.get(t, "/kodim23.png?w=60", headers...); r.header["access-control-allow-origin"] != "*" || r.header["vary"] != "" {
			t.Errorf("cors *, Origin %q: ACAO %q, Vary %q; want * and no Vary, with an Origin or without", origin, r.header["access-control-allow-origin"], r.header["vary"])
		}
	}
	off := start(t, nil, nil)
	if r := off.get(t, "/kodim23.png?w=60", "Origin", "https://a.example"); r.header["access-control-allow-origin"] != "" || r.header["timing-allow-origin"] != "" {
		t.Errorf("CORS off: ACAO %q, TAO %q", r.header["access-control-allow-origin"], r.header["timing-allow-origin"])
	}
	if r := off.do(t, fasthttp.MethodOptions, "/kodim23.png", "Origin", "https://a.example", "Access-Control-Request-Method", "GET"); r.status != 204 ||
		r.header["allow"] != "GET, HEAD, OPTIONS" || r.header["access-control-allow-origin"] != "" {
		t.Errorf("CORS off, OPTIONS: %d %v", r.status, r.header)
	}
}

// TestClientHintsOverHTTP: a URL with ch= is sized by the hints the
// browser sends, says which ones in Vary, and asks for them in Accept-CH.
func TestClientHintsOverHTTP(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	width := func(r response) int {
		t.Helper()
		cfg, _, err := image.DecodeConfig(bytes.NewReader(r.body))
		if err != nil {
			t.Fatalf("%d %s: %v", r.status, r.header["content-type"], err)
		}
		return cfg.Width
	}
	r := h.get(t, "/kodim23.png?w=100&ch=DPR,Save-Data", "Sec-CH-DPR", "2")
	if w := width(r); w != 200 || r.header["vary"] != "Sec-CH-DPR, DPR, Save-Data" || r.header["accept-ch"] != "Sec-CH-DPR, Sec-CH-Width, Sec-CH-Viewport-Width" {
		t.Errorf("DPR 2: width %d, Vary %q, Accept-CH %q", w, r.header["vary"], r.header["accept-ch"])
	}
	if r := h.get(t, "/kodim23.png?w=100&ch=DPR", "DPR", "1.75"); width(r) != 200 || r.header["vary"] != "Sec-CH-DPR, DPR" {
		t.Errorf("legacy DPR 1.75: width %d, Vary %q", width(r), r.header["vary"])
	}
	if r := h.get(t, "/kodim23.png?w=100&ch=DPR"); width(r) != 100 || r.header["vary"] != "Sec-CH-DPR, DPR" {
		t.Errorf("no hint sent: width %d, Vary %q", width(r), r.header["vary"])
	}
	if r := h.get(t, "/kodim23.png?w=100&dpr=3&ch=DPR", "Sec-CH-DPR", "2"); width(r) != 300 || r.header["vary"] != "" {
		t.Errorf("explicit dpr: width %d, Vary %q", width(r), r.header["vary"])
	}
	// A preset may opt into hints too.
	preset := start(t, []string{"IMGEDGE_PRESETS={card: {w: 100, ch: DPR}}"}, nil)
	if r := preset.get(t, "/kodim23.png?p=card", "Sec-CH-DPR", "2"); width(r) != 200 || r.header["vary"] != "Sec-CH-DPR, DPR" {
		t.Errorf("a preset with ch=DPR at DPR 2: width %d, Vary %q", width(r), r.header["vary"])
	}
	small := h.get(t, "/kodim23.png?w=100&ch=Save-Data&fm=webp", "Save-Data", "on")
	full := h.get(t, "/kodim23.png?w=100&ch=Save-Data&fm=webp")
	if len(small.body) >= len(full.body) {
		t.Errorf("Save-Data: %d bytes, without it %d", len(small.body), len(full.body))
	}
}

// TestFeatureFlags: JPEG XL behind its flag; the decision enters the key,
// so a revert through a reload (SIGHUP) serves the variant from before the
// flag without rendering; PUT /flags changes it at once on the node; the
// Imgedge-Flags header forces a flag for internal clients only, privately.
func TestFeatureFlags(t *testing.T) {
	t.Parallel()
	env := []string{"IMGEDGE_ADMIN_TOKEN=" + fleetToken}
	h := start(t, env, nil)
	chromium := "image/jxl,image/avif,image/webp,image/apng,image/*,*/*;q=0.8"
	const path = "/kodim23.png?w=120&auto=format"
	reload := func(extra ...string) {
		t.Helper()
		cfg, err := configs.Load("", append([]string{"IMGEDGE_ORIGIN=" + h.origin.url, "IMGEDGE_LISTEN=127.0.0.1:0", "IMGEDGE_ADMIN_LISTEN=127.0.0.1:1"}, append(env, extra...)...))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.srv.Reload(cfg); err != nil {
			t.Fatal(err)
		}
	}
	before := h.get(t, path, "Accept", chromium)
	if before.header["content-type"] != "image/avif" {
		t.Fatalf("jxl flag off: %s", before.header["content-type"])
	}
	reload("IMGEDGE_FLAGS_JXL_ROLLOUT=100")
	on := h.get(t, path, "Accept", chromium)
	if on.header["content-type"] != "image/jxl" || !strings.HasPrefix(on.header["cache-status"], "imgedge; fwd=uri-miss") {
		t.Fatalf("jxl flag at 100 %%: %s %s", on.header["content-type"], on.header["cache-status"])
	}
	if r := h.get(t, path, "Accept", "image/avif,image/webp,*/*"); r.header["content-type"] != "image/avif" {
		t.Errorf("a client without JPEG XL under the flag: %s", r.header["content-type"])
	}
	renders := h.tr.n.Load()
	reload() // the revert
	back := h.get(t, path, "Accept", chromium)
	if back.header["content-type"] != "image/avif" || back.header["etag"] != before.header["etag"] || h.tr.n.Load() != renders ||
		!strings.HasPrefix(back.header["cache-status"], "imgedge; hit") {
		t.Errorf("after the revert: %s %s, %d renders more", back.header["content-type"], back.header["cache-status"], h.tr.n.Load()-renders)
	}

	admin := func(method, body string) (int, string) {
		t.Helper()
		return adminCall(t, h, method, "/flags", body)
	}
	if status, body := admin(http.MethodPut, `{"jxl": 100}`); status != 200 || !strings.Contains(body, `"jxl":100`) || !strings.Contains(body, `"set_by":"admin"`) {
		t.Fatalf("PUT /flags: %d %s", status, body)
	}
	if r := h.get(t, path, "Accept", chromium); r.header["content-type"] != "image/jxl" || r.header["etag"] != on.header["etag"] {
		t.Errorf("after PUT /flags jxl 100: %s", r.header["content-type"])
	}
	if status, body := admin(http.MethodPut, `{"webp2": 5}`); status != 400 || !strings.Contains(body, "jxl, avif and qualities") {
		t.Errorf("PUT /flags with an unknown flag: %d %s", status, body)
	}
	reload()
	if status, body := admin(http.MethodGet, ""); status != 200 || !strings.Contains(body, `"jxl":0`) || !strings.Contains(body, `"set_by":"config"`) {
		t.Errorf("GET /flags after a reload: %d %s", status, body)
	}

	// The header forces a flag only for internal clients (127.0.0.1 here
	// once listed), and the answer is theirs alone.
	if r := h.get(t, path, "Accept", chromium, "Imgedge-Flags", "jxl"); r.header["content-type"] != "image/avif" {
		t.Errorf("Imgedge-Flags from an outside client: %s", r.header["content-type"])
	}
	reload("IMGEDGE_FLAGS_INTERNAL_CIDRS=127.0.0.1/32")
	forced := h.get(t, path, "Accept", chromium, "Imgedge-Flags", "jxl")
	if forced.header["content-type"] != "image/jxl" || forced.header["cache-control"] != "private, no-store" {
		t.Errorf("Imgedge-Flags from an internal client: %s, Cache-Control %q", forced.header["content-type"], forced.header["cache-control"])
	}
	resp, err := http.Get(h.admin + "/explain?url=" + strings.ReplaceAll(strings.ReplaceAll(path, "?", "%3F"), "&", "%26"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ex struct {
		Flags map[string]struct {
			On      bool
			Rollout float64 `json:"rollout_percent"`
			Why     string
		}
	}
	if resp.StatusCode != 401 { // the admin token guards /explain
		t.Fatalf("/explain without the token: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, resp.Request.URL.String(), nil)
	req.Header.Set("Authorization", "Bearer "+fleetToken)
	req.Header.Set("Accept", chromium)
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	if err := json.NewDecoder(resp2.Body).Decode(&ex); err != nil || ex.Flags["jxl"].On || ex.Flags["avif"].Rollout != 100 ||
		!strings.Contains(ex.Flags["jxl"].Why, "not below the rollout 0.00") {
		t.Errorf("/explain flags: %+v (%v)", ex.Flags, err)
	}
	if m := scrape(t, h); !strings.Contains(m, `imgedge_flag_decisions_total{decision="on",flag="jxl"}`) {
		t.Errorf("no flag decision metric")
	}
}

// TestHintedSizesNeverMake422: a size a client hint chose stops at the
// output limits for the source's shape; the URL that answers 200 without
// the header answers 200 with it. Before, Sec-CH-Width: 9000 on a tall
// image answered 422 (limits.max_output_pixels).
func TestHintedSizesNeverMake422(t *testing.T) {
	t.Parallel()
	h := start(t, []string{"IMGEDGE_LIMITS_MAX_OUTPUT_PIXELS=2000000"}, nil)
	h.origin.bodies.Store("/tall.png", solidPNG(t, 400, 800, color.NRGBA{G: 200, A: 255}))
	for _, hdr := range [][2]string{{"", ""}, {"Sec-CH-Width", "9000"}, {"Sec-CH-Width", "2000"}} {
		var headers []string
		if hdr[0] != "" {
			headers = hdr[:]
		}
		r := h.get(t, "/tall.png?ch=Width&fm=png", headers...)
		if r.status != 200 {
			t.Errorf("%s: %s: %d %s", hdr[0], hdr[1], r.status, r.body)
			continue
		}
		cfg, _, err := image.DecodeConfig(bytes.NewReader(r.body))
		if err != nil || int64(cfg.Width)*int64(cfg.Height) > 2_000_000 {
			t.Errorf("%s: %s: %dx%d (%v)", hdr[0], hdr[1], cfg.Width, cfg.Height, err)
		}
	}
}
