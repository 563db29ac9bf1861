package build

import (
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorepro/gorepro/kernel/internal/project"
	"github.com/gorepro/gorepro/lib/ipynb"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// identity stands for goimports where a test checks the merge alone.
func identity(_ int, src string) (string, error) { return src, nil }

func codeCells(sources ...string) *ipynb.Notebook {
	nb := &ipynb.Notebook{}
	for _, s := range sources {
		nb.Cells = append(nb.Cells, ipynb.Cell{CellType: "code", Source: ipynb.MultiString(s)})
	}
	return nb
}

// TestMergeLikeGoNB checks the program of each case's last cell against a
// golden file: what GoNB v0.11.5 would compile after running the cells in
// order (its rendering order: imports, types, constants, variables,
// functions, each sorted by key, then main).
func TestMergeLikeGoNB(t *testing.T) {
	cases := []struct {
		name  string
		cells []string
	}{
		{"redeclared_function", []string{
			"import \"fmt\"\n\nfunc greet() string { return \"hello\" }",
			"func greet() string { return \"bonjour\" }\n\nfunc main() { fmt.Println(greet()) }",
		}},
		{"main_not_carried", []string{
			"import \"fmt\"\n\nfunc main() { fmt.Println(1) }",
			"var x = 2",
		}},
		{"variables_and_tuples", []string{
			"import \"os\"\n\nvar a, b = os.ReadFile(\"x\")\nvar c int = 3",
			"var b = 10\nvar c = 4",
		}},
		{"const_block_iota", []string{
			"const (\n\tRed = iota\n\tGreen\n\tBlue\n)\nconst Answer = 42",
			"const Answer float64 = 42.5",
		}},
		{"methods_and_types", []string{
			"type T struct{ n int }\n\nfunc (t *T) Get() int { return t.n }\nfunc Get() int { return 0 }",
			"type T struct{ n, m int }\n\n// Get is the sum.\nfunc (t *T) Get() int { return t.n + t.m }",
		}},
		{"init_functions", []string{
			"// init_check runs as an init function.\nfunc init_check() { println(\"init_check\") }",
			"%%\nprintln(\"body\")",
		}},
		{"aliases_and_dot_imports", []string{
			"import (\n\tm \"math\"\n\t\"math/rand/v2\"\n)\n",
			"import . \"strings\"\n\nfunc main() { _ = m.Pi; _ = rand.Int(); _ = ToUpper(\"x\") }",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, programs, err := plan("t.ipynb", codeCells(tc.cells...), identity)
			if err != nil {
				t.Fatal(err)
			}
			if len(programs) != len(tc.cells) {
				t.Fatalf("%d programs for %d cells", len(programs), len(tc.cells))
			}
			golden(t, filepath.Join("testdata", "merge", tc.name+".go.golden"), programs[len(programs)-1].source)
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("program differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestPlanCells checks how each kind of cell becomes a step of the run.
func TestPlanCells(t *testing.T) {
	nb := codeCells(
		"%%params\nseed int = 42 // the seed  [0 .. 100]\nname string = \"a\" // a name  [a, b]",
		"%%backend",
		"%%backend xla:cuda,tf32=false",
		"%env FOO bar\n%noautoget",
		"func main() { println(seed, name) }",
	)
	nb.Cells = append([]ipynb.Cell{{CellType: "markdown", Source: "# title"}}, nb.Cells...)
	m, programs, err := plan("t.ipynb", nb, identity)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, c := range m.Cells {
		kinds = append(kinds, c.Kind+":"+c.Program+":"+c.Backend)
	}
	want := "program:cell-002: backend:: backend::xla:cuda,tf32=false program:: program:cell-006:"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("steps = %s, want %s", got, want)
	}
	if m.Cells[0].Markdown == "" || !strings.Contains(m.Cells[0].Markdown, "`seed`") {
		t.Errorf("the %%%%params step shows no table: %q", m.Cells[0].Markdown)
	}
	if m.Cells[3].Env["FOO"] != "bar" {
		t.Errorf("%%env not kept: %v", m.Cells[3].Env)
	}
	if len(programs) != 2 {
		t.Fatalf("%d programs, want 2", len(programs))
	}
	last := programs[1].source
	for _, want := range []string{`seed int = goreproNotebook.Parameter[int]("seed", 42)`, "func init() {", "func main() { println(seed, name) }"} {
		if !strings.Contains(last, want) {
			t.Errorf("the last program lacks %q:\n%s", want, last)
		}
	}
}

// TestPlanRejects checks that a cell a built notebook cannot run fails the
// plan with one line naming the notebook and the cell (from 1, markdown
// cells counted).
func TestPlanRejects(t *testing.T) {
	cases := []struct {
		name, cell, want string
	}{
		{"unknown plugin", "%%bench\nx", "the plugin cell %%bench has no build-time meaning"},
		{"GoNB bash", "%%bash\nls", "GoNB's %%bash cell has no meaning in a built notebook"},
		{"shell line", "!ls -l\nfunc main() {}", `line 1: shell line "!ls -l" needs the kernel`},
		{"GoNB command", "%goflags -race\nfunc main() {}", `GoNB command "%goflags" has no meaning`},
		{"syntax error", "func main() {", "does not parse"},
		{"syntax error line", "import \"fmt\"\n\nfunc main() {\n\tfmt.Println(1 +)\n}", "does not parse: line 4: expected operand"},
		{"shell line run in GoNB's temporary directory", "!*ok\n", "shell line"},
		{"syntax error in %% main", "%%\nx := 1\ny := := 2", "does not parse: line 3:"},
		{"bad params", "%%params\nseed int = \"x\"", "%%params"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nb := codeCells("var ok = 1", tc.cell)
			nb.Cells = append([]ipynb.Cell{{CellType: "markdown", Source: "# title"}}, nb.Cells...)
			_, _, err := plan("nb.ipynb", nb, identity)
			var ce *CellError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a CellError", err)
			}
			msg := err.Error()
			if ce.Cell != 3 || !strings.HasPrefix(msg, "nb.ipynb: cell 3: ") || !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("err = %q, want one line naming nb.ipynb cell 3 and containing %q", msg, tc.want)
			}
		})
	}
}

// TestBuildCompileError builds a notebook whose third cell does not compile:
// the build fails with one line naming the notebook and that cell. It needs
// the go command and the goimports that `make setup` installs.
// buildProject is the checkout a real build needs (the go command, the
// project, goimports in its venv), or skips the test.
func buildProject(t *testing.T) *project.Project {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	p, err := project.Find()
	if err != nil {
		t.Skipf("needs a gorepro checkout: %v", err)
	}
	if _, err := os.Stat(p.Bin("goimports")); err != nil {
		t.Skipf("needs goimports in the venv (make setup): %v", err)
	}
	return p
}

func TestBuildCompileError(t *testing.T) {
	p := buildProject(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "broken.ipynb")
	nb := `{"cells": [
 {"cell_type": "markdown", "metadata": {}, "source": ["# broken"]},
 {"cell_type": "code", "metadata": {}, "outputs": [], "source": ["func main() { fmt.Println(\"fine\") }"]},
 {"cell_type": "code", "metadata": {}, "outputs": [], "source": ["func main() { fmt.Println(undefinedName) }"]}
], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}`
	if err := os.WriteFile(path, []byte(nb), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Build(p, []string{path}, Options{OutDir: filepath.Join(dir, "out")})
	var ce *CellError
	if !errors.As(err, &ce) || ce.Cell != 3 {
		t.Fatalf("err = %v, want a CellError for cell 3", err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, path+": cell 3: does not compile: undefined: undefinedName") || strings.Contains(msg, "\n") {
		t.Errorf("err = %q, want one line naming %s cell 3 and the undefined name", msg, path)
	}
}

// A relative output directory (scripts/gpu/bundle.sh's build/gpu/bin) gets
// the cell programs: they compile in a work directory, where the path once
// named a directory that was then deleted.
func TestBuildRelativeOut(t *testing.T) {
	p := buildProject(t)
	dir := t.TempDir()
	nb := `{"cells": [
 {"cell_type": "markdown", "metadata": {}, "source": ["# fine"]},
 {"cell_type": "code", "metadata": {}, "outputs": [], "source": ["func main() { fmt.Println(\"fine\") }"]}
], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}`
	if err := os.WriteFile(filepath.Join(dir, "fine.ipynb"), []byte(nb), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	if err := Build(p, []string{"fine.ipynb"}, Options{OutDir: filepath.Join("out", "bin")}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"out/bin/fine", "out/bin/fine.cells/cell-002", "out/bin/fine.cells/manifest.json"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}
