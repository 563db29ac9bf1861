package runner

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestReportGolden(t *testing.T) {
	now = func() time.Time { return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) }
	defer func() { now = time.Now }()
	out := t.TempDir()
	if err := os.MkdirAll(filepath.Join(out, "figures"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "figures", "tour-1.svg"), []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`), 0o644); err != nil {
		t.Fatal(err)
	}
	outcomes := []Outcome{
		{
			Notebook: "notebooks/tour.ipynb", Executed: filepath.Join(out, "tour.ipynb"), WallSeconds: 31.25,
			LogFile: filepath.Join(out, "logs", "tour.log"), Figures: []string{"figures/tour-1.svg"},
			Result: &Result{Notebook: "tour", Backend: "xla:cpu", Profile: "quick", Seconds: 22.5,
				Claims: []Claim{
					{Name: "softmax error", Paper: 0.0, Ours: 2.2e-8, Tolerance: "<= 1e-06", Holds: true},
					{Name: "a | pipe", Paper: "> 10", Ours: 107.69, Tolerance: ">= 10", Holds: true},
				},
				Findings: []Claim{{Name: "ms/step", Ours: 2.7, Holds: true}},
			},
		},
		{
			Notebook: "notebooks/broken.ipynb", Executed: filepath.Join(out, "broken.ipynb"), WallSeconds: 3,
			LogFile: filepath.Join(out, "logs", "broken.log"),
			Err:     "code cell 2 failed: ERROR: <undefined: x>",
			Result: &Result{Notebook: "broken", Backend: "go", Seconds: 1,
				Claims: []Claim{{Name: "accuracy", Paper: 0.99, Ours: 0.5, Tolerance: 0.05, Holds: false}}},
		},
	}
	for _, g := range []struct{ file, got string }{
		{"testdata/report.golden.md", MarkdownReport(out, outcomes)},
		{"testdata/report.golden.html", HTMLReport(out, outcomes)},
	} {
		if *update {
			if err := os.WriteFile(g.file, []byte(g.got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(g.file)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if string(want) != g.got {
			t.Errorf("%s differs from the generated report:\n%s", g.file, g.got)
		}
	}
	s := &Summary{Outcomes: outcomes, Report: "r.md"}
	if err := s.Err(); err == nil || err.Error() != "1 of 2 notebooks failed (broken.ipynb); report: r.md" {
		t.Errorf("Summary.Err = %v", err)
	}
}

func TestKernelNoise(t *testing.T) {
	for line, noise := range map[string]bool{
		"I1122 20:39:48.869786   10433 jpyexec.go:187] [616d1b5c] Executing: /tmp/gonb": true,
		"goroutine 1 [running]:": true,
		"\t/root/go/pkg/mod/github.com/janpfeifer/gonb@v0.11.5/main.go:82 +0x1b6": true,
		"github.com/janpfeifer/gonb/internal/util.GetStackTrace(...)":             true,
		"training: 10/100 (10%) mse=0.1":                                          false,
		"RESULT {}":                                                               false,
	} {
		if got := isKernelNoise(line); got != noise {
			t.Errorf("isKernelNoise(%q) = %v, want %v", line, got, noise)
		}
	}
}
