package experiment

import (
	"fmt"
	"math"

	"github.com/gorepro/gorepro/lib/ot"
	"github.com/gorepro/gorepro/lib/plot"
)

// Families are the problem families the notebook runs, in its order: the
// paper's random assignment problem and W1 between 28×28 digit images.
func Families() []string { return []string{Assignment, Digits} }

// traceCurve is a trace's marginal error, or its dual sub-optimality
// L* − L when lstar is not NaN (both floored at 1e-16 for a log axis),
// against iterations or seconds.
func traceCurve(trace []ot.TracePoint, bySeconds bool, lstar float64) (x, y []float64) {
	for _, p := range trace {
		v := p.MarginalError
		if !math.IsNaN(lstar) {
			v = lstar - p.Dual
		}
		if math.IsNaN(v) {
			continue
		}
		if bySeconds {
			x = append(x, p.Seconds)
		} else {
			x = append(x, float64(p.Iteration))
		}
		y = append(y, math.Max(v, 1e-16))
	}
	return x, y
}

// OptimalDual is the best dual objective reached on cfg's problem by any of
// runs (SNS's and the exact Newton's last iterates, Sinkhorn's trace): the
// L* of the sub-optimality plots (NaN when none has a finite dual).
func OptimalDual(runs []*Run, cfg Config) float64 {
	best := math.NaN()
	for _, r := range runs {
		if !sameProblem(r.Config, cfg) {
			continue
		}
		for _, s := range []Solve{r.SNS, r.Sinkhorn} {
			for _, p := range s.Trace {
				if !math.IsNaN(p.Dual) && !(p.Dual <= best) {
					best = p.Dual
				}
			}
		}
	}
	return best
}

// ConvergenceFigures are the paper's plots for the first seed of each
// family, Sinkhorn (dashed) and SNS (solid) on the same axes: the dual
// sub-optimality L* − L(f, g) against iterations and against seconds
// (after compilation; L* the best dual any run reached on the problem), and
// the marginal error against iterations.
func ConvergenceFigures(res *Results) []plot.Figure {
	var byIter, bySec, marg []plot.Series
	all := append(append([]*Run(nil), res.Main...), res.Exact...)
	for _, fam := range Families() {
		for _, r := range res.Main {
			if r.Config.Family != fam || r.Config.Seed != res.Main[0].Config.Seed {
				continue
			}
			lstar := OptimalDual(all, r.Config)
			label := fmt.Sprintf("%s (n=%d, ε=%.2g)", fam, r.N, r.Config.Epsilon)
			for _, s := range []struct {
				out       *[]plot.Series
				bySeconds bool
				lstar     float64
			}{{&byIter, false, lstar}, {&bySec, true, lstar}, {&marg, false, math.NaN()}} {
				xs, ys := traceCurve(r.SNS.Trace, s.bySeconds, s.lstar)
				xk, yk := traceCurve(r.Sinkhorn.Trace, s.bySeconds, s.lstar)
				*s.out = append(*s.out, plot.Series{Name: label + " SNS", Group: fam, X: xs, Y: ys},
					plot.Series{Name: label + " Sinkhorn", Group: fam, X: xk, Y: yk, Dashed: true})
			}
		}
	}
	const sub, marginal = "L* − L(f, g)", "‖P1−a‖₁ + ‖Pᵀ1−b‖₁"
	return []plot.Figure{
		{Title: "Dual sub-optimality vs iteration (first seed)", XLabel: "iteration", YLabel: sub, LogX: true, LogY: true, Series: byIter},
		{Title: "Dual sub-optimality vs seconds (first seed, after compilation)", XLabel: "seconds", YLabel: sub, LogX: true, LogY: true, Series: bySec},
		{Title: "Marginal error vs iteration (first seed)", XLabel: "iteration", YLabel: marginal, LogX: true, LogY: true, Series: marg},
	}
}

// RunTable is one row per run: problem, size, ε, seed, both solvers'
// iterations (with the marginal error of one that did not converge: a
// Sinkhorn count at its cap is a lower bound), SNS's Sinkhorn+Newton split,
// CG iterations, fallbacks, the largest dropped mass, the iteration and time
// ratios, SNS's cost, device calls, and whether the run was read from the cache.
func RunTable(runs []*Run) (header []string, rows [][]string) {
	conv := func(s Solve) string {
		if s.Converged {
			return fmt.Sprint(s.Iterations)
		}
		return fmt.Sprintf("≥ %d (not converged: %.2g)", s.Iterations, s.MarginalError)
	}
	for _, r := range runs {
		from := "computed"
		if r.FromCache {
			from = "cache"
		}
		ratio := fmt.Sprintf("%.1f", r.IterationRatio())
		if r.Censored() {
			ratio = "≥ " + ratio
		}
		rows = append(rows, []string{r.Problem, fmt.Sprint(r.N), fmt.Sprintf("%.3g", r.Config.Epsilon), fmt.Sprint(r.Config.Seed),
			conv(r.Sinkhorn), fmt.Sprintf("%s = %d+%d", conv(r.SNS), r.SNS.SinkhornSteps, r.SNS.NewtonSteps), fmt.Sprint(r.SNS.CGIterations),
			fmt.Sprint(len(r.SNS.Fallbacks)), fmt.Sprintf("%.1e", r.SNS.MaxDroppedMass), ratio,
			fmt.Sprintf("%.3f", r.Sinkhorn.Seconds), fmt.Sprintf("%.3f", r.SNS.Seconds), fmt.Sprintf("%.1f", r.TimeRatio()),
			fmt.Sprintf("%.10g", r.SNS.Cost), fmt.Sprintf("%d / %d", r.Sinkhorn.RoundTrips, r.SNS.RoundTrips), from})
	}
	return []string{"problem", "n", "ε", "seed", "Sinkhorn it", "SNS it (S+N)", "CG it", "fallbacks", "largest dropped mass", "it ratio",
		"Sinkhorn s", "SNS s", "time ratio", "cost (SNS)", "device calls (Sinkhorn / SNS)", "from"}, rows
}

// AnyFromCache reports whether some run was read from the cache.
func AnyFromCache(runs []*Run) bool {
	for _, r := range runs {
		if r.FromCache {
			return true
		}
	}
	return false
}

// NewtonTable is SNS's record of every Newton step of the first seed's main
// run of each family: the iteration after the step, the fraction of P's mass
// the sparsified Hessian dropped, the rows and columns left without an
// off-diagonal entry, CG iterations, the line search's step size, the
// marginal error and dual objective after the step, and why a step failed.
func NewtonTable(runs []*Run) (header []string, rows [][]string) {
	main := MainRuns(runs)
	for _, fam := range Families() {
		for _, r := range main {
			if r.Config.Family != fam || r.Config.Seed != main[0].Config.Seed {
				continue
			}
			for i, s := range r.SNS.Newton {
				failed := s.Failed
				if failed == "" {
					failed = "—"
				}
				rows = append(rows, []string{r.Problem, fmt.Sprint(i + 1), fmt.Sprint(s.Iteration), fmt.Sprintf("%.2e", s.DroppedMass),
					fmt.Sprint(s.RowsWithoutOffDiagonal), fmt.Sprint(s.ColsWithoutOffDiagonal), fmt.Sprint(s.CGIterations),
					fmt.Sprintf("%.3g", s.StepSize), fmt.Sprintf("%.2e", s.MarginalError), fmt.Sprintf("%.12g", s.Dual), failed})
			}
		}
	}
	return []string{"problem", "Newton step", "iteration", "dropped mass", "rows without off-diagonal", "columns without",
		"CG it", "step size α", "marginal error", "dual L(f, g)", "failed"}, rows
}
