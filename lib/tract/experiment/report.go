package experiment

import (
	"fmt"
	"math"

	"github.com/gorepro/gorepro/lib/notebook"
	"github.com/gorepro/gorepro/lib/plot"
	"github.com/gorepro/gorepro/lib/stats"
)

// MsPerStep is the mean time of a training step over runs (their timed
// steps pooled), in milliseconds.
func MsPerStep(runs []*Run) float64 {
	var s, n float64
	for _, r := range runs {
		s, n = s+r.TimedSeconds, n+float64(r.TimedSteps)
	}
	return 1000 * s / n
}

// FinalAccs is each run's final test accuracy.
func FinalAccs(runs []*Run) []float64 {
	acc := make([]float64, len(runs))
	for i, r := range runs {
		acc[i] = r.FinalAcc()
	}
	return acc
}

// Comparison is TrAct against the baseline on one model, over the seeds.
type Comparison struct {
	Seeds, Budget           int     // seeds, and epochs per run
	Speedup                 float64 // Speedup of the mean curves (NaN: TrAct never reaches the target)
	Target                  float64 // the baseline's mean final accuracy
	Epochs                  int     // the first epoch TrAct's mean curve reaches it (−1: never)
	LowestSeedSpeedup       float64 // SeedSpeedup
	BaselineAcc, TrActAcc   float64 // mean final accuracies
	BaselineStd, TrActStd   float64 // their sample standard deviations over the seeds
	BaselineMs, TrActMs     float64 // MsPerStep
	StepRatio               float64 // TrActMs / BaselineMs
	BaselineRuns, TrActRuns []*Run
}

// Compare compares runs[TrAct] with runs[Baseline], paired by seed.
func Compare(runs map[string][]*Run) (Comparison, error) {
	bs, ts := runs[Baseline], runs[TrAct]
	bc, err := MeanCurve(bs)
	if err != nil {
		return Comparison{}, err
	}
	tc, err := MeanCurve(ts)
	if err != nil {
		return Comparison{}, err
	}
	c := Comparison{Seeds: len(bs), Budget: len(bs[0].Curve), BaselineRuns: bs, TrActRuns: ts}
	c.Speedup, c.Target, c.Epochs = Speedup(bc, tc)
	if c.LowestSeedSpeedup, err = SeedSpeedup(bs, ts); err != nil {
		return Comparison{}, err
	}
	c.BaselineAcc, c.BaselineStd = stats.MeanStd(FinalAccs(bs))
	c.TrActAcc, c.TrActStd = stats.MeanStd(FinalAccs(ts))
	c.BaselineMs, c.TrActMs = MsPerStep(bs), MsPerStep(ts)
	c.StepRatio = c.TrActMs / c.BaselineMs
	return c, nil
}

// ComparisonHeader is the header of ComparisonRow's table.
func ComparisonHeader() []string {
	return []string{"model", "seeds", "epochs", "baseline final acc", "TrAct final acc", "target", "TrAct epochs to target", "speedup", "lowest seed", "ms/step base / TrAct", "step ratio"}
}

// Row is c's row of the results table, the model named name.
func (c Comparison) Row(name string) []string {
	return []string{name, fmt.Sprint(c.Seeds), fmt.Sprint(c.Budget), fmt.Sprintf("%.4f ± %.4f", c.BaselineAcc, c.BaselineStd), fmt.Sprintf("%.4f ± %.4f", c.TrActAcc, c.TrActStd),
		fmt.Sprintf("%.4f", c.Target), fmt.Sprint(c.Epochs), fmt.Sprintf("%.2f×", c.Speedup), fmt.Sprintf("%.2f×", c.LowestSeedSpeedup),
		fmt.Sprintf("%.2f / %.2f", c.BaselineMs, c.TrActMs), fmt.Sprintf("%.2f×", c.StepRatio)}
}

// Findings are c's findings beside the speedup: the lowest per-seed
// speedup, the final accuracy difference and the step-time ratio; name
// prefixes each.
func (c Comparison) Findings(name string) []notebook.Claim {
	return []notebook.Claim{
		{Name: name + ": lowest per-seed speedup (each seed against its own baseline)", Paper: "1.25×–4×", Ours: c.LowestSeedSpeedup, Holds: c.LowestSeedSpeedup >= 1.25},
		{Name: name + ": final test accuracy TrAct − baseline (means)", Paper: "≥ 0", Ours: c.TrActAcc - c.BaselineAcc, Holds: c.TrActAcc >= c.BaselineAcc},
		{Name: name + ": time per training step TrAct ÷ baseline (tiny model)", Paper: "1.09× (ResNet-18, batch 128, H100 fp32)", Ours: c.StepRatio, Holds: c.StepRatio <= 1.09},
	}
}

// Sweep is the λ sweep against one baseline run: its table (λ, final
// accuracy, epochs to the baseline's final accuracy, speedup; the baseline
// last), one finding per λ, and the λ with the best final accuracy.
func Sweep(base *Run, sweep []*Run) (header []string, rows [][]string, findings []notebook.Claim, bestLambda float64) {
	best := -1.0
	for _, r := range sweep {
		e := r.EpochsTo(base.FinalAcc())
		sp := math.NaN()
		if e > 0 {
			sp = float64(len(base.Curve)) / float64(e)
		}
		if r.FinalAcc() > best {
			best, bestLambda = r.FinalAcc(), r.Config.Lambda
		}
		rows = append(rows, []string{fmt.Sprintf("%g", r.Config.Lambda), fmt.Sprintf("%.4f", r.FinalAcc()), fmt.Sprint(e), fmt.Sprintf("%.2f×", sp)})
		findings = append(findings, notebook.Claim{Name: fmt.Sprintf("λ sweep (MLP, seed %d): λ = %g, speedup against the same seed's baseline (final %.4f)", base.Config.Seed, r.Config.Lambda, base.FinalAcc()),
			Paper: "λ = 0.1 works across settings", Ours: sp, Holds: sp >= 1.25})
	}
	rows = append(rows, []string{"baseline", fmt.Sprintf("%.4f", base.FinalAcc()), "—", "1×"})
	return []string{"λ", "final test acc", "epochs to the baseline's final", "speedup"}, rows, findings, bestLambda
}

// AccuracyFigure is test accuracy against epoch for the baseline and TrAct
// (mean over seeds, band from the lowest to the highest seed), with the
// target — the baseline's mean final accuracy — dashed.
func AccuracyFigure(title string, runs map[string][]*Run) (plot.Figure, error) {
	var series []plot.Series
	var target float64
	for _, m := range []string{Baseline, TrAct} {
		c, err := MeanCurve(runs[m])
		if err != nil {
			return plot.Figure{}, err
		}
		if m == Baseline {
			target = c.Final()
		}
		series = append(series, plot.Series{Name: fmt.Sprintf("%s (mean of %d seeds)", m, len(runs[m])), X: c.Epochs, Y: c.Mean, Lower: c.Min, Upper: c.Max})
		if m == TrAct {
			series = append(series, plot.Series{Name: "target: baseline's final mean", X: []float64{c.Epochs[0], c.Epochs[len(c.Epochs)-1]}, Y: []float64{target, target}, Dashed: true})
		}
	}
	return plot.Figure{Title: title, XLabel: "epoch", YLabel: "test accuracy", Series: series}, nil
}

// SweepFigure is each sweep run's test accuracy against epoch, with base
// (the baseline on the same seed) dashed.
func SweepFigure(base *Run, sweep []*Run) plot.Figure {
	var series []plot.Series
	for _, r := range sweep {
		series = append(series, curveSeries(fmt.Sprintf("TrAct λ = %g", r.Config.Lambda), r))
	}
	b := curveSeries("baseline", base)
	b.Dashed = true
	series = append(series, b)
	return plot.Figure{Title: fmt.Sprintf("λ sweep: MLP, seed %d", base.Config.Seed), XLabel: "epoch", YLabel: "test accuracy", Series: series}
}

func curveSeries(name string, r *Run) plot.Series {
	var x, y []float64
	for _, p := range r.Curve {
		x, y = append(x, float64(p.Epoch)), append(y, p.TestAcc)
	}
	return plot.Series{Name: name, X: x, Y: y}
}
