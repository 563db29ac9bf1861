package experiment

import (
	"math"
	"strings"
	"testing"
)

// The speedup against hand-computed values: crossings inside the grid
// (log-linear interpolation), at the first budget (a lower bound), TrAct
// slower (read from the baseline's side), a NaN run.
func TestEqualAccuracySpeedup(t *testing.T) {
	budgets := []int{2, 4, 8, 16}
	for _, tc := range []struct {
		name        string
		base, tract []float64
		j           int
		want        float64
		bound       Bound
	}{
		// TrAct reaches base[3] = 0.90 exactly at 4 epochs: 16/4.
		{"exact grid point", []float64{0.6, 0.7, 0.8, 0.9}, []float64{0.8, 0.9, 0.95, 0.96}, 3, 4, Exact},
		// Target 0.85 is halfway from 0.8 (4) to 0.9 (8): e* = √(4·8), 16/e* = 2√2.
		{"interpolated", []float64{0.6, 0.7, 0.8, 0.85}, []float64{0.5, 0.8, 0.9, 0.95}, 3, 16 / math.Sqrt(32), Exact},
		// TrAct at 2 epochs already beats the baseline at 16: at least 8.
		{"censored above", []float64{0.6, 0.7, 0.8, 0.85}, []float64{0.9, 0.9, 0.9, 0.9}, 3, 8, AtLeast},
		// Equal curves: e* = E, speedup 1 at every budget.
		{"equal", []float64{0.6, 0.7, 0.8, 0.85}, []float64{0.6, 0.7, 0.8, 0.85}, 2, 1, Exact},
		// TrAct never reaches 0.85; the baseline reaches TrAct's 0.8 at 8: 8/16.
		{"slower", []float64{0.6, 0.7, 0.8, 0.85}, []float64{0.5, 0.6, 0.7, 0.8}, 3, 0.5, Exact},
		// TrAct's 0.5 at 16 is below the baseline at 2: at most 2/16.
		{"censored below", []float64{0.6, 0.7, 0.8, 0.85}, []float64{0.1, 0.2, 0.3, 0.5}, 3, 2.0 / 16, AtMost},
		// A smaller E: base[1] = 0.7 reached by TrAct at 2 (censored): 4/2.
		{"smaller budget", []float64{0.6, 0.7, 0.8, 0.85}, []float64{0.75, 0.8, 0.9, 0.95}, 1, 2, AtLeast},
		// Not monotone: the first crossing counts (0.82 at 4 ≥ 0.81).
		{"first crossing", []float64{0.6, 0.7, 0.8, 0.81}, []float64{0.7, 0.82, 0.79, 0.83}, 3, 16 / math.Exp(math.Log(2)+(0.11/0.12)*math.Log(2)), Exact},
	} {
		got, bound, err := EqualAccuracySpeedup(budgets, tc.base, tc.tract, tc.j)
		if err != nil || math.Abs(got-tc.want) > 1e-12 || bound != tc.bound {
			t.Errorf("%s: %v %q %v, want %v %q", tc.name, got, bound, err, tc.want, tc.bound)
		}
	}
	if got, _, err := EqualAccuracySpeedup(budgets, []float64{0.6, math.NaN(), 0.8, 0.85}, []float64{0.6, 0.7, 0.8, 0.85}, 3); err != nil || !math.IsNaN(got) {
		t.Errorf("a diverged run: %v %v, want NaN", got, err)
	}
}

func TestBadBudgetsAndGrids(t *testing.T) {
	for _, tc := range []struct {
		budgets []int
		errHas  string
	}{
		{nil, "no epoch budgets"},
		{[]int{0, 2}, "budget 1 is 0"},
		{[]int{2, 4, 4}, "not increasing (4 after 4)"},
		{[]int{8, 4}, "not increasing (4 after 8)"},
	} {
		if err := CheckBudgets(tc.budgets); err == nil || !strings.Contains(err.Error(), tc.errHas) || !strings.Contains(err.Error(), "budgets") {
			t.Errorf("%v: %v, want %q", tc.budgets, err, tc.errHas)
		}
	}
	if err := CheckBudgets([]int{1, 2, 4}); err != nil {
		t.Error(err)
	}
	for _, tc := range []struct {
		grid   []float64
		errHas string
	}{
		{nil, "empty"},
		{[]float64{0.1, 0}, "value 2 is 0"},
		{[]float64{-0.1}, "value 1 is -0.1"},
		{[]float64{math.NaN()}, "NaN"},
		{[]float64{math.Inf(1)}, "+Inf"},
	} {
		if err := CheckGrid("learning-rate grid", tc.grid); err == nil || !strings.Contains(err.Error(), tc.errHas) || !strings.Contains(err.Error(), "learning-rate grid") {
			t.Errorf("%v: %v, want %q", tc.grid, err, tc.errHas)
		}
	}
	if _, _, err := EqualAccuracySpeedup([]int{2, 4}, []float64{0.5}, []float64{0.5, 0.6}, 1); err == nil {
		t.Error("mismatched lengths accepted")
	}
}
