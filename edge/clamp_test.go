package edge_test

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/url"
	"testing"
)

// TestOversizeAsksDegrade: imgix's SDK builds srcsets to 8192w and dpr 5
// whatever the source; an entry over a limit answers the largest image of
// the shape asked within it, says which limit in Imgedge-Clamped (on the
// hit too) and in /explain, where it answered 422 before.
func TestOversizeAsksDegrade(t *testing.T) {
	t.Parallel()
	h := start(t, []string{"IMGEDGE_LIMITS_MAX_OUTPUT_PIXELS=1000000"}, nil)
	for _, tc := range []struct {
		path  string
		limit string
	}{
		{"/kodim23.png?w=4000&fm=png", "limits.max_output_pixels"},
		{"/kodim23.png?w=3000&dpr=5&fm=png", "limits.max_output_pixels"}, // the limit that set the size, after the dpr's
		{"/kodim23.png?w=600&fm=png", ""},
	} {
		for _, round := range []string{"miss", "hit"} {
			r := h.get(t, tc.path)
			if r.status != 200 || r.header["imgedge-clamped"] != tc.limit {
				t.Fatalf("%s (%s): %d, Imgedge-Clamped %q; want 200 and %q (%s)", tc.path, round, r.status, r.header["imgedge-clamped"], tc.limit, r.body)
			}
			b := decodePNG(t, r).Bounds().Size()
			if px := b.X * b.Y; px > 1_000_000 || math.Abs(float64(b.X)/float64(b.Y)-1.5) > 0.01 || (tc.limit != "" && px < 900_000) {
				t.Fatalf("%s (%s): %v, want the largest 3:2 image within 1,000,000 pixels", tc.path, round, b)
			}
		}
	}
	// Padding does not shrink with the box: the box does, until the padded
	// output fits.
	padded := h.get(t, "/kodim23.png?w=1500&h=1000&fit=fill&pad=300&fm=png")
	if b := decodePNG(t, padded).Bounds().Size(); padded.header["imgedge-clamped"] != "limits.max_output_pixels" || b.X*b.Y > 1_000_000 {
		t.Errorf("fit=fill&pad=300: %v, Imgedge-Clamped %q; want within 1,000,000 pixels", b, padded.header["imgedge-clamped"])
	}
	// A client hint never turns an answer into a 422 (each was 200 without
	// the hint and 422 with it).
	for _, path := range []string{
		"/kodim23.png?ch=DPR,Width&w=1600&h=1600&fit=crop&fm=avif",
		"/kodim23.png?ch=DPR,Width&w=1600&h=1600&fit=crop&fm=jxl",
		"/kodim23.png?ch=DPR,Width&w=1500&fit=crop&ar=1:1&fm=avif",
		"/kodim23.png?ch=DPR,Width&w=2000&h=2000&fit=scale&fm=png",
	} {
		for _, hint := range [][]string{nil, {"Sec-CH-DPR", "3"}, {"DPR", "2"}} {
			if r := h.get(t, path, hint...); r.status != 200 {
				t.Errorf("%s with %v: %d %.200s", path, hint, r.status, r.body)
			}
		}
	}
	resp, err := http.Get(h.admin + "/explain?url=" + url.QueryEscape("/kodim23.png?w=4000&fm=png"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var ex struct {
		Output struct {
			Width     int    `json:"width"`
			ClampedBy string `json:"clamped_by"`
		} `json:"output"`
	}
	if err := json.Unmarshal(body, &ex); err != nil || ex.Output.ClampedBy != "limits.max_output_pixels" || ex.Output.Width > 1225 {
		t.Fatalf("explain: %v %+v (%s)", err, ex, body)
	}
}
