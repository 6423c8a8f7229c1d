package edge

import (
	"net/url"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// contentDisposition is the header of dl=name (RFC 6266): attachment, with
// an ASCII filename any client reads and the exact name as filename*
// (RFC 8187). The name is reduced to its last path element, control
// characters and quotes never reach the header, and a name whose extension
// is not the answer's type's gets that one added.
func contentDisposition(name, contentType string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	clean := strings.Map(func(r rune) rune {
		// Format characters (unicode.Cf) are invisible: bidi overrides
		// make "gpj.exe" show as "exe.jpg", zero-width ones hide the rest.
		// So are the other default-ignorable code points (the combining
		// grapheme joiner, Hangul fillers) and variation selectors, which
		// render as nothing (Unicode's Default_Ignorable_Code_Point).
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) ||
			unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) || unicode.Is(unicode.Variation_Selector, r) ||
			r == '"' || r == '\\' || r == ';' {
			return -1
		}
		return r
	}, name)
	clean = strings.Trim(clean, ". ")
	if clean == "" {
		clean = "image"
	}
	// The name keeps the extension of what is sent: dl=page.html on a JPEG
	// saved a file a browser would open as a page, from this origin.
	if want := extensions[contentType]; !strings.EqualFold(path.Ext(clean), want) &&
		!(want == ".jpg" && strings.EqualFold(path.Ext(clean), ".jpeg")) {
		clean += want
	}
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '%' {
			return '_'
		}
		return r
	}, clean)
	return `attachment; filename="` + ascii + `"; filename*=UTF-8''` + url.PathEscape(clean)
}

// extensions are the usual file extensions of what the edge answers (the
// system's mime tables differ between machines).
var extensions = map[string]string{
	"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/avif": ".avif", "image/jxl": ".jxl",
	"image/gif": ".gif", "application/json": ".json", "text/plain; charset=utf-8": ".txt",
}
