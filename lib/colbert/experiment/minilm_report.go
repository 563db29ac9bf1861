package experiment

import (
	"fmt"
	"math"
	"strings"

	"github.com/gorepro/gorepro/lib/claims"
	"github.com/gorepro/gorepro/lib/colbert"
	"github.com/gorepro/gorepro/lib/notebook"
	"github.com/gorepro/gorepro/lib/plot"
	"github.com/gorepro/gorepro/lib/stats"
)

// The analysis of colbert_minilm (RunMiniLM's result): tables, figures, the
// pre-registered claims' measurements, findings and sanity checks. Nothing
// here decides a claim's status (lib/claims does) and no finding holds by
// construction: each Holds is computed from the runs.

// linearName is the baseline head's name.
var linearName = colbert.Head{Kind: colbert.Linear}.Name()

// chosenLR returns the learning rate tuned for head ("—" when untuned).
func chosenLR(tuned []notebook.Tuned, head string) string {
	for _, t := range tuned {
		if t.Arm == head {
			return fmt.Sprintf("%g", t.Chosen)
		}
	}
	return "—"
}

// MiniLMTable is one row per head (the zero-shot model first): its tuned
// learning rate, trainable parameters, NDCG@10 per seed, their mean with a
// t interval over seeds, Recall@100 and MRR@10 (means), and the epochs the
// dev split chose.
func MiniLMTable(res *MiniLMResult, level float64) (header []string, rows [][]string) {
	header = []string{"model", "learning rate (dev)", "trainable params", "NDCG@10 per seed", "mean [95 % CI over seeds]", "Recall@100", "MRR@10", "epochs chosen"}
	row := func(name, lr string, runs []*Run) []string {
		var nd, rec, mrr []float64
		var per, epochs []string
		params := 0
		for _, r := range runs {
			nd, rec, mrr = append(nd, r.Metrics.NDCG10), append(rec, r.Metrics.Recall100), append(mrr, r.Metrics.MRR10)
			per = append(per, fmt.Sprintf("%.4f", r.Metrics.NDCG10))
			epochs = append(epochs, fmt.Sprint(r.BestEpoch))
			params = r.Params
		}
		iv := stats.MeanInterval(nd, level)
		return []string{name, lr, fmt.Sprint(params), strings.Join(per, ", "), fmt.Sprintf("%.4f %s", iv.Mean, ciText(iv.Lo, iv.Hi)),
			fmt.Sprintf("%.4f", meanOf(rec)), fmt.Sprintf("%.4f", meanOf(mrr)), strings.Join(epochs, ", ")}
	}
	rows = append(rows, row("zero-shot: MaxSim over MiniLM's own vectors (no head, no training)", "—", res.Raw))
	for _, h := range headOrder(res.Runs) {
		rows = append(rows, row(h, chosenLR(res.Tuned, h), runsOf(res.Runs, h)))
	}
	for _, r := range res.Frozen {
		rows = append(rows, row("frozen encoder, "+r.Head+" (first seed)", chosenLR(res.FrozenTuned, r.Head), []*Run{r}))
	}
	return header, rows
}

// headOrder is the heads of runs in order of first appearance.
func headOrder(runs []*Run) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range runs {
		if !seen[r.Head] {
			seen[r.Head] = true
			out = append(out, r.Head)
		}
	}
	return out
}

func runsOf(runs []*Run, head string) []*Run {
	var out []*Run
	for _, r := range runs {
		if r.Head == head {
			out = append(out, r)
		}
	}
	return out
}

// TuningTable shows every head's dev NDCG@10 at each learning rate of the grid and the choice.
func TuningTable(tuned []notebook.Tuned) (header []string, rows [][]string) {
	if len(tuned) == 0 {
		return []string{"head"}, nil
	}
	header = []string{"head"}
	for _, v := range tuned[0].Grid {
		header = append(header, fmt.Sprintf("dev NDCG@10 at %g", v))
	}
	header = append(header, "chosen")
	for _, t := range tuned {
		row := []string{t.Arm}
		for _, s := range t.Scores {
			row = append(row, fmt.Sprintf("%.4f", s))
		}
		rows = append(rows, append(row, fmt.Sprintf("%g", t.Chosen)))
	}
	return header, rows
}

// CurvesFigures are the training curves of the final runs on seed: the dev
// NDCG@10 after each epoch (the early-stopping signal) and the mean
// training loss.
func CurvesFigures(res *MiniLMResult, seed uint64) (dev, loss plot.Figure) {
	dev = plot.Figure{Title: fmt.Sprintf("Dev NDCG@10 after each epoch (seed %d)", seed), XLabel: "epoch", YLabel: "dev NDCG@10"}
	loss = plot.Figure{Title: fmt.Sprintf("Training loss, PyLate contrastive (seed %d)", seed), XLabel: "epoch", YLabel: "mean loss over the epoch"}
	for _, r := range res.Runs {
		if r.Config.Seed != seed {
			continue
		}
		var x, y, lx, ly []float64
		for _, pt := range r.Curve {
			x, y = append(x, float64(pt.Epoch)), append(y, pt.DevNDCG)
			if pt.Epoch > 0 {
				lx, ly = append(lx, float64(pt.Epoch)), append(ly, float64(pt.Loss))
			}
		}
		dev.Series = append(dev.Series, plot.Series{Name: r.Head, X: x, Y: y})
		loss.Series = append(loss.Series, plot.Series{Name: r.Head, X: lx, Y: ly})
	}
	for _, r := range res.Raw {
		if r.Config.Seed == seed {
			dev.Series = append(dev.Series, plot.Series{Name: "zero-shot model (before training)", X: []float64{0, float64(maxEpoch(res.Runs))}, Y: []float64{r.Dev.NDCG10, r.Dev.NDCG10}, Dashed: true})
		}
	}
	return dev, loss
}

func maxEpoch(runs []*Run) int {
	m := 1
	for _, r := range runs {
		for _, pt := range r.Curve {
			m = max(m, pt.Epoch)
		}
	}
	return m
}

// MiniLMMeasurements are the pre-registered claims' measurements: the named
// variant against linear paired over (seed, query) units of the Go doc
// evaluation set, and, when BEIR sets were evaluated (Run.Evals beyond the
// first), over datasets (each dataset's mean over seeds, in points).
func MiniLMMeasurements(res *MiniLMResult) (claims.Measurements, error) {
	named := Named.Name()
	a, b, err := PairedUnits(res.Runs, named, linearName)
	if err != nil {
		return nil, err
	}
	m := claims.Measurements{"named-variant-gain": claims.Paired(a, b)}
	na, nb, names := beirMeans(res.Runs, named), beirMeans(res.Runs, linearName), beirNames(res.Runs)
	if len(na) > 0 && len(na) == len(nb) {
		m["named-variant-gain-beir"] = claims.Measurement{Values: na, Baseline: nb, Note: "datasets: " + strings.Join(names, ", ")}
	}
	return m, nil
}

// beirMeans are head's NDCG@10 (points) on each BEIR set (Evals[1:]), mean over seeds.
func beirMeans(runs []*Run, head string) []float64 {
	var sums []float64
	n := 0
	for _, r := range runsOf(runs, head) {
		if len(r.Evals) < 2 {
			return nil
		}
		if sums == nil {
			sums = make([]float64, len(r.Evals)-1)
		}
		for i, e := range r.Evals[1:] {
			sums[i] += 100 * e.NDCG10
		}
		n++
	}
	for i := range sums {
		sums[i] /= float64(n)
	}
	return sums
}

// beirNames are the BEIR sets' names, from the first run's evaluation sets.
func beirNames(runs []*Run) []string {
	if len(runs) == 0 {
		return nil
	}
	return runs[0].EvalNames[min(1, len(runs[0].EvalNames)):]
}

// BEIRTable is each head's NDCG@10 per BEIR set (mean over seeds) and the macro average.
func BEIRTable(res *MiniLMResult) (header []string, rows [][]string) {
	names := beirNames(res.Runs)
	if len(names) == 0 {
		return nil, nil
	}
	header = append(append([]string{"head"}, names...), "macro average")
	for _, h := range headOrder(res.Runs) {
		means := beirMeans(res.Runs, h)
		row := []string{h}
		var sum float64
		for _, v := range means {
			row = append(row, fmt.Sprintf("%.2f", v))
			sum += v
		}
		rows = append(rows, append(row, fmt.Sprintf("%.2f", sum/float64(len(means)))))
	}
	return header, rows
}

// MiniLMFindings are the findings: every other variant against linear
// (paired interval over units; it "beats linear" when the interval lies
// above 0), the ablation contrasts of the named variant (its residual, its
// upscale factor), seeds won, the frozen encoder, and the zero-shot model.
func MiniLMFindings(res *MiniLMResult, ps []Paired, level float64, rounds int) []notebook.Claim {
	var out []notebook.Claim
	named := Named.Name()
	beating := 0
	for _, p := range ps {
		above := p.Lo > 0
		if above {
			beating++
		}
		if p.Head == named {
			continue // the pre-registered claim
		}
		out = append(out, notebook.Claim{Name: fmt.Sprintf("%s minus linear, NDCG@10 points over %d (seed, query) units (p = %s; per seed %s)", p.Head, p.N, pText(p.P), perSeedText(p.PerSeed)),
			Paper: "\"many projection variants outperform the original linear projections\"", Ours: p.Diff, CI: finiteCI(p.Lo, p.Hi), N: p.N, Unit: "query",
			Test: "beats linear when the 95 % bootstrap interval lies above 0", Holds: above})
	}
	out = append(out, notebook.Claim{Name: fmt.Sprintf("variants whose paired interval lies above linear, of %d", len(ps)), Paper: "\"many\"", Ours: beating, Holds: beating > len(ps)/2})
	for _, ab := range []struct{ what, other string }{
		{"the residual (ffn×2 gelu +res minus ffn×2 gelu)", colbert.Head{Kind: colbert.FFN, Depth: 1, Upscale: 2, Activation: "gelu"}.Name()},
		{"the upscale factor (ffn×2 gelu +res minus ffn×4 gelu +res)", colbert.Head{Kind: colbert.FFN, Depth: 1, Upscale: 4, Activation: "gelu", Residual: true}.Name()},
	} {
		a, b, err := PairedUnits(res.Runs, named, ab.other)
		if err != nil {
			continue // the profile does not run that head
		}
		c := stats.Compare(a, b, stats.CompareOptions{Level: level, Interval: stats.Bootstrap, Rounds: rounds, Seed: 7})
		out = append(out, notebook.Claim{Name: "ablation, " + ab.what + ", NDCG@10 points", Paper: "\"the particular importance of upscaled intermediate projections and residual connections\"",
			Ours: c.Diff, CI: finiteCI(c.Lo, c.Hi), N: c.N, Unit: "query", Test: "helps when the 95 % bootstrap interval lies above 0", Holds: c.Lo > 0})
	}
	atLimit := 0
	for _, r := range res.Runs {
		if r.BestEpoch == r.Config.Epochs {
			atLimit++
		}
	}
	out = append(out, notebook.Claim{Name: fmt.Sprintf("final runs whose best dev epoch was the last allowed (%s): still improving, not shown to have converged", epochLimits(res.Runs)),
		Paper: "—", Ours: fmt.Sprintf("%d of %d", atLimit, len(res.Runs)), Holds: atLimit == 0})
	edge := 0
	var edges []string
	for _, t := range res.Tuned {
		if len(t.Grid) > 1 && (t.Chosen == t.Grid[0] || t.Chosen == t.Grid[len(t.Grid)-1]) {
			edge++
			edges = append(edges, fmt.Sprintf("%s at %g", t.Arm, t.Chosen))
		}
	}
	out = append(out, notebook.Claim{Name: "heads whose dev-chosen learning rate is at an edge of the grid (its optimum may lie outside): " + strings.Join(edges, ", "),
		Paper: "—", Ours: fmt.Sprintf("%d of %d", edge, len(res.Tuned)), Holds: edge == 0})
	if len(res.Frozen) == 2 {
		d := 100 * (res.Frozen[1].Metrics.NDCG10 - res.Frozen[0].Metrics.NDCG10)
		out = append(out, notebook.Claim{Name: fmt.Sprintf("frozen encoder (the first version's experiment), first seed: %s minus %s, NDCG@10 points", res.Frozen[1].Head, res.Frozen[0].Head),
			Paper: "— (the paper fine-tunes)", Ours: d, Holds: d > 0})
		lin := runsOf(res.Runs, linearName)
		if len(lin) > 0 {
			g := 100 * (lin[0].Metrics.NDCG10 - res.Frozen[0].Metrics.NDCG10)
			out = append(out, notebook.Claim{Name: "fine-tuning the top layer(s) with the linear head minus the frozen encoder's linear head, first seed, NDCG@10 points",
				Paper: "—", Ours: g, Holds: g > 0})
		}
	}
	return out
}

// epochLimits lists the runs' epoch limits (one number when they share it).
func epochLimits(runs []*Run) string {
	seen := map[int]bool{}
	var out []string
	for _, r := range runs {
		if !seen[r.Config.Epochs] {
			seen[r.Config.Epochs] = true
			out = append(out, fmt.Sprint(r.Config.Epochs))
		}
	}
	return "epoch " + strings.Join(out, ", ")
}

func perSeedText(x []float64) string {
	s := make([]string, len(x))
	for i, v := range x {
		s[i] = fmt.Sprintf("%+.2f", v)
	}
	return strings.Join(s, ", ")
}

func finiteCI(lo, hi float64) []float64 {
	if math.IsNaN(lo) || math.IsNaN(hi) {
		return nil
	}
	return []float64{lo, hi}
}

// MiniLMChecks are the sanity checks: no run diverged, and the fine-tuned
// linear head beats the zero-shot model on the dev split of every seed —
// a check only when learns is true (at toy sizes, the smoke profile, it is
// reported but need not hold: see MiniLMLearning).
func MiniLMChecks(res *MiniLMResult, learns bool) []notebook.Claim {
	diverged := 0
	for _, r := range append(append([]*Run(nil), res.Runs...), res.Frozen...) {
		if r.Diverged {
			diverged++
		}
	}
	out := []notebook.Claim{notebook.Check("runs whose training loss became NaN or ±Inf", diverged, diverged == 0)}
	if learns {
		out = append(out, MiniLMLearning(res))
	}
	return out
}

// MiniLMLearning is the fine-tuned linear head's dev NDCG@10 minus the
// zero-shot model's, worst seed, in points; it holds when above 0.
func MiniLMLearning(res *MiniLMResult) notebook.Claim {
	worst := math.Inf(1)
	for _, lin := range runsOf(res.Runs, linearName) {
		for _, raw := range res.Raw {
			if raw.Config.Seed == lin.Config.Seed {
				worst = math.Min(worst, 100*(lin.Dev.NDCG10-raw.Dev.NDCG10))
			}
		}
	}
	return notebook.Check("the fine-tuned linear head minus the zero-shot model on the dev split, worst seed, NDCG@10 points (> 0: training learns)", worst, worst > 0 && !math.IsInf(worst, 0))
}
