package edge_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"imgedge/edge/origin/origintest"
)

// pngHeader is the start of a PNG that says it is w x h: signature and
// IHDR, which is all a header reader looks at.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 17)
	copy(ihdr, "IHDR")
	binary.BigEndian.PutUint32(ihdr[4:], w)
	binary.BigEndian.PutUint32(ihdr[8:], h)
	copy(ihdr[12:], []byte{8, 6, 0, 0, 0}) // 8-bit RGBA
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.Write(ihdr)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(ihdr))
	return b.Bytes()
}

// hostileOrigin is a folder holding the probe's files: a 768x512 PNG, the
// 42 KB 30-frame GIF, and a 100x100 SVG carrying a 20000x20000 PNG.
func hostileOrigin(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range map[string]string{
		"kodim23.png":  "../bench/images/kodim23.png",
		"squares.gif":  "../testdata/corpus/formats/gif-animated-rotating-squares.gif",
		"portrait.jpg": "../bench/images/giunchedi-portrait.jpg",
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bomb := fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="100" height="100">`+
		`<image width="100" height="100" xlink:href="data:image/png;base64,%s"/></svg>`, base64.StdEncoding.EncodeToString(pngHeader(20000, 20000)))
	if err := os.WriteFile(filepath.Join(dir, "bomb.svg"), []byte(bomb), 0o600); err != nil {
		t.Fatal(err)
	}
	return "file:" + dir
}

// TestCostlyRequestsDegradeOrAreRefused: every request the hostile probe
// used to take the edge down with either answers the largest image of its
// shape within the limit it was over (Imgedge-Clamped names it; the cost
// is the limit's) or, where no smaller image of the source exists (a source
// over limits.max_source_pixels), 422 naming the limit; and the edge goes
// on serving ordinary variants. (That the refusal comes from the header and
// the plan, before any pixel is decoded, is what the libvips package's cost
// tests show; the memory it saves is in bench/RESULTS.md.)
func TestCostlyRequestsDegradeOrAreRefused(t *testing.T) {
	t.Parallel()
	// Lower limits than the defaults make the same cases, rendered in a
	// fraction of the time (an 8 MP AVIF takes seconds).
	h := start(t, []string{"IMGEDGE_ORIGIN=" + hostileOrigin(t), "IMGEDGE_LIMITS_MAX_AVIF_PIXELS=1000000",
		"IMGEDGE_LIMITS_MAX_JXL_PIXELS=1000000", "IMGEDGE_LIMITS_MAX_OUTPUT_FRAMES_PIXELS=4000000"}, nil)
	for _, tt := range []struct {
		url    string
		status int
		limit  string
	}{
		{"/kodim23.png?w=8192&h=8192&fit=scale&fm=avif", 200, "limits.max_avif_pixels"},
		{"/kodim23.png?w=8192&h=8192&fit=scale&fm=jxl", 200, "limits.max_jxl_pixels"},
		{"/kodim23.png?w=8192&h=8192&fit=scale&blur=2000&fm=jpg", 200, "limits.max_output_pixels"},
		{"/squares.gif?w=8192", 200, "limits.max_output_frames_pixels"},
		{"/squares.gif?w=1200", 200, "limits.max_output_frames_pixels"},
		{"/portrait.jpg?w=3000&h=3000&fit=crop&fm=avif", 200, "limits.max_avif_pixels"},
		{"/portrait.jpg?w=3000&h=3000&fit=crop&fm=jxl", 200, "limits.max_jxl_pixels"},
		{"/bomb.svg?w=100", 422, "limits.max_source_pixels"},
		{"/bomb.svg", 422, "limits.max_source_pixels"},
	} {
		r := h.get(t, tt.url)
		switch {
		case r.status != tt.status:
			t.Errorf("%s: %d %.200q; want %d", tt.url, r.status, r.body, tt.status)
		case tt.status == 200 && r.header["imgedge-clamped"] != tt.limit:
			t.Errorf("%s: Imgedge-Clamped %q, want %q", tt.url, r.header["imgedge-clamped"], tt.limit)
		case tt.status == 422 && !strings.Contains(string(r.body), tt.limit):
			t.Errorf("%s: %s; want 422 naming %s", tt.url, r.body, tt.limit)
		}
	}
	for _, ok := range []string{"/kodim23.png?w=300&fm=avif", "/squares.gif?w=200", "/squares.gif?w=1200&frame=3", "/kodim23.png?w=2000&h=2000&fit=scale"} {
		if r := h.get(t, ok); r.status != 200 || r.header["imgedge-clamped"] != "" {
			t.Errorf("%s: %d, Imgedge-Clamped %q: %.200q", ok, r.status, r.header["imgedge-clamped"], r.body)
		}
	}
}

// TestPublicErrorsSayNoSecrets: whatever fails, the body a client reads
// names no address, no path on disk, no library message and no byte of an
// origin's answer; the log has them under the request id.
func TestPublicErrorsSayNoSecrets(t *testing.T) {
	t.Parallel()
	raw := startRawOrigin(t, "HTTP/1.1 200 OK\r\nContent-Length: nonsense\r\nX-Leak: SECRET-ORIGIN-BYTES\r\n\r\nSECRET-ORIGIN-BYTES")
	dead := origintest.RefusedAddr(t)
	h := start(t, []string{
		"IMGEDGE_ORIGINS=[{prefix: /raw, url: 'http://" + raw + "'}, {prefix: /dead, url: 'http://" + dead + "'}, {prefix: /disk, url: 'file:../testdata/corpus'}]",
	}, nil)
	forbidden := []string{"127.0.0.1", raw, dead, "SECRET", "dial", "refused", "testdata", "/work", "vips", "load_buffer", "gifload",
		"jpegload", "heif", "Vips", "\\n"}
	var urls []string
	urls = append(urls, "/raw/a.jpg?w=10", "/dead/a.jpg?w=10", "/boom.jpg?w=10")
	entries, err := os.ReadDir("../testdata/corpus/hostile")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		urls = append(urls, "/disk/hostile/"+e.Name()+"?w=10&fm=png")
	}
	failures := 0
	for _, u := range urls {
		r := h.get(t, u)
		if r.status < 400 {
			continue
		}
		failures++
		for _, f := range forbidden {
			if strings.Contains(string(r.body), f) {
				t.Errorf("%s: %d body names %q: %s", u, r.status, f, r.body)
			}
		}
	}
	if failures < 10 {
		t.Fatalf("only %d of %d requests failed; the test sees too few error bodies", failures, len(urls))
	}
	if logs := h.logs.String(); !strings.Contains(logs, dead) {
		t.Error("the log lost the unreachable origin's address")
	}
}

// startRawOrigin answers every request with answer, byte for byte: an
// origin that speaks broken HTTP.
func startRawOrigin(t *testing.T, answer string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" {
						break
					}
				}
				_, _ = c.Write([]byte(answer))
			}()
		}
	}()
	return ln.Addr().String()
}

// TestErrorFloodLogBounded: a flood of bad requests with long queries
// writes at most log.errors_per_second error lines each second, each with
// the query cut; the clients still get their answers.
func TestErrorFloodLogBounded(t *testing.T) {
	h := start(t, []string{"IMGEDGE_LOG_ERRORS_PER_SECOND=5"}, nil)
	before := len(h.logs.String())
	query := "zz=" + strings.Repeat("x", 7000)
	began := time.Now()
	for range 300 {
		if r := h.get(t, "/kodim23.png?"+query); r.status != 400 {
			t.Fatalf("bad request: %d", r.status)
		}
	}
	seconds := int(time.Since(began)/time.Second) + 2 // windows the flood touched
	logged := h.logs.String()[before:]
	lines := strings.Count(logged, `"error_code":"bad_param"`)
	if lines == 0 || lines > 5*seconds {
		t.Fatalf("%d error lines in %d one-second windows; want 1..%d", lines, seconds, 5*seconds)
	}
	for line := range strings.Lines(logged) {
		if len(line) > 2048 {
			t.Fatalf("a log line of %d bytes: the query is not cut", len(line))
		}
	}
}

// TestAccessLogFields: a miss and an error carry what an operator filters
// on: the client (from a trusted proxy's X-Forwarded-For), the user agent,
// the format answered, the origin's status and the outcome.
func TestAccessLogFields(t *testing.T) {
	h := start(t, []string{"IMGEDGE_SERVER_TRUSTED_PROXIES=127.0.0.0/8"}, nil)
	h.get(t, "/kodim23.png?w=40&fm=webp", "X-Forwarded-For", "198.51.100.7", "User-Agent", "probe/1.0")
	h.get(t, "/boom.jpg?w=40", "X-Forwarded-For", "198.51.100.8")
	var miss, failed map[string]any
	for line := range strings.Lines(h.logs.String()) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "request" {
			continue
		}
		switch m["path"] {
		case "/kodim23.png":
			miss = m
		case "/boom.jpg":
			failed = m
		}
	}
	for name, tt := range map[string]struct {
		line map[string]any
		want map[string]any
	}{
		"miss":  {miss, map[string]any{"client": "198.51.100.7", "user_agent": "probe/1.0", "format": "image/webp", "origin_status": "200", "outcome": "miss"}},
		"error": {failed, map[string]any{"client": "198.51.100.8", "origin_status": "500", "error_code": "origin_error"}},
	} {
		if tt.line == nil {
			t.Fatalf("no access line for the %s", name)
		}
		for k, v := range tt.want {
			if tt.line[k] != v {
				t.Errorf("%s: %s = %v, want %v (%v)", name, k, tt.line[k], v, tt.line)
			}
		}
	}
}

// TestAutoFormatNeverServesAnUnacceptedFormat: above the AVIF size limit a
// client accepting AVIF but not WebP gets JPEG, even after a Chrome request
// stored the WebP for the same URL, and the other way round; every Accept
// class, across the limit and for an animation, gets a format it listed.
// Before, the key recorded "avif" for both and served the stored one.
func TestAutoFormatNeverServesAnUnacceptedFormat(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	accepts := map[string][]string{ // Accept -> the formats it allows
		"image/avif,image/webp,image/apng,image/*,*/*;q=0.8": {"image/avif", "image/webp", "image/jpeg", "image/png", "image/gif"},
		"image/avif,image/jpeg":                              {"image/avif", "image/jpeg", "image/png", "image/gif"},
		"image/webp,*/*":                                     {"image/webp", "image/jpeg", "image/png", "image/gif"},
		"image/png,image/*;q=0.8,*/*;q=0.5":                  {"image/jpeg", "image/png", "image/gif"},
		"":                                                   {"image/jpeg", "image/png", "image/gif"},
	}
	for _, url := range []string{"/kodim23.png?w=300&auto=format", "/kodim23.png?w=2000&auto=format", "/photo-1600x1200-q85.jpg?w=1700&auto=format"} {
		for round := range 2 { // each order of arrival
			order := []string{"image/avif,image/webp,image/apng,image/*,*/*;q=0.8", "image/avif,image/jpeg", "image/webp,*/*", "image/png,image/*;q=0.8,*/*;q=0.5", ""}
			if round == 1 {
				for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
					order[i], order[j] = order[j], order[i]
				}
			}
			for _, acc := range order {
				r := h.get(t, url, "Accept", acc)
				ok := false
				for _, f := range accepts[acc] {
					ok = ok || r.header["content-type"] == f
				}
				if r.status != 200 || !ok {
					t.Errorf("%s with Accept %q (round %d): %d %s", url, acc, round, r.status, r.header["content-type"])
				}
			}
		}
	}
}

// TestMalformedFloodLogBounded: malformed request lines (which fasthttp
// answers itself, and logs quoting the client's bytes) and OPTIONS requests
// share log.errors_per_second, each line cut, and the next line says how
// many were dropped. Before, four threads of malformed lines wrote 30 MB of
// log a second. The edge's clock stands still: every line falls in one
// second.
func TestMalformedFloodLogBounded(t *testing.T) {
	t.Parallel()
	h := start(t, []string{"IMGEDGE_LOG_ERRORS_PER_SECOND=5"}, nil)
	clock := withClock(h)
	before := len(h.logs.String())
	junk := "GET /" + strings.Repeat("\x01", 4000) + " HTTP/1.1\r\nHost: x\r\n\r\n"
	for range 100 {
		c, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte("BOGUS " + junk))
		_, _ = io.Copy(io.Discard, c)
		c.Close()
		req, _ := http.NewRequest(http.MethodOptions, h.base+"/kodim23.png", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	logged := h.logs.String()[before:]
	if lines := strings.Count(logged, "\n"); lines == 0 || lines > 5 {
		t.Fatalf("%d log lines in one second of the flood, want 1 to 5 (log.errors_per_second):\n%.2000s", lines, logged)
	}
	for line := range strings.Lines(logged) {
		if len(line) > 2048 {
			t.Fatalf("a log line of %d bytes: the client's bytes are not cut", len(line))
		}
	}
	clock.Advance(time.Second)
	h.get(t, "/kodim23.png?zz=1")
	if !strings.Contains(h.logs.String()[before:], "error_lines_dropped") {
		t.Fatal("the first line after the flood does not say how many were dropped")
	}
}

// TestLibvipsWarningsShareTheLogBudget: libvips and GLib warn once per bad
// source (a bogus JPEG progression: 7,980 warning lines in 10 s of a
// flood, outside any budget). What main hands libvips, BudgetedLogger,
// passes the error budget, cuts long messages and says how many it dropped.
func TestLibvipsWarningsShareTheLogBudget(t *testing.T) {
	h := start(t, []string{"IMGEDGE_LOG_ERRORS_PER_SECOND=3"}, nil)
	clock := withClock(h)
	log := h.srv.BudgetedLogger()
	before := len(h.logs.String())
	for range 10 {
		log.Warn("Corrupt JPEG data: "+strings.Repeat("x", 5000), "domain", "VIPS")
	}
	logged := h.logs.String()[before:]
	if lines := strings.Count(logged, "\n"); lines != 3 {
		t.Fatalf("%d lines for 10 warnings in one second, want 3 (log.errors_per_second):\n%.1000s", lines, logged)
	}
	for line := range strings.Lines(logged) {
		if len(line) > 1024 || !strings.Contains(line, `"domain":"VIPS"`) {
			t.Fatalf("a line of %d bytes, or without its domain: %.300s", len(line), line)
		}
	}
	clock.Advance(time.Second)
	log.Warn("next", "domain", "VIPS")
	if tail := h.logs.String()[before+len(logged):]; !strings.Contains(tail, `"error_lines_dropped":7`) {
		t.Fatalf("the first line after the drop: %s", tail)
	}
}
