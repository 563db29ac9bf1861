package experiment

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gorepro/gorepro/lib/claims"
	"github.com/gorepro/gorepro/lib/notebook"
	"github.com/gorepro/gorepro/lib/plot"
	"github.com/gorepro/gorepro/lib/stats"
	"github.com/gorepro/gorepro/lib/tuning"
)

// Level is the confidence level of every interval the notebook reports.
const Level = 0.95

// last is the index of the largest budget.
func (c BudgetComparison) last() int { return len(c.Budgets) - 1 }

// protocolName is a protocol's short name for tables and legends.
func protocolName(p tuning.Protocol) string {
	if p == tuning.OwnBest {
		return "own best"
	}
	return "paper"
}

// Label names c in tables and legends: study, protocol and λ.
func (c BudgetComparison) Label() string {
	return fmt.Sprintf("%s, %s protocol, λ = %g", c.Study, protocolName(c.Protocol), c.Lambda)
}

// SpeedupAt is the per-seed speedup at budget index j with its t-interval.
func (c BudgetComparison) SpeedupAt(j int) (stats.Interval, []float64, []Bound, error) {
	r, b, err := c.Speedups(j)
	if err != nil {
		return stats.Interval{}, nil, nil, err
	}
	return stats.MeanInterval(r, Level), r, b, nil
}

// Measure is c's two claim measurements at budget index j: the per-seed
// speedups, and TrAct's test accuracy paired with the baseline's.
func (c BudgetComparison) Measure(j int) (speedup, accuracy claims.Measurement, err error) {
	r, bounds, err := c.Speedups(j)
	if err != nil {
		return claims.Measurement{}, claims.Measurement{}, err
	}
	speedup = claims.Values(r...)
	if n := countBounds(bounds); n > 0 {
		speedup.Note = fmt.Sprintf("%d of %d seeds are bounds (outside the budget grid %v): %s", n, len(r), c.Budgets, seedList(r, bounds))
	}
	acc := c.Accuracies(TrAct)[j]
	base := c.Accuracies(Baseline)[j]
	accuracy = claims.Paired(acc, base)
	if d := c.Diverged(); len(d) > 0 {
		note := fmt.Sprintf("%d runs diverged: %s", len(d), strings.Join(d, "; "))
		speedup.Note = strings.TrimPrefix(speedup.Note+"; "+note, "; ")
		accuracy.Note = note
	}
	return speedup, accuracy, nil
}

func countBounds(b []Bound) int {
	n := 0
	for _, x := range b {
		if x != Exact {
			n++
		}
	}
	return n
}

// seedList is "1.52, ≥ 8, 0.9" for per-seed speedups.
func seedList(r []float64, b []Bound) string {
	parts := make([]string, len(r))
	for i, v := range r {
		parts[i] = strings.TrimSpace(fmt.Sprintf("%s %.2f", b[i], v))
	}
	return strings.Join(parts, ", ")
}

// ciString is "0.9512 [0.9401, 0.9623]" (or the mean alone without an interval).
func ciString(iv stats.Interval, format string) string {
	if math.IsNaN(iv.Lo) {
		return fmt.Sprintf(format, iv.Mean)
	}
	return fmt.Sprintf(format+" ["+format+", "+format+"]", iv.Mean, iv.Lo, iv.Hi)
}

// BudgetHeader is the header of BudgetComparison.Rows.
func BudgetHeader() []string {
	return []string{"comparison", "budget E", "lr base / TrAct", "baseline test acc", "TrAct test acc", "TrAct − baseline", "speedup E/e* (per seed)", "ms/step base / TrAct"}
}

// Rows are c's table rows, one per budget: the learning rates, both arms'
// mean test accuracy with its 95 % t-interval over the seeds, the paired
// difference, the speedup at that budget (mean, interval, per seed; ≥ and
// ≤ mark bounds) and the step times.
func (c BudgetComparison) Rows() ([][]string, error) {
	base, tract := c.Accuracies(Baseline), c.Accuracies(TrAct)
	var rows [][]string
	for j, e := range c.Budgets {
		sp, r, b, err := c.SpeedupAt(j)
		if err != nil {
			return nil, err
		}
		diff := stats.Compare(tract[j], base[j], stats.CompareOptions{Level: Level})
		rows = append(rows, []string{c.Label(), fmt.Sprint(e), fmt.Sprintf("%g / %g", c.BaseLR[j], c.TrActLR[j]),
			ciString(stats.MeanInterval(base[j], Level), "%.4f"), ciString(stats.MeanInterval(tract[j], Level), "%.4f"),
			ciString(stats.Interval{Mean: diff.Diff, Lo: diff.Lo, Hi: diff.Hi}, "%+.4f"),
			ciString(sp, "%.2f") + " (" + seedList(r, b) + ")",
			fmt.Sprintf("%.2f / %.2f", MsPerStep(c.Base[j]), MsPerStep(c.TrActRuns[j]))})
	}
	return rows, nil
}

// Findings are c's findings at its largest budget: the speedup and the
// accuracy difference with their intervals, and the step-time ratio. The
// paper-protocol comparison of a claimed study is measured by its claims
// instead; its step time is still a finding.
func (c BudgetComparison) Findings(claimed bool) ([]notebook.Claim, error) {
	j := c.last()
	sp, r, b, err := c.SpeedupAt(j)
	if err != nil {
		return nil, err
	}
	base, tract := c.Accuracies(Baseline)[j], c.Accuracies(TrAct)[j]
	diff := stats.Compare(tract, base, stats.CompareOptions{Level: Level})
	name := fmt.Sprintf("%s, E = %d", c.Label(), c.Budgets[j])
	ratio := MsPerStep(flatten(c.TrActRuns)) / MsPerStep(flatten(c.Base))
	out := []notebook.Claim{{Name: name + ": time per training step TrAct ÷ baseline (this small model, these cores)", Paper: "CIFAR-10 ViT: +9.7 % per 100 epochs (§4.6)",
		Ours: ratio, Holds: ratio <= 1.1, Protocol: string(c.Protocol)}}
	if claimed {
		return out, nil
	}
	return append(out,
		notebook.Claim{Name: name + ": equal-accuracy speedup (per seed: " + seedList(r, b) + ")", Paper: "1.25×–4× (abstract)", Ours: sp.Mean,
			CI: ciOf(sp.Lo, sp.Hi), N: sp.N, Unit: "seed", Protocol: string(c.Protocol), Holds: sp.Lo >= 1.25, Detail: sp.Reason},
		notebook.Claim{Name: name + ": test accuracy TrAct − baseline", Paper: "> 0 in every setting (§4.1)", Ours: diff.Diff,
			CI: ciOf(diff.Lo, diff.Hi), N: diff.N, Unit: "seed", Protocol: string(c.Protocol), Holds: diff.Lo > 0, Detail: diff.Reason}), nil
}

func ciOf(lo, hi float64) []float64 {
	if math.IsNaN(lo) || math.IsNaN(hi) {
		return nil
	}
	return []float64{lo, hi}
}

func flatten(runs [][]*Run) []*Run {
	var out []*Run
	for _, rs := range runs {
		out = append(out, rs...)
	}
	return out
}

// TuningHeader is the header of TuningRows.
func TuningHeader() []string {
	return []string{"arm, budget", "validation accuracy per learning rate", "chosen"}
}

// TuningRows show what every arm's grid scored on validation and what was chosen.
func TuningRows(tuned []notebook.Tuned) [][]string {
	var rows [][]string
	for _, t := range tuned {
		parts := make([]string, len(t.Grid))
		for i, v := range t.Grid {
			parts[i] = fmt.Sprintf("%g: %.4f", v, t.Scores[i])
		}
		rows = append(rows, []string{t.Arm, strings.Join(parts, ", "), fmt.Sprintf("%g", t.Chosen)})
	}
	return rows
}

// budgetsX is the budgets as float64 x values.
func budgetsX(budgets []int) []float64 {
	x := make([]float64, len(budgets))
	for i, e := range budgets {
		x[i] = float64(e)
	}
	return x
}

// meanBand is each row's mean and t-interval.
func meanBand(rows [][]float64) (mean, lo, hi []float64) {
	for _, r := range rows {
		iv := stats.MeanInterval(r, Level)
		mean, lo, hi = append(mean, iv.Mean), append(lo, iv.Lo), append(hi, iv.Hi)
	}
	return mean, lo, hi
}

// SpeedupFigure is the equal-accuracy speedup against the baseline's
// budget E (mean over seeds with its 95 % t-band), one line per comparison
// (own-best dashed), with the paper's 1.25× and no speedup (1×) dashed.
func SpeedupFigure(comparisons []BudgetComparison) (plot.Figure, error) {
	var series []plot.Series
	var xmin, xmax float64 = math.Inf(1), 0
	for _, c := range comparisons {
		var rows [][]float64
		for j := range c.Budgets {
			r, _, err := c.Speedups(j)
			if err != nil {
				return plot.Figure{}, err
			}
			rows = append(rows, r)
		}
		m, lo, hi := meanBand(rows)
		x := budgetsX(c.Budgets)
		xmin, xmax = math.Min(xmin, x[0]), math.Max(xmax, x[len(x)-1])
		series = append(series, plot.Series{Name: c.Label(), Group: c.Study, X: x, Y: m, Lower: lo, Upper: hi, Dashed: c.Protocol == tuning.OwnBest})
	}
	for _, ref := range []float64{1, 1.25} {
		series = append(series, plot.Series{Name: fmt.Sprintf("%g× (%s)", ref, map[float64]string{1: "no speedup", 1.25: "the paper's lower end"}[ref]),
			Group: "reference", X: []float64{xmin, xmax}, Y: []float64{ref, ref}, Dashed: true})
	}
	return plot.Figure{Title: "Speedup E/e* (mean, 95 % CI over seeds)",
		XLabel: "baseline's epoch budget E", YLabel: "speedup", LogX: true, Series: series}, nil
}

// AccuracyBudgetFigure is test accuracy against the epoch budget (separate
// runs per budget; mean over seeds with its 95 % t-band) for the baseline
// (dashed) and TrAct in each comparison of one study, as the paper's Fig. 3.
func AccuracyBudgetFigure(title string, comparisons []BudgetComparison) plot.Figure {
	var series []plot.Series
	for i, c := range comparisons {
		x := budgetsX(c.Budgets)
		if i == 0 {
			m, lo, hi := meanBand(c.Accuracies(Baseline))
			series = append(series, plot.Series{Name: fmt.Sprintf("baseline (lr tuned for it), %d seeds", len(c.Seeds)), X: x, Y: m, Lower: lo, Upper: hi, Dashed: true})
		}
		m, lo, hi := meanBand(c.Accuracies(TrAct))
		series = append(series, plot.Series{Name: "TrAct, " + protocolName(c.Protocol) + fmt.Sprintf(" protocol, λ = %g", c.Lambda), X: x, Y: m, Lower: lo, Upper: hi})
	}
	return plot.Figure{Title: title, XLabel: "epoch budget (a run per budget)", YLabel: "test accuracy", LogX: true, Series: series}
}

// CurvesFigure is test accuracy against epoch in the largest budget's runs
// of each comparison (mean over seeds, lowest–highest seed band), baseline
// dashed, one colour per study.
func CurvesFigure(comparisons []BudgetComparison) (plot.Figure, error) {
	var series []plot.Series
	for _, c := range comparisons {
		j := c.last()
		for _, m := range []string{Baseline, TrAct} {
			runs := c.Base[j]
			if m == TrAct {
				runs = c.TrActRuns[j]
			}
			if runs[0].Diverged != "" {
				continue
			}
			curve, err := MeanCurve(runs)
			if err != nil {
				continue // a diverged seed ended early: its comparison's table says so
			}
			series = append(series, plot.Series{Name: fmt.Sprintf("%s %s", c.Study, m), Group: c.Study, X: curve.Epochs, Y: curve.Mean, Lower: curve.Min, Upper: curve.Max, Dashed: m == Baseline})
		}
	}
	if len(series) == 0 {
		return plot.Figure{}, fmt.Errorf("experiment: CurvesFigure: no complete runs")
	}
	return plot.Figure{Title: "Largest budget: test accuracy per epoch (seed range)", XLabel: "epoch", YLabel: "test accuracy", Series: series}, nil
}

// claimed is what the pre-registered claims read from a study: the claim
// IDs' prefix and the budget index of the speedup claim (from the end: 0 =
// the largest budget).
func claimed(study string) (prefix string, fromEnd int, ok bool) {
	switch study {
	case "cnn", "vit", "resnet18-cifar10":
		return study, 0, true
	case "vit-cifar10":
		return study, 1, true // the paper's statement is about E = 400 of {100, 200, 400, 800}
	case "resnet18-cifar100":
		return study, 0, true // accuracy only
	}
	return "", 0, false
}

// IsClaimed is whether the pre-registered claims read study's paper-protocol comparison.
func IsClaimed(study string) bool {
	_, _, ok := claimed(study)
	return ok
}

// ClaimMeasurements are the pre-registered claims' measurements, from the
// paper-protocol comparison of each claimed study: PREFIX-speedup (per-seed
// speedups) and PREFIX-accuracy (TrAct's test accuracy paired with the
// baseline's), except the CIFAR-100 study, which claims accuracy only, and
// the CIFAR-10 ViT, which claims only the speedup (the paper's statement).
func ClaimMeasurements(results []*StudyResult) (claims.Measurements, error) {
	m := claims.Measurements{}
	for _, r := range results {
		prefix, fromEnd, ok := claimed(r.Study.Name)
		if !ok {
			continue
		}
		c := r.Main()
		if len(c.Budgets) <= fromEnd {
			return nil, fmt.Errorf("experiment: study %s has %d budgets: its claim reads the %d-th from the end", r.Study.Name, len(c.Budgets), fromEnd+1)
		}
		sp, acc, err := c.Measure(len(c.Budgets) - 1 - fromEnd)
		if err != nil {
			return nil, err
		}
		if r.Study.Name != "resnet18-cifar100" {
			m[prefix+"-speedup"] = sp
		}
		if r.Study.Name != "vit-cifar10" {
			m[prefix+"-accuracy"] = acc
		}
	}
	return m, nil
}

// AllFindings are every study's findings: the claimed studies' step times,
// and for every other comparison (own-best protocol, extra λs, the MLP and
// the no-variation control) the speedup and accuracy difference at the
// largest budget with their intervals.
func AllFindings(results []*StudyResult) ([]notebook.Claim, error) {
	var out []notebook.Claim
	for _, r := range results {
		for _, c := range r.Comparisons {
			main := c.Protocol == tuning.Paper && c.Lambda == r.Study.Recipe.Lambda
			f, err := c.Findings(main && IsClaimed(r.Study.Name))
			if err != nil {
				return nil, err
			}
			out = append(out, f...)
		}
	}
	return out, nil
}

// PaperProtocol are the paper-protocol comparisons among cs (every λ), by λ.
func PaperProtocol(cs []BudgetComparison) []BudgetComparison {
	var out []BudgetComparison
	for _, c := range cs {
		if c.Protocol == tuning.Paper {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b BudgetComparison) int { return cmp.Compare(a.Lambda, b.Lambda) })
	return out
}

// Checks are the sanity checks every profile must pass: no run of a main
// (paper-protocol) comparison diverged, and on digits the tuned baseline
// learns at the largest budget (mean test accuracy above twice chance).
func Checks(results []*StudyResult) []notebook.Claim {
	var out []notebook.Claim
	for _, r := range results {
		c := r.Main()
		d := c.Diverged()
		out = append(out, notebook.Check(r.Study.Name+": runs of the paper-protocol comparison that diverged", len(d), len(d) == 0))
		if strings.HasPrefix(r.Study.Name, "resnet18") || strings.HasSuffix(r.Study.Name, "cifar10") {
			continue // toy widths in the smoke profile need not learn
		}
		acc := mean(c.Accuracies(Baseline)[c.last()])
		out = append(out, notebook.Check(fmt.Sprintf("%s: the tuned baseline learns (mean test accuracy at %d epochs > 0.2, twice chance)", r.Study.Name, c.Budgets[c.last()]), acc, acc > 0.2))
	}
	return out
}
