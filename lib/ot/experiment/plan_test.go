package experiment

import (
	"math"
	"strings"
	"testing"
)

func TestProfilePlan(t *testing.T) {
	for _, tc := range []struct {
		profile                         string
		assignmentN, digitsSide, cap    int
		density, warmup, main, sparsity int
	}{
		{"smoke", 60, 14, 10000, 10, 5, 6, 2},
		{"quick", 200, 14, 20000, 10, 7, 6, 2},
		{"full", PaperAssignmentN, 28, 200000, 25, 7, 6, 2},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			p, err := ProfilePlan(tc.profile, 5, 3, 1e-9, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Main) != tc.main || len(p.Exact) != tc.main || len(p.Density) != tc.density || len(p.Warmup) != tc.warmup || len(p.Sparsity) != tc.sparsity {
				t.Fatalf("%d main, %d exact, %d density, %d warm-up, %d sparsity", len(p.Main), len(p.Exact), len(p.Density), len(p.Warmup), len(p.Sparsity))
			}
			a, d := p.Main[0], p.Main[3]
			if a.Family != Assignment || a.Size != tc.assignmentN || a.Epsilon != 1.0/PaperEta || a.MaxIters != tc.cap || a.Seed != 5 || p.Main[2].Seed != 7 {
				t.Errorf("assignment run %+v", a)
			}
			if d.Family != Digits || d.Size != tc.digitsSide || a.KeepTotal != 0 || a.WarmStart != 0 || a.SkipSinkhorn {
				t.Errorf("digits run %+v (main runs must use the paper's defaults)", d)
			}
			n := tc.assignmentN
			if e := p.Exact[0]; e.KeepTotal != n*n || !e.SkipSinkhorn || e.Seed != a.Seed {
				t.Errorf("exact run %+v, want keep %d", e, n*n)
			}
			if k := p.Density[0].KeepTotal; k != 2*n {
				t.Errorf("first density level keeps %d, want the paper's 2n = %d", k, 2*n)
			}
		})
	}
	for _, bad := range []struct {
		profile string
		seeds   int
		tol     float64
		want    string
	}{{"huge", 3, 1e-9, "profile"}, {"quick", 0, 1e-9, "seeds"}, {"quick", 3, math.NaN(), "tol"}, {"quick", 3, -1, "tol"}} {
		if _, err := ProfilePlan(bad.profile, 1, bad.seeds, bad.tol, ""); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ProfilePlan(%q, seeds %d, tol %g) = %v, want an error naming %s", bad.profile, bad.seeds, bad.tol, err, bad.want)
		}
	}
}

func TestDensityLevels(t *testing.T) {
	got := DensityLevels(300)
	want := []int{600, 1500, 4500, 9000, 90000}
	for i, l := range got {
		if l.Keep != want[i] {
			t.Errorf("level %s keeps %d, want %d", l.Name, l.Keep, want[i])
		}
	}
	if PaperKeep(300, 300) != 600 || PaperKeep(10, 20) != 40 || PaperWarmStart(Digits) != 700 || PaperWarmStart(Assignment) != 20 {
		t.Error("paper settings")
	}
}

// mainRun is a main run of family with the given iterations; sinkhornConverged false = stopped at the cap.
func mainRun(family string, seed uint64, sinkhornIt int, sinkhornConverged bool, snsIt int, cost float64) *Run {
	return &Run{Config: Config{Family: family, Size: 10, Epsilon: 1e-3, Seed: seed, MaxIters: 1000}, N: 10, Problem: family,
		Sinkhorn: Solve{Converged: sinkhornConverged, Iterations: sinkhornIt, Seconds: 2},
		SNS:      Solve{Converged: snsIt > 0, Iterations: max(snsIt, 1), Seconds: 1, Cost: cost}}
}

func exactRun(family string, seed uint64, cost float64) *Run {
	return &Run{Config: Config{Family: family, Size: 10, Epsilon: 1e-3, Seed: seed, KeepTotal: 100, SkipSinkhorn: true}, N: 10,
		SNS: Solve{Converged: true, Iterations: 30, Cost: cost}}
}

func TestMeasure(t *testing.T) {
	res := &Results{
		Main: []*Run{mainRun(Assignment, 1, 1000, false, 10, 1), mainRun(Assignment, 2, 500, true, 5, 2), mainRun(Assignment, 3, 800, true, 0, 3),
			mainRun(Digits, 1, 700, true, 100, 4)},
		Exact: []*Run{exactRun(Assignment, 1, 1+1e-9), exactRun(Assignment, 2, 2), exactRun(Assignment, 3, 3), exactRun(Digits, 1, 4*(1+1e-7))},
	}
	m, checks, findings := Measure(res)
	it := m[ClaimAssignmentIterations]
	if len(it.Values) != 3 || it.Values[0] != 100 || it.Values[1] != 100 || !math.IsNaN(it.Values[2]) {
		t.Errorf("assignment ratios %v, want [100 (a lower bound) 100 NaN (SNS did not converge)]", it.Values)
	}
	if !strings.Contains(it.Note, "1 of 3") {
		t.Errorf("note %q should say one seed was censored", it.Note)
	}
	gap := m[ClaimAssignmentSolution].Values
	if math.Abs(gap[0]-1e-9) > 1e-15 || gap[1] != 0 || !math.IsNaN(gap[2]) {
		t.Errorf("assignment gaps %v", gap)
	}
	if w := m[ClaimW1Iterations].Values; len(w) != 1 || w[0] != 7 {
		t.Errorf("w1 ratios %v, want [7]", w)
	}
	if g := m[ClaimW1Solution].Values[0]; math.Abs(g-1e-7/(1+1e-7)) > 1e-15 {
		t.Errorf("w1 gap %v", g)
	}
	if len(checks) != 1 || !checks[0].Holds || len(findings) != 4 {
		t.Errorf("%d checks (%v), %d findings", len(checks), checks, len(findings))
	}
}

func TestTable1(t *testing.T) {
	runs := []*Run{mainRun(Assignment, 1, 1000, false, 10, 1), mainRun(Assignment, 2, 500, true, 5, 2), mainRun(Assignment, 3, 800, true, 8, 3)}
	header, rows := Table1(runs)
	if len(rows) != 3 || len(rows[0]) != len(header) {
		t.Fatalf("%d rows of %d columns, header %d", len(rows), len(rows[0]), len(header))
	}
	if rows[0][1] != "56199" || rows[0][2] != "29 = 20 + 9" || rows[0][3] != "1938×" {
		t.Errorf("paper's assignment row %v", rows[0][:4])
	}
	if rows[0][5] != "≥ 800" || rows[0][7] != "≥ 100×" || rows[0][8] != "3" {
		t.Errorf("our assignment row %v: want the median marked as a lower bound", rows[0][4:])
	}
	if rows[1][8] != "0" || rows[2][4] != "—" {
		t.Errorf("rows without runs: %v / %v", rows[1], rows[2])
	}
}
