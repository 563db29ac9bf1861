package built

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorepro/gorepro/lib/ipynb"
	"github.com/gorepro/gorepro/lib/notebook"
)

// envTestCell makes this test binary act as a cell program (see TestMain).
const envTestCell = "GOREPRO_TEST_CELL"

func TestMain(m *testing.M) {
	switch os.Getenv(envTestCell) {
	case "":
		os.Exit(m.Run())
	case "noop":
		os.Exit(0)
	case "sleep":
		time.Sleep(time.Minute)
		os.Exit(0)
	case "display":
		// Displays go through GoNB's pipe (lib/notebook waits for the ack).
		notebook.Markdown("hello from a cell")
		notebook.Must(notebook.Set("k", 7))
		fmt.Println("set k")
		os.Exit(0)
	case "finish":
		var k int
		notebook.Must(notebook.Get("k", &k))
		var params struct{ Min int }
		min := 7
		if json.Unmarshal([]byte(os.Getenv(EnvParams)), &params) == nil && params.Min != 0 {
			min = params.Min
		}
		notebook.Finish(notebook.Result{Notebook: "fake", Backend: "go",
			Claims: []notebook.Claim{notebook.AtLeast("k from the earlier cell", 7, float64(k), float64(min))}})
		os.Exit(0)
	}
	os.Exit(3)
}

// fakeBuild writes a built notebook whose cell programs are this test
// binary in the roles above, and returns its driver's path.
func fakeBuild(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "fake")
	cells := exe + ".cells"
	if err := os.Mkdir(cells, 0o755); err != nil {
		t.Fatal(err)
	}
	nb := `{"cells": [
 {"cell_type": "markdown", "metadata": {}, "source": "# fake"},
 {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "outputs": [], "source": "%%params\nmin int = 7 // the claim's threshold  [0 .. 100]"},
 {"cell_type": "code", "metadata": {}, "outputs": [], "source": "display"},
 {"cell_type": "code", "metadata": {}, "outputs": [], "source": "finish"}
], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}`
	m := Manifest{Notebook: "fake", Source: "fake.ipynb", Cells: []Cell{
		{Index: 1, Kind: KindProgram, Program: "noop", Markdown: "| parameter |"},
		{Index: 2, Kind: KindProgram, Program: "display"},
		{Index: 3, Kind: KindProgram, Program: "finish"},
	}}
	data, _ := json.Marshal(m)
	files := map[string]string{NotebookFile: nb, ManifestFile: string(data)}
	for _, role := range []string{"noop", "display", "finish", "sleep"} {
		files[role] = fmt.Sprintf("#!/bin/sh\n%s=%s exec %q -test.run='^$' \"$@\"\n", envTestCell, role, self)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(cells, name), []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return exe
}

func TestDriverRunsCellsInOneSession(t *testing.T) {
	exe := fakeBuild(t)
	out := filepath.Join(t.TempDir(), "out")
	var stdout, stderr bytes.Buffer
	if code := Main(exe, []string{"--out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "set k\n") || !strings.Contains(stdout.String(), notebook.ResultPrefix+"{") {
		t.Errorf("cell output not streamed:\n%s", stdout.String())
	}
	nb, err := ipynb.Read(filepath.Join(out, "fake.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	var markdown []string
	for _, c := range nb.Cells {
		for _, o := range c.Outputs {
			if md, ok := o.Data["text/markdown"]; ok {
				markdown = append(markdown, string(md))
			}
		}
	}
	if strings.Join(markdown, "|") != "| parameter ||hello from a cell" {
		t.Errorf("displays in the executed notebook = %q", markdown)
	}
	if r, err := notebook.ParseResult(nb.Text()); err != nil || r.Failure() != "" {
		t.Errorf("RESULT in the executed notebook: %v %v", r, err)
	}
	if papermill, _ := nb.Metadata["papermill"].(map[string]any); papermill["input_path"] != "fake.ipynb" {
		t.Errorf("papermill metadata = %v", nb.Metadata["papermill"])
	}
	for _, f := range []string{"report.md", "report.html", "logs/fake.log", "logs/fake.params.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}

func TestDriverExitStatus(t *testing.T) {
	exe := fakeBuild(t)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-p", "min=8"}, 1, "FAILED: claims do not hold"},
		{[]string{"-p", "min=500"}, 2, "want a value in [0, 100]"},
		{[]string{"-p", "nope=1"}, 2, "nope"},
		{[]string{"-p", "min=1,2"}, 2, "a built notebook runs once"},
		{[]string{"--profile", "quick"}, 2, "profile"},
		{[]string{"--xla-plugin", "gpu=/x.so"}, 2, "want cpu=PATH"},
		{[]string{"stray"}, 2, "unexpected argument"},
		{[]string{"--timeout", "-1"}, 2, "--timeout -1"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(exe, append(tc.args, "--out", t.TempDir()), &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr.String(), tc.code, tc.want)
			}
		})
	}
}

// TestDriverTimeout stops a cell that runs past --timeout and still writes
// the executed notebook, with the cell's error.
func TestDriverTimeout(t *testing.T) {
	exe := fakeBuild(t)
	data, err := os.ReadFile(filepath.Join(exe+".cells", ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	m.Cells[1].Program = "sleep"
	data, _ = json.Marshal(m)
	if err := os.WriteFile(filepath.Join(exe+".cells", ManifestFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := Main(exe, []string{"--timeout", "1", "--out", out}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "its program sleep failed: ran longer than --timeout 1s") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
	if time.Since(start) > 30*time.Second {
		t.Errorf("the cell was not stopped: %v", time.Since(start))
	}
	nb, err := ipynb.Read(filepath.Join(out, "fake.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	if e := nb.FirstError(); e == nil || !strings.Contains(e.Error(), "--timeout") {
		t.Errorf("executed notebook's error = %v", e)
	}
}
