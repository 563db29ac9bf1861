package experiment

import (
	"math"
	"reflect"
	"testing"

	"github.com/gorepro/gorepro/lib/colbert"
)

func headRun(head colbert.Head, seed uint64, ndcg float64) *Run {
	return &Run{Config: Config{Head: head, Seed: seed}, Head: head.Name(), Params: 7, Metrics: Metrics{NDCG10: ndcg, Recall100: ndcg + 0.1, MRR10: ndcg - 0.1}}
}

var (
	linearHead = colbert.Head{Kind: colbert.Linear}
	ffnHead    = ablationHead(4, false)
	resHead    = ablationHead(4, true)
	deepHead   = colbert.Head{Kind: colbert.DeepLinear, Depth: 2, Upscale: 4}
)

// Three seeds of four heads: FFN gains 5 points and wins 2 of 3 seeds, the
// residual FFN gains 10 and wins all, the deep linear control gains 20 but
// may not be best.
func comparisonRuns() []*Run {
	var runs []*Run
	for s, lin := range []float64{0.5, 0.6, 0.7} {
		seed := uint64(s + 1)
		runs = append(runs, headRun(linearHead, seed, lin), headRun(ffnHead, seed, lin+[]float64{0.1, 0.1, -0.05}[s]),
			headRun(resHead, seed, lin+0.1), headRun(deepHead, seed, lin+0.2))
	}
	return runs
}

func TestByHeadAndCompare(t *testing.T) {
	heads := ByHead(comparisonRuns())
	var names []string
	for _, h := range heads {
		names = append(names, h.Head)
	}
	if want := []string{linearHead.Name(), ffnHead.Name(), resHead.Name(), deepHead.Name()}; !reflect.DeepEqual(names, want) {
		t.Fatalf("ByHead order %q, want %q", names, want)
	}
	if !reflect.DeepEqual(heads[0].Seeds, []uint64{1, 2, 3}) || !reflect.DeepEqual(heads[0].NDCG10, []float64{0.5, 0.6, 0.7}) {
		t.Errorf("linear %+v", heads[0])
	}
	for _, tc := range []struct {
		h          HeadStats
		gain       float64
		wins, seen int
	}{{heads[1], 5, 2, 3}, {heads[2], 10, 3, 3}, {heads[3], 20, 3, 3}} {
		if g := tc.h.GainOver(heads[0]); math.Abs(g-tc.gain) > 1e-9 {
			t.Errorf("%s: gain %g, want %g", tc.h.Head, g, tc.gain)
		}
		if w := tc.h.WinsOver(heads[0]); w != tc.wins {
			t.Errorf("%s: wins %d, want %d", tc.h.Head, w, tc.wins)
		}
	}
	c := Compare(heads, func(head string) bool { return head != deepHead.Name() })
	if c.Best != resHead.Name() || math.Abs(c.BestGain-10) > 1e-9 || c.BestWins != 3 || c.Beating != 3 || c.Variants != 3 || len(c.Findings) != 3 {
		t.Errorf("Compare without the control as best: %+v", c)
	}
	if c := Compare(heads, nil); c.Best != deepHead.Name() {
		t.Errorf("Compare(nil) best %q, want the deep linear head", c.Best)
	}
	if c := Compare(nil, nil); c.Best != "" || c.Variants != 0 || !math.IsInf(c.BestGain, -1) {
		t.Errorf("Compare of nothing: %+v", c)
	}
}

func TestTablesAndLowest(t *testing.T) {
	runs := comparisonRuns()
	heads := ByHead(runs)
	header, rows := HeadTable(heads, ReferenceRow("reference", Metrics{NDCG10: 0.5}, heads[0]))
	if len(header) != 7 || len(rows) != 5 {
		t.Fatalf("HeadTable: %d columns, %d rows", len(header), len(rows))
	}
	// The sample standard deviation of 0.5, 0.6, 0.7 is 0.1.
	if want := []string{linearHead.Name(), "7", "0.6000 ± 0.1000", "+0.00", "0/3", "0.7000", "0.5000"}; !reflect.DeepEqual(rows[1], want) {
		t.Errorf("linear row %q, want %q", rows[1], want)
	}
	if want := "-10.00"; rows[0][3] != want {
		t.Errorf("reference row %q: gain want %s", rows[0], want)
	}
	lowest, n := LowestNDCG(runs, func(r *Run) bool { return r.Config.Head.Kind != colbert.DeepLinear })
	if math.Abs(lowest-0.5) > 1e-12 || n != 9 {
		t.Errorf("LowestNDCG = %g of %d, want 0.5 of 9", lowest, n)
	}
	// The ablation: the one-block GELU FFN heads on seed 1 only.
	_, arows := AblationTable(runs, 1, 0.5)
	if len(arows) != 2 || arows[0][0] != "4" || arows[0][1] != "false" || arows[1][3] != "+10.00" {
		t.Errorf("AblationTable rows %q", arows)
	}
	fig := AblationFigure(runs, 1, []float64{1, 4}, 0.5, "α")
	if len(fig.Series) != 3 || !reflect.DeepEqual(fig.Series[1].X, []float64{4}) || !reflect.DeepEqual(fig.Series[1].Y, []float64{0.6}) {
		t.Errorf("AblationFigure series %+v", fig.Series)
	}
	if bars := NDCGBars("t", heads); len(bars.Values) != 4 || math.Abs(bars.Reference-0.6) > 1e-12 {
		t.Errorf("NDCGBars %+v", bars)
	}
}

func TestJobs(t *testing.T) {
	base := Config{Dim: 8}
	jobs := SeedJobs(base, []colbert.Head{linearHead, ffnHead}, 5, 2)
	if len(jobs) != 4 || jobs[0].Config.Seed != 5 || jobs[1].Config.Head != ffnHead || jobs[2].Config.Seed != 6 || jobs[3].Group != "main" {
		t.Errorf("SeedJobs %+v", jobs)
	}
	abl := AblationJobs(base, []float64{1, 2}, 5)
	if len(abl) != 4 || abl[0].Config.Head != ablationHead(1, false) || abl[1].Config.Head != ablationHead(1, true) || abl[2].Config.Head.Upscale != 2 || abl[3].Group != "ablation" {
		t.Errorf("AblationJobs %+v", abl)
	}
	if AblationJobs(base, nil, 1) != nil {
		t.Error("AblationJobs of no factors made jobs")
	}
}

// TestSyntheticTaskProfiles: each profile's task size, its evaluation set
// read back from the BEIR files (the smoke profile runs the same loader on a
// toy task).
func TestSyntheticTaskProfiles(t *testing.T) {
	for _, tc := range []struct {
		profile                string
		corpus, queries, train int
	}{{"smoke", 60, 15, 96}, {"quick", 600, 150, 3000}} {
		task, err := SyntheticTask(1, tc.profile, t.TempDir())
		if err != nil {
			t.Fatalf("%s: %v", tc.profile, err)
		}
		if len(task.Eval.Corpus) != tc.corpus || len(task.Eval.Queries) > tc.queries || len(task.Eval.Queries) == 0 || len(task.Train) != tc.train {
			t.Errorf("%s: %d documents, %d queries, %d pairs; want %d, ≤ %d, %d", tc.profile,
				len(task.Eval.Corpus), len(task.Eval.Queries), len(task.Train), tc.corpus, tc.queries, tc.train)
		}
	}
}
