package experiment

import (
	"math"
	"strings"
	"testing"
)

// fakeRun is a run whose curve collapses (SC ≥ 1 %) at onset (never when
// onset < 0), with the given final test accuracy.
func fakeRun(seed uint64, epochs, onset int, test float64) *Run {
	r := &Run{Config: Config{Seed: seed, Epochs: epochs}}
	for e := 0; e <= epochs; e += epochs / 10 {
		p := Point{Epoch: e, TrainAcc: 1, TestAcc: test, NLMOutput: 0.5 + float64(e)/float64(2*epochs)}
		if onset >= 0 && e >= onset {
			p.Collapse = float64(e) / float64(epochs)
		}
		r.Curve = append(r.Curve, p)
	}
	return r
}

func TestMeasure(t *testing.T) {
	exps := []Experiment{
		{Label: "f32", Role: RoleSoftmax32, Cfg: Config{Epochs: 100}, Runs: []*Run{fakeRun(1, 100, 40, 0.01), fakeRun(2, 100, 30, 0.02)}},
		{Label: "f16", Role: RoleSoftmax16, Cfg: Config{Epochs: 100}, Runs: []*Run{fakeRun(1, 100, 10, 0.0), fakeRun(2, 100, 10, 0.0)}},
		{Label: "f64", Role: RoleSoftmax64, Cfg: Config{Epochs: 100}, Runs: []*Run{fakeRun(2, 100, -1, 0.5), fakeRun(1, 100, 70, 0.4)}},
		{Label: "⊥", Role: RoleOrthoGrad, Cfg: Config{Epochs: 100}, Runs: []*Run{fakeRun(1, 100, -1, 1), fakeRun(2, 100, -1, 0.98)}},
		{Label: "adamw", Role: RoleAdamW, Cfg: Config{Epochs: 100}, Runs: []*Run{fakeRun(1, 100, -1, 0.1), fakeRun(2, 100, -1, 0.2)}},
	}
	m, checks, findings := Measure(exps)
	for _, tc := range []struct {
		id       string
		a, b     []float64
		noteHas  string
		unpaired bool
	}{
		{id: "softmax32-overfits", a: []float64{0.01, 0.02}, unpaired: true},
		// At the end: the mean over the last tenth of the epochs (points 90 and 100).
		{id: "softmax32-collapses", a: []float64{0.95, 0.95}, unpaired: true},
		{id: "collapse-rises", a: []float64{0.95, 0.95}, b: []float64{0, 0}}, // from the first fitted point (epoch 0 here)
		{id: "nlm-alignment", a: []float64{1, 1}, unpaired: true},
		// Paired by seed: f64's runs are listed in the other order; seed 2 never collapses (censored at 100).
		{id: "float64-collapses-later", a: []float64{100, 70}, b: []float64{30, 40}, noteHas: "1 of 2 seeds"},
		{id: "float16-collapses-sooner", a: []float64{40, 30}, b: []float64{10, 10}},
		{id: "orthograd-generalises", a: []float64{1, 0.98}, unpaired: true},
		{id: "orthograd-beats-adamw", a: []float64{1, 0.98}, b: []float64{0.1, 0.2}},
	} {
		got, ok := m[tc.id]
		if !ok {
			t.Errorf("%s: not measured", tc.id)
			continue
		}
		if !equal(got.Values, tc.a) || (!tc.unpaired && !equal(got.Baseline, tc.b)) || (tc.unpaired && got.Baseline != nil) {
			t.Errorf("%s: values %v / %v, want %v / %v", tc.id, got.Values, got.Baseline, tc.a, tc.b)
		}
		if !strings.Contains(got.Note, tc.noteHas) {
			t.Errorf("%s: note %q, want %q", tc.id, got.Note, tc.noteHas)
		}
	}
	// A float16 run that never collapsed has no onset to subtract: NaN, so
	// the claim cannot replicate on it (its last epoch would overstate the gap).
	exps[1].Runs[1] = fakeRun(2, 100, -1, 0)
	m2, _, _ := Measure(exps)
	if b := m2["float16-collapses-sooner"].Baseline; len(b) != 2 || b[0] != 10 || !math.IsNaN(b[1]) {
		t.Errorf("float16 baseline with a censored seed: %v, want [10 NaN]", b)
	}
	if !strings.Contains(m2["float16-collapses-sooner"].Note, "f16: no collapse within 100 epochs in 1 of 2 seeds") {
		t.Errorf("note %q", m2["float16-collapses-sooner"].Note)
	}
	for _, id := range []string{"stablemax-groks", "stablemax-no-collapse"} {
		if _, ok := m[id]; ok {
			t.Errorf("%s measured without a StableMax experiment", id)
		}
	}
	for _, c := range checks {
		if !c.Holds {
			t.Errorf("check %q fails on runs that fit", c.Name)
		}
	}
	if len(findings) == 0 {
		t.Error("no findings for the float64 and AdamW controls")
	}
	// A NaN accuracy fails the finiteness check.
	exps[0].Runs[0].Curve[3].TestAcc = math.NaN()
	_, checks, _ = Measure(exps)
	if last := checks[len(checks)-1]; last.Holds {
		t.Errorf("a NaN in a curve passes %q", last.Name)
	}
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !(math.Abs(a[i]-b[i]) <= 1e-12) {
			return false
		}
	}
	return true
}

func TestGrid(t *testing.T) {
	for _, profile := range []string{"smoke", "quick", "full"} {
		exps, err := Grid(profile)
		if err != nil || len(exps) == 0 {
			t.Fatalf("%s: %v", profile, err)
		}
		for _, e := range exps {
			if _, err := e.Cfg.Validate(); err != nil {
				t.Errorf("%s %s: %v", profile, e.Label, err)
			}
			if e.Role == RoleStableMax && e.Cfg.Beta2 != 0.999 {
				t.Errorf("%s: StableMax at β₂ = %g, the paper's is 0.999", profile, e.Cfg.Beta2)
			}
		}
	}
	if _, err := Grid("fast"); err == nil || !strings.Contains(err.Error(), `unknown profile "fast"`) {
		t.Errorf("unknown profile: %v", err)
	}
}
