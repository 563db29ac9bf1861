package experiment

import (
	"math"
	"strings"
	"testing"
)

func pairedRun(head string, seed uint64, ids []string, ndcg ...float64) *Run {
	var mean float64
	for _, v := range ndcg {
		mean += v / float64(len(ndcg))
	}
	return &Run{Head: head, Config: Config{Seed: seed}, Metrics: Metrics{NDCG10: mean, Queries: len(ndcg), QueryIDs: ids, PerQuery: ndcg}}
}

func TestPairedUnits(t *testing.T) {
	runs := []*Run{
		pairedRun("linear", 2, []string{"x", "y"}, 0.5, 0.25),
		pairedRun("ffn", 1, []string{"a", "b", "c"}, 1, 0.5, 0),
		pairedRun("linear", 1, []string{"a", "b", "c"}, 0.5, 0.5, 0.5),
		pairedRun("ffn", 2, []string{"x", "y"}, 0.75, 0.25),
	}
	a, b, err := PairedUnits(runs, "ffn", "linear")
	if err != nil {
		t.Fatal(err)
	}
	wantA, wantB := []float64{100, 50, 0, 75, 25}, []float64{50, 50, 50, 50, 25}
	for i := range wantA {
		if a[i] != wantA[i] || b[i] != wantB[i] {
			t.Fatalf("units: %v %v, want %v %v (seed order, points)", a, b, wantA, wantB)
		}
	}
	ps, err := PairedAgainst(runs, "linear", 0.95, 2000)
	if err != nil || len(ps) != 1 {
		t.Fatalf("PairedAgainst: %v %+v", err, ps)
	}
	p := ps[0]
	// d = (50, 0, −50, 25, 0): mean 5, wins 2, losses 1, ties 2; per seed 0 and +12.5.
	if p.Head != "ffn" || p.N != 5 || math.Abs(p.Diff-5) > 1e-12 || p.Wins != 2 || p.Losses != 1 || p.Ties != 2 {
		t.Errorf("comparison %+v", p.Comparison)
	}
	if len(p.PerSeed) != 2 || math.Abs(p.PerSeed[0]) > 1e-12 || math.Abs(p.PerSeed[1]-12.5) > 1e-12 {
		t.Errorf("per seed %v, want [0 12.5]", p.PerSeed)
	}
	if !(p.Lo <= p.Diff && p.Diff <= p.Hi) || !(p.P > 0 && p.P <= 1) {
		t.Errorf("interval [%g, %g], p %g", p.Lo, p.Hi, p.P)
	}
	h, rows := PairedTable(ps, "linear")
	if len(rows) != 1 || len(rows[0]) != len(h) || rows[0][1] != "+5.00" || rows[0][4] != "2 / 1 / 2" || rows[0][5] != "+0.00, +12.50" {
		t.Errorf("table %v %v", h, rows)
	}
	if _, _, err := PairedFigure("t", ps, 2, "paper: > +2").Render(); err != nil {
		t.Error(err)
	}
}

func TestPairedUnitsErrors(t *testing.T) {
	ids := []string{"a", "b"}
	for name, tc := range map[string]struct {
		runs []*Run
		want string
	}{
		"no baseline":      {[]*Run{pairedRun("ffn", 1, ids, 1, 0)}, "0 of \"linear\""},
		"missing seed":     {[]*Run{pairedRun("ffn", 1, ids, 1, 0), pairedRun("linear", 2, ids, 1, 0)}, "seed 1 has"},
		"other queries":    {[]*Run{pairedRun("ffn", 1, ids, 1, 0), pairedRun("linear", 1, []string{"a", "c"}, 1, 0)}, "query 1 is"},
		"no per-query":     {[]*Run{{Head: "ffn", Config: Config{Seed: 1}}, pairedRun("linear", 1, ids, 1, 0)}, "without per-query"},
		"different counts": {[]*Run{pairedRun("ffn", 1, ids, 1, 0), pairedRun("linear", 1, []string{"a"}, 1)}, "judged 2 queries"},
	} {
		if _, _, err := PairedUnits(tc.runs, "ffn", "linear"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want …%s…", name, err, tc.want)
		}
	}
}
