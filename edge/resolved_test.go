package edge_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"imgedge/configs"
)

// TestResolvedMemoIsResolve: through any sequence of requests, rollout
// changes and reloads, a request the memo of resolved URLs answers
// resolves exactly as it does afresh: key, object, spec, Vary, flag
// decisions. Seeded; the seed is printed and replays.
func TestResolvedMemoIsResolve(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("IMGEDGE_MEMO_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("seed %d (replay: IMGEDGE_MEMO_SEED=%d go test -run TestResolvedMemoIsResolve ./edge/)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	presets := func(w int) string {
		return fmt.Sprintf("IMGEDGE_PRESETS={card: {w: %d, ch: DPR}, hero: {w: 300, auto: format}}", w)
	}
	h := start(t, []string{presets(100)}, nil)
	reload := func(w int) {
		t.Helper()
		cfg, err := configs.Load("", []string{"IMGEDGE_ORIGIN=" + h.origin.url, "IMGEDGE_LISTEN=127.0.0.1:0", "IMGEDGE_ADMIN_LISTEN=127.0.0.1:1", presets(w)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.srv.Reload(cfg); err != nil {
			t.Fatal(err)
		}
	}
	hosts := []string{"127.0.0.1", "img.example", "IMG.example"}
	paths := []string{"/kodim23.png", "/a/../kodim23.png", "/photos/cat%20x.jpg", "/kodim23.png/"}
	queries := []string{"", "?w=300", "?w=300&auto=format", "?auto=format,compress&w=300&q=70", "?p=card", "?p=hero",
		"?w=200&ch=DPR,Width,Save-Data", "?ch=Width&auto=format", "?w=300&fm=jxl", "?w=0.5", "?w=300&auto=format&dpr=2",
		"?w=99999", "?fm=nope", "?w=300&s=bad", "?q=50&auto=compress&ch=Save-Data", "?w=300&ixlib=js-3.8.0",
		"?w=100&ch=DPR&ixlib=x", "?%77=300", "?w=300&w=200"}
	accepts := []string{"", "image/avif,image/webp,*/*", "image/jxl,image/avif,image/webp,image/apng,image/*,*/*;q=0.8", "image/webp", "*/*"}
	hintHeaders := [][][2]string{nil, {{"Sec-CH-DPR", "2"}}, {{"DPR", "3"}}, {{"Sec-CH-Width", "640"}, {"Save-Data", "on"}},
		{{"Sec-CH-DPR", "1.5"}, {"Sec-CH-Width", "320"}}, {{"Save-Data", "off"}},
		{{"Sec-CH-DPR", "2"}, {"Sec-CH-Viewport-Width", "1280"}}, {{"Sec-CH-DPR", "2"}, {"Sec-CH-Viewport-Width", "390"}}}
	// A pool of requests, drawn from again and again as a page's images
	// are: the memo answers the repeats.
	type request struct {
		uri     string
		headers [][2]string
	}
	pool := make([]request, 60)
	for i := range pool {
		r := &pool[i]
		r.uri = "http://" + hosts[rng.IntN(len(hosts))] + paths[rng.IntN(len(paths))] + queries[rng.IntN(len(queries))]
		if a := accepts[rng.IntN(len(accepts))]; a != "" {
			r.headers = append(r.headers, [2]string{"Accept", a})
		}
		r.headers = append(r.headers, hintHeaders[rng.IntN(len(hintHeaders))]...)
	}
	memoAnswered := 0
	for i := range 3000 {
		switch rng.IntN(400) {
		case 0:
			h.srv.SetRollouts(float64(rng.IntN(3)*50), float64(rng.IntN(2)*100), float64(rng.IntN(3)*50))
		case 1:
			reload(100 + 50*rng.IntN(3))
		}
		r := pool[rng.IntN(len(pool))]
		uri, headers := r.uri, r.headers
		viaMemo, fresh, had := h.srv.ResolveBoth(uri, headers)
		if had {
			memoAnswered++
		}
		if viaMemo != fresh {
			t.Fatalf("request %d %s %v (memo had it: %v):\nmemo:  %s\nfresh: %s", i, uri, headers, had, viaMemo, fresh)
		}
	}
	// Not vacuous: most requests repeat inputs the memo holds.
	if memoAnswered < 1000 {
		t.Errorf("the memo answered %d of 3000 requests", memoAnswered)
	}
}

// TestResolvedMemoSkipsLongURLs: the memo keeps no URL longer than a few
// hundred bytes, so that clients cannot pin memory in it with long paths.
func TestResolvedMemoSkipsLongURLs(t *testing.T) {
	h := start(t, nil, nil)
	short := "http://127.0.0.1/kodim23.png?w=300"
	long := short + "&ixlib=" + strings.Repeat("x", 500)
	for i := range 3 {
		_, _, shortHad := h.srv.ResolveBoth(short, nil)
		_, _, longHad := h.srv.ResolveBoth(long, nil)
		if want := i == 2; shortHad != want || longHad {
			t.Errorf("sighting %d: the memo had the short URL %v (want %v), the long one %v (want false)", i+1, shortHad, want, longHad)
		}
	}
}
