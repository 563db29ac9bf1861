package experiment

import (
	"math"
	"testing"

	"github.com/gorepro/gorepro/lib/ot"
)

func ratioRun(family string, eps float64, seed uint64, sinkhornIt, snsIt int, gap float64) *Run {
	r := &Run{Config: Config{Family: family, Epsilon: eps, Seed: seed, POT: true}, N: 9,
		Sinkhorn: Solve{Converged: true, Iterations: sinkhornIt, Seconds: 1, Cost: 1},
		SNS:      Solve{Converged: snsIt > 0, Iterations: max(snsIt, 1), Seconds: 0.5, Cost: 1 + gap},
		POTCost:  1}
	return r
}

func TestRunTableAndGap(t *testing.T) {
	runs := []*Run{ratioRun(Random, 1e-3, 1, 1000, 10, 1e-9), ratioRun(Random, 1e-3, 2, 600, 20, 1e-8), ratioRun(Digits, 1e-3, 1, 100, 10, 0)}
	if g := runs[1].CostGap(); math.Abs(g-1e-8) > 1e-15 {
		t.Errorf("CostGap = %g, want 1e-8", g)
	}
	noPOT := ratioRun(Random, 1e-3, 3, 10, 0, 0) // SNS did not converge, and no POT cost
	noPOT.Config.POT = false
	if g, r := noPOT.CostGap(), noPOT.IterationRatio(); !math.IsNaN(g) || !math.IsNaN(r) {
		t.Errorf("a run without POT cost and without SNS convergence: gap %g, ratio %g; want NaN, NaN", g, r)
	}
	if AnyFromCache(runs) {
		t.Error("nothing cached expected")
	}
	header, rows := RunTable(runs)
	if len(rows) != 3 || len(rows[0]) != len(header) || rows[0][len(header)-1] != "computed" {
		t.Errorf("RunTable %q", rows)
	}
}

// The paper's plots: L* − L against iterations and seconds, and the marginal
// error, one SNS and one Sinkhorn line per family (first seed).
func TestConvergenceFigures(t *testing.T) {
	trace := func(duals ...float64) []ot.TracePoint {
		var tr []ot.TracePoint
		for i, d := range duals {
			tr = append(tr, ot.TracePoint{Iteration: 10 * (i + 1), MarginalError: math.Pow(10, -float64(i)), Seconds: float64(i + 1), Dual: d})
		}
		return tr
	}
	mk := func(fam string, seed uint64) *Run {
		r := mainRun(fam, seed, 30, true, 20, 1)
		r.Sinkhorn.Trace, r.SNS.Trace = trace(0.5, 0.9, 0.99), trace(0.5, 1)
		return r
	}
	res := &Results{Main: []*Run{mk(Assignment, 1), mk(Assignment, 2), mk(Digits, 1)}}
	figs := ConvergenceFigures(res)
	if len(figs) != 3 {
		t.Fatalf("%d figures, want 3", len(figs))
	}
	for _, f := range figs {
		if len(f.Series) != 4 || !f.LogY {
			t.Errorf("%q: %d series (want SNS and Sinkhorn for 2 families), log y %v", f.Title, len(f.Series), f.LogY)
		}
	}
	// L* = 1 (SNS's last dual): Sinkhorn's sub-optimality 0.5, 0.1, 0.01; SNS's last point floored at 1e-16.
	sk, sns := figs[0].Series[1], figs[0].Series[0]
	if math.Abs(sk.Y[1]-0.1) > 1e-12 || sns.Y[1] != 1e-16 || sk.X[2] != 30 || figs[1].Series[1].X[2] != 3 {
		t.Errorf("sub-optimality %v / %v, x %v", sk.Y, sns.Y, sk.X)
	}
	if figs[2].Series[0].Y[1] != 0.1 {
		t.Errorf("marginal error %v", figs[2].Series[0].Y)
	}
	if got := OptimalDual(res.Main, res.Main[0].Config); got != 1 {
		t.Errorf("OptimalDual = %v, want 1", got)
	}
}

// Every Newton step of the first seed of each family, in order, one row each.
func TestNewtonTable(t *testing.T) {
	a1, a2, d1 := mainRun(Assignment, 1, 100, true, 22, 1), mainRun(Assignment, 2, 100, true, 22, 1), mainRun(Digits, 1, 100, true, 22, 1)
	a1.SNS.Newton = []ot.NewtonStep{{Iteration: 21, DroppedMass: 0.01, RowsWithoutOffDiagonal: 3, CGIterations: 40, StepSize: 1, MarginalError: 1e-3},
		{Iteration: 21, Failed: "the line search found no sufficient increase"}, {Iteration: 32, DroppedMass: 0.002, StepSize: 0.5, MarginalError: 1e-10}}
	a2.SNS.Newton = []ot.NewtonStep{{Iteration: 21}}
	d1.SNS.Newton = []ot.NewtonStep{{Iteration: 701, ColsWithoutOffDiagonal: 7}}
	header, rows := NewtonTable([]*Run{a1, a2, d1})
	if len(rows) != 4 || len(rows[0]) != len(header) {
		t.Fatalf("%d rows (want 3 of seed 1's assignment run and 1 of its digits run)", len(rows))
	}
	if rows[0][3] != "1.00e-02" || rows[0][4] != "3" || rows[1][10] != "the line search found no sufficient increase" || rows[2][7] != "0.5" || rows[3][5] != "7" {
		t.Errorf("rows %q", rows)
	}
}
