package edge_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// browse opens url in a new headless Chromium (Debian's, which .ci/run
// installs) with an empty profile and HTTP cache, runs script (which may
// return a promise) once the page has loaded, and decodes its result.
func browse[T any](t *testing.T, url, script string, flags ...chromedp.ExecAllocatorOption) T {
	t.Helper()
	return browseSeeing[T](t, url, script, nil, flags...)
}

// browseSeeing is browse that also calls seen with every request the
// browser is about to send, before the result returns (from the tab's
// reading loop: seen must be quick).
func browseSeeing[T any](t *testing.T, url, script string, seen func(*network.Request), flags ...chromedp.ExecAllocatorOption) T {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium: %v (.ci/run installs Debian's chromium)", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.UserDataDir(t.TempDir()),
		// Chromium leaves an org.chromium.Chromium.* folder in TMPDIR
		// per run; the test's own folder goes with the test.
		chromedp.Env("TMPDIR="+t.TempDir()),
		// This machine has no network but loopback: Chromium's own
		// background traffic would only be refused.
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), append(opts, flags...)...)
	defer cancel()
	var listen []chromedp.ContextOption
	if seen != nil {
		listen = append(listen, chromedp.WithListener(func(ev any) {
			if e, ok := ev.(*network.EventRequestWillBeSent); ok {
				seen(e.Request)
			}
		}))
	}
	ctx, cancel := chromedp.NewContext(actx, listen...)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("chromium %s: %v", url, err)
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(rctx, chromedp.Evaluate[T](script, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("chromium %s: %v", url, err)
	}
	return v
}

// imagesLoaded resolves, once every <img> has loaded or failed, to each
// one's id, natural size and source.
const imagesLoaded = `Promise.all([...document.images].map(i => i.complete ? 0 :
	new Promise(r => { i.addEventListener("load", r); i.addEventListener("error", r); })))
  .then(() => [...document.images].map(i => ({id: i.id, w: i.naturalWidth, h: i.naturalHeight, src: i.currentSrc})))`

type loadedImage struct {
	ID  string `json:"id"`
	W   int    `json:"w"`
	H   int    `json:"h"`
	Src string `json:"src"`
}

// pages serves test pages on 127.0.0.1: path -> HTML, with headers.
func pages(t *testing.T, html map[string]string, header http.Header) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := html[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// browserRequests are the edge's access log lines of Chromium's requests.
type browserRequest struct {
	Path, Query, Cache, Format string
	Status, Bytes              int
}

func browserRequests(t *testing.T, h *harness) []browserRequest {
	t.Helper()
	return loggedRequests(t, h, "HeadlessChrome")
}

// loggedRequests are the edge's access log lines of requests whose
// User-Agent contains agent.
func loggedRequests(t *testing.T, h *harness, agent string) []browserRequest {
	t.Helper()
	var out []browserRequest
	sc := bufio.NewScanner(strings.NewReader(h.logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg string `json:"msg"`
			UA  string `json:"user_agent"`
			browserRequest
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "request" && strings.Contains(line.UA, agent) {
			out = append(out, line.browserRequest)
		}
	}
	return out
}

// TestChromiumLoadsImages: a page of srcset, <picture>, auto=format and
// crops in a real Chromium: every image decodes at the size asked for,
// auto=format and <picture> deliver AVIF (JPEG XL once its flag is on, as
// Chromium 156 asks for it first), and a second visit from a fresh browser
// is all cache hits.
func TestChromiumLoadsImages(t *testing.T) {
	t.Parallel()
	h := start(t, []string{"IMGEDGE_LOG_HIT_SAMPLE=1", "IMGEDGE_ADMIN_TOKEN=" + fleetToken}, nil)
	e := h.base
	page := pages(t, map[string]string{"/": `<!doctype html><body>
<img id="auto" src="` + e + `/kodim23.png?w=200&auto=format">
<picture><source type="image/avif" srcset="` + e + `/kodim23.png?w=150&fm=avif"><img id="picture" src="` + e + `/kodim23.png?w=150&fm=jpg"></picture>
<img id="srcset" sizes="120px" srcset="` + e + `/photo-1600x1200-q85.jpg?w=120 120w, ` + e + `/photo-1600x1200-q85.jpg?w=240 240w" src="` + e + `/photo-1600x1200-q85.jpg?w=120">
<img id="crop" src="` + e + `/photo-1600x1200-q85.jpg?w=300&h=200&fit=crop&auto=format">
<img id="original" src="` + e + `/kodim04.png">
</body>`}, nil)
	want := map[string][2]int{"auto": {200, 133}, "picture": {150, 100}, "srcset": {120, 90}, "crop": {300, 200}, "original": {512, 768}}
	check := func(visit string) {
		t.Helper()
		for _, img := range browse[[]loadedImage](t, page.URL, imagesLoaded) {
			if w := want[img.ID]; img.W != w[0] || img.H != w[1] {
				t.Errorf("%s: %s is %dx%d, want %dx%d (%s)", visit, img.ID, img.W, img.H, w[0], w[1], img.Src)
			}
			if img.ID == "picture" && !strings.Contains(img.Src, "fm=avif") {
				t.Errorf("%s: <picture> chose %s, want the AVIF source", visit, img.Src)
			}
		}
	}
	check("first visit")
	first := browserRequests(t, h)
	formats := map[string]string{}
	for _, r := range first {
		formats[r.Path+"?"+r.Query] = r.Format
		if r.Status != 200 {
			t.Errorf("first visit: %s?%s answered %d", r.Path, r.Query, r.Status)
		}
	}
	if f := formats["/kodim23.png?w=200&auto=format"]; f != "image/avif" {
		t.Errorf("auto=format gave Chromium %q, want image/avif", f)
	}
	if len(first) != len(want) {
		t.Errorf("first visit: %d requests, want %d: %+v", len(first), len(want), first)
	}

	check("second visit")
	for _, r := range browserRequests(t, h)[len(first):] {
		if r.Cache != "hit" {
			t.Errorf("second visit: %s?%s was a %s, want a hit", r.Path, r.Query, r.Cache)
		}
	}

	// JPEG XL once its flag is on: Chromium lists it first and decodes it.
	if status, body := adminCall(t, h, http.MethodPut, "/flags", `{"jxl": 100}`); status != 200 {
		t.Fatalf("PUT /flags: %d %s", status, body)
	}
	n := len(browserRequests(t, h))
	check("with the jxl flag on")
	for _, r := range browserRequests(t, h)[n:] {
		if r.Query == "w=200&auto=format" && r.Format != "image/jxl" {
			t.Errorf("jxl flag on: auto=format gave Chromium %q, want image/jxl", r.Format)
		}
	}
}

// TestChromiumCORSAndTiming: with the page's origin in cors.allow_origins a
// canvas that draws an edge image stays readable and fetch() reads it;
// without, the browser refuses both, as the Fetch standard requires. With
// timing.allow_origins, Resource Timing shows the edge's Server-Timing.
func TestChromiumCORSAndTiming(t *testing.T) {
	t.Parallel()
	const script = `(async () => {
  const url = EDGE + "/kodim23.png?w=64";
  const out = {};
  const draw = cors => new Promise(resolve => {
    const img = new Image();
    if (cors) img.crossOrigin = "anonymous";
    img.onload = () => {
      const c = document.createElement("canvas");
      c.width = img.naturalWidth; c.height = img.naturalHeight;
      const g = c.getContext("2d");
      g.drawImage(img, 0, 0);
      try { g.getImageData(0, 0, 1, 1); resolve("readable"); } catch (e) { resolve(e.name); }
    };
    img.onerror = () => resolve("error");
    // Each its own URL, so that no answer is reused across the modes.
    img.src = url + (cors ? "&fm=png" : "");
  });
  out.canvas = await draw(true);
  out.plainCanvas = await draw(false);
  try { const r = await fetch(url + "&fm=webp"); out.fetch = r.status + " " + r.headers.get("content-type") + " " + r.headers.get("cache-status"); }
  catch (e) { out.fetch = e.name; }
  const entries = performance.getEntriesByType("resource").filter(e => e.name.startsWith(EDGE));
  out.serverTiming = entries.map(e => e.serverTiming.map(s => s.name).join(",")).join(";");
  return out;
})()`
	type result struct {
		Canvas, PlainCanvas, Fetch, ServerTiming string
	}
	for _, on := range []bool{true, false} {
		page := pages(t, map[string]string{"/": "<!doctype html><body>page</body>"}, nil)
		var env []string
		if on {
			env = []string{"IMGEDGE_CORS_ALLOW_ORIGINS=" + page.URL, "IMGEDGE_TIMING_ALLOW_ORIGINS=" + page.URL}
		}
		h := start(t, env, nil)
		got := browse[result](t, page.URL, "const EDGE = "+jsString(h.base)+";\n"+script)
		if on {
			if got.Canvas != "readable" || got.PlainCanvas != "SecurityError" || !strings.HasPrefix(got.Fetch, "200 image/webp imgedge;") ||
				!strings.Contains(got.ServerTiming, "total") {
				t.Errorf("CORS and timing on: %+v", got)
			}
		} else if got.Canvas != "error" || got.PlainCanvas != "SecurityError" || got.Fetch != "TypeError" || strings.Contains(got.ServerTiming, "total") {
			t.Errorf("CORS and timing off: %+v", got)
		}
	}
}

// TestChromiumClientHints: the demo page (admin /demo) asks for client
// hints and delegates them to the edge; at DPR 2 its ?w=300&ch=DPR image
// comes back 600 pixels wide, without a srcset.
func TestChromiumClientHints(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	got := browse[[]loadedImage](t, h.admin+"/demo", imagesLoaded, chromedp.Flag("force-device-scale-factor", "2"))
	found := false
	for _, img := range got {
		if img.ID == "hints" {
			found = true
			if img.W != 600 {
				t.Errorf("DPR 2: the ch=DPR image is %d pixels wide, want 600 (%s)", img.W, img.Src)
			}
		} else if img.W == 0 {
			t.Errorf("demo image %s did not load (%s)", img.ID, img.Src)
		}
	}
	if !found {
		t.Fatalf("no hints image on the demo page: %+v", got)
	}
}

// demoSettled opens a script's function body: settled() resolves once the
// demo's playground has settled (the page marks its facts with data-state,
// "loading" while a Show runs: the gate is the page's own mark, not a
// delay), shownImage() is its picture.
const demoSettled = `const facts = document.getElementById("facts") || document.createElement("pre"); // none: a page without a playground
const settled = () => new Promise(resolve => {
  const done = () => facts.dataset.state !== "loading";
  if (done()) return resolve(facts.dataset.state);
  const o = new MutationObserver(() => { if (done()) { o.disconnect(); resolve(facts.dataset.state); } });
  o.observe(facts, {attributes: true});
});
// shownImage is the playground's picture: its size and the bytes behind its blob: URL.
const shownImage = async () => {
  const img = document.getElementById("out");
  if (!img || !img.src.startsWith("blob:")) return {w: img ? img.naturalWidth : 0, type: "", bytes: 0};
  const b = await (await fetch(img.src)).blob();
  return {w: img.naturalWidth, type: b.type, bytes: b.size};
};
`

type demoImage struct {
	W     int    `json:"w"`
	Type  string `json:"type"`
	Bytes int    `json:"bytes"`
}

// TestChromiumDemoWithoutCORS: the demo as shipped (no cors.allow_origins,
// no admin.token) shows its playground image in a real Chromium, and the
// facts beside it (format, bytes) are those of that very image, which is
// what the edge gives this browser's own <img> requests for auto=format.
func TestChromiumDemoWithoutCORS(t *testing.T) {
	t.Parallel()
	h := start(t, []string{"IMGEDGE_LOG_HIT_SAMPLE=1"}, nil)
	type result struct {
		State, Facts string
		Image        demoImage
	}
	got := browse[result](t, h.admin+"/demo", "(async () => {\n"+demoSettled+`
  const state = await settled();
  return {state, facts: facts.textContent, image: await shownImage()};
})()`)
	if got.State != "shown" || got.Image.W == 0 {
		t.Fatalf("the playground shows no image: state %q, image %+v, facts:\n%s", got.State, got.Image, got.Facts)
	}
	for _, want := range []string{"status         200", "content-type   " + got.Image.Type, "bytes          " + strconv.Itoa(got.Image.Bytes), "cache-status   imgedge;", "server-timing  "} {
		if !strings.Contains(got.Facts, want) {
			t.Errorf("the facts lack %q (the image shown is %+v):\n%s", want, got.Image, got.Facts)
		}
	}
	// The answer the page showed is the one the edge logged for it, and
	// its format is what Chromium's own <img> of auto=format was given.
	fetched := loggedRequests(t, h, "imgedge /demo")
	if len(fetched) != 1 || fetched[0].Query != "w=400&auto=format" || fetched[0].Format != got.Image.Type || fetched[0].Bytes != got.Image.Bytes {
		t.Errorf("the edge answered the playground %+v; the page shows %+v", fetched, got.Image)
	}
	own := ""
	for _, r := range browserRequests(t, h) {
		if strings.HasSuffix(r.Query, "&auto=format") && !strings.Contains(r.Query, "ch=") {
			own = r.Format
		}
	}
	if own == "" || got.Image.Type != own {
		t.Errorf("the playground shows %q; Chromium's own auto=format <img> got %q", got.Image.Type, own)
	}
}

// TestChromiumDemoToken: with admin.token set, /demo loads in a browser
// without it and shows nothing the token guards; a wrong token is refused
// with a clear message; the right one, typed once into the page, shows the
// image. The token travels only as an Authorization header to /demo/fetch,
// never in any URL the browser asks for.
func TestChromiumDemoToken(t *testing.T) {
	t.Parallel()
	const token = "demo-admin-token-0123456789"
	h := start(t, []string{"IMGEDGE_ADMIN_TOKEN=" + token}, nil)
	type result struct {
		First, Wrong, Right                string
		FirstFacts, WrongFacts, RightFacts string
		FirstImage, WrongImage, RightImage demoImage
		HTML                               string
		Unauthenticated                    map[string]int
	}
	var mu sync.Mutex
	type sentRequest struct{ URL, Authorization string }
	var sent []sentRequest
	got := browseSeeing[result](t, h.admin+"/demo", "const TOKEN = "+jsString(token)+";\n(async () => {\n"+demoSettled+`
  const out = {unauthenticated: {}};
  out.first = await settled();
  out.firstFacts = facts.textContent;
  out.firstImage = await shownImage();
  out.html = document.documentElement.outerHTML;
  for (const path of ["/demo/fetch?url=" + encodeURIComponent("/kodim23.png?w=64"), "/flags", "/explain?url=%2Fkodim23.png"]) {
    out.unauthenticated[path] = (await fetch(path)).status;
  }
  const enter = value => {
    document.getElementById("token").value = value;
    document.getElementById("login").requestSubmit();
    return settled();
  };
  out.wrong = await enter("wrong-token-0123456789");
  out.wrongFacts = facts.textContent;
  out.wrongImage = await shownImage();
  out.right = await enter(TOKEN);
  out.rightFacts = facts.textContent;
  out.rightImage = await shownImage();
  return out;
})()`, func(r *network.Request) {
		a, _ := r.Headers["Authorization"].(string)
		mu.Lock()
		sent = append(sent, sentRequest{r.URL + r.URLFragment, a})
		mu.Unlock()
	})

	if got.First != "token" || got.FirstImage.W != 0 || !strings.Contains(got.FirstFacts, "admin.token") {
		t.Errorf("without the token the playground is %q with %+v:\n%s", got.First, got.FirstImage, got.FirstFacts)
	}
	if strings.Contains(got.HTML, token) {
		t.Error("the demo page carries the token")
	}
	for path, status := range got.Unauthenticated {
		if status != http.StatusUnauthorized {
			t.Errorf("%s without the token from the page: %d, want 401", path, status)
		}
	}
	if got.Wrong != "error" || got.WrongImage.W != 0 || !strings.Contains(got.WrongFacts, "401: the admin token was refused") {
		t.Errorf("a wrong token: %q with %+v:\n%s", got.Wrong, got.WrongImage, got.WrongFacts)
	}
	if got.Right != "shown" || got.RightImage.W == 0 || !strings.Contains(got.RightFacts, "content-type   "+got.RightImage.Type) {
		t.Errorf("the right token: %q with %+v:\n%s", got.Right, got.RightImage, got.RightFacts)
	}

	mu.Lock()
	defer mu.Unlock()
	bearer := 0
	for _, r := range sent {
		if strings.Contains(r.URL, token) || strings.Contains(r.URL, url.QueryEscape(token)) {
			t.Errorf("the browser asked for a URL with the token: %s", r.URL)
		}
		if r.Authorization == "" {
			continue
		}
		if !strings.HasPrefix(r.URL, h.admin+"/demo/fetch?") {
			t.Errorf("the browser sent Authorization to %s", r.URL)
		}
		if r.Authorization == "Bearer "+token {
			bearer++
		}
	}
	if bearer == 0 {
		t.Errorf("the page never sent the token as a bearer token: %+v", sent)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// pageLoad adds to env what an edge needs when a browser loads a whole page
// from it: the page asks for all its images at once, more than
// transform.concurrency, and under the race detector on a loaded machine a
// render takes seconds, so the default transform.queue_timeout (2 s)
// answered some of them 503 busy (CI, TestChromiumImgixPage: two of seven
// images). Shedding load is tested elsewhere; here the browser's view is.
func pageLoad(env ...string) []string {
	return append(env, "IMGEDGE_TRANSFORM_QUEUE_TIMEOUT=5m")
}

// TestChromiumImgixPage: a page written for imgix (SDK srcsets with ixlib,
// the parameters imgix pages use most, signed with the source's token or
// not) renders in full in a real browser.
func TestChromiumImgixPage(t *testing.T) {
	t.Parallel()
	const token = "imgix-token-0123456789"
	urls := []struct {
		id, uri string
		w, h    int
	}{
		{"srcset", "/kodim23.png?auto=format&fit=max&w=320&ixlib=js-3.8.0", 320, 213},
		{"ar", "/photo-1600x1200-q85.jpg?ar=16:9&fit=crop&w=320&auto=format&ixlib=js-3.8.0", 320, 180},
		{"rect", "/kodim23.png?rect=100,50,200,100&ixlib=react-9.7.0", 200, 100},
		{"pad", "/kodim23.png?w=100&pad=10&bg=ffffff&ixlib=js-3.8.0", 100, 73},
		{"tone", "/kodim23.png?w=100&bri=10&con=10&sat=-50&ixlib=js-3.8.0", 100, 67},
		{"mark", "/kodim23.png?w=300&mark=/kodim04.png&mark-w=50&mark-align=top,left&ixlib=js-3.8.0", 300, 200},
		{"dpr", "/kodim23.png?w=100&dpr=2&ixlib=php-3.3.1", 200, 133},
	}
	for _, signed := range []bool{false, true} {
		var env []string
		if signed {
			env = []string{"IMGEDGE_SIGNING_KEYS=" + token, "IMGEDGE_SIGNING_SCHEME=imgix"}
		}
		h := start(t, pageLoad(env...), nil)
		var body strings.Builder
		body.WriteString("<!doctype html><body>")
		for _, u := range urls {
			src := u.uri
			if signed {
				src = imgixSign(token, src)
			}
			body.WriteString(`<img id="` + u.id + `" src="` + h.base + strings.ReplaceAll(src, "&", "&amp;") + `">`)
		}
		page := pages(t, map[string]string{"/": body.String()}, nil)
		for _, img := range browse[[]loadedImage](t, page.URL, imagesLoaded) {
			for _, u := range urls {
				if u.id == img.ID && (img.W != u.w || img.H != u.h) {
					t.Errorf("signed %v: %s is %dx%d, want %dx%d (%s); the edge's error lines:\n%s",
						signed, img.ID, img.W, img.H, u.w, u.h, img.Src, grepLines(h.logs.String(), `"error_code"`))
				}
			}
		}
	}
}

// TestChromiumImgThenFetch: with cors.allow_origins "*", an <img> (which
// sends no Origin) and then fetch() of the same URL both succeed: the
// browser answers the fetch from the copy the <img> left in its cache,
// which must carry Access-Control-Allow-Origin already.
func TestChromiumImgThenFetch(t *testing.T) {
	t.Parallel()
	h := start(t, []string{"IMGEDGE_CORS_ALLOW_ORIGINS=*"}, nil)
	page := pages(t, map[string]string{"/": "<!doctype html><body>page</body>"}, nil)
	got := browse[string](t, page.URL, "const EDGE = "+jsString(h.base)+";\n"+`(async () => {
  const url = EDGE + "/kodim23.png?w=48&fm=png";
  await new Promise((resolve, reject) => { const img = new Image(); img.onload = resolve; img.onerror = reject; img.src = url; });
  try { const r = await fetch(url); return r.status + " " + r.headers.get("content-type"); } catch (e) { return e.name; }
})()`)
	if got != "200 image/png" {
		t.Fatalf("fetch() after an <img> of the same URL: %s, want 200 image/png", got)
	}
}

// TestChromiumCanonicalRedirectStaysOnHost: with cache.canonical_redirect,
// paths that browsers read as another host once they are a Location
// ("//host", "/\host", a tab between the slashes) redirect to this edge,
// never to that host. Before, //evil.example/x.jpg answered Location:
// //evil.example/..., cached for a day.
func TestChromiumCanonicalRedirectStaysOnHost(t *testing.T) {
	t.Parallel()
	h := start(t, []string{"IMGEDGE_CACHE_CANONICAL_REDIRECT=true"}, nil)
	for _, path := range []string{"//evil.example/kodim23.png", "/%5Cevil.example/kodim23.png", "/%09/evil.example/kodim23.png", "/%2F%2Fevil.example/kodim23.png"} {
		r := fetch(t, h.base, path+"?w=1&h=1&fm=png")
		loc := r.header.Get("Location")
		if r.status != 308 || !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.ContainsAny(loc, "\\\t\r\n") {
			t.Errorf("%s: %d Location %q", path, r.status, loc)
			continue
		}
		host := browse[string](t, h.base+path+"?w=1&h=1&fm=png", "location.host")
		if want := strings.TrimPrefix(h.base, "http://"); host != want {
			t.Errorf("%s: Chromium followed the redirect to %q, want %q", path, host, want)
		}
	}
}
