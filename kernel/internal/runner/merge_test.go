package runner

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// executedNotebook is an executed notebook as papermill writes it: its
// parameters and duration in the metadata, the RESULT line in a stream output.
func executedNotebook(t *testing.T, path, input string, params map[string]any, duration float64, result string, extra ...map[string]any) {
	t.Helper()
	outputs := []map[string]any{{"output_type": "stream", "name": "stdout", "text": []string{"training…\n", result + "\n"}}}
	outputs = append(outputs, extra...)
	nb := map[string]any{
		"cells":    []any{map[string]any{"cell_type": "code", "metadata": map[string]any{}, "source": "notebook.Finish(r)", "outputs": outputs}},
		"metadata": map[string]any{"papermill": map[string]any{"input_path": input, "parameters": params, "duration": duration}},
		"nbformat": 4, "nbformat_minor": 5,
	}
	data, err := json.Marshal(nb)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, string(data))
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

const (
	tourSeed1 = `RESULT {"notebook":"00_tour","backend":"xla:cpu","profile":"quick","seconds":21.5,"claims":[{"name":"softmax error","paper":0,"ours":2.2e-8,"tolerance":"<= 1e-06","holds":true},{"name":"final mse","paper":0.0025,"ours":0.00254,"tolerance":0.001,"holds":true}],"findings":[{"name":"ms/step","paper":null,"ours":2.5,"holds":true}]}`
	tourSeed2 = `RESULT {"notebook":"00_tour","backend":"xla:cpu","profile":"quick","seconds":22.5,"claims":[{"name":"softmax error","paper":0,"ours":3.2e-8,"tolerance":"<= 1e-06","holds":true},{"name":"final mse","paper":0.0025,"ours":0.0041,"tolerance":0.001,"holds":false}],"findings":[{"name":"ms/step","paper":null,"ours":3.5,"holds":true}]}`
	// tourSeed1Again is seed 1 on another machine whose numbers differ.
	tourSeed1Again = `RESULT {"notebook":"00_tour","backend":"xla:cpu","profile":"quick","seconds":30,"claims":[{"name":"softmax error","paper":0,"ours":2.2e-8,"tolerance":"<= 1e-06","holds":true},{"name":"final mse","paper":0.0025,"ours":0.00261,"tolerance":0.001,"holds":true}],"findings":[{"name":"ms/step","paper":null,"ours":4,"holds":true}]}`
	grokking       = `RESULT {"notebook":"grokking","backend":"go","seconds":100,"claims":[{"name":"accuracy","paper":0.99,"ours":0.995,"tolerance":0.05,"holds":true}]}`
)

// mergeFixture lays out what machines send back: one machine's build/
// directory (a sweep's executed notebooks with their logs, which repeat the
// same RESULT), another's log, a CI log of several notebooks with timestamps
// and colour codes, and the bad inputs a merge must survive.
func mergeFixture(t *testing.T) (dir string, inputs []string) {
	dir = t.TempDir()
	a := filepath.Join(dir, "machine-a", "build")
	executedNotebook(t, filepath.Join(a, "runs", "00_tour", "seed=1.ipynb"), "/src/notebooks/00_tour.ipynb",
		map[string]any{"seed": 1, "profile": "quick"}, 31.25, tourSeed1,
		map[string]any{"output_type": "display_data", "data": map[string]any{"image/svg+xml": `<svg id="one"/>`}, "metadata": map[string]any{}})
	writeFile(t, filepath.Join(a, "runs", "00_tour", "seed=1.log"), "Executing notebook\n"+tourSeed1+"\n")
	writeFile(t, filepath.Join(a, "runs", "00_tour", "seed=1.params.json"), `{"seed":1,"profile":"quick"}`)
	executedNotebook(t, filepath.Join(a, "runs", "00_tour", "seed=2.ipynb"), "/src/notebooks/00_tour.ipynb",
		map[string]any{"seed": 2, "profile": "quick"}, 33, tourSeed2)
	writeFile(t, filepath.Join(a, "runs", "00_tour", ".ipynb_checkpoints", "seed=2-checkpoint.ipynb"), "{not read}")
	writeFile(t, filepath.Join(a, "report.md"), "# an earlier report: not an input\n")
	writeFile(t, filepath.Join(a, "figures", "x.svg"), "<svg/>")
	// An executed notebook that failed in a cell, before its RESULT line.
	failed := map[string]any{"output_type": "error", "ename": "ERROR", "evalue": "undefined: x", "traceback": []string{}}
	executedNotebook(t, filepath.Join(a, "broken.ipynb"), "/src/tests/notebooks/broken.ipynb", map[string]any{}, 2, "no result", failed)

	b := filepath.Join(dir, "machine-b")
	writeFile(t, filepath.Join(b, "seed1.log"), tourSeed1Again+"\n")
	writeFile(t, filepath.Join(b, "seed1.params.json"), `{"profile":"quick","seed":1}`)
	writeFile(t, filepath.Join(b, "notes.txt"), "no results here\n")
	writeFile(t, filepath.Join(b, "source.ipynb"), `{"cells":[{"cell_type":"code","metadata":{},"source":"x","outputs":[]}],"metadata":{}}`)
	writeFile(t, filepath.Join(b, "corrupt.ipynb"), `{"cells": [`)

	ci := filepath.Join(dir, "ci.out")
	writeFile(t, ci, "2026-11-28T10:00:00Z \x1b[32m"+grokking+"\x1b[0m\n2026-11-28T10:00:01Z RESULT {\"notebook\": 3}\n")
	empty := filepath.Join(dir, "empty.log")
	writeFile(t, empty, "")
	return dir, []string{filepath.Join(dir, "machine-a"), b, ci, empty, filepath.Join(dir, "missing")}
}

func TestMergedReportGolden(t *testing.T) {
	now = func() time.Time { return time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) }
	defer func() { now = time.Now }()
	dir, inputs := mergeFixture(t)
	m, err := Collect(inputs)
	if err != nil {
		t.Fatal(err)
	}
	md := filepath.Join(dir, "merged", "sweep.md")
	if err := os.MkdirAll(filepath.Dir(md), 0o755); err != nil {
		t.Fatal(err)
	}
	htmlPath, err := WriteMergedReport(md, m)
	if err != nil {
		t.Fatal(err)
	}
	if htmlPath != filepath.Join(dir, "merged", "sweep.html") {
		t.Errorf("HTML report at %s", htmlPath)
	}
	got, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	// The fixture's directory differs from run to run.
	text := strings.ReplaceAll(string(got), dir, "DIR")
	golden := "testdata/merged.golden.md"
	if *update {
		if err := os.WriteFile(golden, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if want, err := os.ReadFile(golden); err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	} else if string(want) != text {
		t.Errorf("%s differs from the generated report:\n%s", golden, text)
	}
	html, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<th>parameters</th>", "<h2>Conflicts</h2>", "data:image/svg+xml;base64,", "<h2>00_tour.ipynb: 3 runs</h2>"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("the HTML report lacks %q", want)
		}
	}
	if svg, err := os.ReadFile(filepath.Join(dir, "merged", "sweep-figures", "00_tour-seed=1-1.svg")); err != nil || string(svg) != `<svg id="one"/>` {
		t.Errorf("figure file: %q, %v", svg, err)
	}
	if err := m.Err(md); err == nil || err.Error() != "2 of 5 runs failed, 4 inputs could not be read, 1 conflict; report: "+md {
		t.Errorf("Merged.Err = %v", err)
	}
}

func TestCollectErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Collect([]string{filepath.Join(dir, "a"), filepath.Join(dir, "b")}); err == nil || !strings.Contains(err.Error(), "none of") {
		t.Errorf("Collect of missing paths: %v", err)
	}
	// An empty directory is no error: an empty report.
	m, err := Collect([]string{dir})
	if err != nil || len(m.Outcomes) != 0 || m.Err("r.md") != nil {
		t.Errorf("Collect(empty dir) = %+v, %v", m, err)
	}
	if os.Geteuid() != 0 { // root reads any file
		locked := filepath.Join(dir, "locked.log")
		writeFile(t, locked, grokking)
		if err := os.Chmod(locked, 0); err != nil {
			t.Fatal(err)
		}
		m, err := Collect([]string{dir})
		if err != nil || len(m.Problems) != 1 || !strings.Contains(m.Problems[0], "permission denied") {
			t.Errorf("unreadable file: %+v, %v", m, err)
		}
	}
}

func FuzzCollectTextFile(f *testing.F) {
	f.Add(tourSeed1)
	f.Add("x RESULT {\"notebook\":\"a\",\"claims\":[{\"holds\":false}]}\nRESULT {")
	f.Fuzz(func(t *testing.T, text string) {
		path := filepath.Join(t.TempDir(), "r.log")
		writeFile(t, path, text)
		m, err := Collect([]string{path})
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Outcomes)+len(m.Problems) == 0 {
			t.Error("a named file gave neither a run nor a problem")
		}
	})
}
