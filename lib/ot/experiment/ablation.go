package experiment

import (
	"errors"
	"fmt"
	"math"

	"github.com/gomlx/compute"

	"github.com/gorepro/gorepro/lib/notebook"
	"github.com/gorepro/gorepro/lib/ot"
	"github.com/gorepro/gorepro/lib/plot"
)

// SparsityPoint is the sparsity of Sinkhorn's plan after some iterations:
// the fraction of P's mass outside its Keep largest entries, and the rows
// and columns with none of them.
type SparsityPoint struct {
	Iteration                int
	DroppedMass              float64
	RowsWithout, ColsWithout int
}

// SparsityCurve is the empirical check of the paper's sparsity theorem on
// one problem: how much of the plan's mass lies outside the paper's 2n
// largest entries along Sinkhorn's iterates.
type SparsityCurve struct {
	Config  Config
	Problem string
	Keep    int
	Points  []SparsityPoint
	// FromCache says the curve was read back from the run cache.
	FromCache bool
}

// SparsityCheck runs Sinkhorn on cfg's problem for each number of iterations
// (from zero potentials, one iteration per device call) and measures the
// plan's mass outside its PaperKeep largest entries. It is cached like a run.
func SparsityCheck(b compute.Backend, cfg Config, iterations []int, cacheDir string) (SparsityCurve, error) {
	var cache *notebook.RunCache
	if cacheDir != "" {
		cache = notebook.OpenRunCacheOrWarn(cacheDir, codePackage)
	}
	key := cache.Key("sparsity-"+cfg.Family, struct {
		Config     Config
		Iterations []int
	}{cfg, iterations}, b)
	curve, fromCache, err := notebook.LoadOrCompute(cache, key, nil, func() (*SparsityCurve, error) {
		pr, err := Problem(cfg)
		if err != nil {
			return nil, err
		}
		c := &SparsityCurve{Config: cfg, Problem: pr.Name, Keep: PaperKeep(len(pr.A), len(pr.B))}
		for _, k := range iterations {
			res, err := ot.Sinkhorn(b, pr.A, pr.B, pr.Cost, ot.Options{Epsilon: cfg.Epsilon, Tol: math.SmallestNonzeroFloat64, MaxIters: k, ItersPerCall: 1})
			var nc *ot.NotConvergedError
			if errors.As(err, &nc) {
				res, err = nc.Last, nil
			}
			if err != nil {
				return nil, fmt.Errorf("sparsity check, %s after %d iterations: %w", pr.Name, k, err)
			}
			dropped, rows, cols, err := ot.Sparsity(res.Plan, c.Keep)
			if err != nil {
				return nil, err
			}
			c.Points = append(c.Points, SparsityPoint{Iteration: k, DroppedMass: dropped, RowsWithout: rows, ColsWithout: cols})
		}
		return c, nil
	})
	if err != nil {
		return SparsityCurve{}, err
	}
	curve.FromCache = fromCache
	return *curve, nil
}

// SparsityFigure plots each curve's dropped mass against Sinkhorn's iteration (log–log).
func SparsityFigure(curves []SparsityCurve) plot.Figure {
	var series []plot.Series
	for _, c := range curves {
		var x, y []float64
		for _, p := range c.Points {
			x, y = append(x, float64(p.Iteration)), append(y, math.Max(p.DroppedMass, 1e-17))
		}
		series = append(series, plot.Series{Name: fmt.Sprintf("%s (keep %d)", c.Problem, c.Keep), X: x, Y: y})
	}
	return plot.Figure{Title: "Sinkhorn's plan: mass outside its 2n largest entries",
		XLabel: "Sinkhorn iteration", YLabel: "dropped mass (fraction of P)", LogX: true, LogY: true, Series: series}
}

// SparsityTable is one row per curve and iteration.
func SparsityTable(curves []SparsityCurve) (header []string, rows [][]string) {
	for _, c := range curves {
		for _, p := range c.Points {
			rows = append(rows, []string{c.Problem, fmt.Sprintf("%.3g", c.Config.Epsilon), fmt.Sprint(c.Keep), fmt.Sprint(p.Iteration),
				fmt.Sprintf("%.2e", p.DroppedMass), fmt.Sprint(p.RowsWithout), fmt.Sprint(p.ColsWithout)})
		}
	}
	return []string{"problem", "ε", "kept entries", "Sinkhorn iteration", "dropped mass", "rows without a kept entry", "columns without"}, rows
}

// AblationTable is one row per SNS run of an ablation: problem, ε, kept
// entries (and per row), N₁, convergence, iterations (N₁ + Newton), CG
// iterations, seconds, the largest dropped mass, fallbacks, rows without
// an off-diagonal entry at the last Newton step.
func AblationTable(runs []*Run) (header []string, rows [][]string) {
	for _, r := range runs {
		conv := "yes"
		if !r.SNS.Converged {
			conv = fmt.Sprintf("no (error %.2g)", r.SNS.MarginalError)
		}
		without := "—"
		if k := len(r.SNS.Newton); k > 0 {
			without = fmt.Sprint(r.SNS.Newton[k-1].RowsWithoutOffDiagonal)
		}
		rows = append(rows, []string{r.Problem, fmt.Sprintf("%.3g", r.Config.Epsilon), densityName(r), fmt.Sprint(r.WarmStart), conv,
			fmt.Sprintf("%d = %d + %d", r.SNS.Iterations, r.SNS.SinkhornSteps, r.SNS.NewtonSteps), fmt.Sprint(r.SNS.CGIterations),
			fmt.Sprintf("%.3f", r.SNS.Seconds), fmt.Sprintf("%.2e", r.SNS.MaxDroppedMass), fmt.Sprint(len(r.SNS.Fallbacks)), without})
	}
	return []string{"problem", "ε", "Hessian entries kept", "N₁", "converged", "iterations (Sinkhorn + Newton)", "CG it", "seconds",
		"largest dropped mass", "fallbacks", "rows without off-diagonal (last step)"}, rows
}

// densityName is a run's kept entries as a multiple of n ("2n (paper)", …) and the count.
func densityName(r *Run) string {
	if r.Config.KeepPerRow > 0 {
		return fmt.Sprintf("%d per row", r.Config.KeepPerRow)
	}
	for _, l := range DensityLevels(r.N) {
		if l.Keep == r.Keep {
			return fmt.Sprintf("%s = %d", l.Name, r.Keep)
		}
	}
	return fmt.Sprint(r.Keep)
}

// DensityFigure plots SNS's iterations to tolerance against the kept
// entries per row (keep/n), one line per problem and ε; a run that did not
// converge is drawn at its iteration cap.
func DensityFigure(runs []*Run) plot.Figure {
	type key struct {
		problem string
		eps     float64
	}
	var order []key
	lines := map[key]*plot.Series{}
	for _, r := range runs {
		k := key{r.Problem, r.Config.Epsilon}
		s, ok := lines[k]
		if !ok {
			s = &plot.Series{Name: fmt.Sprintf("%s, ε = %.3g", r.Problem, r.Config.Epsilon)}
			lines[k], order = s, append(order, k)
		}
		s.X, s.Y = append(s.X, float64(r.Keep)/float64(r.N)), append(s.Y, float64(r.SNS.Iterations))
	}
	var series []plot.Series
	for _, k := range order {
		series = append(series, *lines[k])
	}
	return plot.Figure{Title: "SNS iterations to tolerance against the Hessian's density (2n = the paper's)",
		XLabel: "kept entries of P per row (λn²/n)", YLabel: "iterations (N₁ + Newton)", LogX: true, LogY: true, Series: series}
}
