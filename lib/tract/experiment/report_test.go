package experiment

import (
	"math"
	"reflect"
	"testing"
)

func methodRun(method string, seed uint64, lambda float64, ms float64, accs ...float64) *Run {
	r := runOf(seed, accs...)
	r.Config.Method, r.Config.Lambda = method, lambda
	r.TimedSteps, r.TimedSeconds = 10, ms/100
	return r
}

func TestCompareAndSweep(t *testing.T) {
	runs := map[string][]*Run{
		Baseline: {methodRun(Baseline, 1, 0, 1, 0.5, 0.6, 0.7, 0.8), methodRun(Baseline, 2, 0, 1, 0.4, 0.6, 0.8, 0.9)},
		TrAct:    {methodRun(TrAct, 1, 0.1, 2, 0.7, 0.85, 0.9, 0.9), methodRun(TrAct, 2, 0.1, 2, 0.6, 0.8, 0.9, 0.95)},
	}
	c, err := Compare(runs)
	if err != nil {
		t.Fatal(err)
	}
	// As TestSpeedup: target 0.85, reached at epoch 3 of 4.
	if c.Seeds != 2 || c.Budget != 4 || c.Epochs != 3 || math.Abs(c.Speedup-4.0/3) > 1e-12 || math.Abs(c.Target-0.85) > 1e-12 {
		t.Errorf("Compare %+v", c)
	}
	// Final accuracies 0.8, 0.9 and 0.9, 0.95: means and sample standard deviations.
	if math.Abs(c.BaselineAcc-0.85) > 1e-12 || math.Abs(c.BaselineStd-math.Sqrt(0.005)) > 1e-12 || math.Abs(c.TrActAcc-0.925) > 1e-12 {
		t.Errorf("accuracies %+v", c)
	}
	if math.Abs(c.BaselineMs-1) > 1e-12 || math.Abs(c.StepRatio-2) > 1e-12 {
		t.Errorf("step times %g ms, ratio %g", c.BaselineMs, c.StepRatio)
	}
	if row := c.Row("m"); len(row) != len(ComparisonHeader()) || row[7] != "1.33×" {
		t.Errorf("Row %q", row)
	}
	if f := c.Findings("m"); len(f) != 3 || f[2].Holds {
		t.Errorf("Findings %+v (a step ratio of 2 must not hold)", f)
	}

	base := runs[Baseline][0] // final 0.8
	sweep := []*Run{methodRun(TrAct, 1, 0.01, 1, 0.5, 0.6, 0.7, 0.75), methodRun(TrAct, 1, 1, 1, 0.8, 0.85, 0.9, 0.95)}
	header, rows, findings, best := Sweep(base, sweep)
	if len(header) != 4 || best != 1 || len(findings) != 2 || !math.IsNaN(findings[0].Ours.(float64)) || findings[1].Ours.(float64) != 4 {
		t.Errorf("Sweep best %g, findings %+v", best, findings)
	}
	if want := [][]string{{"0.01", "0.7500", "-1", "NaN×"}, {"1", "0.9500", "1", "4.00×"}, {"baseline", "0.8000", "—", "1×"}}; !reflect.DeepEqual(rows, want) {
		t.Errorf("Sweep rows %q, want %q", rows, want)
	}
}

func TestJoinSweep(t *testing.T) {
	runs := Runs{
		"mlp":   {TrAct: {methodRun(TrAct, 1, 0.1, 1, 0.5), methodRun(TrAct, 2, 0.1, 1, 0.5)}},
		"sweep": {TrAct: {methodRun(TrAct, 1, 10, 1, 0.5), methodRun(TrAct, 1, 0.01, 1, 0.5)}},
	}
	runs.JoinSweep(1)
	var lambdas []float64
	for _, r := range runs["sweep"][TrAct] {
		lambdas = append(lambdas, r.Config.Lambda)
	}
	if !reflect.DeepEqual(lambdas, []float64{0.01, 0.1, 10}) {
		t.Errorf("sweep λ %v, want 0.01 0.1 10", lambdas)
	}
}
