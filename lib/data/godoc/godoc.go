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
// The query's relevant document (grade 1) is its own, and those of the
// other items whose first sentence is the same (strconv.Quote,
// QuoteToASCII and QuoteToGraphic all "return a double-quoted Go string
// literal representing s."): such items form one group, one query. Groups
// are split into evaluation, development and training queries by a hash of
// the seed and the sentence (seeds change the split); the evaluation and
// development corpus holds every item's document, so training documents are
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
	// EvalQueries is the number of evaluation queries, one per group of
	// items sharing a query sentence (see Build).
	EvalQueries int
	// DevQueries is the number of development queries (0: no Task.Dev),
	// drawn like the evaluation queries from the other groups.
	DevQueries int
	// MinQueryWords drops items whose query has fewer words.
	MinQueryWords int
	// Seed chooses the split: seeds change the split (which groups are
	// evaluation, development and training), not the items or the corpus.
	Seed uint64
}

// Pair is a training query with its document (DocID names it in the evaluation corpus).
type Pair struct{ Query, Doc, DocID string }

// Task is the retrieval task: evaluation and development sets and training pairs.
type Task struct {
	// Name says where the text came from (Go version, packages, split, a hash of the text).
	Name string
	// Eval has every item's document as the corpus and the evaluation queries.
	Eval *beir.Dataset
	// Dev, when Options.DevQueries > 0, has the same corpus as Eval (the
	// same slice) and development queries disjoint from Eval's and from
	// the training pairs'; nil otherwise.
	Dev *beir.Dataset
	// Train are the training groups' (query, document) pairs, one per group.
	Train []Pair
	// Duplicates counts the query sentences that several items share.
	Duplicates Duplicates
}

// Duplicates counts what Build merged: items whose normalised query
// sentences are equal form a group (e.g. bytes.Reader.Read and
// strings.Reader.Read: "implements the io.Reader interface."). A group lies in one split only; an
// evaluation or development group is one query with every item's document
// relevant (grade 1); a training group keeps one pair, the item whose id
// sorts first.
type Duplicates struct {
	// Groups are the query sentences shared by more than one item, Items
	// the items sharing them (the task has Items-Groups fewer queries than
	// items).
	Groups, Items int
	// EvalGroups and DevGroups are such groups among the evaluation and
	// development queries (each has several relevant documents).
	EvalGroups, DevGroups int
	// TrainDropped counts the training items whose pair was dropped
	// because another item of their group kept it.
	TrainDropped int
}

type item struct {
	id, query, doc string
}

// group is the items sharing a normalised query sentence, ids sorted.
type group struct {
	items []item
	key   uint64
}

// normalise is the form in which two query sentences count as one:
// lower case, white space collapsed, without a final period.
func normalise(query string) string {
	return strings.TrimSuffix(strings.ToLower(strings.Join(strings.Fields(query), " ")), ".")
}

// Build reads the packages from goroot's src and builds the task.
//
// Items whose query sentences are equal once normalised (lower case, white
// space collapsed, final period dropped) form a group, and the split is by
// group, so a sentence never lies in two splits: the groups are ordered
// by a hash of the seed and the sentence; the first EvalQueries are the
// evaluation queries, the next DevQueries the development queries, the
// rest train. An evaluation or development query is the text of the
// group's first item (by id), with id "q:" + that item's id, and every
// item of the group is relevant with grade 1; a training group gives one
// pair, its first item's. Task.Duplicates counts the merged groups.
func Build(goroot string, opts Options) (*Task, error) {
	if len(opts.Packages) == 0 || opts.EvalQueries < 1 || opts.DevQueries < 0 {
		return nil, fmt.Errorf("godoc: need packages (%d), evaluation queries (%d) and no negative development queries (%d)", len(opts.Packages), opts.EvalQueries, opts.DevQueries)
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
	sort.Slice(items, func(i, j int) bool { return items[i].id < items[j].id })
	text := sha256.New()
	byQuery := map[string]*group{}
	var groups []*group
	for _, it := range items {
		fmt.Fprintf(text, "%s\x00%s\x00%s\x00", it.id, it.query, it.doc)
		norm := normalise(it.query)
		g := byQuery[norm]
		if g == nil {
			h := sha256.Sum256(fmt.Appendf(nil, "%d\x00%s", opts.Seed, norm))
			g = &group{key: binary.LittleEndian.Uint64(h[:8])}
			byQuery[norm] = g
			groups = append(groups, g)
		}
		g.items = append(g.items, it)
	}
	if len(groups) <= opts.EvalQueries+opts.DevQueries {
		return nil, fmt.Errorf("godoc: %d items (%d distinct queries) in %d packages, need more than %d evaluation and %d development queries",
			len(items), len(groups), len(opts.Packages), opts.EvalQueries, opts.DevQueries)
	}
	sort.Slice(groups, func(i, j int) bool {
		if groups[i].key != groups[j].key {
			return groups[i].key < groups[j].key
		}
		return groups[i].items[0].id < groups[j].items[0].id
	})
	firstLine, _, _ := strings.Cut(string(version), "\n")
	dev := ""
	if opts.DevQueries > 0 {
		dev = fmt.Sprintf(", %d dev queries", opts.DevQueries)
	}
	t := &Task{
		Name: fmt.Sprintf("godoc %s %d packages, %d items, %d queries, %d eval queries%s, seed %d, text %x",
			strings.TrimSpace(firstLine), len(opts.Packages), len(items), len(groups), opts.EvalQueries, dev, opts.Seed, text.Sum(nil)[:6]),
	}
	corpus := make([]beir.Doc, len(items))
	for i, it := range items {
		corpus[i] = beir.Doc{ID: it.id, Text: it.doc}
	}
	t.Eval = &beir.Dataset{Name: t.Name, Corpus: corpus, Qrels: map[string]map[string]int{}}
	if opts.DevQueries > 0 {
		t.Dev = &beir.Dataset{Name: t.Name + " (dev)", Corpus: corpus, Qrels: map[string]map[string]int{}}
	}
	for i, g := range groups {
		if len(g.items) > 1 {
			t.Duplicates.Groups++
			t.Duplicates.Items += len(g.items)
		}
		var ds *beir.Dataset
		switch {
		case i < opts.EvalQueries:
			ds = t.Eval
			if len(g.items) > 1 {
				t.Duplicates.EvalGroups++
			}
		case i < opts.EvalQueries+opts.DevQueries:
			ds = t.Dev
			if len(g.items) > 1 {
				t.Duplicates.DevGroups++
			}
		default:
			first := g.items[0]
			t.Train = append(t.Train, Pair{Query: first.query, Doc: first.doc, DocID: first.id})
			t.Duplicates.TrainDropped += len(g.items) - 1
			continue
		}
		qid := "q:" + g.items[0].id
		ds.Queries = append(ds.Queries, beir.Query{ID: qid, Text: g.items[0].query})
		ds.Qrels[qid] = make(map[string]int, len(g.items))
		for _, it := range g.items {
			ds.Qrels[qid][it.id] = 1
		}
	}
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

// EnvGOROOT names a directory holding a Go installation's standard library
// sources (src/…, and VERSION) to build tasks from, for machines without a
// Go toolchain (a built notebook on a GPU box: see docs/build.md).
const EnvGOROOT = "GOREPRO_GOROOT"

// GOROOT is the root of the Go installation whose documentation makes the
// tasks: $GOREPRO_GOROOT if set (it must hold src/), else what `go env
// GOROOT` reports.
func GOROOT() (string, error) {
	if dir := os.Getenv(EnvGOROOT); dir != "" {
		if st, err := os.Stat(filepath.Join(dir, "src")); err != nil || !st.IsDir() {
			return "", fmt.Errorf("godoc: $%s = %s has no src directory", EnvGOROOT, dir)
		}
		return dir, nil
	}
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

// QuickPackages are 16 standard-library packages (811 items, 766 distinct
// queries with Go 1.26.8) for a CPU-sized task.
func QuickPackages() []string {
	return []string{"strings", "bytes", "strconv", "fmt", "io", "bufio", "os", "time", "sort", "net/url", "encoding/json", "regexp", "path/filepath", "sync", "unicode/utf8", "container/list"}
}

// MediumPackages are QuickPackages and 10 more (1346 items, 1299
// distinct queries with Go 1.26.8) for a larger evaluation set at about
// 1.7 times the quick corpus: packages chosen for few shared first
// sentences (sync/atomic, testing, flag and net repeat theirs).
func MediumPackages() []string {
	return append(QuickPackages(), "context", "errors", "math", "slices", "unicode", "io/fs", "encoding/xml", "text/template", "log/slog", "net/http")
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
