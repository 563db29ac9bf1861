package experiment

import (
	"fmt"
	"math"
	"sort"

	"github.com/gorepro/gorepro/lib/plot"
	"github.com/gorepro/gorepro/lib/stats"
)

// PairedUnits returns the per-query NDCG@10, in points (×100), of head and
// of baseline over the same units: for every seed both ran (the seed fixes
// the split and the initialisation), every evaluation query of that seed's
// split, in (seed, query) order. The claim "head beats baseline by δ" is
// about the mean of a − b over these units. It is an error when a seed has
// one head and not the other, when a run has no per-query values, or when
// the two runs of a seed judged different queries.
func PairedUnits(runs []*Run, head, baseline string) (a, b []float64, err error) {
	bySeed := func(name string) map[uint64]*Run {
		m := map[uint64]*Run{}
		for _, r := range runs {
			if r.Head == name {
				m[r.Config.Seed] = r
			}
		}
		return m
	}
	hs, bs := bySeed(head), bySeed(baseline)
	if len(hs) == 0 || len(bs) == 0 {
		return nil, nil, fmt.Errorf("experiment: PairedUnits: %d runs of %q, %d of %q", len(hs), head, len(bs), baseline)
	}
	seeds := make([]uint64, 0, len(hs))
	for s := range hs {
		if bs[s] == nil {
			return nil, nil, fmt.Errorf("experiment: PairedUnits: seed %d has %q but not %q", s, head, baseline)
		}
		seeds = append(seeds, s)
	}
	if len(bs) != len(hs) {
		return nil, nil, fmt.Errorf("experiment: PairedUnits: %q ran %d seeds, %q %d", head, len(hs), baseline, len(bs))
	}
	sort.Slice(seeds, func(i, j int) bool { return seeds[i] < seeds[j] })
	for _, s := range seeds {
		h, l := hs[s].Metrics, bs[s].Metrics
		if len(h.PerQuery) == 0 || len(h.PerQuery) != len(h.QueryIDs) || len(l.PerQuery) != len(l.QueryIDs) {
			return nil, nil, fmt.Errorf("experiment: PairedUnits: seed %d: a run without per-query NDCG@10 (%d and %d values)", s, len(h.PerQuery), len(l.PerQuery))
		}
		if len(h.QueryIDs) != len(l.QueryIDs) {
			return nil, nil, fmt.Errorf("experiment: PairedUnits: seed %d: %q judged %d queries, %q %d", s, head, len(h.QueryIDs), baseline, len(l.QueryIDs))
		}
		for i := range h.QueryIDs {
			if h.QueryIDs[i] != l.QueryIDs[i] {
				return nil, nil, fmt.Errorf("experiment: PairedUnits: seed %d: query %d is %q for %q, %q for %q", s, i, h.QueryIDs[i], head, l.QueryIDs[i], baseline)
			}
			a, b = append(a, 100*h.PerQuery[i]), append(b, 100*l.PerQuery[i])
		}
	}
	return a, b, nil
}

// Paired is one head's comparison with the baseline head: the paired
// difference of NDCG@10 in points over (seed, query) units, with its
// bootstrap interval and sign-flip permutation p (stats.Compare), and the
// per-seed mean differences with their t interval (the seeds' spread: a
// split and an initialisation each).
type Paired struct {
	Head string
	stats.Comparison
	// PerSeed are the seeds' mean differences in points, in seed order; SeedCI their t interval.
	PerSeed []float64
	SeedCI  stats.Interval
}

// PairedAgainst compares every head of runs except baseline with it (in
// the order heads first appear in runs), NDCG@10 in points, at level with
// rounds bootstrap and permutation rounds.
func PairedAgainst(runs []*Run, baseline string, level float64, rounds int) ([]Paired, error) {
	var heads []string
	seen := map[string]bool{baseline: true}
	for _, r := range runs {
		if !seen[r.Head] {
			seen[r.Head] = true
			heads = append(heads, r.Head)
		}
	}
	out := make([]Paired, 0, len(heads))
	for i, h := range heads {
		a, b, err := PairedUnits(runs, h, baseline)
		if err != nil {
			return nil, err
		}
		p := Paired{Head: h, Comparison: stats.Compare(a, b, stats.CompareOptions{Level: level, Interval: stats.Bootstrap, Rounds: rounds, Seed: uint64(i + 1)})}
		p.PerSeed = append(p.PerSeed, perSeedDiffs(runs, h, baseline)...)
		p.SeedCI = stats.MeanInterval(p.PerSeed, level)
		out = append(out, p)
	}
	return out, nil
}

// perSeedDiffs are the seeds' mean NDCG@10 differences head − baseline, in
// points, in seed order (seeds both ran).
func perSeedDiffs(runs []*Run, head, baseline string) []float64 {
	h, b := map[uint64]float64{}, map[uint64]float64{}
	for _, r := range runs {
		switch r.Head {
		case head:
			h[r.Config.Seed] = r.Metrics.NDCG10
		case baseline:
			b[r.Config.Seed] = r.Metrics.NDCG10
		}
	}
	var seeds []uint64
	for s := range h {
		if _, ok := b[s]; ok {
			seeds = append(seeds, s)
		}
	}
	sort.Slice(seeds, func(i, j int) bool { return seeds[i] < seeds[j] })
	out := make([]float64, len(seeds))
	for i, s := range seeds {
		out[i] = 100 * (h[s] - b[s])
	}
	return out
}

// PairedTable is the comparisons as a table: each head's mean difference
// from the baseline over (seed, query) units with its interval and p, the
// queries it wins and loses, and the per-seed differences with their t
// interval.
func PairedTable(ps []Paired, baseline string) (header []string, rows [][]string) {
	header = []string{"head", "NDCG@10 − " + baseline + " (points)", "95 % CI (bootstrap, units)", "p (permutation)", "units won / lost / tied", "per seed (points)", "95 % CI over seeds"}
	for _, p := range ps {
		seeds := ""
		for i, d := range p.PerSeed {
			if i > 0 {
				seeds += ", "
			}
			seeds += fmt.Sprintf("%+.2f", d)
		}
		rows = append(rows, []string{p.Head, fmt.Sprintf("%+.2f", p.Diff), ciText(p.Lo, p.Hi), pText(p.P),
			fmt.Sprintf("%d / %d / %d", p.Wins, p.Losses, p.Ties), seeds, ciText(p.SeedCI.Lo, p.SeedCI.Hi)})
	}
	return header, rows
}

func ciText(lo, hi float64) string {
	if math.IsNaN(lo) || math.IsNaN(hi) {
		return "—"
	}
	return fmt.Sprintf("[%+.2f, %+.2f]", lo, hi)
}

func pText(p float64) string {
	if math.IsNaN(p) {
		return "—"
	}
	if p < 1e-4 {
		return "< 0.0001"
	}
	return fmt.Sprintf("%.4f", p)
}

// PairedFigure draws each head's paired difference from the baseline with
// its interval as a point and whisker, beside zero and the claim's
// threshold (points of NDCG@10).
func PairedFigure(title string, ps []Paired, threshold float64, thresholdLabel string) plot.Intervals {
	iv := plot.Intervals{Title: title, YLabel: "NDCG@10 minus the linear head (points)"}
	for _, p := range ps {
		iv.Labels = append(iv.Labels, p.Head)
		iv.Values = append(iv.Values, p.Diff)
		iv.Lower, iv.Upper = append(iv.Lower, p.Lo), append(iv.Upper, p.Hi)
	}
	if thresholdLabel != "" {
		iv.Lines = []plot.Reference{{Label: thresholdLabel, Y: threshold}}
	}
	return iv
}
