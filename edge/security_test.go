package edge_test

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"imgedge/configs"
	"imgedge/edge/signing"
	"imgedge/transform"
)

const (
	oldKey = "old-signing-key-0123"
	newKey = "new-signing-key-4567"
)

func signed(t testing.TB, key, uri string) string {
	t.Helper()
	s, err := signing.Sign(key, "", uri)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSignedURLs(t *testing.T) {
	h := start(t, []string{"IMGEDGE_SIGNING_KEYS=" + newKey + "," + oldKey}, nil)
	for _, tt := range []struct {
		name, uri string
		status    int
		code      string
	}{
		{"unsigned", "/kodim23.png?w=100", 403, "signature_invalid"},
		{"unsigned original", "/kodim23.png", 403, "signature_invalid"},
		{"wrong signature", "/kodim23.png?w=100&s=" + strings.Repeat("ab", 32), 403, "signature_invalid"},
		{"signed for another path", strings.Replace(signed(t, newKey, "/kodim07.png?w=100"), "kodim07", "kodim23", 1), 403, "signature_invalid"},
		{"params changed after signing", strings.Replace(signed(t, newKey, "/kodim23.png?w=100"), "w=100", "w=2000", 1), 403, "signature_invalid"},
		{"bad param, bad signature: the signature is checked first", "/kodim23.png?wdth=1", 403, "signature_invalid"},
		{"bad param, good signature", signed(t, newKey, "/kodim23.png?wdth=1"), 400, "bad_param"},
		{"new key", signed(t, newKey, "/kodim23.png?w=100"), 200, ""},
		{"old key during rotation", signed(t, oldKey, "/kodim23.png?w=100"), 200, ""},
		{"original", signed(t, newKey, "/kodim23.png"), 200, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := h.get(t, tt.uri)
			if tt.status == 200 {
				if r.status != 200 {
					t.Fatalf("%s: %d %s", tt.uri, r.status, r.body)
				}
				return
			}
			checkProblem(t, r, tt.status, "user", tt.code, "")
		})
	}
	// Rotation done: a reload without the old key refuses its URLs.
	cfg, err := configs.Load("", []string{"IMGEDGE_ORIGIN=" + h.origin.url, "IMGEDGE_SIGNING_KEYS=" + newKey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	checkProblem(t, h.get(t, signed(t, oldKey, "/kodim23.png?w=100")), 403, "user", "signature_invalid", "")
	if r := h.get(t, signed(t, newKey, "/kodim23.png?w=100")); r.status != 200 {
		t.Fatalf("new key after rotation: %d", r.status)
	}
}

// bombPNG writes a 1-bit greyscale PNG of side x side zero pixels: about
// 100 KB on disk for 30000x30000, 900 megapixels once decoded.
func bombPNG(t *testing.T, path string, side int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := func(typ string, data []byte) {
		var hdr [8]byte
		binary.BigEndian.PutUint32(hdr[:4], uint32(len(data)))
		copy(hdr[4:], typ)
		crc := crc32.NewIEEE()
		crc.Write(hdr[4:])
		crc.Write(data)
		f.Write(hdr[:])
		f.Write(data)
		binary.Write(f, binary.BigEndian, crc.Sum32())
	}
	f.Write([]byte("\x89PNG\r\n\x1a\n"))
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(side))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(side))
	ihdr[8], ihdr[9] = 1, 0 // 1 bit, greyscale
	chunk("IHDR", ihdr)
	var idat bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&idat, zlib.BestCompression)
	row := make([]byte, 1+(side+7)/8) // filter byte + packed bits
	for range side {
		zw.Write(row)
	}
	zw.Close()
	chunk("IDAT", idat.Bytes())
	chunk("IEND", nil)
}

// giantJPEG is hopper.jpg with its frame header claiming 65500x65500.
func giantJPEG(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(images, "hopper.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Clone(b)
	for p := 2; p+9 < len(b); p += 2 + int(binary.BigEndian.Uint16(b[p+2:])) {
		if b[p+1] == 0xC0 || b[p+1] == 0xC2 {
			binary.BigEndian.PutUint16(b[p+5:], 65500)
			binary.BigEndian.PutUint16(b[p+7:], 65500)
			return b
		}
	}
	t.Fatal("no SOF in hopper.jpg")
	return nil
}

func rssBytes(t *testing.T) int64 {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

func TestDecompressionBombs(t *testing.T) {
	// Not beside other tests: it reads the process's resident memory, which
	// their renders move.
	dir := t.TempDir()
	bombPNG(t, filepath.Join(dir, "bomb.png"), 30000)
	giant := giantJPEG(t)
	if err := os.WriteFile(filepath.Join(dir, "giant.jpg"), giant, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "giant-truncated.jpg"), giant[:len(giant)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "bomb.png")); st.Size() > 200<<10 {
		t.Fatalf("bomb.png is %d bytes, meant to be about 100 KB", st.Size())
	}
	h := start(t, []string{"IMGEDGE_ORIGIN=file:" + dir}, nil)
	// The same truncated bytes from an HTTP origin, where no write can be
	// under way: the user's broken file.
	remote := start(t, nil, nil)
	remote.origin.bodies.Store("/giant-truncated.jpg", giant[:len(giant)/2])
	runtime.GC()
	before := rssBytes(t)
	// A truncated file just written looks like one still being written: a
	// fault of the origin (TestDirTornWriteIsBeingWritten moves the folder's
	// clock past origin.RacyAge, after which it is the user's and a 422).
	checkProblem(t, h.get(t, "/giant-truncated.jpg?w=100"), 503, "retryable", "origin_unavailable", "being written")
	// Each is refused before any pixel is decoded: from the header's size, or
	// by the integrity check that runs before libvips sees the bytes.
	for _, tc := range []struct {
		h      *harness
		name   string
		reason string
	}{{h, "bomb.png", "limits.max_source_pixels"}, {h, "giant.jpg", "limits.max_source_pixels"}, {remote, "giant-truncated.jpg", "truncated"}} {
		for _, q := range []string{"?w=100", "?fm=webp", "?w=100&fit=crop&h=100&crop=attention"} {
			checkProblem(t, tc.h.get(t, "/"+tc.name+q), 422, "user", "unsupported_image", tc.reason)
		}
	}
	if grew := rssBytes(t) - before; grew > 32<<20 {
		t.Errorf("resident memory grew by %d MiB refusing bombs", grew>>20)
	}
}

func TestFolderOriginConfinement(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	hopper, _ := os.ReadFile(filepath.Join(images, "hopper.jpg"))
	os.WriteFile(filepath.Join(root, "ok.jpg"), hopper, 0o644)
	os.WriteFile(filepath.Join(parent, "secret.jpg"), hopper, 0o644)
	os.Symlink(filepath.Join(parent, "secret.jpg"), filepath.Join(root, "link.jpg"))
	os.Symlink(parent, filepath.Join(root, "up"))
	h := start(t, []string{"IMGEDGE_ORIGIN=file:" + root}, nil)
	if r := h.get(t, "/ok.jpg"); r.status != 200 {
		t.Fatalf("/ok.jpg: %d", r.status)
	}
	for _, p := range []string{
		"/../secret.jpg", "/%2e%2e/secret.jpg", "/..%2fsecret.jpg", "/%2e%2e%2fsecret.jpg", "/..%5csecret.jpg",
		"/link.jpg", "/up/secret.jpg", "/ok.jpg%00.png", "/ok.jpg%00", "/sub/..%2f..%2fsecret.jpg?w=10",
	} {
		if r := h.get(t, p); r.status != 404 {
			t.Errorf("%s: %d, want 404", p, r.status)
		}
	}
}

func TestHTTPOriginGetsNormalisedPath(t *testing.T) {
	t.Parallel()
	h := start(t, nil, nil)
	for _, p := range []string{"/a/../kodim23.png?w=10", "/%2e%2e/kodim23.png?w=11", "/./kodim23.png?w=12", "//kodim23.png?w=13"} {
		if r := h.get(t, p); r.status != 200 {
			t.Errorf("%s: %d", p, r.status)
		}
	}
	h.origin.mu.Lock()
	defer h.origin.mu.Unlock()
	for path, n := range h.origin.hits {
		if path != "/kodim23.png" {
			t.Errorf("the origin was asked for %q (%d times)", path, n)
		}
	}
}

// TestSVGNeverReachesOut: an SVG's external references (http:, file:) are
// not followed, and an SVG original is never served as SVG.
func TestSVGNeverReachesOut(t *testing.T) {
	var outside atomic.Int32
	trap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { outside.Add(1) }))
	defer trap.Close()
	dir := t.TempDir()
	red := filepath.Join(dir, "red.png")
	img := image.NewRGBA(image.Rect(0, 0, 50, 50))
	draw.Draw(img, img.Bounds(), &image.Uniform{color.RGBA{255, 0, 0, 255}}, image.Point{}, draw.Src)
	var buf bytes.Buffer
	png.Encode(&buf, img)
	os.WriteFile(red, buf.Bytes(), 0o644)
	svg := `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="100" height="100">
<rect width="100" height="100" fill="white"/>
<image x="0" y="0" width="50" height="50" xlink:href="file://` + red + `"/>
<image x="50" y="0" width="50" height="50" href="` + trap.URL + `/x.png"/>
<image x="0" y="50" width="50" height="50" xlink:href="red.png"/>
<script>document.write('pwned')</script>
</svg>`
	os.WriteFile(filepath.Join(dir, "evil.svg"), []byte(svg), 0o644)
	h := start(t, []string{"IMGEDGE_ORIGIN=file:" + dir}, nil)
	r := h.get(t, "/evil.svg?fm=png")
	if r.status != 200 || r.header["content-type"] != "image/png" {
		t.Fatalf("evil.svg: %d %s %s", r.status, r.header["content-type"], r.body)
	}
	out, err := png.Decode(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	for _, pt := range []image.Point{{25, 25}, {75, 25}, {25, 75}} {
		if c := color.RGBAModel.Convert(out.At(pt.X, pt.Y)).(color.RGBA); c.G < 200 {
			t.Errorf("pixel %v is %v: an external image was loaded", pt, c)
		}
	}
	if outside.Load() != 0 {
		t.Errorf("the SVG made %d requests to another server", outside.Load())
	}
	orig := h.get(t, "/evil.svg")
	if orig.header["content-type"] == "image/svg+xml" || strings.Contains(orig.header["content-type"], "svg") {
		t.Errorf("the SVG original was served as %s", orig.header["content-type"])
	}
}

func TestSlowAndGreedyClients(t *testing.T) {
	t.Parallel()
	h := start(t, []string{"IMGEDGE_SERVER_READ_TIMEOUT=300ms", "IMGEDGE_SERVER_MAX_CONNS=8"}, nil)
	addr := strings.TrimPrefix(h.base, "http://")
	// A client trickling its request line is cut off...
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	cut := make(chan time.Duration, 1)
	var slowAnswer []byte
	go func() {
		started := time.Now()
		for _, c := range []byte("GET /kodim23.png HTTP/1.1\r\nHost: x\r\n") {
			if _, err := slow.Write([]byte{c}); err != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		slow.SetReadDeadline(time.Now().Add(5 * time.Second))
		slowAnswer, _ = io.ReadAll(slow)
		cut <- time.Since(started)
	}()
	// ...while others are served.
	if r := h.get(t, "/kodim23.png?w=10"); r.status != 200 {
		t.Fatalf("a normal request beside a slow client: %d", r.status)
	}
	select {
	case took := <-cut:
		if took > 3*time.Second {
			t.Errorf("the trickling client was cut off after %v", took)
		}
		// In the taxonomy, and no cache may keep it: it is about this
		// connection, not the URL.
		if a := string(slowAnswer); !strings.HasPrefix(a, "HTTP/1.1 408 ") || !strings.Contains(a, "application/problem+json") ||
			!strings.Contains(a, "no-store") || !strings.Contains(a, `"code":"bad_param"`) {
			t.Errorf("the trickling client was answered %q, want 408 problem+json, no-store", a)
		}
	case <-time.After(6 * time.Second):
		t.Fatal("the trickling client was never cut off")
	}
	// A header larger than the read buffer is refused.
	r := h.get(t, "/kodim23.png?w=10", "X-Big", strings.Repeat("a", 16<<10))
	if r.status != 431 || r.header["content-type"] != "application/problem+json" || r.header["cache-control"] != "no-store" {
		t.Errorf("a 16 KiB header: %d %s %s, want 431 problem+json, no-store", r.status, r.header["content-type"], r.header["cache-control"])
	}
	// server.max_conns bounds the connections being served: with eight
	// requests waiting on the origin, the ninth connection is turned away.
	// (Idle keep-alive connections give way instead, oldest first:
	// TestIdleConnectionsCannotLockClientsOut.)
	arrived, release := make(chan struct{}, 16), make(chan struct{})
	slowOrigin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		http.NotFound(w, r)
	}))
	defer slowOrigin.Close()
	defer close(release)
	// Routes are fixed at start: a second edge holds the slow one.
	g := start(t, []string{"IMGEDGE_SERVER_MAX_CONNS=8", "IMGEDGE_ORIGINS=[{prefix: /slow, url: '" + slowOrigin.URL + "'}]"}, nil)
	gaddr := strings.TrimPrefix(g.base, "http://")
	var conns []net.Conn
	for i := range 8 {
		c, err := net.Dial("tcp", gaddr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		c.Write([]byte("GET /slow/" + strconv.Itoa(i) + ".png?w=10 HTTP/1.1\r\nHost: x\r\n\r\n"))
		<-arrived // its request is in a handler, waiting on the origin
	}
	extra, err := net.Dial("tcp", gaddr)
	if err != nil {
		t.Fatal(err)
	}
	extra.Write([]byte("GET /kodim23.png?w=10 HTTP/1.1\r\nHost: x\r\n\r\n"))
	extra.SetReadDeadline(time.Now().Add(10 * time.Second)) // served instead: kept alive
	reply, _ := io.ReadAll(extra)
	// In the taxonomy: 503 overloaded, Retry-After, and no cache keeps it.
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(reply)), nil)
	if err != nil || resp.StatusCode != 503 || resp.Header.Get("Content-Type") != "application/problem+json" ||
		resp.Header.Get("Retry-After") == "" || resp.Header.Get("Cache-Control") != "no-store" || !bytes.Contains(reply, []byte(`"code":"overloaded"`)) {
		t.Errorf("connection over server.max_conns got %q (%v)", reply, err)
	}
	for _, c := range conns {
		c.Close()
	}
	extra.Close()
}

func TestWidthsStopCacheFlooding(t *testing.T) {
	t.Parallel()
	h := start(t, []string{"IMGEDGE_LIMITS_WIDTHS=320,640"}, nil)
	var first response
	for w := 100; w < 120; w++ {
		r := h.get(t, fmt.Sprintf("/kodim23.png?w=%d", w))
		if r.status != 200 {
			t.Fatalf("w=%d: %d", w, r.status)
		}
		if first.body == nil {
			first = r
		} else if !bytes.Equal(r.body, first.body) {
			t.Fatalf("w=%d did not snap to w=320", w)
		}
	}
	if n := h.tr.n.Load(); n != 1 {
		t.Fatalf("20 requested widths made %d transforms, want 1", n)
	}
}

// TestOneAddressCannotHoldEveryConnection: idle sockets from one address
// stop at server.max_conns_per_ip, and another address is still served.
func TestOneAddressCannotHoldEveryConnection(t *testing.T) {
	t.Parallel()
	h := start(t, []string{"IMGEDGE_SERVER_MAX_CONNS=64", "IMGEDGE_SERVER_MAX_CONNS_PER_IP=16"}, nil)
	addr := strings.TrimPrefix(h.base, "http://")
	from := func(ip string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		return d.Dial("tcp", addr)
	}
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	refused := 0
	for range 40 { // an attacker's idle sockets, more than the per-address bound
		c, err := from("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	// The server closes a connection over the bound at once; one it keeps
	// stays silent, waiting for a request, until the read deadline.
	// Each is read at once: a read after the deadline reports the deadline
	// whatever the socket holds.
	quiet := time.Now().Add(time.Second)
	var wg sync.WaitGroup
	var closed, answered atomic.Int64
	for _, c := range idle {
		c.SetReadDeadline(quiet)
		wg.Go(func() {
			var b [64]byte
			n, err := c.Read(b[:])
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				closed.Add(1)
			}
			if bytes.HasPrefix(b[:n], []byte("HTTP/1.1 503 ")) {
				answered.Add(1) // the taxonomy's overloaded, not a bare close
			}
		})
	}
	wg.Wait()
	refused = int(closed.Load())
	if refused < 40-16 || answered.Load() != closed.Load() {
		t.Errorf("%d of 40 idle sockets from one address refused (%d answered 503), want at least %d, each answered", refused, answered.Load(), 40-16)
	}
	other, err := from("127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.Write([]byte("GET /kodim23.png?w=10 HTTP/1.1\r\nHost: x\r\n\r\n"))
	other.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(other), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("another address while one holds its bound: %v %v", resp, err)
	}
}

// TestProblemsQuoteNoOriginBytes: an error about a broken source says where
// and what, never the source's own bytes (a chunk type, a marker) to a
// public client. Before, a PNG whose chunk "SECR" ran past the end answered
// a 422 quoting "SECR".
func TestProblemsQuoteNoOriginBytes(t *testing.T) {
	h := start(t, nil, nil)
	png := readImage(t, "kodim23.png")
	secret := append(append([]byte{}, png[:33]...), 0, 0, 0x10, 0, 'S', 'E', 'C', 'R', 1, 2, 3) // IHDR, then a chunk past the end
	corrupt := append(append([]byte{}, png[:33]...), 0, 0, 0, 1, 'Q', 'T', 'O', 'P', 9, 0, 0, 0, 0)
	for name, body := range map[string][]byte{"/secret.png": secret, "/corrupt.png": corrupt} {
		h.origin.bodies.Store(name, body)
		for _, u := range []string{name + "?w=10", name + "?fm=webp"} { // an original passes through as it is
			r := h.get(t, u)
			if r.status < 400 || strings.Contains(string(r.body), "SECR") || strings.Contains(string(r.body), "QTOP") {
				t.Errorf("%s: %d %s", u, r.status, r.body)
			}
		}
	}
}

// failsWith is a transformer whose every render fails with err.
type failsWith struct {
	transform.Transformer
	err error
}

func (f failsWith) Transform(context.Context, []byte, transform.Job) (transform.Result, error) {
	return transform.Result{}, f.err
}

// TestTransientProblemsAreNotCached: a render stopped by transform.timeout
// or refused for load may succeed later: no cache in front may keep its
// answer. Before, the timeout's 422 was public for cache.negative_ttl.
func TestTransientProblemsAreNotCached(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err    error
		status int
	}{{transform.ErrTimeout, 422}, {transform.ErrBusy, 503}} {
		h := start(t, nil, func(tr transform.Transformer) transform.Transformer { return failsWith{tr, tt.err} })
		r := h.get(t, "/kodim23.png?w=77")
		if r.status != tt.status || r.header["cache-control"] != "no-store" {
			t.Errorf("%v: %d Cache-Control %q, want %d no-store", tt.err, r.status, r.header["cache-control"], tt.status)
		}
	}
}

// TestIdleConnectionsCannotLockClientsOut: ten addresses holding idle
// keep-alive connections up to server.max_conns do not keep another
// client out: the oldest idle ones are closed to make room. Before, every
// new connection got 503 "concurrency limit exceeded" until the idle ones
// timed out.
func TestIdleConnectionsCannotLockClientsOut(t *testing.T) {
	h := start(t, []string{"IMGEDGE_SERVER_MAX_CONNS=30", "IMGEDGE_SERVER_MAX_CONNS_PER_IP=1000"}, nil)
	addr := strings.TrimPrefix(h.base, "http://")
	get := func(c net.Conn, r *bufio.Reader) int {
		t.Helper()
		if _, err := c.Write([]byte("GET /kodim23.png HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			return 0
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 30 {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%10))}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		get(c, bufio.NewReader(c)) // then idle, kept alive
	}
	for i := range 20 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		status := get(c, bufio.NewReader(c))
		c.Close()
		if status != 200 {
			t.Fatalf("request %d of a new client while idle connections fill server.max_conns: %d, want 200", i, status)
		}
	}
}

// TestSignature403SaysHowToSign: the 403 of an unsigned URL tells the user
// how s is made under the scheme in force: imgedge's HMAC of the path, of
// the host and path when routes are chosen by host, or imgix's MD5 of the
// token and path (before, every edge told imgix users to use an HMAC).
func TestSignature403SaysHowToSign(t *testing.T) {
	t.Parallel()
	const key = "sign-key-0123456789abcdef"
	for _, tc := range []struct {
		name string
		env  []string
		how  string
	}{
		{"hmac-sha256", []string{"IMGEDGE_SIGNING_KEYS=" + key}, "HMAC-SHA256 of the path and query"},
		{"hmac-sha256 with host routes", []string{"IMGEDGE_SIGNING_KEYS=" + key, "IMGEDGE_ORIGINS=[{hosts: [b.test], url: 'file:../bench/images'}]"},
			"HMAC-SHA256 of the host (lower case, no port) followed by the path"},
		{"imgix", []string{"IMGEDGE_SIGNING_KEYS=" + key, "IMGEDGE_SIGNING_SCHEME=imgix"}, "MD5 of this route's token followed by the path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, tc.env, nil)
			checkProblem(t, h.get(t, "/kodim23.png?w=10"), 403, "user", "signature_invalid", tc.how)
		})
	}
}
