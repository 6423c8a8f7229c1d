package main

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"go.yaml.in/yaml/v3"
)

// Workload describes the requests of a run (bench/workloads/*.yaml).
type Workload struct {
	Name     string   `yaml:"name"`
	Images   []string `yaml:"images"`
	ZipfS    float64  `yaml:"zipf_s"` // popularity skew over images; > 1
	Variants struct {
		Widths          []int     `yaml:"widths"` // 0: no w parameter
		Fits            []string  `yaml:"fits"`
		Formats         []string  `yaml:"formats"` // auto, source, or an fm value
		DPRs            []float64 `yaml:"dprs"`
		CropHeightRatio float64   `yaml:"crop_height_ratio"`
	} `yaml:"variants"`
	Accept []struct {
		Weight int    `yaml:"weight"`
		Value  string `yaml:"value"`
	} `yaml:"accept"`
	// Unique makes each request a variant no earlier one asked for: the
	// width walks UniqueWidths and, each time it wraps, the quality steps
	// through UniqueQualities (both inclusive ranges), so a run repeats a
	// variant only after (widths) x (qualities) requests.
	Unique          bool   `yaml:"unique"`
	UniqueWidths    [2]int `yaml:"unique_widths"`
	UniqueQualities [2]int `yaml:"unique_qualities"`
	// SourceCopies makes each request ask for the next of that many copies
	// of its image, named c<i>-<image>, so no source is reused before all
	// have been (the server's origin must answer them: bench/compare.sh
	// uses an origin that answers every path with one image). 0: the images
	// as named.
	SourceCopies int `yaml:"source_copies"`
}

func loadWorkload(path string) (*Workload, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var w Workload
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	v := &w.Variants
	switch {
	case len(w.Images) == 0:
		return nil, fmt.Errorf("%s: images: at least one", path)
	case w.ZipfS <= 1:
		return nil, fmt.Errorf("%s: zipf_s: must be above 1, got %v", path, w.ZipfS)
	case len(v.Widths) == 0 || len(v.Fits) == 0 || len(v.Formats) == 0 || len(v.DPRs) == 0:
		return nil, fmt.Errorf("%s: variants: widths, fits, formats and dprs each need a value", path)
	case len(w.Accept) == 0:
		return nil, fmt.Errorf("%s: accept: at least one", path)
	case w.SourceCopies < 0:
		return nil, fmt.Errorf("%s: source_copies: 0 or more", path)
	case w.Unique && (w.UniqueWidths[0] < 1 || w.UniqueWidths[1] < w.UniqueWidths[0] ||
		w.UniqueQualities[0] < 1 || w.UniqueQualities[1] < w.UniqueQualities[0] || w.UniqueQualities[1] > 100):
		return nil, fmt.Errorf("%s: unique needs unique_widths [lo, hi] and unique_qualities [lo, hi] (1..100)", path)
	}
	return &w, nil
}

// Request is one generated request, before it is written as a URL.
type Request struct {
	Image   string
	Width   int
	Height  int
	Fit     string
	Format  string // "" for the source's format; "auto" for auto=format
	DPR     float64
	Quality int // 0: the server's default
	Accept  string
}

// generator draws requests from a workload; each worker owns one (math/rand
// sources are not safe for concurrent use), sharing only the unique counter.
type generator struct {
	w       *Workload
	rng     *rand.Rand
	zipf    *rand.Zipf
	accept  []int // cumulative weights
	counter *atomic.Int64
}

func newGenerator(w *Workload, seed uint64, counter *atomic.Int64) *generator {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	g := &generator{w: w, rng: rng, counter: counter,
		zipf: rand.NewZipf(rng, w.ZipfS, 1, uint64(len(w.Images)-1))}
	total := 0
	for _, a := range w.Accept {
		total += a.Weight
		g.accept = append(g.accept, total)
	}
	return g
}

func (g *generator) next() Request {
	v := &g.w.Variants
	r := Request{
		Image:  g.w.Images[g.zipf.Uint64()],
		Width:  v.Widths[g.rng.IntN(len(v.Widths))],
		Fit:    v.Fits[g.rng.IntN(len(v.Fits))],
		Format: v.Formats[g.rng.IntN(len(v.Formats))],
		DPR:    v.DPRs[g.rng.IntN(len(v.DPRs))],
	}
	pick := g.rng.IntN(g.accept[len(g.accept)-1])
	for i, c := range g.accept {
		if pick < c {
			r.Accept = g.w.Accept[i].Value
			break
		}
	}
	n := int(g.counter.Add(1) - 1)
	if g.w.SourceCopies > 0 {
		r.Image = fmt.Sprintf("c%d-%s", n%g.w.SourceCopies, r.Image)
	}
	if g.w.Unique {
		ws, qs := g.w.UniqueWidths, g.w.UniqueQualities
		span := ws[1] - ws[0] + 1
		r.Width, r.Quality = ws[0]+n%span, qs[0]+(n/span)%(qs[1]-qs[0]+1)
	}
	if r.Fit == "crop" && r.Width > 0 && v.CropHeightRatio > 0 {
		r.Height = max(1, int(float64(r.Width)*v.CropHeightRatio))
	}
	if r.Format == "source" {
		r.Format = ""
	}
	return r
}

// urlFor writes a request as a URL: imgix-style parameters by default, or a
// template with {base} {image} {w} {h} {fit} {fm} {dpr} for another server.
func urlFor(base, template string, r Request) string {
	if template != "" {
		return strings.NewReplacer("{base}", base, "{image}", r.Image, "{w}", strconv.Itoa(r.Width),
			"{h}", strconv.Itoa(r.Height), "{fit}", r.Fit, "{fm}", r.Format, "{q}", strconv.Itoa(r.Quality),
			"{dpr}", strconv.FormatFloat(r.DPR, 'f', -1, 64)).Replace(template)
	}
	q := url.Values{}
	if r.Width > 0 {
		q.Set("w", strconv.Itoa(r.Width))
		if r.Fit != "clip" {
			q.Set("fit", r.Fit)
		}
	}
	if r.Height > 0 {
		q.Set("h", strconv.Itoa(r.Height))
	}
	switch r.Format {
	case "":
	case "auto":
		q.Set("auto", "format")
	default:
		q.Set("fm", r.Format)
	}
	if r.Quality > 0 {
		q.Set("q", strconv.Itoa(r.Quality))
	}
	if r.DPR != 1 && r.Width > 0 {
		q.Set("dpr", strconv.FormatFloat(r.DPR, 'f', -1, 64))
	}
	u := strings.TrimRight(base, "/") + "/" + r.Image
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}
