package edge_test

import (
	"crypto/md5"
	"encoding/hex"
	"strings"
	"testing"
)

// imgixSign signs uri as imgix's SDKs do: the hex MD5 of the token, the
// path and the query, appended as the last parameter.
func imgixSign(token, uri string) string {
	sum := md5.Sum([]byte(token + uri))
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	return uri + sep + "s=" + hex.EncodeToString(sum[:])
}

// TestImgixSDKURLs: URLs as imgix's SDKs build them (srcset entries with
// ixlib, signed with the source's token) are served, and ixlib values from
// two SDKs share one cache entry; an unsigned or tampered one is refused.
func TestImgixSDKURLs(t *testing.T) {
	const token = "imgix-token-0123456789"
	h := start(t, []string{"IMGEDGE_SIGNING_KEYS=" + token, "IMGEDGE_SIGNING_SCHEME=imgix"}, nil)
	srcset := []string{"/kodim23.png?auto=format&fit=max&w=100&ixlib=js-3.8.0", "/kodim23.png?auto=format&fit=max&w=200&ixlib=js-3.8.0",
		"/kodim23.png?ixlib=js-3.8.0"}
	for _, uri := range srcset {
		if r := h.get(t, imgixSign(token, uri), "Accept", "image/webp"); r.status != 200 || !strings.HasPrefix(r.header["content-type"], "image/") {
			t.Errorf("%s: %d %s %s", uri, r.status, r.header["content-type"], r.body)
		}
	}
	php := h.get(t, imgixSign(token, "/kodim23.png?auto=format&fit=max&w=100&ixlib=php-3.3.1"), "Accept", "image/webp")
	if php.status != 200 || !strings.HasPrefix(php.header["cache-status"], "imgedge; hit") {
		t.Errorf("the same image through another SDK: %d %s, want a hit on the js entry", php.status, php.header["cache-status"])
	}
	for _, uri := range []string{"/kodim23.png?w=100&ixlib=js-3.8.0", strings.Replace(imgixSign(token, "/kodim23.png?w=100"), "w=100", "w=101", 1),
		imgixSign("another-token-0123456", "/kodim23.png?w=100")} {
		if r := h.get(t, uri); r.status != 403 {
			t.Errorf("%s: %d, want 403", uri, r.status)
		}
	}
}
