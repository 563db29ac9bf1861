package experiment

import (
	"math"
	"strings"
	"testing"

	"github.com/gorepro/gorepro/lib/colbert"
	"github.com/gorepro/gorepro/lib/notebook"
)

// syntheticResult is a study of linear, the named variant (+gain points on
// every query) and ffn×2 gelu (−gain points), on two seeds of n queries,
// with two BEIR sets after the Go doc evaluation set.
func syntheticResult(n int, gain float64) *MiniLMResult {
	res := &MiniLMResult{}
	heads := []struct {
		name  string
		delta float64
	}{{linearName, 0}, {Named.Name(), gain / 100}, {colbert.Head{Kind: colbert.FFN, Depth: 1, Upscale: 2, Activation: "gelu"}.Name(), -gain / 100}}
	for s := uint64(1); s <= 2; s++ {
		res.Raw = append(res.Raw, &Run{Head: "raw", Config: Config{Seed: s}, Dev: Metrics{NDCG10: 0.3}, Metrics: Metrics{NDCG10: 0.3}})
		for _, h := range heads {
			var ids []string
			var per []float64
			for q := range n {
				ids = append(ids, string(rune('a'+q%26))+strings.Repeat("x", q/26))
				per = append(per, 0.4+0.2*float64(q%5)/4+h.delta)
			}
			m := Metrics{NDCG10: meanOf(per), Queries: n, QueryIDs: ids, PerQuery: per}
			r := &Run{Head: h.name, Config: Config{Seed: s}, Metrics: m, Dev: Metrics{NDCG10: 0.5 + h.delta}, BestEpoch: 2,
				Curve: []EpochPoint{{Epoch: 1, Loss: 1, DevNDCG: 0.45}, {Epoch: 2, Loss: 0.5, DevNDCG: 0.5 + h.delta}},
				Evals: []Metrics{m, {NDCG10: 0.3 + h.delta}, {NDCG10: 0.5 + 2*h.delta}}, EvalNames: []string{"godoc", "scifact", "nfcorpus"}}
			res.Runs = append(res.Runs, r)
		}
	}
	res.Tuned = []notebook.Tuned{{Arm: linearName, Grid: []float64{1e-3, 3e-3}, Scores: []float64{0.5, 0.48}, Chosen: 1e-3}}
	res.Frozen = []*Run{{Head: linearName, Metrics: Metrics{NDCG10: 0.45}}, {Head: Named.Name(), Metrics: Metrics{NDCG10: 0.47}}}
	return res
}

func TestMiniLMMeasurementsAndFindings(t *testing.T) {
	res := syntheticResult(30, 3)
	m, err := MiniLMMeasurements(res)
	if err != nil {
		t.Fatal(err)
	}
	g := m["named-variant-gain"]
	if len(g.Values) != 60 || len(g.Baseline) != 60 || math.Abs(g.Values[0]-g.Baseline[0]-3) > 1e-9 {
		t.Errorf("named-variant-gain: %d values, first difference %g, want 60 units of +3 points", len(g.Values), g.Values[0]-g.Baseline[0])
	}
	b := m["named-variant-gain-beir"]
	if len(b.Values) != 2 || math.Abs(b.Values[0]-b.Baseline[0]-3) > 1e-9 || math.Abs(b.Values[1]-b.Baseline[1]-6) > 1e-9 || !strings.Contains(b.Note, "scifact, nfcorpus") {
		t.Errorf("named-variant-gain-beir: %+v", b)
	}
	ps, err := PairedAgainst(res.Runs, linearName, 0.95, 2000)
	if err != nil {
		t.Fatal(err)
	}
	f := MiniLMFindings(res, ps, 0.95, 2000)
	byPrefix := func(prefix string) *notebook.Claim {
		for i := range f {
			if strings.HasPrefix(f[i].Name, prefix) {
				return &f[i]
			}
		}
		t.Fatalf("no finding %q… in %v", prefix, f)
		return nil
	}
	if c := byPrefix("ffn×2 gelu minus linear"); c.Holds || math.Abs(c.Ours.(float64)+3) > 1e-9 {
		t.Errorf("a variant 3 points below linear: %+v", c)
	}
	if c := byPrefix("variants whose paired interval"); c.Ours != 1 || c.Holds {
		t.Errorf("beating count %+v, want 1 of 2, not many", c)
	}
	if c := byPrefix("ablation, the residual"); !c.Holds || math.Abs(c.Ours.(float64)-6) > 1e-9 {
		t.Errorf("residual ablation %+v, want +6 holding", c)
	}
	if c := byPrefix("frozen encoder"); !c.Holds || math.Abs(c.Ours.(float64)-2) > 1e-9 {
		t.Errorf("frozen finding %+v", c)
	}
	for _, c := range f {
		if strings.HasPrefix(c.Name, Named.Name()+" minus linear") {
			t.Errorf("the named variant is the claim, not a finding: %+v", c)
		}
	}
	checks := MiniLMChecks(res, true)
	if len(checks) != 2 || !checks[0].Holds || !checks[1].Holds {
		t.Errorf("checks %+v", checks)
	}
	res.Raw[1].Dev.NDCG10 = 0.9 // linear below the zero-shot model on seed 2
	if c := MiniLMLearning(res); c.Holds {
		t.Errorf("learning check held with linear below zero-shot: %+v", c)
	}
	if len(MiniLMChecks(res, false)) != 1 {
		t.Error("the learning check is a check at smoke")
	}
}

func TestMiniLMTables(t *testing.T) {
	res := syntheticResult(10, 2)
	h, rows := MiniLMTable(res, 0.95)
	if len(rows) != 1+3+2 || len(rows[1]) != len(h) || rows[1][1] != "0.001" || !strings.Contains(rows[2][4], "[") {
		t.Errorf("table %v\n%v", h, rows)
	}
	h, rows = TuningTable(res.Tuned)
	if len(h) != 4 || rows[0][3] != "0.001" {
		t.Errorf("tuning table %v %v", h, rows)
	}
	h, rows = BEIRTable(res)
	if len(h) != 4 || len(rows) != 3 || rows[1][3] != "43.00" {
		t.Errorf("BEIR table %v %v", h, rows)
	}
	dev, loss := CurvesFigures(res, 1)
	if len(dev.Series) != 4 || len(loss.Series) != 3 {
		t.Errorf("curves: %d dev, %d loss series", len(dev.Series), len(loss.Series))
	}
	if _, _, err := dev.Render(); err != nil {
		t.Error(err)
	}
}
