// The oracle measures each render's peak RSS and CPU time in a child
// process of the test binary; under the race detector that binary keeps
// shadow memory and runs several times slower, so the measurements would
// not be the render's. .ci/run runs the suite twice, once without -race:
// the oracle runs there only.
//
//go:build !race

package libvips

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/png"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/davidbyttow/govips/v2/vips"

	"imgedge/transform"
)

// The cost oracle: TestCostOracle renders (source, parameters) pairs drawn
// from a seed and fails when a render takes measurably more than the
// estimate its job made (cost.go) by more than these factors. Each render
// runs alone in a child process of the test binary, so that libvips'
// tracked-memory high-water mark (which libvips never resets) and the
// process's peak RSS are that render's alone, and the CPU time
// (getrusage, user+sys) is that render's and not another test's.
//
// The factors, from measurement (bench/RESULTS.md, "Cost oracle"):
//   - memory: libvips' tracked high-water mark may reach 1.5x the estimate.
//     The estimate also counts what codecs hold outside libvips' count, so
//     the tracked figure sits well under it for every encoder; 1.5x leaves
//     room for tile-cache rounding and still catches a missing term (a
//     frame held whole that the estimate streams is 3x or more).
//   - RSS: the peak resident growth may reach 2x the estimate, which is
//     taken as at least oracleRSSFloor: RSS also carries glibc's arenas,
//     the codecs' libraries paged in and the Go heap, which no estimate
//     prices and which dominate a small render.
//   - CPU: user+sys may reach 3x the estimate, with a floor of
//     oracleCPUFloor under which nothing is compared: the coefficients are
//     medians of a loaded 2-core machine, whose CPU time varies by 1.5x
//     from run to run, and a render's fixed cost (operation graph, codec
//     set-up, the Go side) is not in a per-pixel price.
const (
	oracleMemFactor = 1.5
	oracleRSSFactor = 2.0
	oracleCPUFactor = 3.0
	oracleCPUFloor  = 40 * time.Millisecond
	oracleRSSFloor  = 32 << 20 // below this, RSS growth is allocator noise
	// oracleDefaultCases and oracleDefaultMaxCPU keep .ci/run's share of
	// the oracle to about 10 s on 2 cores: 24 cases, of which those priced
	// above 1.5 s of CPU are drawn but not rendered (a noise AVIF or GIF
	// takes 4 to 6 s). IMGEDGE_ORACLE_CASES=500 is the longer run, and
	// renders every case unless IMGEDGE_ORACLE_MAX_CPU says otherwise.
	oracleDefaultCases  = 24
	oracleDefaultMaxCPU = 1500 * time.Millisecond
)

// oracleCase is one render the parent hands a child.
type oracleCase struct {
	Source string        // path of the source
	Mark   string        // path of the watermark ("" none)
	Query  string        // the request's parameters
	Accept bool          // a browser accepting AVIF and WebP (for auto=format)
	Steps  []string      // what the query exercises, for the report
	MaxCPU time.Duration // not rendered when priced above this (0: no bound)
}

// oracleResult is what the child measured and the estimate the job made.
type oracleResult struct {
	Err          string
	Format       string
	W, H         int
	EstMemory    int64
	EstCPU       time.Duration
	TrackedHigh  int64 // libvips' tracked-memory high-water mark
	RSSGrowth    int64 // peak RSS during the render less RSS before it
	CPU          time.Duration
	Wall         time.Duration
	Priced       bool
	Skipped      bool // priced above the case's MaxCPU: not rendered
	EstOutW      int
	EstOutH      int
	EstLoadPixel int64
}

func TestCostOracle(t *testing.T) {
	if path := os.Getenv("IMGEDGE_ORACLE_CHILD"); path != "" {
		oracleChild(t, path)
		return
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("IMGEDGE_ORACLE_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("IMGEDGE_ORACLE_SEED=%q: %v", s, err)
		}
		seed = v
	}
	n, maxCPU := oracleDefaultCases, oracleDefaultMaxCPU
	if s := os.Getenv("IMGEDGE_ORACLE_CASES"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("IMGEDGE_ORACLE_CASES=%q: want a count above 0", s)
		}
		n, maxCPU = v, 0
	}
	if s := os.Getenv("IMGEDGE_ORACLE_MAX_CPU"); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil || v < 0 {
			t.Fatalf("IMGEDGE_ORACLE_MAX_CPU=%q: want a duration (0: no bound)", s)
		}
		maxCPU = v
	}
	only := -1 // IMGEDGE_ORACLE_CASE: render that case of the seed alone
	if s := os.Getenv("IMGEDGE_ORACLE_CASE"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			t.Fatalf("IMGEDGE_ORACLE_CASE=%q: want a case number", s)
		}
		only, n = v, max(n, v+1)
	}
	t.Logf("cost oracle: seed %d (IMGEDGE_ORACLE_SEED=%d replays it), %d cases (IMGEDGE_ORACLE_CASES), those priced above %v not rendered (IMGEDGE_ORACLE_MAX_CPU; 0: all)",
		seed, seed, n, maxCPU)
	rng := rand.New(rand.NewSource(seed))
	dir := t.TempDir()
	gen := &oracleSources{dir: dir, made: map[string]string{}}
	pool := oraclePool(t)
	start := time.Now()
	var rows []oracleRow
	for i := range n {
		// Every case is drawn, so that case i of a seed is the same
		// whichever are rendered.
		c := oracleGenerate(t, rng, pool, gen)
		if only >= 0 && i != only {
			continue
		}
		c.MaxCPU = maxCPU
		r := oracleRun(t, dir, i, c)
		rows = append(rows, oracleRow{i, c, r})
	}
	oracleReport(t, seed, rows, time.Since(start))
}

type oracleRow struct {
	i int // the case's number in its seed (IMGEDGE_ORACLE_CASE)
	c oracleCase
	r oracleResult
}

// oraclePool is the real sources: the benchmark images and the corpus.
func oraclePool(t *testing.T) []string {
	var pool []string
	ents, err := os.ReadDir(benchImages)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if ext := filepath.Ext(e.Name()); ext == ".jpg" || ext == ".png" {
			pool = append(pool, filepath.Join(benchImages, e.Name()))
		}
	}
	f, err := os.Open(filepath.Join(corpusDir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, _, _ := strings.Cut(sc.Text(), "\t")
		if name == "file" || name == "" {
			continue
		}
		pool = append(pool, filepath.Join(corpusDir, name))
	}
	// The labelled faces, for the face steps to find some.
	faceFiles, err := filepath.Glob("../../testdata/faces/*.jpg")
	if err != nil {
		t.Fatal(err)
	}
	pool = append(pool, faceFiles...)
	sort.Strings(pool)
	return pool
}

// oracleSources makes the generated hostile sources on first use; their
// content is fixed, so a seed replays the same renders.
type oracleSources struct {
	dir  string
	made map[string]string
}

var oracleHostile = []string{"flat-7000x7000.png", "wide-16000x200.png", "tall-200x16000.png", "anim-40x240.gif",
	"trim-6000x1000.png", "deep-2500x2500.png", "flat-4000x4000.gif", "zigzag-3000.svg", "cmyk-3000x2000.jpg"}

func (g *oracleSources) get(t *testing.T, name string) string {
	if p, ok := g.made[name]; ok {
		return p
	}
	p := filepath.Join(g.dir, name)
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	noise := rand.New(rand.NewSource(1))
	var err error
	switch name {
	case "flat-7000x7000.png": // 49 MP of one grey, a file of a few kB
		img := image.NewGray(image.Rect(0, 0, 7000, 7000))
		for i := range img.Pix {
			img.Pix[i] = 200
		}
		err = enc.Encode(&buf, img)
	case "wide-16000x200.png", "tall-200x16000.png":
		w, h := 16000, 200
		if name[0] == 't' {
			w, h = h, w
		}
		img := image.NewNRGBA(image.Rect(0, 0, w, h))
		noise.Read(img.Pix)
		err = enc.Encode(&buf, img)
	case "anim-40x240.gif": // 40 frames of noise
		a := &gif.GIF{}
		for range 40 {
			fr := image.NewPaletted(image.Rect(0, 0, 240, 240), palette.Plan9)
			noise.Read(fr.Pix)
			a.Image, a.Delay = append(a.Image, fr), append(a.Delay, 5)
		}
		err = gif.EncodeAll(&buf, a)
	case "flat-4000x4000.gif": // 16 MP, one colour
		fr := image.NewPaletted(image.Rect(0, 0, 4000, 4000), color.Palette{color.White, color.Black})
		err = gif.Encode(&buf, fr, nil)
	case "trim-6000x1000.png": // a white border round a 900x900 square of noise
		img := image.NewRGBA(image.Rect(0, 0, 6000, 1000))
		for i := range img.Pix {
			img.Pix[i] = 255
		}
		for y := 50; y < 950; y++ {
			noise.Read(img.Pix[img.PixOffset(2550, y):img.PixOffset(3450, y)])
		}
		err = enc.Encode(&buf, img)
	case "deep-2500x2500.png": // 16-bit RGBA
		img := image.NewRGBA64(image.Rect(0, 0, 2500, 2500))
		noise.Read(img.Pix)
		err = enc.Encode(&buf, img)
	case "zigzag-3000.svg":
		buf.WriteString(zigzagSVG(3000))
	case "cmyk-3000x2000.jpg": // noise in CMYK: lcms converts every pixel to sRGB
		img := image.NewNRGBA(image.Rect(0, 0, 3000, 2000))
		noise.Read(img.Pix)
		for i := 3; i < len(img.Pix); i += 4 {
			img.Pix[i] = 255
		}
		if err = enc.Encode(&buf, img); err == nil {
			var cmyk []byte
			if cmyk, err = cmykJPEG(buf.Bytes()); err == nil {
				buf.Reset()
				buf.Write(cmyk)
			}
		}
	case "mark-small.png", "mark-large.png":
		side := 300
		if name == "mark-large.png" {
			side = 3000
		}
		img := image.NewNRGBA(image.Rect(0, 0, side, side/3))
		noise.Read(img.Pix)
		err = enc.Encode(&buf, img)
	default:
		t.Fatalf("no generated source %s", name)
	}
	if err == nil {
		err = os.WriteFile(p, buf.Bytes(), 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	g.made[name] = p
	return p
}

// oracleGenerate draws one case: a source (a generated hostile one about
// one case in four), a box, an output format and up to three steps.
func oracleGenerate(t *testing.T, rng *rand.Rand, pool []string, gen *oracleSources) oracleCase {
	var c oracleCase
	if rng.Intn(4) == 0 {
		c.Source = gen.get(t, oracleHostile[rng.Intn(len(oracleHostile))])
	} else {
		c.Source = pool[rng.Intn(len(pool))]
	}
	q := []string{}
	add := func(step string, kv ...string) {
		q = append(q, kv...)
		if step != "" {
			c.Steps = append(c.Steps, step)
		}
	}
	sizes := []int{16, 64, 200, 300, 640, 1200, 2000, 3000, 4000, 7900}
	switch rng.Intn(5) {
	case 0: // no box
	case 1:
		add("", "w="+strconv.Itoa(sizes[rng.Intn(len(sizes))]))
	case 2:
		add("", "h="+strconv.Itoa(sizes[rng.Intn(len(sizes))]))
	default:
		fits := []string{"clip", "max", "crop", "fill", "scale", "min", "fillmax"}
		add("", "w="+strconv.Itoa(sizes[rng.Intn(len(sizes))]), "h="+strconv.Itoa(sizes[rng.Intn(len(sizes))]),
			"fit="+fits[rng.Intn(len(fits))])
	}
	steps := []func(){
		func() { add("trim", "trim=auto") },
		func() { add("blur", "blur="+strconv.Itoa([]int{5, 40, 200, 800, 2000}[rng.Intn(5)])) },
		func() { add("rot", "rot="+[]string{"90", "180", "270"}[rng.Intn(3)]) },
		func() { add("flip", "flip="+[]string{"h", "v", "hv"}[rng.Intn(3)]) },
		func() { add("sharp", "sharp="+strconv.Itoa(1+rng.Intn(100))) },
		func() { add("pad", "pad="+strconv.Itoa([]int{5, 100, 1000}[rng.Intn(3)])) },
		func() {
			add("rect", fmt.Sprintf("rect=%d,%d,%d,%d", rng.Intn(500), rng.Intn(500), 1+rng.Intn(5000), 1+rng.Intn(5000)))
		},
		func() { add("dpr", "dpr="+[]string{"1.5", "2", "3", "4"}[rng.Intn(4)]) },
		func() { add("ar", "ar="+[]string{"16:9", "1:1", "1:100", "100:1"}[rng.Intn(4)]) },
		func() { add("smartcrop", "fit=crop", "crop="+[]string{"entropy", "attention"}[rng.Intn(2)]) },
		func() { add("frame", "frame=1") },
		func() {
			if rng.Intn(2) == 0 {
				add("faces", "fit=crop", "crop=faces", "faceindex="+strconv.Itoa(1+rng.Intn(2)))
				return
			}
			side := strconv.Itoa(sizes[rng.Intn(len(sizes))])
			add("faces", "fit=facearea", "w="+side, "h="+side, "facepad="+[]string{"0.5", "1", "3"}[rng.Intn(3)])
		},
		func() { add("faces", "faces=1", "fm=json") },
		func() { add("fraction", "w="+[]string{"0.05", "0.5", "0.9999"}[rng.Intn(3)]) },
		func() { add("adjust", "bri=20", "con=30", "sat=-40") },
		func() {
			add("curve", "exp="+[]string{"-100", "-30", "40", "100"}[rng.Intn(4)], "shad="+strconv.Itoa(rng.Intn(101)), "high=-"+strconv.Itoa(rng.Intn(101)))
		},
		func() {
			add("matrix", "hue="+strconv.Itoa(rng.Intn(360)), "sepia="+strconv.Itoa(rng.Intn(101)), "monochrome="+[]string{"fff", "8f80", "ff0000", "400080ff"}[rng.Intn(4)])
		},
		func() { add("vib", "vib="+strconv.Itoa(rng.Intn(201)-100)) },
		func() {
			add("usm", "usm="+strconv.Itoa(rng.Intn(201)-100), "usmrad="+[]string{"0.5", "2.5", "20", "100"}[rng.Intn(4)])
		},
		func() { add("px", "px="+[]string{"2", "7", "20", "100"}[rng.Intn(4)]) },
		func() {
			add("fillblur", "w="+strconv.Itoa(sizes[rng.Intn(len(sizes))]), "h="+strconv.Itoa(sizes[rng.Intn(len(sizes))]),
				"fit="+[]string{"fill", "fillmax"}[rng.Intn(2)], "fill=blur")
		},
		func() {
			m := "mark-small.png"
			if rng.Intn(3) == 0 {
				m = "mark-large.png"
			}
			c.Mark = gen.get(t, m)
			add("mark", "mark=/"+m, "mark-align=bottom,right", "mark-alpha="+strconv.Itoa(rng.Intn(101)))
			if rng.Intn(2) == 0 {
				add("", "mark-w="+strconv.Itoa(sizes[rng.Intn(len(sizes))]))
			}
		},
	}
	for range rng.Intn(4) {
		steps[rng.Intn(len(steps))]()
	}
	if len(c.Steps) == 0 {
		c.Steps = []string{"resize"}
	}
	switch f := []string{"", "auto", "jpg", "pjpg", "png", "webp", "avif", "jxl", "gif", "blurhash", "json"}[rng.Intn(11)]; f {
	case "":
	case "auto":
		c.Accept = true
		add("", "auto=format")
	default:
		add("", "fm="+f)
	}
	c.Query = strings.Join(dedupeParams(q), "&")
	return c
}

// dedupeParams keeps the last value of each parameter (fit= may come
// from the box and from a smart crop).
func dedupeParams(q []string) []string {
	seen := map[string]int{}
	var out []string
	for _, kv := range q {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := seen[k]; ok {
			out[i] = kv
			continue
		}
		seen[k] = len(out)
		out = append(out, kv)
	}
	return out
}

// oracleRun renders c in a child process and returns what it measured.
func oracleRun(t *testing.T, dir string, i int, c oracleCase) oracleResult {
	path := filepath.Join(dir, fmt.Sprintf("case-%d.json", i))
	b, _ := json.Marshal(c)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCostOracle$", "-test.count=1")
	cmd.Env = append(os.Environ(), "IMGEDGE_ORACLE_CHILD="+path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("case %d (%s?%s): child failed: %v (IMGEDGE_ORACLE_CASE=%d and the seed above replay it)\n%s",
			i, filepath.Base(c.Source), c.Query, err, i, out)
	}
	var r oracleResult
	b, err := os.ReadFile(path + ".out")
	if err == nil {
		err = json.Unmarshal(b, &r)
	}
	if err != nil {
		t.Fatalf("case %d: %v", i, err)
	}
	return r
}

// oracleChild renders one case, alone in this process, and writes what it
// measured next to the case.
func oracleChild(t *testing.T, path string) {
	var c oracleCase
	if err := json.Unmarshal(readFile(t, path), &c); err != nil {
		t.Fatal(err)
	}
	src := readFile(t, c.Source)
	var r oracleResult
	p, err := transform.NewParser(transform.Limits{MaxDimension: 8192}, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec, _, err := p.ParseQuery(c.Query)
	if err != nil { // a query the edge answers 400: nothing to price
		r.Err = err.Error()
		oracleWrite(t, path, r)
		return
	}
	if c.Accept {
		spec.Accepted = transform.AcceptAVIF | transform.AcceptWebP
	}
	job := transform.Job{Spec: spec}
	if c.Mark != "" {
		job.Mark = readFile(t, c.Mark)
	}
	cfg := testConfig()
	cfg.Timeout = time.Minute
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	if c.MaxCPU > 0 {
		// Priced as the render would be (its prelude reads the header
		// only), and not rendered when that is above the bound.
		j := newJob(src, job, &cfg)
		err := j.admit()
		j.close()
		if err == nil && j.cost.cpu > c.MaxCPU {
			r.Skipped, r.EstCPU, r.EstMemory, r.Format = true, j.cost.cpu, j.cost.memory, j.cost.format.String()
			oracleWrite(t, path, r)
			return
		}
	}
	var est cost
	tr.priced = func(c cost) { est, r.Priced = c, true }
	runtime.GC()
	// The peak RSS counts from here: reading the source and starting
	// libvips may have set a higher one (clear_refs 5 resets VmHWM).
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Fatal(err)
	}
	rss0 := procStatusBytes(t, "VmRSS")
	_, high0, _ := tr.MemoryStats()
	cpu0, wall0 := cpuTime(t), time.Now()
	res, err := tr.Transform(context.Background(), src, job)
	r.CPU, r.Wall = cpuTime(t)-cpu0, time.Since(wall0)
	_, high1, _ := tr.MemoryStats()
	r.RSSGrowth = procStatusBytes(t, "VmHWM") - rss0
	r.TrackedHigh = high1
	if high0 > 0 {
		t.Logf("tracked high-water mark %d before the render", high0)
	}
	if err != nil {
		r.Err = err.Error()
	} else {
		r.Format, r.W, r.H = res.Format.String(), res.Width, res.Height
	}
	r.EstMemory, r.EstCPU, r.EstOutW, r.EstOutH = est.memory, est.cpu, est.outW, est.outH
	r.EstLoadPixel = int64(est.loadW) * int64(est.loadH) * int64(max(est.frames, 1))
	if r.Format == "" && r.Priced {
		r.Format = est.format.String()
	}
	oracleWrite(t, path, r)
}

func oracleWrite(t *testing.T, path string, r oracleResult) {
	b, _ := json.Marshal(r)
	if err := os.WriteFile(path+".out", b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStatusBytes reads a kB field of /proc/self/status.
func procStatusBytes(t *testing.T, field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("/proc/self/status has no %s", field)
	return 0
}

// oracleWorst is the worst of each ratio over a group of renders, with the
// render that made it.
type oracleWorst struct {
	n             int
	mem, rss, cpu float64
	memAt, cpuAt  string
	rssAt         string
}

func (w *oracleWorst) add(row oracleRow, mem, rss, cpu float64) {
	w.n++
	at := fmt.Sprintf("%s?%s", filepath.Base(row.c.Source), row.c.Query)
	if mem > w.mem {
		w.mem, w.memAt = mem, at
	}
	if rss > w.rss {
		w.rss, w.rssAt = rss, at
	}
	if cpu > w.cpu {
		w.cpu, w.cpuAt = cpu, at
	}
}

// oracleReport prints the worst ratios per output format and per step and
// fails on every render over a factor.
func oracleReport(t *testing.T, seed int64, rows []oracleRow, took time.Duration) {
	byFormat, byStep := map[string]*oracleWorst{}, map[string]*oracleWorst{}
	group := func(m map[string]*oracleWorst, k string) *oracleWorst {
		if m[k] == nil {
			m[k] = &oracleWorst{}
		}
		return m[k]
	}
	refused, rendered, skipped := 0, 0, 0
	var fails []string
	for _, row := range rows {
		r := row.r
		if r.Skipped {
			skipped++
			if testing.Verbose() {
				t.Logf("not rendered %s?%s: priced %v of CPU", filepath.Base(row.c.Source), row.c.Query, r.EstCPU.Round(time.Millisecond))
			}
			continue
		}
		if !r.Priced {
			refused++ // refused from the header and the plan: nothing rendered
			if testing.Verbose() {
				t.Logf("refused %s?%s: %s", filepath.Base(row.c.Source), row.c.Query, r.Err)
			}
			continue
		}
		rendered++
		mem := float64(r.TrackedHigh) / float64(r.EstMemory)
		rss := float64(r.RSSGrowth) / float64(max(r.EstMemory, oracleRSSFloor))
		cpu := float64(r.CPU) / float64(max(r.EstCPU, oracleCPUFloor))
		desc := fmt.Sprintf("case %d, %s?%s -> %s %dx%d (err %q): tracked %.1f MiB, RSS +%.1f MiB, estimate %.1f MiB; CPU %v, estimate %v",
			row.i, filepath.Base(row.c.Source), row.c.Query, r.Format, r.W, r.H, r.Err, mib(r.TrackedHigh), mib(r.RSSGrowth), mib(r.EstMemory),
			r.CPU.Round(time.Millisecond), r.EstCPU.Round(time.Millisecond))
		if testing.Verbose() {
			t.Logf("mem %.2f rss %.2f cpu %.2f  %s", mem, rss, cpu, desc)
		}
		var over []string
		if mem > oracleMemFactor {
			over = append(over, fmt.Sprintf("tracked memory %.2fx the estimate (limit %.1fx)", mem, oracleMemFactor))
		}
		if rss > oracleRSSFactor {
			over = append(over, fmt.Sprintf("RSS growth %.2fx the estimate (limit %.1fx)", rss, oracleRSSFactor))
		}
		if cpu > oracleCPUFactor {
			over = append(over, fmt.Sprintf("CPU %.2fx the estimate (limit %.1fx, floor %v)", cpu, oracleCPUFactor, oracleCPUFloor))
		}
		if over != nil {
			fails = append(fails, fmt.Sprintf("%s: %s; IMGEDGE_ORACLE_SEED=%d IMGEDGE_ORACLE_CASE=%d replays it",
				strings.Join(over, ", "), desc, seed, row.i))
		}
		group(byFormat, r.Format).add(row, mem, rss, cpu)
		for _, s := range row.c.Steps {
			group(byStep, s).add(row, mem, rss, cpu)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d renders, %d refused before rendering, %d not rendered (priced above the CPU bound), in %v\n",
		rendered, refused, skipped, took.Round(time.Second))
	for _, g := range []struct {
		name string
		m    map[string]*oracleWorst
	}{{"format", byFormat}, {"step", byStep}} {
		keys := make([]string, 0, len(g.m))
		for k := range g.m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(&b, "%-10s %5s %8s %8s %8s  worst CPU at\n", g.name, "n", "tracked", "RSS", "CPU")
		for _, k := range keys {
			w := g.m[k]
			fmt.Fprintf(&b, "%-10s %5d %8.2f %8.2f %8.2f  %s\n", k, w.n, w.mem, w.rss, w.cpu, w.cpuAt)
		}
	}
	t.Logf("worst measured/estimated ratios (tracked memory, RSS growth floored at %d MiB, CPU floored at %v):\n%s",
		oracleRSSFloor>>20, oracleCPUFloor, b.String())
	for _, f := range fails {
		t.Error(f)
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// cmykJPEG re-encodes an image as a CMYK JPEG, as libvips writes one.
func cmykJPEG(src []byte) ([]byte, error) {
	img, err := vips.NewImageFromBuffer(src)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	if err := img.ToColorSpace(vips.InterpretationCMYK); err != nil {
		return nil, err
	}
	out, _, err := img.ExportJpeg(&vips.JpegExportParams{Quality: 90})
	return out, err
}
