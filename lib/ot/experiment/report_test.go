package experiment

import (
	"math"
	"testing"
)

func ratioRun(family string, eps float64, seed uint64, sinkhornIt, snsIt int, gap float64) *Run {
	r := &Run{Config: Config{Family: family, Epsilon: eps, Seed: seed, POT: true}, N: 9,
		Sinkhorn: Solve{Converged: true, Iterations: sinkhornIt, Seconds: 1, Cost: 1},
		SNS:      Solve{Converged: snsIt > 0, Iterations: max(snsIt, 1), Seconds: 0.5, Cost: 1 + gap},
		POTCost:  1}
	return r
}

func TestLowestRatiosAndGap(t *testing.T) {
	runs := []*Run{ratioRun(Random, 1e-3, 1, 1000, 10, 1e-9), ratioRun(Random, 1e-3, 2, 600, 20, 1e-8), ratioRun(Digits, 1e-3, 1, 100, 10, 0)}
	it, sec, name, n := LowestRatios(runs, Random, 1e-3)
	if it != runs[1].IterationRatio() || sec != runs[1].TimeRatio() || n != 2 || name != "random, n = 9, ε = 0.001" {
		t.Errorf("LowestRatios = %g, %g, %q, %d", it, sec, name, n)
	}
	if it, _, _, n := LowestRatios(runs, Densities, 1e-3); !math.IsNaN(it) || n != 0 {
		t.Errorf("LowestRatios of no runs = %g, %d; want NaN, 0", it, n)
	}
	if g := WorstCostGap(runs); math.Abs(g-runs[1].CostGap()) > 1e-20 {
		t.Errorf("WorstCostGap = %g, want %g", g, runs[1].CostGap())
	}
	noPOT := ratioRun(Random, 1e-3, 3, 10, 0, 0) // SNS did not converge, and no POT cost
	noPOT.Config.POT = false
	if g := WorstCostGap(append(runs, noPOT)); !math.IsNaN(g) {
		t.Errorf("WorstCostGap with a run without POT cost = %g, want NaN", g)
	}
	if it, _, _, n := LowestRatios(append(runs, noPOT), Random, 1e-3); !math.IsNaN(it) || n != 3 {
		t.Errorf("LowestRatios with an unconverged run = %g of %d, want NaN of 3", it, n)
	}
	if Fallbacks(runs) != 0 || AnyFromCache(runs) {
		t.Error("no fallbacks and nothing cached expected")
	}
	header, rows := RunTable(runs)
	if len(rows) != 3 || len(rows[0]) != len(header) || rows[0][len(header)-1] != "computed" {
		t.Errorf("RunTable %q", rows)
	}
	if figs := ConvergenceFigures(runs, []float64{1e-2, 1e-3}); len(figs) != 3 || len(figs[2].Series) != 6 {
		t.Errorf("ConvergenceFigures: %d figures", len(figs))
	}
}
