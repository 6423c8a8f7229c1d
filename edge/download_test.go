package edge

import (
	"strings"
	"testing"
)

// TestContentDisposition: dl= never breaks the header: quotes, CR/LF and
// control characters are dropped, path separators keep only the last
// element, unicode goes into filename* (RFC 8187) and an ASCII stand-in
// into filename.
func TestContentDisposition(t *testing.T) {
	for _, tt := range []struct{ name, ct, want string }{
		{"photo.jpg", "image/jpeg", `attachment; filename="photo.jpg"; filename*=UTF-8''photo.jpg`},
		{"photo", "image/webp", `attachment; filename="photo.webp"; filename*=UTF-8''photo.webp`},
		{`a"b.png`, "image/png", `attachment; filename="ab.png"; filename*=UTF-8''ab.png`},
		{"x.png\r\nSet-Cookie: a=b", "image/png", `attachment; filename="x.pngSet-Cookie: a=b.png"; filename*=UTF-8''x.pngSet-Cookie:%20a=b.png`},
		{"../../etc/passwd", "image/png", `attachment; filename="passwd.png"; filename*=UTF-8''passwd.png`},
		{`C:\Users\x\cat.gif`, "image/gif", `attachment; filename="cat.gif"; filename*=UTF-8''cat.gif`},
		{"日本.jpg", "image/jpeg", `attachment; filename="__.jpg"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.jpg`},
		{"100%.jpg", "image/jpeg", `attachment; filename="100_.jpg"; filename*=UTF-8''100%25.jpg`},
		{"...", "image/avif", `attachment; filename="image.avif"; filename*=UTF-8''image.avif`},
		{"a;b.jpg", "image/jpeg", `attachment; filename="ab.jpg"; filename*=UTF-8''ab.jpg`},
		// The extension is the answer's: a JPEG named page.html would be
		// opened as a page once saved.
		{"page.html", "image/jpeg", `attachment; filename="page.html.jpg"; filename*=UTF-8''page.html.jpg`},
		{"photo.JPEG", "image/jpeg", `attachment; filename="photo.JPEG"; filename*=UTF-8''photo.JPEG`},
		{"photo.jpg", "image/webp", `attachment; filename="photo.jpg.webp"; filename*=UTF-8''photo.jpg.webp`},
		// Bidi overrides (U+202E shows "cat\u202Egpj.exe" as "catexe.jpg")
		// and zero-width characters are dropped.
		{"cat\u202Egpj.exe", "image/png", `attachment; filename="catgpj.exe.png"; filename*=UTF-8''catgpj.exe.png`},
		{"a\u200Bb\u200D\u2066c\u2069\uFEFF.jpg", "image/jpeg", `attachment; filename="abc.jpg"; filename*=UTF-8''abc.jpg`},
		// The other invisible ones: the combining grapheme joiner, Hangul
		// fillers, a variation selector.
		{"a\u034Fb\u115Fc\u3164d\uFE0F.jpg", "image/jpeg", `attachment; filename="abcd.jpg"; filename*=UTF-8''abcd.jpg`},
	} {
		got := contentDisposition(tt.name, tt.ct)
		if got != tt.want {
			t.Errorf("%q: %s, want %s", tt.name, got, tt.want)
		}
		if strings.ContainsAny(got, "\r\n") {
			t.Errorf("%q: a line break reached the header", tt.name)
		}
	}
}
