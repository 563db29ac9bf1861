package godoc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeGOROOT writes a tiny Go installation: VERSION and src/pkg/a.go.
func fakeGOROOT(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "VERSION"), []byte("go1.99.0\ntime x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		p := filepath.Join(root, "src", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const fakePkg = `// Package quote quotes.
package quote

// Quote returns a double-quoted string literal representing s. It uses Go escapes.
func Quote(s string) string { return s }

// A Buffer holds bytes waiting to be written.
type Buffer struct{ b []byte }

// Len reports how many bytes the buffer holds.
func (b *Buffer) Len() int { return len(b.b) }

// NewBuffer makes an empty buffer for the caller to fill.
func NewBuffer() *Buffer { return nil }

// This comment does not start with the name: skipped.
func Skipped() {}

// unexported returns nothing useful at all.
func unexported() {}

// Short is.
func Short() {}
`

func TestBuild(t *testing.T) {
	root := fakeGOROOT(t, map[string]string{"quote/a.go": fakePkg, "quote/a_windows.go": "package quote\n\n// Windows returns only on another system entirely.\nfunc Windows() {}\n"})
	task, err := Build(root, Options{Packages: []string{"quote"}, EvalQueries: 1, MinQueryWords: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{ // id → query, document
		"quote.Quote":      {"returns a double-quoted string literal representing s.", "quote.Quote func Quote(s string) string It uses Go escapes."},
		"quote.Buffer":     {"holds bytes waiting to be written.", "quote.Buffer type Buffer struct"},
		"quote.Buffer.Len": {"reports how many bytes the buffer holds.", "quote.Buffer.Len func (b *Buffer) Len() int"},
		"quote.NewBuffer":  {"makes an empty buffer for the caller to fill.", "quote.NewBuffer func NewBuffer() *Buffer"},
	}
	if len(task.Eval.Corpus) != len(want) || len(task.Train) != len(want)-1 || len(task.Eval.Queries) != 1 {
		t.Fatalf("corpus %d, train %d, eval queries %d; want %d, %d, 1", len(task.Eval.Corpus), len(task.Train), len(task.Eval.Queries), len(want), len(want)-1)
	}
	docs := map[string]string{}
	for _, d := range task.Eval.Corpus {
		docs[d.ID] = d.Text
	}
	queries := map[string]string{} // document id → query
	for _, p := range task.Train {
		queries[p.DocID] = p.Query
		if docs[p.DocID] != p.Doc {
			t.Errorf("training pair %s: document %q, corpus has %q", p.DocID, p.Doc, docs[p.DocID])
		}
	}
	q := task.Eval.Queries[0]
	for id, g := range task.Eval.Qrels[q.ID] {
		if g != 1 || len(task.Eval.Qrels[q.ID]) != 1 {
			t.Errorf("qrels of %s: %v", q.ID, task.Eval.Qrels[q.ID])
		}
		queries[id] = q.Text
	}
	for id, w := range want {
		if docs[id] != w[1] {
			t.Errorf("%s document %q, want %q", id, docs[id], w[1])
		}
		if queries[id] != w[0] {
			t.Errorf("%s query %q, want %q", id, queries[id], w[0])
		}
	}
	if !strings.Contains(task.Name, "go1.99.0") {
		t.Errorf("name %q lacks the Go version", task.Name)
	}
	again, _ := Build(root, Options{Packages: []string{"quote"}, EvalQueries: 1, MinQueryWords: 3})
	if again.Name != task.Name || again.Eval.Queries[0] != task.Eval.Queries[0] {
		t.Error("not deterministic")
	}
	other, _ := Build(root, Options{Packages: []string{"quote"}, EvalQueries: 1, MinQueryWords: 3, Seed: 7})
	if other.Name == task.Name {
		t.Error("the seed does not change the task's name")
	}
}

func TestBuildErrors(t *testing.T) {
	root := fakeGOROOT(t, map[string]string{"quote/a.go": fakePkg, "broken/b.go": "package broken\nfunc {"})
	for name, c := range map[string]struct {
		root string
		opts Options
		want string
	}{
		"no packages":     {root, Options{EvalQueries: 1}, "need packages"},
		"no eval queries": {root, Options{Packages: []string{"quote"}}, "need packages"},
		"not a Go root":   {t.TempDir(), Options{Packages: []string{"quote"}, EvalQueries: 1}, "not a Go installation"},
		"missing package": {root, Options{Packages: []string{"nope"}, EvalQueries: 1}, `"nope"`},
		"syntax error":    {root, Options{Packages: []string{"broken"}, EvalQueries: 1}, `"broken"`},
		"twice":           {root, Options{Packages: []string{"quote", "quote"}, EvalQueries: 1}, "twice"},
		"too few items":   {root, Options{Packages: []string{"quote"}, EvalQueries: 5}, "need more than 5"},
	} {
		if _, err := Build(c.root, c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", name, err, c.want)
		}
	}
}

// The real standard library gives the quick task's size.
func TestStandardLibrary(t *testing.T) {
	root, err := GOROOT()
	if err != nil {
		t.Skip(err)
	}
	task, err := Build(root, Options{Packages: QuickPackages(), EvalQueries: 150, MinQueryWords: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(task.Eval.Corpus); n < 500 {
		t.Errorf("%d items in the quick packages", n)
	}
	std, err := StdPackages(root)
	if err != nil {
		t.Fatal(err)
	}
	has := strings.Join(std, " ")
	for _, p := range []string{"strconv", "net/http", "encoding/json"} {
		if !strings.Contains(" "+has+" ", " "+p+" ") {
			t.Errorf("StdPackages lacks %s", p)
		}
	}
	if strings.Contains(has, "internal") || strings.Contains(has, "vendor") || strings.Contains(" "+has, " cmd") {
		t.Errorf("StdPackages lists internal, vendor or cmd packages")
	}
}
