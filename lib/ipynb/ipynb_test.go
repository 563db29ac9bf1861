package ipynb

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExecutedNotebook(t *testing.T) {
	nb, err := Read("testdata/executed.ipynb")
	if err != nil {
		t.Fatal(err)
	}
	cellErr := nb.FirstError()
	if cellErr == nil {
		t.Fatal("FirstError found no error")
	}
	// Cells counted as a user sees them: the injected-parameters cell does not count.
	if want := "code cell 3 failed: ERROR: failed to run | line 2 | line 3 | …"; cellErr.Error() != want {
		t.Errorf("FirstError = %q, want %q", cellErr.Error(), want)
	}
	figs := nb.Figures()
	if len(figs) != 2 || figs[0] != `<svg id="a"></svg>` || figs[1] != `<svg id="b"><g/></svg>` {
		t.Errorf("Figures = %q", figs)
	}
	text := nb.Text()
	if !strings.Contains(text, "step 1\nstep 2\n") || !strings.Contains(text, "[figure: a]") {
		t.Errorf("Text = %q", text)
	}
	if !strings.Contains(text, `RESULT {"notebook":"t"`) {
		t.Errorf("Text has no RESULT line: %q", text)
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.ipynb")
	if err := os.WriteFile(bad, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.ipynb")
	if err := os.WriteFile(empty, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		bad: "is not a notebook (JSON)", empty: "no cells", filepath.Join(dir, "missing.ipynb"): "no such file",
	} {
		if _, err := Read(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Read(%s) = %v, want %q", filepath.Base(path), err, want)
		}
	}
}

func FuzzRead(f *testing.F) {
	seed, _ := os.ReadFile("testdata/executed.ipynb")
	f.Add(seed)
	f.Add([]byte(`{"cells":[{"cell_type":"code","source":[1,2],"outputs":[{"output_type":"error"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "nb.ipynb")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		nb, err := Read(path)
		if err != nil {
			return
		}
		_ = nb.FirstError()
		_ = nb.Figures()
		_ = nb.Text()
	})
}

func TestErrorDetails(t *testing.T) {
	compileHTML := `<style>.gonb-err-location{}</style><div class="gonb-err-location"> # gonb_1
Cell[2]: Line 5 ./main.go:14:2: undefined: undefinedFunction &amp; more</div>`
	tests := []struct {
		name string
		cell Cell
		want string
	}{
		{"compile error", Cell{CellType: "code", Outputs: []Output{
			{OutputType: "display_data", Data: map[string]MultiString{"text/html": MultiString(compileHTML)}},
			{OutputType: "error", Ename: "ERROR", Evalue: `failed to run "go build": exit status 1`},
		}}, `compile error: Cell[2]: Line 5 ./main.go:14:2: undefined: undefinedFunction & more (failed to run "go build": exit status 1)`},
		{"stderr", Cell{CellType: "code", Outputs: []Output{
			{OutputType: "stream", Name: "stderr", Text: "a\nb\nerror: parameter profile = \"fast\": want one of quick, full\n"},
			{OutputType: "error", Ename: "ERROR", Evalue: "exit status 1"},
		}}, `a | b | error: parameter profile = "fast": want one of quick, full (exit status 1)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := (&Notebook{Cells: []Cell{tc.cell}}).FirstError()
			if got == nil || !strings.HasPrefix(got.Error(), "code cell 1 failed: ERROR: ") || !strings.HasSuffix(got.Error(), tc.want) {
				t.Errorf("FirstError = %v\nwant %s", got, tc.want)
			}
		})
	}
}
