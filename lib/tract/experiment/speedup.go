package experiment

import (
	"fmt"
	"math"
)

// Bound says whether a speedup is exact or only a bound, because the
// equal-accuracy budget fell outside the grid of budgets.
type Bound string

// The bounds a speedup can carry.
const (
	Exact   Bound = ""  // interpolated inside the grid
	AtLeast Bound = "≥" // TrAct reached the target already at the smallest budget: the speedup is at least this
	AtMost  Bound = "≤" // the baseline reached TrAct's accuracy already at its smallest budget: the speedup is at most this
)

// CheckBudgets checks a grid of epoch budgets: at least one, every budget
// ≥ 1, strictly increasing. The error names the argument.
func CheckBudgets(budgets []int) error {
	if len(budgets) == 0 {
		return fmt.Errorf("experiment: budgets: no epoch budgets")
	}
	for i, e := range budgets {
		if e < 1 {
			return fmt.Errorf("experiment: budgets %v: budget %d is %d, want ≥ 1 epoch", budgets, i+1, e)
		}
		if i > 0 && e <= budgets[i-1] {
			return fmt.Errorf("experiment: budgets %v: not increasing (%d after %d)", budgets, e, budgets[i-1])
		}
	}
	return nil
}

// CheckGrid checks a learning-rate grid: at least one value, every value
// finite and positive. The error names the argument.
func CheckGrid(name string, grid []float64) error {
	if len(grid) == 0 {
		return fmt.Errorf("experiment: %s: the grid is empty", name)
	}
	for i, v := range grid {
		if !(v > 0) || math.IsInf(v, 0) {
			return fmt.Errorf("experiment: %s %v: value %d is %g, want finite and > 0", name, grid, i+1, v)
		}
	}
	return nil
}

// EqualAccuracySpeedup is the paper's speedup measure for one seed, read
// from separate runs per epoch budget ("TrAct with e epochs reaches the
// baseline's accuracy at E epochs"): with base[i] and tract[i] the test
// accuracies of the runs with budgets[i] epochs (schedule scaled to the
// budget) and E = budgets[j], it returns E / e*, where e* is the budget at
// which TrAct first reaches base[j], interpolated linearly in log(budget)
// between the two grid budgets around the first crossing.
//
// When TrAct reaches the target already at the smallest budget, e* is taken
// as that budget and the result is a lower bound (AtLeast). When TrAct
// never reaches it, the speedup is below 1 and is read from the other side:
// e_B / E, where e_B is the budget at which the baseline first reaches
// tract[j] (interpolated the same way; an upper bound, AtMost, when that is
// the smallest budget). A NaN accuracy (a diverged run) gives NaN.
func EqualAccuracySpeedup(budgets []int, base, tract []float64, j int) (float64, Bound, error) {
	if err := CheckBudgets(budgets); err != nil {
		return math.NaN(), Exact, err
	}
	if len(base) != len(budgets) || len(tract) != len(budgets) || j < 0 || j >= len(budgets) {
		return math.NaN(), Exact, fmt.Errorf("experiment: EqualAccuracySpeedup: %d budgets, %d baseline and %d TrAct accuracies, budget index %d", len(budgets), len(base), len(tract), j)
	}
	for i := range budgets {
		if math.IsNaN(base[i]) || math.IsNaN(tract[i]) {
			return math.NaN(), Exact, nil
		}
	}
	e := float64(budgets[j])
	if at, bound, ok := reach(budgets, tract, base[j]); ok {
		return e / at, bound, nil
	}
	at, bound, ok := reach(budgets, base, tract[j])
	if !ok { // cannot happen: base[j] > tract[j] here, so the baseline reaches tract[j] by budget j
		return math.NaN(), Exact, fmt.Errorf("experiment: EqualAccuracySpeedup: no crossing in %v / %v", base, tract)
	}
	if bound == AtLeast {
		bound = AtMost
	}
	return at / e, bound, nil
}

// reach returns the budget at which acc first reaches target, interpolated
// in log(budget) between the grid budgets around the crossing; AtLeast when
// the first budget already reaches it; ok false when none does.
func reach(budgets []int, acc []float64, target float64) (at float64, bound Bound, ok bool) {
	for i, a := range acc {
		if a < target {
			continue
		}
		if i == 0 {
			return float64(budgets[0]), AtLeast, true
		}
		lo, hi := math.Log(float64(budgets[i-1])), math.Log(float64(budgets[i]))
		f := (target - acc[i-1]) / (a - acc[i-1]) // in (0, 1]: acc[i-1] < target ≤ a
		return math.Exp(lo + f*(hi-lo)), Exact, true
	}
	return 0, Exact, false
}
