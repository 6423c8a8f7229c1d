package edge

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"imgedge/configs"
)

// TestPurgeRequests: what each kind of cache in front is sent for a purge
// of a path and of a prefix.
func TestPurgeRequests(t *testing.T) {
	s := &Server{}
	// The keys nginx names in Imgedge-Cache-Key: Host, path, query,
	// bucket, Origin, hints.
	s.variantLog.record([]byte("/p/a b.png"), []byte("a.example/p/a b.png|fm=webp&w=120|avif-webp|https://x.example|"))
	s.variantLog.record([]byte("/p/a b.png"), []byte("b.example/p/a b.png||other||"))
	s.variantLog.record([]byte("/p/c.png"), []byte("a.example/p/c.png|w=10|webp||"))
	s.variantLog.record([]byte("/q/d.png"), []byte("a.example/q/d.png|w=10|webp||"))
	path := purgeTarget{path: "/p/a b.png", sourceTag: "imgedge-src-1", originTag: "imgedge-origin-2"}
	prefix := purgeTarget{path: "/p/", prefix: true, originTag: "imgedge-origin-2"}
	cloudflare := configs.Downstream{Kind: configs.DownstreamURL, URL: "https://api.example/zones/Z/purge_cache",
		Header: map[string]string{"Authorization": "Bearer T"}, Body: `{"tags":["{tag}"],"path":"{path}"}`}
	fastly := configs.Downstream{Kind: configs.DownstreamURL, Method: "POST", URL: "https://api.example/service/S/purge/{tag}"}
	tests := []struct {
		name string
		d    configs.Downstream
		t    purgeTarget
		want []string // method URL [header value] [body]
	}{
		{"xkey path", configs.Downstream{Kind: configs.DownstreamVarnishXKey, URL: "http://v:6081"}, path,
			[]string{"PURGE http://v:6081/ Xkey=imgedge-src-1"}},
		{"xkey prefix is a ban", configs.Downstream{Kind: configs.DownstreamVarnishXKey, URL: "http://v:6081/"}, prefix,
			[]string{`BAN http://v:6081/ X-Ban-Url=^/p/`}},
		{"ban path", configs.Downstream{Kind: configs.DownstreamVarnishBan, URL: "http://v:6081", Host: "img.example"}, path,
			[]string{`BAN http://v:6081/ X-Ban-Url=^/p/a%20b\.png(\?|$) host=img.example`}},
		{"nginx path: each key nginx filled, whatever its Host", configs.Downstream{Kind: configs.DownstreamNginx, URL: "http://n/purge"}, path,
			[]string{"GET http://n/purge Imgedge-Cache-Key=a.example/p/a b.png|fm=webp&w=120|avif-webp|https://x.example|",
				"GET http://n/purge Imgedge-Cache-Key=b.example/p/a b.png||other||"}},
		{"url: a tag API", cloudflare, path,
			[]string{`POST https://api.example/zones/Z/purge_cache Authorization=Bearer T body={"tags":["imgedge-src-1"],"path":"/p/a b.png"}`}},
		{"url: a prefix drops the origin's tag", fastly, prefix,
			[]string{"POST https://api.example/service/S/purge/imgedge-origin-2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqs, err := s.purgeRequests(tt.d, tt.t)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, r := range reqs {
				got[describe(t, r)] = true
			}
			if len(got) != len(tt.want) {
				t.Errorf("%d requests %v, want %v", len(reqs), got, tt.want)
			}
			for _, w := range tt.want {
				if !got[w] {
					t.Errorf("missing %q in %v", w, got)
				}
			}
		})
	}
	// A prefix purge at nginx covers every remembered path under it.
	reqs, err := s.purgeRequests(configs.Downstream{Kind: configs.DownstreamNginx, URL: "http://n/purge"}, prefix)
	if err != nil || len(reqs) != 3 {
		t.Errorf("nginx prefix purge: %d requests (%v), want 3: the keys of the paths under /p/", len(reqs), err)
	}
}

// describe is a request as the table writes it.
func describe(t *testing.T, r *http.Request) string {
	t.Helper()
	s := r.Method + " " + r.URL.String()
	for _, h := range []string{"Xkey", "X-Ban-Url", "Authorization", "Imgedge-Cache-Key"} {
		if v := r.Header.Get(h); v != "" {
			s += " " + h + "=" + v
		}
	}
	if r.Host != "" && r.Host != r.URL.Host {
		s += " host=" + r.Host
	}
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		s += " body=" + string(b)
	}
	return s
}

// TestVariantLogIsBounded: the keys remembered for nginx purges stay
// within variantLogBytes however many paths and queries arrive, long paths
// included, and the count of what is held stays true.
func TestVariantLogIsBounded(t *testing.T) {
	var l variantLog
	long := strings.Repeat("x", 8000)
	for i := range 6000 {
		l.record([]byte("/p"+strconv.Itoa(i%500)+long), []byte("w="+strconv.Itoa(i)))
	}
	held := 0
	for p, qs := range l.paths {
		for q := range qs.keys {
			held += entryBytes(p, q)
		}
	}
	if held != l.bytes || held > variantLogBytes || held < variantLogBytes/2 {
		t.Errorf("%d bytes remembered (count says %d), want at most %d and not far below", held, l.bytes, variantLogBytes)
	}
}

// TestNameable: the only key a request may have remembered is one of its
// own, spelled as the README's nginx spells it.
func TestNameable(t *testing.T) {
	for _, tt := range []struct {
		key, host, path, query string
		want                   bool
	}{
		{"img.example/a.png|w=10|webp||", "img.example", "/a.png", "w=10", true},
		{"img.example/a.png|w=10|webp||", "IMG.example:8081", "/a.png", "w=10", true},
		{"img.example/a.png||other|https://x.example|2,,,,,,", "img.example", "/a.png", "", true},
		{"img.example/b.png|w=10|webp||", "img.example", "/a.png", "w=10", false},   // another path
		{"img.example/a.png.jpg|w=10|||", "img.example", "/a.png", "w=10", false},   // a longer path
		{"other.example/a.png|w=10|webp||", "img.example", "/a.png", "w=10", false}, // another host
		{"img.example/a.png|w=100|webp||", "img.example", "/a.png", "w=10", false},  // another query
		{"img.example/a.png|w=10", "img.example", "/a.png", "w=10", false},          // cut short
		{"img.example/a.png", "img.example", "/a.png", "", false},
	} {
		if got := nameable([]byte(tt.key), []byte(tt.host), []byte(tt.path), []byte(tt.query)); got != tt.want {
			t.Errorf("nameable(%q, %q, %q, %q) = %v, want %v", tt.key, tt.host, tt.path, tt.query, got, tt.want)
		}
	}
}

// TestNginxPurgeSaysWhatItForgot: past maxKeysPerPath keys for a path, or
// once keys were dropped for memory, a purge at nginx still sends what it
// knows and says that it may have missed some.
func TestNginxPurgeSaysWhatItForgot(t *testing.T) {
	s := &Server{}
	d := configs.Downstream{Kind: configs.DownstreamNginx, URL: "http://n/purge"}
	for i := range maxKeysPerPath + 1 {
		s.variantLog.record([]byte("/a.png"), []byte("h/a.png|w="+strconv.Itoa(i)+"|||"))
	}
	s.variantLog.record([]byte("/b.png"), []byte("h/b.png||||"))
	reqs, err := s.purgeRequests(d, purgeTarget{path: "/a.png"})
	if len(reqs) != maxKeysPerPath || !errors.Is(err, errKeysForgotten) {
		t.Errorf("a path with more keys than remembered: %d requests, %v", len(reqs), err)
	}
	if reqs, err := s.purgeRequests(d, purgeTarget{path: "/b.png"}); len(reqs) != 1 || err != nil {
		t.Errorf("a path with all its keys: %d requests, %v", len(reqs), err)
	}
}
