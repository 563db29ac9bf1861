package notebook

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute"
)

// toyModule is a small module: calc imports inner (which embeds a table);
// other is imported by nobody.
var toyModule = map[string]string{
	"go.mod": "module example.com/toy\n\ngo 1.22\n\nrequire example.com/dep v1.0.0\n",
	"go.sum": "example.com/dep v1.0.0 h1:AAAA=\nexample.com/dep v1.0.0/go.mod h1:BBBB=\n",
	"calc/calc.go": `package calc

import (
	"fmt"

	"example.com/toy/inner"
)

// Sum adds with inner's help.
func Sum(a, b int) string { return fmt.Sprint(inner.Add(a, b)) }
`,
	"calc/calc_test.go":   "package calc\n\nimport \"testing\"\n\nfunc TestSum(t *testing.T) {}\n",
	"calc/README.md":      "calc adds.\n",
	"inner/inner.go":      "package inner\n\nimport _ \"embed\"\n\n//go:embed table.txt\nvar table string\n\n// Add adds.\nfunc Add(a, b int) int { return a + b }\n",
	"inner/table.txt":     "1 2 3\n",
	"inner/inner_test.go": "package inner\n",
	"other/other.go":      "package other\n\n// Unused is imported by nobody.\nconst Unused = 1\n",
}

const toyCalc = "example.com/toy/calc"

// writeToy writes toyModule into a fresh temporary directory.
func writeToy(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range toyModule {
		writeFile(t, filepath.Join(root, name), content)
	}
	return root
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, more string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, string(data)+more)
}

type toyConfig struct {
	N     int
	Rate  float64
	Names []string
}

type toyRun struct {
	Config toyConfig
	Value  int
	Done   bool
}

// THE key test: a run is computed once and then read back, until the code
// of a package that the computing package imports (transitively) changes:
// then the cached run is no longer used.
func TestRunCacheRecomputesAfterCodeChange(t *testing.T) {
	root := writeToy(t)
	dir := t.TempDir()
	cfg := toyConfig{N: 3, Rate: 0.5}
	computed := 0
	compute := func() (*toyRun, error) {
		computed++
		return &toyRun{Config: cfg, Value: 10 * computed, Done: true}, nil
	}
	run := func(step string) (*toyRun, bool) {
		t.Helper()
		c, err := OpenRunCacheIn(root, dir, toyCalc)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		r, fromCache, err := LoadOrCompute(c, c.Key("toy", cfg, nil), nil, compute)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		return r, fromCache
	}
	first, fromCache := run("first")
	if fromCache || computed != 1 || first.Value != 10 {
		t.Fatalf("first call: from cache %v, computed %d times, value %d", fromCache, computed, first.Value)
	}
	second, fromCache := run("second")
	if !fromCache || computed != 1 || second.Value != 10 || second.Config.Rate != 0.5 {
		t.Fatalf("second call: from cache %v, computed %d times, %+v", fromCache, computed, second)
	}
	// Edit the transitively imported package: the old run is not used.
	appendFile(t, filepath.Join(root, "inner", "inner.go"), "\n// Sub subtracts.\nfunc Sub(a, b int) int { return a - b }\n")
	third, fromCache := run("after editing inner")
	if fromCache || computed != 2 || third.Value != 20 {
		t.Fatalf("after editing inner/inner.go: from cache %v, computed %d times, value %d", fromCache, computed, third.Value)
	}
	if _, fromCache := run("again"); !fromCache || computed != 2 {
		t.Fatalf("the recomputed run was not cached: from cache %v, computed %d", fromCache, computed)
	}
}

// What changes the code hash and what does not.
func TestCodeHashCoversWhatComputes(t *testing.T) {
	base, err := CodeHashIn(writeToy(t), toyCalc)
	if err != nil {
		t.Fatal(err)
	}
	if len(base) != 64 {
		t.Errorf("hash %q: want 64 hex digits", base)
	}
	for _, tc := range []struct {
		name    string
		edit    func(t *testing.T, root string)
		changes bool
	}{
		{"nothing", func(*testing.T, string) {}, false},
		{"the package's own source", func(t *testing.T, root string) { appendFile(t, filepath.Join(root, "calc/calc.go"), "\n") }, true},
		{"an imported package's source", func(t *testing.T, root string) {
			appendFile(t, filepath.Join(root, "inner/inner.go"), "// x\n")
		}, true},
		{"a new file in an imported package", func(t *testing.T, root string) {
			writeFile(t, filepath.Join(root, "inner/more.go"), "package inner\n")
		}, true},
		{"a file an imported package embeds", func(t *testing.T, root string) {
			writeFile(t, filepath.Join(root, "inner/table.txt"), "1 2 4\n")
		}, true},
		{"go.sum", func(t *testing.T, root string) {
			appendFile(t, filepath.Join(root, "go.sum"), "example.com/dep2 v1.0.0 h1:CCCC=\n")
		}, true},
		{"go.mod", func(t *testing.T, root string) { appendFile(t, filepath.Join(root, "go.mod"), "\n// x\n") }, true},
		{"a _test.go file", func(t *testing.T, root string) {
			appendFile(t, filepath.Join(root, "calc/calc_test.go"), "\nfunc TestMore(t *testing.T) {}\n")
		}, false},
		{"an imported package's _test.go file", func(t *testing.T, root string) {
			appendFile(t, filepath.Join(root, "inner/inner_test.go"), "// x\n")
		}, false},
		{"a new _test.go file", func(t *testing.T, root string) {
			writeFile(t, filepath.Join(root, "calc/new_test.go"), "package calc\n")
		}, false},
		{"a package nobody imports", func(t *testing.T, root string) {
			appendFile(t, filepath.Join(root, "other/other.go"), "// x\n")
		}, false},
		{"a non-Go file that is not embedded", func(t *testing.T, root string) {
			appendFile(t, filepath.Join(root, "calc/README.md"), "More.\n")
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := writeToy(t)
			tc.edit(t, root)
			got, err := CodeHashIn(root, toyCalc)
			if err != nil {
				t.Fatal(err)
			}
			if changed := got != base; changed != tc.changes {
				t.Errorf("editing %s: hash changed %v, want %v", tc.name, changed, tc.changes)
			}
		})
	}
}

// fakeBackend has a name and description of its own (what backends.Identity reads).
type fakeBackend struct {
	compute.Backend
	name, description string
}

func (f fakeBackend) Name() string        { return f.name }
func (f fakeBackend) Description() string { return f.description }

// The key changes with the configuration, the extra parts, the backend's
// identity and the code, and with nothing else.
func TestRunCacheKey(t *testing.T) {
	root := writeToy(t)
	c, err := OpenRunCacheIn(root, t.TempDir(), toyCalc)
	if err != nil {
		t.Fatal(err)
	}
	other := writeToy(t)
	appendFile(t, filepath.Join(other, "inner/inner.go"), "// changed\n")
	changed, err := OpenRunCacheIn(other, t.TempDir(), toyCalc)
	if err != nil {
		t.Fatal(err)
	}
	cpu := fakeBackend{name: "go", description: "Go portable backend"}
	cfg := toyConfig{N: 3, Rate: 0.5, Names: []string{"a"}}
	base := c.Key("toy", cfg, cpu, "x")
	if !strings.HasPrefix(base, "toy-") || len(base) != len("toy-")+16 {
		t.Fatalf("key %q: want toy- and 16 hex digits", base)
	}
	nan := cfg
	nan.Rate = math.NaN()
	for _, tc := range []struct {
		name    string
		key     string
		changes bool
	}{
		{"the same run", c.Key("toy", toyConfig{N: 3, Rate: 0.5, Names: []string{"a"}}, cpu, "x"), false},
		{"a pointer to the same configuration", c.Key("toy", &cfg, cpu, "x"), true}, // another type
		{"another cache directory", func() string {
			d, err := OpenRunCacheIn(root, t.TempDir(), toyCalc)
			if err != nil {
				t.Fatal(err)
			}
			return d.Key("toy", cfg, cpu, "x")
		}(), false},
		{"a configuration field", c.Key("toy", toyConfig{N: 4, Rate: 0.5, Names: []string{"a"}}, cpu, "x"), true},
		{"a float field", c.Key("toy", toyConfig{N: 3, Rate: 0.25, Names: []string{"a"}}, cpu, "x"), true},
		{"a NaN field", c.Key("toy", nan, cpu, "x"), true},
		{"a slice field", c.Key("toy", toyConfig{N: 3, Rate: 0.5, Names: []string{"b"}}, cpu, "x"), true},
		{"the extra part", c.Key("toy", cfg, cpu, "y"), true},
		{"an extra part more", c.Key("toy", cfg, cpu, "x", ""), true},
		{"extra parts split differently", c.Key("toy", cfg, cpu, "", "x"), true},
		{"the backend's description", c.Key("toy", cfg, fakeBackend{name: "go", description: "other"}, "x"), true},
		{"the backend's name", c.Key("toy", cfg, fakeBackend{name: "xla:cpu", description: "Go portable backend"}, "x"), true},
		{"no backend", c.Key("toy", cfg, nil, "x"), true},
		{"the code", changed.Key("toy", cfg, cpu, "x"), true},
		{"no cache (no code hash)", (*RunCache)(nil).Key("toy", cfg, cpu, "x"), true},
	} {
		rest := strings.TrimPrefix(tc.key, "toy-")
		if changed := rest != strings.TrimPrefix(base, "toy-"); changed != tc.changes {
			t.Errorf("%s: key %s vs %s: changed %v, want %v", tc.name, tc.key, base, changed, tc.changes)
		}
	}
	if a, b := c.Key("toy", nan, cpu), c.Key("toy", nan, cpu); a != b {
		t.Errorf("a NaN configuration keys differently each time: %s, %s", a, b)
	}
}

// The configuration encoding is stable and never shows addresses.
func TestEncodeConfig(t *testing.T) {
	type inner struct{ X float64 }
	type cfg struct {
		P      *inner
		I      any
		M      map[string]int
		F      func()
		hidden int
	}
	a := encodeConfig(cfg{P: &inner{1}, I: 2.5, M: map[string]int{"b": 2, "a": 1, "c": 3}, F: func() {}, hidden: 7})
	b := encodeConfig(cfg{P: &inner{1}, I: 2.5, M: map[string]int{"c": 3, "a": 1, "b": 2}, F: func() {}, hidden: 7})
	if a != b {
		t.Errorf("equal configurations encode differently:\n%s\n%s", a, b)
	}
	if strings.Contains(a, "0x") {
		t.Errorf("the encoding shows an address: %s", a)
	}
	if c := encodeConfig(cfg{P: &inner{1}, I: 2.5, M: map[string]int{"a": 1, "b": 2, "c": 3}, F: func() {}, hidden: 8}); c == a {
		t.Errorf("an unexported field is not encoded: %s", c)
	}
	if nilSlice, empty := encodeConfig(toyConfig{}), encodeConfig(toyConfig{Names: []string{}}); nilSlice != empty {
		t.Errorf("nil and empty slices differ: %s, %s", nilSlice, empty)
	}
	type node struct{ Next *node }
	n := &node{}
	n.Next = n
	if got := encodeConfig(n); !strings.Contains(got, "<cycle>") {
		t.Errorf("a cycle: %s", got)
	}
}

// A missing, unreadable or incomplete cached run is computed again, not an
// error; a failed computation stores nothing; a nil cache computes each time
// and writes nothing.
func TestLoadOrComputeRecovers(t *testing.T) {
	root := writeToy(t)
	dir := t.TempDir()
	c, err := OpenRunCacheIn(root, dir, toyCalc)
	if err != nil {
		t.Fatal(err)
	}
	if c.Dir() != dir || len(c.Code()) != 64 {
		t.Fatalf("Dir %q (want %q), Code %q", c.Dir(), dir, c.Code())
	}
	key := c.Key("toy", toyConfig{N: 1}, nil)
	path := c.Path(key, ".json")
	if path != filepath.Join(dir, key+".json") {
		t.Fatalf("Path %q", path)
	}
	done := func(r *toyRun) bool { return r.Done }
	computed := 0
	computeDone := func(done bool) func() (*toyRun, error) {
		return func() (*toyRun, error) { computed++; return &toyRun{Value: computed, Done: done}, nil }
	}
	for _, tc := range []struct {
		name      string
		before    func()
		valid     func(*toyRun) bool
		compute   func() (*toyRun, error)
		fromCache bool
		wantErr   bool
		computed  int
	}{
		{"nothing cached", nil, done, computeDone(true), false, false, 1},
		{"cached", nil, done, computeDone(true), true, false, 1},
		{"a truncated file", func() { writeFile(t, path, `{"Value": 1, "Do`) }, done, computeDone(true), false, false, 2},
		{"rewritten", nil, done, computeDone(true), true, false, 2},
		{"not JSON of a run", func() { writeFile(t, path, `[1, 2]`) }, done, computeDone(true), false, false, 3},
		{"a directory in the way", func() { os.Remove(path); os.MkdirAll(filepath.Join(path, "x"), 0o755) }, done, computeDone(true), false, true, 4},
		{"cleared", func() { os.RemoveAll(path) }, done, computeDone(false), false, false, 5},
		{"incomplete run rejected", nil, done, computeDone(true), false, false, 6},
		{"any run accepted", nil, nil, computeDone(true), true, false, 6},
		{"a failed computation", func() { os.Remove(path) }, done, func() (*toyRun, error) { computed++; return nil, errors.New("boom") }, false, true, 7},
		{"nothing stored by the failure", nil, done, computeDone(true), false, false, 8},
	} {
		if tc.before != nil {
			tc.before()
		}
		run, fromCache, err := LoadOrCompute(c, key, tc.valid, tc.compute)
		if (err != nil) != tc.wantErr || fromCache != tc.fromCache || computed != tc.computed {
			t.Fatalf("%s: error %v (want one: %v), from cache %v (want %v), computed %d times (want %d)",
				tc.name, err, tc.wantErr, fromCache, tc.fromCache, computed, tc.computed)
		}
		if err == nil && run == nil {
			t.Fatalf("%s: no run", tc.name)
		}
	}
	// No temporary files are left beside the runs.
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("%d entries in the cache directory, want 1", len(entries))
	}

	var none *RunCache
	before := computed
	for range 2 {
		if _, fromCache, err := LoadOrCompute(none, none.Key("toy", toyConfig{N: 1}, nil), nil, computeDone(true)); err != nil || fromCache {
			t.Fatalf("nil cache: %v, from cache %v", err, fromCache)
		}
	}
	if computed != before+2 || none.Dir() != "" || none.Code() != "" || none.Path("k", ".json") != "" {
		t.Errorf("nil cache: computed %d times (want 2), Dir %q, Code %q", computed-before, none.Dir(), none.Code())
	}
	// A cache without a directory names runs but keeps none.
	named, err := OpenRunCacheIn(root, "", toyCalc)
	if err != nil {
		t.Fatal(err)
	}
	if named.Code() != c.Code() || named.Key("toy", toyConfig{N: 1}, nil) != key {
		t.Errorf("a cache without a directory keys differently")
	}
	for range 2 {
		if _, fromCache, err := LoadOrCompute(named, key, nil, computeDone(true)); err != nil || fromCache {
			t.Fatalf("cache without a directory: %v, from cache %v", err, fromCache)
		}
	}
}

// Packages outside the module, missing or empty, and roots that are not
// modules are errors that name them.
func TestCodeHashErrors(t *testing.T) {
	root := writeToy(t)
	if err := os.MkdirAll(filepath.Join(root, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "onlytests/x_test.go"), "package onlytests\n")
	writeFile(t, filepath.Join(root, "broken/broken.go"), "package broken\n\nimport (\n")
	writeFile(t, filepath.Join(root, "usesmissing/u.go"), "package usesmissing\n\nimport _ \"example.com/toy/missing\"\n")
	for _, tc := range []struct {
		name     string
		root     string
		packages []string
		want     []string
	}{
		{"outside the module", root, []string{"github.com/other/thing"}, []string{`"github.com/other/thing"`, "example.com/toy"}},
		{"a prefix that is not a path", root, []string{"example.com/toyish"}, []string{"example.com/toyish", "not in module"}},
		{"one of several outside", root, []string{toyCalc, "fmt"}, []string{`"fmt"`}},
		{"missing", root, []string{"example.com/toy/missing"}, []string{"example.com/toy/missing", filepath.Join(root, "missing")}},
		{"imports a missing package", root, []string{"example.com/toy/usesmissing"}, []string{"example.com/toy/missing"}},
		{"no Go files", root, []string{"example.com/toy/empty"}, []string{"example.com/toy/empty", filepath.Join(root, "empty")}},
		{"only tests", root, []string{"example.com/toy/onlytests"}, []string{"example.com/toy/onlytests", "no non-test Go files"}},
		{"broken imports", root, []string{"example.com/toy/broken"}, []string{"example.com/toy/broken", "broken.go"}},
		{"no packages", root, nil, []string{"no packages"}},
		{"not a module", t.TempDir(), []string{toyCalc}, []string{"go.mod"}},
	} {
		_, err := CodeHashIn(tc.root, tc.packages...)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not name %q", tc.name, err, w)
			}
		}
		if _, err := OpenRunCacheIn(tc.root, t.TempDir(), tc.packages...); err == nil {
			t.Errorf("%s: OpenRunCacheIn opened a cache", tc.name)
		}
	}
}

// CodeHash finds this checkout (tests run in lib/notebook) and hashes this
// package with lib/backends, which it imports.
func TestCodeHashOfThisModule(t *testing.T) {
	const pkg = "github.com/gorepro/gorepro/lib/notebook"
	h, err := CodeHash(pkg)
	if err != nil {
		t.Fatal(err)
	}
	root, err := projectRoot()
	if err != nil {
		t.Fatal(err)
	}
	if again, err := CodeHashIn(root, pkg); err != nil || again != h {
		t.Errorf("CodeHashIn(%s): %s, %v; CodeHash: %s", root, again, err, h)
	}
	withBackends, err := CodeHash(pkg, "github.com/gorepro/gorepro/lib/backends")
	if err != nil || withBackends != h {
		t.Errorf("naming an imported package changed the hash: %s vs %s (%v)", withBackends, h, err)
	}
	if _, err := CodeHash("github.com/gorepro/gorepro/lib/nosuchpackage"); err == nil || !strings.Contains(err.Error(), "lib/nosuchpackage") {
		t.Errorf("a missing package: %v", err)
	}
	c, err := OpenRunCache(t.TempDir(), pkg)
	if err != nil || c.Code() != h {
		t.Errorf("OpenRunCache: %v, code %s (want %s)", err, c.Code(), h)
	}
	if c := OpenRunCacheOrWarn(t.TempDir(), "example.com/not/here"); c != nil {
		t.Errorf("OpenRunCacheOrWarn opened a cache for a package outside the module")
	}
}
