package experiment

import (
	"fmt"
	"math"
	"path/filepath"

	"github.com/gorepro/gorepro/lib/colbert"
	"github.com/gorepro/gorepro/lib/colbert/synth"
	"github.com/gorepro/gorepro/lib/data/beir"
	"github.com/gorepro/gorepro/lib/notebook"
	"github.com/gorepro/gorepro/lib/plot"
	"github.com/gorepro/gorepro/lib/stats"
)

// Job is one run of a notebook's grid: its configuration and the group of
// runs it belongs to ("main": the heads compared over the seeds, "ablation":
// the upscale/residual ablation on the first seed, or a reference such as
// "untrained" or "raw").
type Job struct {
	Group  string
	Config Config
}

// SeedJobs is the main comparison: every head of heads on each of seeds
// seeds from seed on, seed by seed, base's other fields unchanged.
func SeedJobs(base Config, heads []colbert.Head, seed, seeds int) []Job {
	var jobs []Job
	for s := 0; s < seeds; s++ {
		for _, h := range heads {
			c := base
			c.Head, c.Seed = h, uint64(seed+s)
			jobs = append(jobs, Job{"main", c})
		}
	}
	return jobs
}

// AblationJobs is the ablation of a one-block GELU FFN head: each upscale
// factor of upscales, without and then with the residual, on seed.
func AblationJobs(base Config, upscales []float64, seed int) []Job {
	var jobs []Job
	for _, up := range upscales {
		for _, res := range []bool{false, true} {
			c := base
			c.Head, c.Seed = ablationHead(up, res), uint64(seed)
			jobs = append(jobs, Job{"ablation", c})
		}
	}
	return jobs
}

func ablationHead(upscale float64, residual bool) colbert.Head {
	return colbert.Head{Kind: colbert.FFN, Depth: 1, Upscale: upscale, Activation: "gelu", Residual: residual}
}

// RunJobs runs (or reads back) every job with run, printing one line of
// metrics per run and a progress bar, and returns the runs by group, in job
// order, and whether any was read from the cache.
func RunJobs(jobs []Job, run func(Job) (*Run, error)) (runs map[string][]*Run, fromCache bool, err error) {
	progress := notebook.NewProgress("runs", len(jobs))
	runs = map[string][]*Run{}
	for i, j := range jobs {
		r, err := run(j)
		if err != nil {
			return nil, false, err
		}
		note := ""
		if r.FromCache {
			note, fromCache = " (cached)", true
		}
		fmt.Printf("%-8s seed %d %-22s NDCG@10 %.4f  R@100 %.4f  MRR@10 %.4f  loss %.3f  %6d head params  %.1fs%s\n",
			j.Group, j.Config.Seed, r.Head, r.Metrics.NDCG10, r.Metrics.Recall100, r.Metrics.MRR10, r.FinalLoss, r.Params, r.Seconds, note)
		runs[j.Group] = append(runs[j.Group], r)
		progress.Update(i + 1)
	}
	progress.Done()
	return runs, fromCache, nil
}

// HeadStats is one projection head's metrics over the seeds it ran on, in
// run order.
type HeadStats struct {
	Head                     string // Run.Head
	Params                   int    // trainable parameters of the head
	Seeds                    []uint64
	NDCG10, Recall100, MRR10 []float64
}

// ByHead groups runs by head, in order of first appearance (a grid's
// baseline first).
func ByHead(runs []*Run) []HeadStats {
	var heads []HeadStats
	index := map[string]int{}
	for _, r := range runs {
		i, ok := index[r.Head]
		if !ok {
			i = len(heads)
			index[r.Head] = i
			heads = append(heads, HeadStats{Head: r.Head, Params: r.Params})
		}
		h := &heads[i]
		h.Seeds = append(h.Seeds, r.Config.Seed)
		h.NDCG10 = append(h.NDCG10, r.Metrics.NDCG10)
		h.Recall100 = append(h.Recall100, r.Metrics.Recall100)
		h.MRR10 = append(h.MRR10, r.Metrics.MRR10)
	}
	return heads
}

// MeanNDCG is h's mean NDCG@10 over its seeds.
func (h HeadStats) MeanNDCG() float64 { return meanOf(h.NDCG10) }

// GainOver is h's mean NDCG@10 minus base's, in points (× 100).
func (h HeadStats) GainOver(base HeadStats) float64 {
	return 100 * (meanOf(h.NDCG10) - meanOf(base.NDCG10))
}

// WinsOver counts the seeds (paired by position) on which h's NDCG@10 is
// above base's.
func (h HeadStats) WinsOver(base HeadStats) int {
	wins := 0
	for i, v := range h.NDCG10 {
		if i < len(base.NDCG10) && v > base.NDCG10[i] {
			wins++
		}
	}
	return wins
}

// HeadTable is the table of heads[i] against heads[0] (the baseline): head,
// parameters, NDCG@10 mean ± sample standard deviation, gain in points,
// seeds beating the baseline, mean Recall@100 and MRR@10. extra rows (e.g.
// references without a head) come first.
func HeadTable(heads []HeadStats, extra ...[]string) (header []string, rows [][]string) {
	header = []string{"head", "head params", "NDCG@10 (mean ± std)", "vs linear (points)", "seeds beating linear", "Recall@100", "MRR@10"}
	rows = append(rows, extra...)
	for _, h := range heads {
		m, sd := stats.MeanStd(h.NDCG10)
		rows = append(rows, []string{h.Head, fmt.Sprint(h.Params), fmt.Sprintf("%.4f ± %.4f", m, sd), fmt.Sprintf("%+.2f", h.GainOver(heads[0])),
			fmt.Sprintf("%d/%d", h.WinsOver(heads[0]), len(h.NDCG10)), fmt.Sprintf("%.4f", meanOf(h.Recall100)), fmt.Sprintf("%.4f", meanOf(h.MRR10))})
	}
	return header, rows
}

// ReferenceRow is a HeadTable row for a method without a head (no seeds):
// its metrics and its NDCG@10 against the baseline's mean, in points.
func ReferenceRow(name string, m Metrics, baseline HeadStats) []string {
	return []string{name, "0", fmt.Sprintf("%.4f", m.NDCG10), fmt.Sprintf("%+.2f", 100*(m.NDCG10-meanOf(baseline.NDCG10))), "—", fmt.Sprintf("%.4f", m.Recall100), fmt.Sprintf("%.4f", m.MRR10)}
}

// Comparison is how the variants (heads[1:]) fare against the baseline
// (heads[0]).
type Comparison struct {
	Best     string  // the variant with the largest mean gain ("" if none may be best)
	BestGain float64 // its gain, NDCG@10 points (-Inf if none)
	BestWins int     // seeds on which it beats the baseline
	Beating  int     // variants whose mean gain is above 0
	Variants int     // len(heads) - 1
	// Findings holds one finding per variant: its gain, holding when above 0.
	Findings []notebook.Claim
}

// Compare compares heads[1:] with heads[0]. A variant for which mayBeBest
// returns false (a control) counts in Beating and has its finding but is
// never Best; mayBeBest nil lets every variant be best.
func Compare(heads []HeadStats, mayBeBest func(head string) bool) Comparison {
	c := Comparison{BestGain: math.Inf(-1), Variants: len(heads) - 1}
	if len(heads) == 0 {
		c.Variants = 0
		return c
	}
	base := heads[0]
	for _, h := range heads[1:] {
		gain, wins := h.GainOver(base), h.WinsOver(base)
		if gain > 0 {
			c.Beating++
		}
		if (mayBeBest == nil || mayBeBest(h.Head)) && gain > c.BestGain {
			c.Best, c.BestGain, c.BestWins = h.Head, gain, wins
		}
		c.Findings = append(c.Findings, notebook.Claim{Name: fmt.Sprintf("%s: NDCG@10 gain over linear, points (mean of %d seeds; wins on %d)", h.Head, len(h.NDCG10), wins),
			Paper: "best variants > +2", Ours: gain, Holds: gain > 0})
	}
	return c
}

// isAblationHead reports whether r is a one-block GELU FFN head on seed:
// the heads of the upscale/residual ablation.
func isAblationHead(r *Run, seed uint64) bool {
	h := r.Config.Head
	return h.Kind == colbert.FFN && h.Depth == 1 && h.Activation == "gelu" && r.Config.Seed == seed
}

// AblationTable is the upscale/residual ablation: every one-block GELU FFN
// run on seed among runs (in their order), with its NDCG@10 and its gain in
// points over linear (the baseline's NDCG@10 on that seed).
func AblationTable(runs []*Run, seed uint64, linear float64) (header []string, rows [][]string) {
	header = []string{"α", "residual", "NDCG@10 (first seed)", "vs linear (points)"}
	for _, r := range runs {
		if isAblationHead(r, seed) {
			h := r.Config.Head
			rows = append(rows, []string{fmt.Sprint(h.Upscale), fmt.Sprint(h.Residual), fmt.Sprintf("%.4f", r.Metrics.NDCG10), fmt.Sprintf("%+.2f", 100*(r.Metrics.NDCG10-linear))})
		}
	}
	return header, rows
}

// NDCGBars is the bar chart of the heads' mean NDCG@10 with ± one sample
// standard deviation, the baseline's (heads[0]) mean as the reference line,
// the y range padded around the bars.
func NDCGBars(title string, heads []HeadStats) plot.Bars {
	var names []string
	var means, stds []float64
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, h := range heads {
		m, s := stats.MeanStd(h.NDCG10)
		names, means, stds = append(names, h.Head), append(means, m), append(stds, s)
		lo, hi = math.Min(lo, m-s), math.Max(hi, m+s)
	}
	pad := (hi - lo) * 0.5
	return plot.Bars{Title: title, YLabel: "NDCG@10", Labels: names, Values: means, Errors: stds,
		Reference: means[0], RefLabel: "linear baseline (mean)", YMin: math.Max(0, lo-pad), YMax: math.Min(1, hi+pad)}
}

// AblationFigure plots NDCG@10 against the upscale factor of a one-block
// GELU FFN head on seed, without and with the residual (the first run of
// runs found for each factor of upscales), and linear as a dashed line.
func AblationFigure(runs []*Run, seed uint64, upscales []float64, linear float64, xLabel string) plot.Figure {
	var series []plot.Series
	for _, res := range []bool{false, true} {
		var x, y []float64
		for _, up := range upscales {
			for _, r := range runs {
				if isAblationHead(r, seed) && r.Config.Head.Upscale == up && r.Config.Head.Residual == res {
					x, y = append(x, up), append(y, r.Metrics.NDCG10)
					break
				}
			}
		}
		name := "FFN (GELU)"
		if res {
			name += " + residual"
		}
		series = append(series, plot.Series{Name: name, X: x, Y: y})
	}
	first, last := upscales[0], upscales[len(upscales)-1]
	series = append(series, plot.Series{Name: "linear", X: []float64{first, last}, Y: []float64{linear, linear}, Dashed: true})
	return plot.Figure{Title: "Ablation: upscale factor α and residual (first seed)", XLabel: xLabel, YLabel: "NDCG@10", LogX: true, Series: series}
}

// meanOf is the mean of x (NaN for none, or when x holds NaN or ±Inf).
func meanOf(x []float64) float64 {
	m, _ := stats.MeanStd(x)
	return m
}

// LowestNDCG is the lowest NDCG@10 among runs for which count returns true
// (nil: all), and how many such runs there are (+Inf, 0 for none).
func LowestNDCG(runs []*Run, count func(*Run) bool) (lowest float64, n int) {
	lowest = math.Inf(1)
	for _, r := range runs {
		if count == nil || count(r) {
			lowest = math.Min(lowest, r.Metrics.NDCG10)
			n++
		}
	}
	return lowest, n
}

// SyntheticTask is the synthetic task of seed (synth.Quick; the full
// profile's is larger, the smoke profile's a toy that only exercises the
// code), with its evaluation set written in the BEIR layout under
// cacheDir/beir/ and read back with lib/data/beir, so that the scored set is
// what the BEIR loader reads.
func SyntheticTask(seed uint64, profile, cacheDir string) (*synth.Task, error) {
	tc := synth.Quick(seed)
	switch profile {
	case "full":
		tc.Corpus, tc.Queries, tc.TrainPairs = 1200, 300, 8000
	case "smoke":
		tc.Corpus, tc.Queries, tc.TrainPairs = 60, 15, 96
	}
	task, err := synth.Generate(tc)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cacheDir, "beir", fmt.Sprintf("synth-seed%d-%s", seed, profile))
	if err := beir.Write(dir, "test", task.Eval); err != nil {
		return nil, err
	}
	loaded, err := beir.Load(dir, "test")
	if err != nil {
		return nil, err
	}
	loaded.Name = task.Eval.Name
	task.Eval = loaded
	return task, nil
}
