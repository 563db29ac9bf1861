package experiment

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/gorepro/gorepro/lib/backends/backendstest"
	"github.com/gorepro/gorepro/lib/data/digits"
	"github.com/gorepro/gorepro/lib/notebook"
	"github.com/gorepro/gorepro/lib/tuning"
)

func tinyStudy(t *testing.T) Study {
	t.Helper()
	data, err := digits.Load()
	if err != nil {
		t.Skip(err)
	}
	return Study{Name: "t", Title: "tiny", Budgets: []int{1, 2}, LRGrid: []float64{0.02, 0.1}, TuneSeeds: []uint64{9}, Seeds: []uint64{1, 2},
		Protocols: []tuning.Protocol{tuning.Paper, tuning.OwnBest}, Lambdas: []float64{0.05},
		Recipe: Config{Arch: CNN, Width: 4, BatchSize: 64, Optimizer: SGD, Momentum: 0.9, Schedule: Cosine, Lambda: 0.1},
		Task:   func(seed uint64) (*Task, error) { return Digits(data, DigitsSpread, 0, seed) }}
}

// Bad studies are refused before anything runs, naming the field.
func TestStudyCheck(t *testing.T) {
	ok := tinyStudy(t)
	if err := ok.Check(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mod    func(*Study)
		errHas string
	}{
		{func(s *Study) { s.Budgets = []int{2, 2} }, "not increasing"},
		{func(s *Study) { s.Budgets = nil }, "no epoch budgets"},
		{func(s *Study) { s.LRGrid = []float64{0.1, -1} }, "learning-rate grid"},
		{func(s *Study) { s.LRGrid = nil }, "learning-rate grid"},
		{func(s *Study) { s.Recipe.Lambda = 0 }, "λ = 0"},
		{func(s *Study) { s.Lambdas = []float64{-0.1} }, "λ = -0.1 in Lambdas"},
		{func(s *Study) { s.Protocols = []tuning.Protocol{tuning.OwnBest} }, "must include the paper's"},
		{func(s *Study) { s.Protocols = append(s.Protocols, "mine") }, `unknown protocol "mine"`},
		{func(s *Study) { s.Seeds = nil }, "0 evaluation"},
		{func(s *Study) { s.Task = nil }, "no Task"},
		{func(s *Study) { s.Recipe.Arch = "rnn" }, `arch "rnn"`},
	} {
		s := ok
		s.Protocols = append([]tuning.Protocol(nil), ok.Protocols...)
		tc.mod(&s)
		err := s.Check()
		if err == nil || !strings.Contains(err.Error(), tc.errHas) {
			t.Errorf("%v, want %q", err, tc.errHas)
		}
		if _, err := RunStudy(nil, s, ""); err == nil {
			t.Errorf("RunStudy accepted a study Check refuses (%q)", tc.errHas)
		}
	}
}

// A tiny study runs end to end: tuning picks, per budget, the grid value
// with the best validation accuracy; the paper protocol gives TrAct the
// baseline's rate, own-best its own; the comparisons, tables, measurements
// and figures are consistent with the runs.
func TestRunStudy(t *testing.T) {
	s := tinyStudy(t)
	bk := backendstest.Available(t)[0]
	dir := t.TempDir()
	res, err := RunStudy(bk, s, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tuned) != 2*len(s.Budgets) || len(res.Comparisons) != 3 {
		t.Fatalf("%d tuned records, %d comparisons", len(res.Tuned), len(res.Comparisons))
	}
	chosen := map[string]float64{}
	for _, tu := range res.Tuned {
		best := 0
		for i, sc := range tu.Scores {
			if sc > tu.Scores[best] {
				best = i
			}
		}
		if tu.Chosen != tu.Grid[best] || !strings.Contains(tu.Split, "validation") {
			t.Errorf("%s: chose %g from %v", tu.Arm, tu.Chosen, tu.Scores)
		}
		chosen[tu.Arm] = tu.Chosen
	}
	main, own := res.Main(), res.OwnBest()
	for i, e := range s.Budgets {
		b, tr := chosen["t baseline, "+strconv.Itoa(e)+" epochs"], chosen["t tract, "+strconv.Itoa(e)+" epochs"]
		if main.BaseLR[i] != b || main.TrActLR[i] != b || own.BaseLR[i] != b || own.TrActLR[i] != tr {
			t.Errorf("budget %d: paper %g/%g, own %g/%g; tuned %g/%g", e, main.BaseLR[i], main.TrActLR[i], own.BaseLR[i], own.TrActLR[i], b, tr)
		}
		for k, seed := range s.Seeds {
			br, trr := main.Base[i][k], main.TrActRuns[i][k]
			if br.Config.Seed != seed || trr.Config.Seed != seed || br.Config.Epochs != e || trr.Config.Method != TrAct || br.Config.Method != Baseline || len(br.Curve) != e {
				t.Errorf("budget %d seed %d: %+v / %+v", e, seed, br.Config, trr.Config)
			}
		}
	}
	if l := res.find(tuning.Paper, 0.05); l.Lambda != 0.05 || l.TrActRuns[0][0].Config.Lambda != 0.05 || l.Base[0][0] != main.Base[0][0] {
		t.Errorf("the λ = 0.05 comparison: %+v", l.TrActRuns[0][0].Config)
	}
	sp, acc, err := main.Measure(len(s.Budgets) - 1)
	if err != nil {
		t.Fatal(err)
	}
	ratios, _, _ := main.Speedups(len(s.Budgets) - 1)
	if len(sp.Values) != 2 || sp.Values[0] != ratios[0] || len(acc.Values) != 2 || acc.Baseline[1] != main.Base[1][1].FinalAcc() || acc.Values[0] != main.TrActRuns[1][0].FinalAcc() {
		t.Errorf("measurements %+v %+v", sp, acc)
	}
	rows, err := main.Rows()
	if err != nil || len(rows) != len(s.Budgets) || len(rows[0]) != len(BudgetHeader()) {
		t.Errorf("rows %v %v", rows, err)
	}
	if _, err := SpeedupFigure(res.Comparisons); err != nil {
		t.Error(err)
	}
	if _, err := CurvesFigure([]BudgetComparison{main}); err != nil {
		t.Error(err)
	}
	// A second run reads every run from the cache.
	again, err := RunStudy(bk, s, dir)
	if err != nil || !again.FromCache || res.FromCache || again.Main().Base[1][0].FinalAcc() != main.Base[1][0].FinalAcc() {
		t.Errorf("the rerun: %v, from cache %v (first %v)", err, again.FromCache, res.FromCache)
	}
}

// ClaimMeasurements reads the claimed studies' paper-protocol comparisons
// at the budget each claim names; AllFindings leaves the claimed
// comparison's speedup to the claims.
func TestClaimMeasurements(t *testing.T) {
	run := func(acc float64, seed uint64) *Run {
		return &Run{Config: Config{Seed: seed}, Curve: []Point{{Epoch: 1, TestAcc: acc}}, TimedSeconds: 1, TimedSteps: 10}
	}
	cmpOf := func(name string, base, tract [][]float64) *StudyResult {
		c := BudgetComparison{Study: name, Protocol: tuning.Paper, Lambda: 0.1, Budgets: []int{1, 2, 4, 8}, Seeds: []uint64{1, 2}}
		for i := range c.Budgets {
			var b, tr []*Run
			for k := range c.Seeds {
				b, tr = append(b, run(base[i][k], uint64(k+1))), append(tr, run(tract[i][k], uint64(k+1)))
			}
			c.Base, c.TrActRuns = append(c.Base, b), append(c.TrActRuns, tr)
			c.BaseLR, c.TrActLR = append(c.BaseLR, 0.1), append(c.TrActLR, 0.1)
		}
		return &StudyResult{Study: Study{Name: name, Recipe: Config{Lambda: 0.1}}, Comparisons: []BudgetComparison{c}}
	}
	base := [][]float64{{0.5, 0.5}, {0.6, 0.6}, {0.7, 0.7}, {0.8, 0.8}}
	tract := [][]float64{{0.6, 0.6}, {0.7, 0.7}, {0.8, 0.8}, {0.9, 0.9}}
	m, err := ClaimMeasurements([]*StudyResult{cmpOf("cnn", base, tract), cmpOf("vit-cifar10", base, tract), cmpOf("resnet18-cifar100", base, tract), cmpOf("mlp", base, tract)})
	if err != nil {
		t.Fatal(err)
	}
	// cnn at E = 8: TrAct reaches 0.8 at 4 epochs: 2×. vit-cifar10 at E = 4: TrAct reaches 0.7 at 2: 2×.
	if v := m["cnn-speedup"].Values; len(v) != 2 || math.Abs(v[0]-2) > 1e-12 {
		t.Errorf("cnn-speedup %v", v)
	}
	if v := m["vit-cifar10-speedup"].Values; len(v) != 2 || math.Abs(v[1]-2) > 1e-12 {
		t.Errorf("vit-cifar10-speedup %v", v)
	}
	if _, ok := m["vit-cifar10-accuracy"]; ok {
		t.Error("vit-cifar10 has no accuracy claim")
	}
	if _, ok := m["resnet18-cifar100-speedup"]; ok {
		t.Error("resnet18-cifar100 has no speedup claim")
	}
	if a := m["resnet18-cifar100-accuracy"]; len(a.Values) != 2 || a.Values[0] != 0.9 || a.Baseline[0] != 0.8 {
		t.Errorf("resnet18-cifar100-accuracy %+v", a)
	}
	if _, ok := m["mlp-speedup"]; ok || len(m) != 4 {
		t.Errorf("measurements %v: the MLP is a finding", m)
	}
	f, err := AllFindings([]*StudyResult{cmpOf("cnn", base, tract), cmpOf("mlp", base, tract)})
	if err != nil || len(f) != 1+3 {
		t.Errorf("%d findings (%v), want the claimed study's step time and the MLP's three", len(f), err)
	}
	var ns []notebook.Claim
	ns = append(ns, Checks([]*StudyResult{cmpOf("cnn", base, tract)})...)
	if len(ns) != 2 || !ns[0].Holds || !ns[1].Holds {
		t.Errorf("checks %+v", ns)
	}
}
