package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSplitValues(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"7", []string{"7"}},
		{"", []string{""}},
		{"1,2,3", []string{"1", "2", "3"}},
		{"a,,b", []string{"a", "", "b"}},
		{`a\,b`, []string{"a,b"}},
		{`a\,b,c`, []string{"a,b", "c"}},
		{`a\\,b`, []string{`a\`, "b"}},
		{`C:\tmp\x`, []string{`C:\tmp\x`}},
		{`xla:cuda\,tf32=false,go`, []string{"xla:cuda,tf32=false", "go"}},
		{"[64,128]", []string{"[64,128]"}},
		{"[64,128],[256]", []string{"[64,128]", "[256]"}},
		{`{"a":1,"b":[2,3]},{}`, []string{`{"a":1,"b":[2,3]}`, "{}"}},
		{`["x,]y","z"],[1]`, []string{`["x,]y","z"]`, "[1]"}},
		{`["a\",b"]`, []string{`["a\",b"]`}},
		{"[1,2", []string{"[1,2"}}, // never closed: one value, which the type check reports
		{"x[1,2]", []string{"x[1", "2]"}},
		{"1,", []string{"1", ""}},
	} {
		if got := SplitValues(tc.text); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SplitValues(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

func FuzzSplitValues(f *testing.F) {
	for _, s := range []string{"1,2", `a\,b`, "[1,2],[3]", `{"a":"]"}`, `\\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		values := SplitValues(text)
		if len(values) == 0 {
			t.Fatal("no values")
		}
		// Escaping each value and joining them gives the same values back,
		// unless a value starts with a bracket (read as JSON, not unescaped).
		var escaped []string
		for _, v := range values {
			if strings.HasPrefix(v, "[") || strings.HasPrefix(v, "{") {
				return
			}
			escaped = append(escaped, strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), ",", `\,`))
		}
		if again := SplitValues(strings.Join(escaped, ",")); !reflect.DeepEqual(again, values) {
			t.Errorf("round trip of %q: %q, then %q", text, values, again)
		}
	})
}

func TestParseParamFlag(t *testing.T) {
	for _, tc := range []struct {
		text, err string
		want      ParamValues
	}{
		{text: "seed=1,2", want: ParamValues{"seed", []string{"1", "2"}}},
		{text: " seed =7", want: ParamValues{"seed", []string{"7"}}},
		{text: "title=a=b", want: ParamValues{"title", []string{"a=b"}}},
		{text: "seed", err: `malformed -p "seed": want name=value`},
		{text: "=3", err: `malformed -p "=3": want name=value`},
	} {
		got, err := ParseParamFlag(tc.text)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseParamFlag(%q) error = %v, want %q", tc.text, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseParamFlag(%q) = %+v, %v, want %+v", tc.text, got, err, tc.want)
		}
	}
}

func TestGrid(t *testing.T) {
	pv := func(name string, values ...string) ParamValues { return ParamValues{name, values} }
	for _, tc := range []struct {
		name   string
		params []ParamValues
		want   []string // each point as "a=1 b=2"
		swept  []string
	}{
		{"none", nil, []string{""}, nil},
		{"one value", []ParamValues{pv("seed", "7")}, []string{"seed=7"}, nil},
		{"one sweep", []ParamValues{pv("seed", "1", "2", "3")}, []string{"seed=1", "seed=2", "seed=3"}, []string{"seed"}},
		{"product, first slowest", []ParamValues{pv("seed", "1", "2"), pv("profile", "quick"), pv("lr", "0.1", "0.2")},
			[]string{"seed=1 profile=quick lr=0.1", "seed=1 profile=quick lr=0.2", "seed=2 profile=quick lr=0.1", "seed=2 profile=quick lr=0.2"},
			[]string{"seed", "lr"}},
		{"repeated name: first place, last values", []ParamValues{pv("seed", "1", "2"), pv("lr", "0.1"), pv("seed", "9")},
			[]string{"seed=9 lr=0.1"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, point := range Grid(tc.params) {
				got = append(got, describeRun(point, paramNames(point)))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Grid = %q, want %q", got, tc.want)
			}
			if s := Swept(tc.params); !reflect.DeepEqual(s, tc.swept) {
				t.Errorf("Swept = %q, want %q", s, tc.swept)
			}
		})
	}
}

func TestFileSlug(t *testing.T) {
	for in, want := range map[string]string{
		"seed=1":                 "seed=1",
		"seed=1 lr=0.1":          "seed=1_lr=0.1",
		"sizes=[64,128]":         "sizes=_64_128",
		"title=../../etc/passwd": "title=.._.._etc_passwd",
		"":                       "run",
		strings.Repeat("x", 300): strings.Repeat("x", 100),
	} {
		if got := fileSlug(in); got != want {
			t.Errorf("fileSlug(%q) = %q, want %q", in, got, want)
		}
	}
}

// writeParamsNotebook writes a notebook whose parameters cell is a %%params
// cell (as the tour's), and returns its path.
func writeParamsNotebook(t *testing.T, dir, name string) string {
	t.Helper()
	src := `{"cells":[{"cell_type":"code","metadata":{"tags":["parameters"]},"outputs":[],"source":` +
		`["%%params\n","seed int = 42\n","backend string = \"\"\n","title string = \"x\"\n","profile string = \"quick\" // [quick, full]\n","sizes []int = []int{1}\n"]}],` +
		`"metadata":{},"nbformat":4,"nbformat_minor":5}`
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPlanRuns(t *testing.T) {
	dir := t.TempDir()
	tour := writeParamsNotebook(t, dir, "tour.ipynb")
	other := filepath.Join(dir, "sub")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	sameName := writeParamsNotebook(t, other, "tour.ipynb")
	out := filepath.Join(dir, "build")
	pv := func(name string, values ...string) ParamValues { return ParamValues{name, values} }

	t.Run("single run keeps the old paths", func(t *testing.T) {
		runs, err := planRuns([]string{tour}, Options{OutDir: out, Params: []ParamValues{pv("seed", "7")}})
		if err != nil || len(runs) != 1 {
			t.Fatalf("planRuns = %d runs, %v", len(runs), err)
		}
		r := runs[0]
		if r.executed != filepath.Join(out, "tour.ipynb") || r.logFile != filepath.Join(out, "logs", "tour.log") ||
			r.figures != filepath.Join("figures", "tour") || r.run != "" || r.name != "tour" || r.values["seed"] != int64(7) {
			t.Errorf("run = %+v", r)
		}
	})
	t.Run("sweep", func(t *testing.T) {
		runs, err := planRuns([]string{tour, sameName}, Options{OutDir: out, Backend: "go",
			Params: []ParamValues{pv("seed", "1", "2"), pv("title", "a,b", "a_b")}})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range runs {
			rel, _ := filepath.Rel(out, r.executed)
			got = append(got, fmt.Sprintf("%s | %s | %s | %s", r.name, r.run, rel, r.figures))
			if r.values["backend"] != "go" {
				t.Errorf("%s: backend = %v", r.name, r.values["backend"])
			}
		}
		want := []string{
			"tour seed=1 title=a,b | seed=1 title=a,b | runs/tour/seed=1_title=a_b.ipynb | runs/tour/seed=1_title=a_b",
			"tour seed=1 title=a_b | seed=1 title=a_b | runs/tour/seed=1_title=a_b-2.ipynb | runs/tour/seed=1_title=a_b-2",
			"tour seed=2 title=a,b | seed=2 title=a,b | runs/tour/seed=2_title=a_b.ipynb | runs/tour/seed=2_title=a_b",
			"tour seed=2 title=a_b | seed=2 title=a_b | runs/tour/seed=2_title=a_b-2.ipynb | runs/tour/seed=2_title=a_b-2",
			"tour-2 seed=1 title=a,b | seed=1 title=a,b | runs/tour-2/seed=1_title=a_b.ipynb | runs/tour-2/seed=1_title=a_b",
			"tour-2 seed=1 title=a_b | seed=1 title=a_b | runs/tour-2/seed=1_title=a_b-2.ipynb | runs/tour-2/seed=1_title=a_b-2",
			"tour-2 seed=2 title=a,b | seed=2 title=a,b | runs/tour-2/seed=2_title=a_b.ipynb | runs/tour-2/seed=2_title=a_b",
			"tour-2 seed=2 title=a_b | seed=2 title=a_b | runs/tour-2/seed=2_title=a_b-2.ipynb | runs/tour-2/seed=2_title=a_b-2",
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("runs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	for _, tc := range []struct {
		name   string
		params []ParamValues
		want   string
	}{
		{"bad value in a sweep", []ParamValues{pv("seed", "1", "x")},
			tour + `: parameter seed (int): "x" is not an integer (a comma in -p separates a sweep's values: write \, for a comma inside a value)`},
		{"bad single value", []ParamValues{pv("seed", "x")}, tour + `: parameter seed (int): "x" is not an integer`},
		{"undeclared", []ParamValues{pv("epochs", "1", "2")}, tour + `: parameter "epochs" is not declared by the notebook`},
		{"allowed values", []ParamValues{pv("profile", "quick", "fast")}, tour + `: parameter profile = "fast": want one of quick, full`},
		{"JSON list sweep", []ParamValues{pv("sizes", "[1,2]", "[3")}, tour + `: parameter sizes ([]int): "[3" is not JSON`},
		{"backend options split by a comma", []ParamValues{pv("backend", "go", "parallelism=2")}, `parameter backend: `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := planRuns([]string{tour}, Options{OutDir: out, Params: tc.params})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("planRuns error = %v, want it to start with %q", err, tc.want)
			}
			if tc.name == "backend options split by a comma" && (err == nil || !strings.Contains(err.Error(), sweepHint)) {
				t.Errorf("the error does not explain the comma: %v", err)
			}
		})
	}
	if _, err := planRuns([]string{filepath.Join(dir, "nope.ipynb")}, Options{OutDir: out}); err == nil || !strings.Contains(err.Error(), "nope.ipynb not found") {
		t.Errorf("missing notebook: %v", err)
	}
}

func TestExecuteBoundsConcurrency(t *testing.T) {
	for _, tc := range []struct{ runs, jobs, wantMax int }{
		{runs: 6, jobs: 1, wantMax: 1},
		{runs: 6, jobs: 2, wantMax: 2},
		{runs: 6, jobs: 4, wantMax: 4},
		{runs: 3, jobs: 8, wantMax: 3},
		{runs: 0, jobs: 2, wantMax: 0},
	} {
		t.Run(fmt.Sprintf("%d runs, %d jobs", tc.runs, tc.jobs), func(t *testing.T) {
			runs := make([]plannedRun, tc.runs)
			for i := range runs {
				runs[i] = plannedRun{notebook: fmt.Sprintf("nb%d.ipynb", i)}
			}
			var inFlight, most atomic.Int32
			var mu sync.Mutex
			started := map[string]bool{}
			outcomes := execute(runs, tc.jobs, func(r plannedRun) Outcome {
				n := inFlight.Add(1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				mu.Lock()
				started[r.notebook] = true
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
				inFlight.Add(-1)
				o := Outcome{Notebook: r.notebook}
				if r.notebook == "nb1.ipynb" {
					o.Err = "failed" // one failure does not stop the others
				}
				return o
			})
			if int(most.Load()) != tc.wantMax {
				t.Errorf("at most %d in flight, want %d", most.Load(), tc.wantMax)
			}
			if len(outcomes) != tc.runs || len(started) != tc.runs {
				t.Fatalf("%d outcomes, %d started, want %d", len(outcomes), len(started), tc.runs)
			}
			for i, o := range outcomes {
				if o.Notebook != runs[i].notebook {
					t.Errorf("outcome %d is %s: not in the runs' order", i, o.Notebook)
				}
			}
		})
	}
}

func TestSummaryErrNamesSweepRuns(t *testing.T) {
	s := &Summary{Report: "r.md", Outcomes: []Outcome{
		{Notebook: "nb/tour.ipynb", Run: "seed=1"},
		{Notebook: "nb/tour.ipynb", Run: "seed=2", Err: "boom"},
	}}
	if err := s.Err(); err == nil || err.Error() != "1 of 2 runs failed (tour.ipynb [seed=2]); report: r.md" {
		t.Errorf("Summary.Err = %v", err)
	}
}
