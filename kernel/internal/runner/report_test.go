package runner

import (
	"flag"
	"github.com/gorepro/gorepro/lib/notebook"
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
			Result: &notebook.Result{Notebook: "tour", Backend: "xla:cpu", Profile: "quick", Seconds: 22.5,
				Claims: []notebook.Claim{
					{Name: "softmax error", Paper: 0.0, Ours: 2.2e-8, Tolerance: "<= 1e-06", Holds: true},
					{Name: "a | pipe", Paper: "> 10", Ours: 107.69, Tolerance: ">= 10", Holds: true},
				},
				Findings: []notebook.Claim{{Name: "ms/step", Ours: 2.7, Holds: true}},
			},
		},
		{
			Notebook: "notebooks/grokking.ipynb", Executed: filepath.Join(out, "grokking.ipynb"), WallSeconds: 200,
			Err: `claims differ from their record: claim "stablemax-groks": recorded "not replicated", measured "replicated"`,
			Result: &notebook.Result{Notebook: "grokking", Backend: "xla:cpu", Profile: "quick", Seconds: 190,
				Claims: []notebook.Claim{
					{ID: "orthograd-beats-adamw", Name: "⊥Grad − AdamW test accuracy", Paper: "generalises (Sec. 5.1)", Ours: 0.97,
						Tolerance: "> 0", Test: "95% t-interval of the mean paired difference (A − B) over seeds > 0", CI: []float64{0.95, 0.99},
						P: ptr(0.25), N: 3, Unit: "seed", Status: "replicated", Expected: "replicated", Holds: true},
					{ID: "stablemax-groks", Name: "StableMax test accuracy", Paper: "groks (Fig. 1)", Ours: 0.95, Tolerance: ">= 0.9",
						Test: "every seed >= 0.9", CI: []float64{0.93, 0.97}, N: 3, Unit: "seed", Status: "replicated", Expected: "not replicated",
						Reason: "too few epochs at p = 31", Holds: true},
				},
				Checks: []notebook.Claim{{Name: "the model fits", Ours: 1.0, Holds: true}},
			},
		},
		{
			Notebook: "notebooks/broken.ipynb", Executed: filepath.Join(out, "broken.ipynb"), WallSeconds: 3,
			LogFile: filepath.Join(out, "logs", "broken.log"),
			Err:     "code cell 2 failed: ERROR: <undefined: x>",
			Result: &notebook.Result{Notebook: "broken", Backend: "go", Seconds: 1,
				Claims: []notebook.Claim{{Name: "accuracy", Paper: 0.99, Ours: 0.5, Tolerance: 0.05, Holds: false}}},
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
	if err := s.Err(); err == nil || err.Error() != "2 of 3 notebooks failed (grokking.ipynb, broken.ipynb); report: r.md" {
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

func ptr(v float64) *float64 { return &v }
