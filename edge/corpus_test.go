package edge_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"image"
	_ "image/jpeg"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const corpus = "../testdata/corpus"

type corpusRow struct {
	file, expect, observed string
}

func readManifest(t *testing.T) []corpusRow {
	t.Helper()
	f, err := os.Open(corpus + "/MANIFEST.tsv")
	if err != nil {
		t.Fatalf("the corpus test reads testdata/corpus/MANIFEST.tsv: %v", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma = '\t'
	r.LazyQuotes = true
	records, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var rows []corpusRow
	for _, rec := range records[1:] {
		text := rec[5]
		exp, obs, _ := strings.Cut(text[strings.Index(text, "Expect: ")+len("Expect: "):], " Observed ")
		rows = append(rows, corpusRow{file: rec[0], expect: exp, observed: obs})
	}
	if len(rows) != 175 {
		t.Fatalf("MANIFEST.tsv has %d rows, the corpus README says 175", len(rows))
	}
	return rows
}

// refusedRe matches the expectations of files the edge must refuse. Not
// matched on purpose: "lenient: loads ... fail_on=warning would reject", and
// the frame floods' "(422 if over)": their 1x1 frames are a few thousand
// pixels in all, far under limits.max_source_pixels.
var refusedRe = regexp.MustCompile(`must be rejected|must fail|^bomb|must return a clean error|-> 422|HANG HAZARD`)

// refused reads a row's expectation: true when the edge must answer a
// user-class 4xx.
func (r corpusRow) refused() bool { return refusedRe.MatchString(r.expect) }

var headerRe = regexp.MustCompile(`header (\d+)x(\d+) `)
var orientationRe = regexp.MustCompile(`orientation=(\d)`)

// size is the listed header size as displayed: EXIF orientations 5-8 swap it.
func (r corpusRow) size(t *testing.T) (int, int) {
	m := headerRe.FindStringSubmatch(r.observed)
	if m == nil {
		t.Fatalf("%s: no header size in %q", r.file, r.observed)
	}
	w, _ := strconv.Atoi(m[1])
	h, _ := strconv.Atoi(m[2])
	if o := orientationRe.FindStringSubmatch(r.observed); o != nil && o[1] >= "5" {
		w, h = h, w
	}
	return w, h
}

// TestCorpus walks every row of testdata/corpus/MANIFEST.tsv through one
// edge process: a file that must load comes back as an image of its listed
// size; a file that must be refused gets a user-class 4xx problem, fast.
func TestCorpus(t *testing.T) {
	t.Parallel()
	runCorpus(t, start(t, []string{"IMGEDGE_ORIGIN=file:" + corpus, "IMGEDGE_TRANSFORM_TIMEOUT=20s"}, nil))
}

// TestCorpusFromS3: the same files from a private bucket on a real S3
// server: what reaches libvips does not depend on the origin.
func TestCorpusFromS3(t *testing.T) {
	srv := s3Bucket(t)
	if n := srv.PutDir("photos", "", corpus, ""); n < 175 {
		t.Fatalf("uploaded %d files", n)
	}
	runCorpus(t, start(t, append(srv.Env(), "IMGEDGE_ORIGIN=s3://photos", "IMGEDGE_TRANSFORM_TIMEOUT=20s"), nil))
}

func runCorpus(t *testing.T, h *harness) {
	for _, row := range readManifest(t) {
		t.Run(row.file, func(t *testing.T) {
			// A re-encode at the source's own size: JPEG keeps the test fast
			// and its size is read by Go's decoder, independent of libvips.
			// A refusal is a user-class 4xx: one that came from a timeout
			// would be a transient 5xx.
			r := h.get(t, "/"+(&url.URL{Path: row.file}).EscapedPath()+"?fm=jpg")
			if row.refused() {
				var p problemBody
				if err := json.Unmarshal(r.body, &p); err != nil || r.status < 400 || r.status >= 500 || p.Class != "user" {
					t.Fatalf("want a user-class 4xx for %q; got %d %s", row.expect, r.status, r.body)
				}
				return
			}
			if r.status != 200 {
				t.Fatalf("want the image (%q); got %d %s", row.expect, r.status, r.body)
			}
			cfg, format, err := image.DecodeConfig(bytes.NewReader(r.body))
			if err != nil || format != "jpeg" {
				t.Fatalf("output is not a JPEG: %v %s", err, format)
			}
			if w, hh := row.size(t); cfg.Width != w || cfg.Height != hh {
				t.Fatalf("output %dx%d, listed size %dx%d", cfg.Width, cfg.Height, w, hh)
			}
			if bytes.Contains(r.body, []byte("<?php")) {
				t.Fatal("the output carries the PHP payload of the source's metadata")
			}
		})
	}
	// The process survived every file and still serves.
	if r := h.get(t, "/photos/kodim23.png?w=10"); r.status != 200 {
		t.Fatalf("after the corpus: %d", r.status)
	}
}
