package edge

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestRequestHeadersAsPeek: one pass finds what fasthttp's Peek finds for
// every header the edge reads, whatever the case of the name, the first of
// repeated headers, and nothing for a name it merely resembles.
func TestRequestHeadersAsPeek(t *testing.T) {
	t.Parallel()
	names := map[int]string{
		inAccept: "Accept", inOrigin: "Origin", inFlags: flagsHeader, inRequestID: requestIDHeader,
		inCacheKey: cacheKeyName, inIfNoneMatch: "If-None-Match", inIfModifiedSince: "If-Modified-Since",
		inDPR: "Sec-CH-DPR", inDPROld: "DPR", inWidth: "Sec-CH-Width", inWidthOld: "Width",
		inViewportWidth: "Sec-CH-Viewport-Width", inViewportWidthOld: "Viewport-Width", inSaveData: "Save-Data",
	}
	if len(names) != inCount {
		t.Fatalf("%d names for %d headers", len(names), inCount)
	}
	for _, tc := range []struct{ name, headers string }{
		{"none", ""},
		{"a browser's", "Accept: image/avif,image/webp,*/*\r\nOrigin: https://a.example\r\nSec-CH-DPR: 2\r\nSave-Data: on\r\nUser-Agent: x\r\n"},
		{"lower case", "accept: image/webp\r\nsec-ch-viewport-width: 980\r\nviewport-width: 1\r\nif-none-match: \"e\"\r\nimgedge-flags: jxl=on\r\n"},
		{"repeated", "Accept: first\r\nAccept: second\r\nDPR: 1.5\r\nDPR: 3\r\nX-Request-Id: a\r\nx-request-id: b\r\n"},
		{"look-alikes", "Accepts: no\r\nOrigins: no\r\nDPRs: no\r\nSec-CH-DPR-X: no\r\nWidth2: no\r\nImgedge-Cache-Keys: no\r\n"},
		{"every one", "Accept: a\r\nOrigin: o\r\nImgedge-Flags: f\r\nX-Request-Id: r\r\nImgedge-Cache-Key: k\r\nIf-None-Match: n\r\n" +
			"If-Modified-Since: m\r\nSec-CH-DPR: 2\r\nDPR: 1\r\nSec-CH-Width: 300\r\nWidth: 200\r\nSec-CH-Viewport-Width: 900\r\n" +
			"Viewport-Width: 800\r\nSave-Data: on\r\nCookie: c=1\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req fasthttp.Request
			raw := "GET /a.jpg?w=1 HTTP/1.1\r\nHost: h.example\r\n" + tc.headers + "\r\n"
			if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
				t.Fatal(err)
			}
			var in requestHeaders
			in.read(&req.Header)
			for i := range inCount {
				if got, want := in.get(i), req.Header.Peek(names[i]); !bytes.Equal(got, want) {
					t.Errorf("%s: %q, Peek %q", names[i], got, want)
				}
			}
		})
	}
}
