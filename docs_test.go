package main

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// What the repository says of the Docker image matches the Dockerfile: a
// sentence saying the image preloads an allocator (jemalloc) is true only
// when the Dockerfile sets LD_PRELOAD. transform/libvips/trim.go said so of
// an image that runs glibc's allocator. bench/RESULTS.md, a dated log, is
// left out.
func TestDocsMatchDockerfile(t *testing.T) {
	dockerfile, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	preloads := regexp.MustCompile(`(?m)^\s*ENV\s.*LD_PRELOAD|LD_PRELOAD=\S*jemalloc`).Match(dockerfile)
	claim := regexp.MustCompile(`(?i)preload\w*[^.;()]*docker image|docker image[^.;()]*preload`)
	comment := regexp.MustCompile(`(?m)^\s*(//|#)\s?`)
	err = filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if path == filepath.Join("bench", "RESULTS.md") {
			return nil // a dated log: what each session measured, the allocator changes included
		}
		if d.IsDir() || !(strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".md") || path == "Dockerfile") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		// Comment markers out, lines joined: a sentence may span them.
		text := strings.Join(strings.Fields(comment.ReplaceAllString(string(b), "")), " ")
		for _, m := range claim.FindAllString(text, -1) {
			if !preloads {
				t.Errorf("%s: %q, but the Dockerfile preloads nothing (the image runs glibc's allocator)", path, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A package's doc comment says what the package holds: every exported type
// and variable is named in it. Checked for the packages whose docs said
// less than they hold (issue 25).
func TestPackageDocsNameWhatTheyHold(t *testing.T) {
	for _, dir := range []string{"cache", "edge/origin"} {
		fset := token.NewFileSet()
		paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		var files []*ast.File
		for _, path := range paths {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		d, err := doc.NewFromFiles(fset, files, "imgedge/"+dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, ty := range d.Types {
			names = append(names, ty.Name)
			for _, v := range ty.Vars {
				names = append(names, v.Names...)
			}
		}
		for _, v := range d.Vars {
			names = append(names, v.Names...)
		}
		words := map[string]bool{}
		for _, w := range regexp.MustCompile(`\w+`).FindAllString(d.Doc, -1) {
			words[strings.TrimSuffix(w, "s")] = true
			words[w] = true
		}
		for _, n := range names {
			if !words[n] {
				t.Errorf("%s: the package doc does not name %s", dir, n)
			}
		}
	}
}
