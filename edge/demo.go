package edge

import (
	_ "embed"
	"html/template"
	"net"
	"net/http"
	"strings"
)

//go:embed demo.html
var demoHTML string

var demoPage = template.Must(template.New("demo").Parse(demoHTML))

// demo serves GET /demo: srcset, <picture>, client hints and a parameter
// playground against this edge's public listener (?base= names another
// address, ?image= another path).
func (s *Server) demo(w http.ResponseWriter, r *http.Request) {
	base := r.URL.Query().Get("base")
	if base == "" {
		host, port, _ := net.SplitHostPort(s.cfg.Listen)
		if host == "" || host == "0.0.0.0" || host == "::" {
			host, _, _ = net.SplitHostPort(r.Host)
		}
		base = "http://" + net.JoinHostPort(host, port)
	}
	image := r.URL.Query().Get("image")
	if !strings.HasPrefix(image, "/") {
		image = "/kodim23.png"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// Chrome sends client hints to the image origin only when this page
	// asks for them and delegates them to it (the meta tag).
	w.Header().Set("Accept-CH", "Sec-CH-DPR, Sec-CH-Width, Sec-CH-Viewport-Width")
	_ = demoPage.Execute(w, struct{ Base, Image string }{strings.TrimRight(base, "/"), image})
}
