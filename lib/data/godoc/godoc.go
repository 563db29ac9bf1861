// Package godoc builds a text retrieval task from real English text that
// every Go installation ships: the doc comments of the standard library.
//
// Each exported function, method or type whose doc comment starts, by Go
// convention, with its own name ("Quote returns a double-quoted Go string
// literal representing s.") gives one query and one document:
//
//   - query: that first sentence without the name ("returns a double-quoted
//     Go string literal representing s.");
//   - document: the qualified name, the declaration and the rest of the
//     comment ("strconv.Quote func Quote(s string) string The returned string
//     uses Go escape sequences …").
//
// The query's only relevant document (grade 1) is its own. Items are split
// into training pairs and evaluation queries by a hash of their name; the
// evaluation corpus holds every item's document, so training documents are
// distractors, as in a BEIR corpus. Files are read as the gc compiler sees
// them for linux/amd64, whatever the machine, so a Go version gives one task.
package godoc

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"go/ast"
	"go/build"
	"go/doc"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gorepro/gorepro/lib/data/beir"
)

// Options chooses the packages and the split.
type Options struct {
	// Packages are standard-library import paths (e.g. "strconv", "net/http").
	Packages []string
	// EvalQueries is the number of evaluation queries (the rest train).
	EvalQueries int
	// MinQueryWords drops items whose query has fewer words.
	MinQueryWords int
	// Seed chooses the split.
	Seed uint64
}

// Pair is a training query with its document (DocID names it in the evaluation corpus).
type Pair struct{ Query, Doc, DocID string }

// Task is the retrieval task: evaluation set and training pairs.
type Task struct {
	// Name says where the text came from (Go version, packages, split, a hash of the text).
	Name string
	// Eval has every item's document as the corpus and the evaluation queries.
	Eval *beir.Dataset
	// Train are the other items' (query, document) pairs.
	Train []Pair
}

type item struct {
	id, query, doc string
	key            uint64
}

// Build reads the packages from goroot's src and builds the task.
func Build(goroot string, opts Options) (*Task, error) {
	if len(opts.Packages) == 0 || opts.EvalQueries < 1 {
		return nil, fmt.Errorf("godoc: need packages (%d) and evaluation queries (%d)", len(opts.Packages), opts.EvalQueries)
	}
	version, err := os.ReadFile(filepath.Join(goroot, "VERSION"))
	if err != nil {
		return nil, fmt.Errorf("godoc: %s is not a Go installation: %w", goroot, err)
	}
	ctx := build.Default
	ctx.GOROOT, ctx.GOOS, ctx.GOARCH, ctx.CgoEnabled, ctx.Compiler = goroot, "linux", "amd64", true, "gc"
	var items []item
	seen := map[string]bool{}
	for _, path := range opts.Packages {
		if seen[path] {
			return nil, fmt.Errorf("godoc: package %q listed twice", path)
		}
		seen[path] = true
		got, err := readPackage(&ctx, goroot, path, opts)
		if err != nil {
			return nil, err
		}
		items = append(items, got...)
	}
	ids := map[string]bool{}
	for _, it := range items {
		if ids[it.id] {
			return nil, fmt.Errorf("godoc: two items named %s", it.id)
		}
		ids[it.id] = true
	}
	if len(items) <= opts.EvalQueries {
		return nil, fmt.Errorf("godoc: %d items in %d packages, need more than %d evaluation queries", len(items), len(opts.Packages), opts.EvalQueries)
	}
	text := sha256.New()
	for i := range items {
		h := sha256.Sum256(fmt.Appendf(nil, "%d\x00%s", opts.Seed, items[i].id))
		items[i].key = binary.LittleEndian.Uint64(h[:8])
		fmt.Fprintf(text, "%s\x00%s\x00%s\x00", items[i].id, items[i].query, items[i].doc)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].key < items[j].key })
	firstLine, _, _ := strings.Cut(string(version), "\n")
	t := &Task{
		Name: fmt.Sprintf("godoc %s %d packages, %d items, %d eval queries, seed %d, text %x", strings.TrimSpace(firstLine), len(opts.Packages), len(items), opts.EvalQueries, opts.Seed, text.Sum(nil)[:6]),
		Eval: &beir.Dataset{Qrels: map[string]map[string]int{}},
	}
	t.Eval.Name = t.Name
	for i, it := range items {
		t.Eval.Corpus = append(t.Eval.Corpus, beir.Doc{ID: it.id, Text: it.doc})
		if i < opts.EvalQueries {
			qid := "q:" + it.id
			t.Eval.Queries = append(t.Eval.Queries, beir.Query{ID: qid, Text: it.query})
			t.Eval.Qrels[qid] = map[string]int{it.id: 1}
		} else {
			t.Train = append(t.Train, Pair{Query: it.query, Doc: it.doc, DocID: it.id})
		}
	}
	sort.Slice(t.Eval.Corpus, func(i, j int) bool { return t.Eval.Corpus[i].ID < t.Eval.Corpus[j].ID })
	return t, nil
}

func readPackage(ctx *build.Context, goroot, path string, opts Options) ([]item, error) {
	bp, err := ctx.ImportDir(filepath.Join(goroot, "src", filepath.FromSlash(path)), 0)
	var noGo *build.NoGoError
	if errors.As(err, &noGo) {
		return nil, nil // no file for linux/amd64 (e.g. syscall/js)
	}
	if err != nil {
		return nil, fmt.Errorf("godoc: package %q: %w", path, err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range bp.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(bp.Dir, name), nil, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("godoc: package %q: %w", path, err)
		}
		files = append(files, f)
	}
	pkg, err := doc.NewFromFiles(fset, files, path)
	if err != nil {
		return nil, fmt.Errorf("godoc: package %q: %w", path, err)
	}
	var out []item
	add := func(name, qualified, comment string, decl ast.Node) {
		if !token.IsExported(name) {
			return
		}
		text := strings.Join(strings.Fields(string(pkg.Text(comment))), " ")
		synopsis := pkg.Synopsis(comment)
		query, ok := stripName(synopsis, name)
		if !ok || len(strings.Fields(query)) < opts.MinQueryWords || !strings.HasPrefix(text, synopsis) {
			return
		}
		rest := strings.TrimSpace(strings.TrimPrefix(text, synopsis))
		var sig bytes.Buffer
		if err := printer.Fprint(&sig, fset, decl); err != nil {
			return
		}
		d := strings.Join(append([]string{pkg.Name + "." + qualified}, strings.Fields(sig.String())...), " ")
		if rest != "" {
			d += " " + rest
		}
		out = append(out, item{id: path + "." + qualified, query: query, doc: d})
	}
	for _, f := range pkg.Funcs {
		add(f.Name, f.Name, f.Doc, header(f.Decl))
	}
	for _, t := range pkg.Types {
		add(t.Name, t.Name, t.Doc, typeHeader(t))
		for _, f := range t.Funcs {
			add(f.Name, f.Name, f.Doc, header(f.Decl))
		}
		for _, m := range t.Methods {
			add(m.Name, t.Name+"."+m.Name, m.Doc, header(m.Decl))
		}
	}
	return out, nil
}

// header is the declaration without its body.
func header(d *ast.FuncDecl) ast.Node {
	return &ast.FuncDecl{Recv: d.Recv, Name: d.Name, Type: d.Type}
}

// typeHeader is "type Name struct"/"type Name interface"/"type Name T",
// without fields (they can be long).
func typeHeader(t *doc.Type) ast.Node {
	for _, s := range t.Decl.Specs {
		ts, ok := s.(*ast.TypeSpec)
		if !ok || ts.Name.Name != t.Name {
			continue
		}
		var typ ast.Expr = ts.Type
		switch ts.Type.(type) {
		case *ast.StructType:
			typ = &ast.Ident{Name: "struct"}
		case *ast.InterfaceType:
			typ = &ast.Ident{Name: "interface"}
		}
		return &ast.GenDecl{Tok: token.TYPE, Specs: []ast.Spec{&ast.TypeSpec{Name: ts.Name, Type: typ}}}
	}
	return &ast.Ident{Name: "type " + t.Name}
}

// stripName removes the leading name ("Quote returns …", "A Reader
// implements …") from a first sentence; ok is false when it does not start so.
func stripName(sentence, name string) (string, bool) {
	words := strings.Fields(sentence)
	for _, article := range []string{"", "A", "An", "The"} {
		w := words
		if article != "" {
			if len(w) == 0 || w[0] != article {
				continue
			}
			w = w[1:]
		}
		if len(w) > 1 && w[0] == name {
			return strings.Join(w[1:], " "), true
		}
	}
	return "", false
}

// GOROOT is the root of the Go installation `go env GOROOT` reports.
func GOROOT() (string, error) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return "", fmt.Errorf("godoc: go env GOROOT: %w", err)
	}
	root := strings.TrimSpace(string(out))
	if root == "" {
		return "", fmt.Errorf("godoc: go env GOROOT is empty")
	}
	return root, nil
}

// QuickPackages are 16 standard-library packages (811 items with Go
// 1.26.8) for a CPU-sized task.
func QuickPackages() []string {
	return []string{"strings", "bytes", "strconv", "fmt", "io", "bufio", "os", "time", "sort", "net/url", "encoding/json", "regexp", "path/filepath", "sync", "unicode/utf8", "container/list"}
}

// StdPackages lists goroot's standard-library packages that have Go files,
// without internal, vendor, testdata, cmd, builtin and unsafe.
func StdPackages(goroot string) ([]string, error) {
	src := filepath.Join(goroot, "src")
	var out []string
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(src, path)
		rel = filepath.ToSlash(rel)
		base := d.Name()
		if rel == "cmd" || rel == "builtin" || rel == "unsafe" || base == "internal" || base == "vendor" || base == "testdata" || strings.HasPrefix(base, ".") {
			return filepath.SkipDir
		}
		if rel == "." {
			return nil
		}
		if files, _ := filepath.Glob(filepath.Join(path, "*.go")); len(files) > 0 {
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("godoc: listing %s: %w", src, err)
	}
	return out, nil
}
