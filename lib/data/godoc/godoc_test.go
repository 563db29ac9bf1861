package godoc

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gorepro/gorepro/lib/data/beir"
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
		"no training":     {root, Options{Packages: []string{"quote"}, EvalQueries: 2, DevQueries: 3}, "5 distinct queries) in 1 packages, need more than 2 evaluation and 3 development"},
		"negative dev":    {root, Options{Packages: []string{"quote"}, EvalQueries: 1, DevQueries: -1}, "development queries (-1)"},
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
	// strconv.Quote, QuoteToASCII and QuoteToGraphic all start "returns a
	// double-quoted Go string literal representing s.": one group.
	if d := task.Duplicates; d.Groups < 10 || d.Items < 2*d.Groups {
		t.Errorf("duplicates %+v in the quick packages", d)
	}
	quote := []string{"strconv.Quote", "strconv.QuoteToASCII", "strconv.QuoteToGraphic"}
	found := false
	for _, q := range task.Eval.Queries {
		if m := task.Eval.Qrels[q.ID]; m["strconv.Quote"] == 1 {
			found = m[quote[1]] == 1 && m[quote[2]] == 1 && len(m) == 3
		}
	}
	for _, p := range task.Train {
		if p.DocID == quote[0] {
			found = true
		}
		if p.DocID == quote[1] || p.DocID == quote[2] {
			t.Errorf("training pair %s: its group's first item is %s", p.DocID, quote[0])
		}
	}
	if !found {
		t.Errorf("the group %v is neither one evaluation query nor one training pair", quote)
	}
	for _, c := range []struct {
		name      string
		packages  []string
		eval, dev int
	}{{"quick", QuickPackages(), 150, 100}, {"medium", MediumPackages(), 400, 100}} {
		task, err := Build(root, Options{Packages: c.packages, EvalQueries: c.eval, DevQueries: c.dev, MinQueryWords: 3, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		queries := len(task.Eval.Queries) + len(task.Dev.Queries) + len(task.Train)
		t.Logf("%s: %d packages, %d items, %d queries; eval %d, dev %d, train %d; duplicates %+v",
			c.name, len(c.packages), len(task.Eval.Corpus), queries, len(task.Eval.Queries), len(task.Dev.Queries), len(task.Train), task.Duplicates)
		if got := len(task.Eval.Corpus) - task.Duplicates.Items + task.Duplicates.Groups; got != queries {
			t.Errorf("%s: %d items less %d duplicates in %d groups is %d queries, the splits hold %d", c.name, len(task.Eval.Corpus), task.Duplicates.Items, task.Duplicates.Groups, got, queries)
		}
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

// dupRoot writes a GOROOT-like fixture: package "dup" with 30 functions
// and 4 types of distinct sentences, three Len methods sharing one
// sentence, and a Read method whose sentence (over two comment lines) is
// that of package "dup2"'s Read (spaced differently, without the final
// period): 40 items, 37 groups.
func dupRoot(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("// Package dup has shared first sentences.\npackage dup\n\n")
	for i := range 30 {
		fmt.Fprintf(&b, "// F%d computes the entry number %d of the table.\nfunc F%d() {}\n\n", i, i, i)
	}
	for _, typ := range []string{"A", "B", "C"} {
		fmt.Fprintf(&b, "// %s is a list of words kept for %s.\ntype %s struct{}\n\n", typ, strings.ToLower(typ)+"-things", typ)
		fmt.Fprintf(&b, "// Len returns the number of elements in the list.\nfunc (%s) Len() int { return 0 }\n\n", typ)
	}
	b.WriteString("// Reader reads bytes from a slice of memory.\ntype Reader struct{}\n\n")
	b.WriteString("// Read implements the io.Reader\n// interface.\nfunc (Reader) Read(p []byte) (int, error) { return 0, nil }\n")
	const dup2 = "package dup2\n\n// Reader reads bytes from a string held in memory.\ntype Reader struct{}\n\n" +
		"// Read implements   the io.Reader interface\nfunc (Reader) Read(p []byte) (int, error) { return 0, nil }\n"
	return fakeGOROOT(t, map[string]string{"dup/a.go": b.String(), "dup2/a.go": dup2})
}

func TestNormalise(t *testing.T) {
	for _, c := range []struct{ a, b string }{
		{"returns the number of elements.", "Returns  the number\tof elements"},
		{"implements the io.Reader interface.", "implements the io.Reader interface"},
	} {
		if normalise(c.a) != normalise(c.b) {
			t.Errorf("%q and %q normalise to %q and %q", c.a, c.b, normalise(c.a), normalise(c.b))
		}
	}
	for _, c := range []struct{ a, b string }{
		{"returns the number of elements.", "returns the number of bytes."},
		{"interprets s as UTF-8-encoded code points.", "interprets s as UTF-8-encoded Unicode code points."},
	} {
		if normalise(c.a) == normalise(c.b) {
			t.Errorf("%q and %q normalise to the same %q", c.a, c.b, normalise(c.a))
		}
	}
}

// Items sharing a sentence form one group: never in two splits, one
// query with every member relevant in evaluation and development, one
// pair (the first id) in training; every item is in exactly one split.
func TestDuplicates(t *testing.T) {
	root := dupRoot(t)
	groups := map[string][]string{ // first id → members
		"dup.A.Len":       {"dup.A.Len", "dup.B.Len", "dup.C.Len"},
		"dup.Reader.Read": {"dup.Reader.Read", "dup2.Reader.Read"},
	}
	const nItems, nGroups = 40, 37
	where := map[string]map[string]bool{} // first id → splits it was seen in, over seeds
	var evalSets []string
	for seed := range uint64(20) {
		task, err := Build(root, Options{Packages: []string{"dup", "dup2"}, EvalQueries: 10, DevQueries: 8, MinQueryWords: 3, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		if len(task.Eval.Corpus) != nItems || len(task.Eval.Queries) != 10 || task.Dev == nil || len(task.Dev.Queries) != 8 || len(task.Train) != nGroups-18 {
			t.Fatalf("seed %d: corpus %d, eval %d, dev %v, train %d; want %d, 10, 8, %d", seed, len(task.Eval.Corpus), len(task.Eval.Queries), task.Dev, len(task.Train), nItems, nGroups-18)
		}
		if &task.Dev.Corpus[0] != &task.Eval.Corpus[0] || len(task.Dev.Corpus) != len(task.Eval.Corpus) {
			t.Errorf("seed %d: dev corpus is not the evaluation corpus", seed)
		}
		split := map[string]string{}    // item id → split
		sentence := map[string]string{} // normalised sentence → split
		put := func(id, s, query string) {
			if old, ok := split[id]; ok {
				t.Errorf("seed %d: %s in %s and %s", seed, id, old, s)
			}
			split[id] = s
			if old, ok := sentence[normalise(query)]; ok && old != s {
				t.Errorf("seed %d: sentence %q in %s and %s", seed, query, old, s)
			}
			sentence[normalise(query)] = s
		}
		var evalIDs []string
		for name, ds := range map[string]*beir.Dataset{"eval": task.Eval, "dev": task.Dev} {
			for _, q := range ds.Queries {
				first := strings.TrimPrefix(q.ID, "q:")
				want := groups[first]
				if want == nil {
					want = []string{first}
				}
				got := ds.Qrels[q.ID]
				if len(got) != len(want) {
					t.Errorf("seed %d: %s query %s judges %v, want %v", seed, name, q.ID, got, want)
				}
				for _, id := range want {
					if got[id] != 1 {
						t.Errorf("seed %d: %s query %s: %s has grade %d, want 1", seed, name, q.ID, id, got[id])
					}
					put(id, name, q.Text)
				}
				if groups[first] != nil {
					if where[first] == nil {
						where[first] = map[string]bool{}
					}
					where[first][name] = true
				}
				if name == "eval" {
					evalIDs = append(evalIDs, q.ID)
				}
			}
		}
		for _, p := range task.Train {
			for first, members := range groups {
				for _, id := range members[1:] {
					if p.DocID == id {
						t.Errorf("seed %d: training pair of %s, not its group's first item %s", seed, id, first)
					}
				}
			}
			put(p.DocID, "train", p.Query)
			if members := groups[p.DocID]; members != nil {
				for _, id := range members[1:] {
					split[id] = "train (dropped)"
				}
				if where[p.DocID] == nil {
					where[p.DocID] = map[string]bool{}
				}
				where[p.DocID]["train"] = true
			}
		}
		if len(split) != nItems {
			t.Errorf("seed %d: %d items placed, want %d", seed, len(split), nItems)
		}
		d := task.Duplicates
		trainGroups := 2 - d.EvalGroups - d.DevGroups
		if d.Groups != 2 || d.Items != 5 || trainGroups < 0 {
			t.Errorf("seed %d: duplicates %+v, want 2 groups of 5 items", seed, d)
		}
		dropped := 0
		for first, members := range groups {
			if strings.HasPrefix(split[first], "train") {
				dropped += len(members) - 1
			}
		}
		if d.TrainDropped != dropped {
			t.Errorf("seed %d: TrainDropped %d, want %d", seed, d.TrainDropped, dropped)
		}
		sort.Strings(evalIDs)
		evalSets = append(evalSets, strings.Join(evalIDs, " "))
	}
	// Over 20 seeds each group was met in evaluation and training, and the
	// evaluation queries changed with the seed.
	for first := range groups {
		if !where[first]["eval"] || !where[first]["train"] {
			t.Errorf("group %s only in %v over 20 seeds", first, where[first])
		}
	}
	if evalSets[0] == evalSets[1] {
		t.Error("seeds 0 and 1 give the same evaluation queries")
	}
	// Without DevQueries there is no development set.
	task, err := Build(root, Options{Packages: []string{"dup", "dup2"}, EvalQueries: 10, MinQueryWords: 3})
	if err != nil || task.Dev != nil || len(task.Train) != nGroups-10 {
		t.Errorf("no dev queries: %v, dev %v", err, task.Dev)
	}
	// The split needs a training group.
	if _, err := Build(root, Options{Packages: []string{"dup", "dup2"}, EvalQueries: 30, DevQueries: nGroups - 30, MinQueryWords: 3}); err == nil ||
		!strings.Contains(err.Error(), fmt.Sprintf("%d distinct queries", nGroups)) {
		t.Errorf("all groups held out: %v", err)
	}
}

// $GOREPRO_GOROOT replaces `go env GOROOT` (a machine without Go): a copy
// of the standard library's sources builds the same task, and a directory
// without src/ is an error naming the variable.
func TestGOROOTFromEnv(t *testing.T) {
	real, err := GOROOT()
	if err != nil {
		t.Skip(err)
	}
	copyRoot := t.TempDir()
	for _, pkg := range []string{"strconv", "unicode/utf8"} {
		src := filepath.Join(real, "src", filepath.FromSlash(pkg))
		dst := filepath.Join(copyRoot, "src", filepath.FromSlash(pkg))
		if err := os.MkdirAll(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() || strings.HasSuffix(e.Name(), "_test.go") {
				continue
			}
			data, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if v, err := os.ReadFile(filepath.Join(real, "VERSION")); err == nil {
		if err := os.WriteFile(filepath.Join(copyRoot, "VERSION"), v, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	opts := Options{Packages: []string{"strconv", "unicode/utf8"}, EvalQueries: 10, MinQueryWords: 3, Seed: 1}
	want, err := Build(real, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvGOROOT, copyRoot)
	t.Setenv("PATH", t.TempDir()) // no go command
	root, err := GOROOT()
	if err != nil || root != copyRoot {
		t.Fatalf("GOROOT() = %q, %v; want %q", root, err, copyRoot)
	}
	got, err := Build(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Train) != len(want.Train) || len(got.Eval.Queries) != len(want.Eval.Queries) || got.Eval.Corpus[0] != want.Eval.Corpus[0] {
		t.Errorf("task from the copy: %d pairs, %d queries; from GOROOT: %d, %d", len(got.Train), len(got.Eval.Queries), len(want.Train), len(want.Eval.Queries))
	}
	t.Setenv(EnvGOROOT, t.TempDir())
	if _, err := GOROOT(); err == nil || !strings.Contains(err.Error(), EnvGOROOT) {
		t.Errorf("a root without src/: %v", err)
	}
}
