package experiment

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"

	"github.com/gorepro/gorepro/lib/notebook"
	"github.com/gorepro/gorepro/lib/ot"
	"github.com/gorepro/gorepro/lib/plot"
)

// Families are the problem families of the paper, in the order the
// notebook shows them.
func Families() []string { return []string{Random, Digits, Densities} }

// RunAll runs (or reads back from the cache in cacheDir) every
// configuration, printing one line per run and a progress bar.
func RunAll(b compute.Backend, configs []Config, cacheDir string) ([]*Run, error) {
	var runs []*Run
	progress := notebook.NewProgress("SNS vs Sinkhorn", len(configs))
	for i, cfg := range configs {
		run, err := RunOrLoad(b, cfg, cacheDir)
		if err != nil {
			return nil, err
		}
		runs = append(runs, run)
		note := ""
		if run.FromCache {
			note = " (cached)"
		}
		fmt.Printf("%-34s ε=%-6g seed %d: Sinkhorn %6d it %7.2fs | SNS %4d it (%d+%d, CG %d) %6.2fs | POT %6d it %7.2fs%s\n",
			run.Problem, cfg.Epsilon, cfg.Seed, run.Sinkhorn.Iterations, run.Sinkhorn.Seconds, run.SNS.Iterations,
			run.SNS.SinkhornSteps, run.SNS.NewtonSteps, run.SNS.CGIterations, run.SNS.Seconds, run.POTIterations, run.POTSeconds, note)
		progress.Update(i + 1)
	}
	progress.Done()
	return runs, nil
}

// traceCurve is a trace's marginal error (floored at 1e-16 for a log axis)
// against iterations or seconds.
func traceCurve(trace []ot.TracePoint, bySeconds bool) (x, y []float64) {
	for _, p := range trace {
		if bySeconds {
			x = append(x, p.Seconds)
		} else {
			x = append(x, float64(p.Iteration))
		}
		y = append(y, math.Max(p.MarginalError, 1e-16))
	}
	return x, y
}

// ConvergenceFigures are the notebook's three figures: the marginal error
// against iterations and against seconds at the smallest ε of epsilons
// (first seed, one colour per family, SNS solid, Sinkhorn dashed), and the
// iterations to tolerance against ε (mean over seeds).
func ConvergenceFigures(runs []*Run, epsilons []float64) []plot.Figure {
	smallest := epsilons[len(epsilons)-1]
	var byIter, bySec, sweep []plot.Series
	for _, fam := range Families() {
		for _, r := range runs {
			if r.Config.Family != fam || r.Config.Epsilon != smallest || r.Config.Seed != runs[0].Config.Seed {
				continue
			}
			label := fmt.Sprintf("%s (n=%d)", fam, r.N)
			for _, bySeconds := range []bool{false, true} {
				xs, ys := traceCurve(r.SNS.Trace, bySeconds)
				xk, yk := traceCurve(r.Sinkhorn.Trace, bySeconds)
				s := []plot.Series{{Name: label + " SNS", Group: fam, X: xs, Y: ys},
					{Name: label + " Sinkhorn", Group: fam, X: xk, Y: yk, Dashed: true}}
				if bySeconds {
					bySec = append(bySec, s...)
				} else {
					byIter = append(byIter, s...)
				}
			}
		}
		var eps, sk, sns []float64
		for _, e := range epsilons {
			sumK, sumS, k := 0.0, 0.0, 0
			for _, r := range runs {
				if r.Config.Family == fam && r.Config.Epsilon == e {
					sumK, sumS, k = sumK+float64(r.Sinkhorn.Iterations), sumS+float64(r.SNS.Iterations), k+1
				}
			}
			eps, sk, sns = append(eps, e), append(sk, sumK/float64(k)), append(sns, sumS/float64(k))
		}
		sweep = append(sweep, plot.Series{Name: fam + " SNS", Group: fam, X: eps, Y: sns},
			plot.Series{Name: fam + " Sinkhorn", Group: fam, X: eps, Y: sk, Dashed: true})
	}
	const marginal = "‖P1−a‖₁ + ‖Pᵀ1−b‖₁"
	return []plot.Figure{
		{Title: fmt.Sprintf("Marginal error vs iteration (ε = %g)", smallest), XLabel: "iteration", YLabel: marginal, LogX: true, LogY: true, Series: byIter},
		{Title: fmt.Sprintf("Marginal error vs seconds (ε = %g, after compilation)", smallest), XLabel: "seconds", YLabel: marginal, LogX: true, LogY: true, Series: bySec},
		{Title: "Iterations to tolerance vs ε (mean over seeds)", XLabel: "ε", YLabel: "iterations", LogX: true, LogY: true, Series: sweep},
	}
}

// RunTable is one row per run: problem, size, ε, seed, both solvers'
// iterations (with the marginal error of one that did not converge), SNS's
// Sinkhorn+Newton split, CG iterations, fallbacks, the iteration and time
// ratios, SNS's and POT's costs and their gap, and whether the run was read
// from the cache.
func RunTable(runs []*Run) (header []string, rows [][]string) {
	conv := func(s Solve) string {
		if s.Converged {
			return fmt.Sprint(s.Iterations)
		}
		return fmt.Sprintf("%d (not converged: %.2g)", s.Iterations, s.MarginalError)
	}
	for _, r := range runs {
		from := "computed"
		if r.FromCache {
			from = "cache"
		}
		rows = append(rows, []string{r.Problem, fmt.Sprint(r.N), fmt.Sprintf("%g", r.Config.Epsilon), fmt.Sprint(r.Config.Seed),
			conv(r.Sinkhorn), fmt.Sprintf("%s = %d+%d", conv(r.SNS), r.SNS.SinkhornSteps, r.SNS.NewtonSteps), fmt.Sprint(r.SNS.CGIterations),
			fmt.Sprint(len(r.SNS.Fallbacks)), fmt.Sprintf("%.1f", r.IterationRatio()),
			fmt.Sprintf("%.3f", r.Sinkhorn.Seconds), fmt.Sprintf("%.3f", r.SNS.Seconds), fmt.Sprintf("%.1f", r.TimeRatio()),
			fmt.Sprintf("%.10g", r.SNS.Cost), fmt.Sprintf("%.10g", r.POTCost), fmt.Sprintf("%.1e", r.CostGap()), from})
	}
	return []string{"problem", "n", "ε", "seed", "Sinkhorn it", "SNS it (S+N)", "CG it", "fallbacks", "it ratio",
		"Sinkhorn s", "SNS s", "time ratio", "cost (SNS)", "cost (POT)", "gap to POT", "from"}, rows
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

// WorstCostGap is the largest CostGap over runs (0 for none); NaN as soon
// as one run has no gap (no POT cost), so that such a run fails a claim on it.
func WorstCostGap(runs []*Run) float64 {
	worst := 0.0
	for _, r := range runs {
		gap := r.CostGap()
		if math.IsNaN(gap) || math.IsNaN(worst) {
			worst = math.NaN()
		} else {
			worst = math.Max(worst, gap)
		}
	}
	return worst
}

// Fallbacks counts the Newton steps that failed and fell back to Sinkhorn
// steps, over all runs.
func Fallbacks(runs []*Run) int {
	n := 0
	for _, r := range runs {
		n += len(r.SNS.Fallbacks)
	}
	return n
}

// LowestRatios are the lowest iteration and time ratios (Sinkhorn ÷ SNS)
// over the seeds of family at eps, a name for that cell ("family, n = N,
// ε = eps") and how many runs it holds. A run whose ratio is NaN (a solver
// that did not converge) counts as the lowest; with no finite ratio the
// result is NaN.
func LowestRatios(runs []*Run, family string, eps float64) (iterations, seconds float64, name string, n int) {
	iterations, seconds = math.Inf(1), math.Inf(1)
	for _, r := range runs {
		if r.Config.Family == family && r.Config.Epsilon == eps {
			iterations, seconds = math.Min(iterations, nanToInf(r.IterationRatio())), math.Min(seconds, nanToInf(r.TimeRatio()))
			name, n = fmt.Sprintf("%s, n = %d, ε = %g", family, r.N, eps), n+1
		}
	}
	return infToNaN(iterations), infToNaN(seconds), name, n
}

// nanToInf maps NaN to −Inf, so that it is the lowest value.
func nanToInf(x float64) float64 {
	if math.IsNaN(x) {
		return math.Inf(-1)
	}
	return x
}

// infToNaN maps ±Inf to NaN.
func infToNaN(x float64) float64 {
	if math.IsInf(x, 0) {
		return math.NaN()
	}
	return x
}
