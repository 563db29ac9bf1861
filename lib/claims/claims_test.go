package claims

import (
	"math"
	"strings"
	"testing"

	"github.com/gorepro/gorepro/lib/notebook"
	"github.com/gorepro/gorepro/lib/stats"
)

func record(cs ...Claim) Record {
	return Record{Notebook: "nb", Cell: "claims cell", Profiles: []string{"quick", "full"}, Claims: cs}
}

func good() Claim {
	return Claim{ID: "acc", Quantity: "test accuracy", Paper: "1.0 (Fig. 1)", Threshold: ">= 0.9", Unit: "seed",
		Test: EveryUnit, Expected: map[string]string{"quick": "replicated", "full": "replicated"}}
}

func TestValidate(t *testing.T) {
	with := func(f func(*Claim)) Record {
		c := good()
		c.Expected = map[string]string{"quick": "replicated", "full": "replicated"}
		f(&c)
		return record(c)
	}
	for _, tc := range []struct {
		name string
		r    Record
		want string // "" = valid
	}{
		{"valid", record(good()), ""},
		{"not replicated with reason", with(func(c *Claim) { c.Expected["quick"] = "not replicated: 4 000 epochs are too few at p = 31" }), ""},
		{"unicode operator", with(func(c *Claim) { c.Threshold = "≤ 0.2" }), ""},
		{"no paper number", with(func(c *Claim) { c.Paper = " " }), `claims cell: claim "acc": no paper's number`},
		{"no threshold", with(func(c *Claim) { c.Threshold = "" }), `claims cell: claim "acc": no threshold`},
		{"threshold without operator", with(func(c *Claim) { c.Threshold = "0.9" }), `claim "acc": threshold "0.9": want an operator`},
		{"NaN threshold", with(func(c *Claim) { c.Threshold = ">= NaN" }), "not a finite number"},
		{"status neither value", with(func(c *Claim) { c.Expected["quick"] = "holds" }), `claim "acc": profile quick: status "holds": want "replicated" or "not replicated: <reason>"`},
		{"not replicated without reason", with(func(c *Claim) { c.Expected["quick"] = "not replicated" }), "needs a one-line reason"},
		{"unknown profile", with(func(c *Claim) { c.Expected["gpu"] = "replicated" }), `claim "acc": status for unknown profile "gpu"`},
		{"missing profile", with(func(c *Claim) { delete(c.Expected, "full") }), `claim "acc": no recorded status for profile "full"`},
		{"unknown test", with(func(c *Claim) { c.Test = "median" }), `unknown test "median"`},
		{"paired every-unit", with(func(c *Claim) { c.Paired = true }), "a comparison is decided on its paired difference"},
		{"no unit", with(func(c *Claim) { c.Unit = "" }), "no unit"},
		{"interval on a one-sample claim", with(func(c *Claim) { c.Test, c.Interval = MeanCI, stats.Bootstrap }), "an interval kind is for comparisons"},
		{"bad id", with(func(c *Claim) { c.ID = "a b" }), "the ID must be"},
		{"duplicate id", record(good(), good()), "used twice"},
		{"no claims", record(), "no claims"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	claim := func(id, threshold string, test Test, paired bool) Claim {
		return Claim{ID: id, Quantity: id, Paper: "p", Threshold: threshold, Unit: "seed", Test: test, Paired: paired,
			Expected: map[string]string{"quick": "replicated", "full": "replicated"}}
	}
	r := record(
		claim("every-ok", ">= 0.9", EveryUnit, false),
		claim("every-one-fails", ">= 0.9", EveryUnit, false),
		claim("every-nan", "<= 0.2", EveryUnit, false),
		claim("ci-above", "> 0.5", MeanCI, false),
		claim("ci-straddles", "> 0.5", MeanCI, false),
		claim("paired-ci", "> 0", MeanCI, true),
		claim("paired-noisy", "> 0", MeanCI, true),
		claim("paired-mean", "> 0", MeanOnly, true),
		claim("below", "< 100", MeanCI, false),
		claim("unmeasured", ">= 1", EveryUnit, false),
	)
	got, err := r.Evaluate("quick", Measurements{
		"every-ok":        Values(0.95, 0.99, 1),
		"every-one-fails": Values(0.95, 0.85, 1),
		"every-nan":       Values(0.1, math.NaN()),
		"ci-above":        Values(0.9, 0.91, 0.92, 0.93),
		"ci-straddles":    Values(0.2, 0.9, 0.95),
		"paired-ci":       Paired([]float64{1, 1.1, 1.2, 1.3, 1.4}, []float64{0, 0.1, 0.15, 0.3, 0.35}),
		"paired-noisy":    Paired([]float64{1, 0, 1, 0, 1}, []float64{0, 1, 0, 1, 0.5}),
		"paired-mean":     Paired([]float64{1, 0, 1, 0, 1}, []float64{0, 1, 0, 1, 0.5}),
		"below":           Values(10, 20, 30),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		status Status
		ours   float64
	}{
		"every-ok": {Replicated, 0.95}, "every-one-fails": {NotReplicated, 0.85}, "every-nan": {NotReplicated, math.NaN()},
		"ci-above": {Replicated, 0.915}, "ci-straddles": {NotReplicated, 0.6833333333333332},
		"paired-ci": {Replicated, 1.02}, "paired-noisy": {NotReplicated, 0.1}, "paired-mean": {Replicated, 0.1},
		"below": {Replicated, 20},
	}
	for _, c := range got {
		if c.ID == "unmeasured" {
			if c.Status != string(NotReplicated) || c.Ours != nil || !strings.Contains(c.Detail, "not measured") {
				t.Errorf("unmeasured: %+v, want not replicated, no value, a note", c)
			}
			continue
		}
		w := want[c.ID]
		if c.Status != string(w.status) || c.Holds != (w.status == Replicated) {
			t.Errorf("%s: status %q (holds %v), want %q", c.ID, c.Status, c.Holds, w.status)
		}
		ours, _ := c.Ours.(float64)
		if !(math.IsNaN(w.ours) && math.IsNaN(ours)) && !(math.Abs(ours-w.ours) <= 1e-12) {
			t.Errorf("%s: ours %v, want %v", c.ID, c.Ours, w.ours)
		}
		if c.Expected != string(Replicated) || c.N == 0 {
			t.Errorf("%s: expected %q, n %d", c.ID, c.Expected, c.N)
		}
	}
	byID := map[string]notebook.Claim{}
	for _, c := range got {
		byID[c.ID] = c
	}
	// The interval and p come from lib/stats: the paired claim's are the
	// t-interval of the differences and the exact permutation p (2⁵ = 32
	// sign flips ≤ 10 000 rounds).
	pc := byID["paired-ci"]
	d := []float64{1, 1, 1.05, 1, 1.05}
	_, lo, hi := stats.MeanCI(d, 0.95)
	if len(pc.CI) != 2 || !(math.Abs(pc.CI[0]-lo) <= 1e-12) || !(math.Abs(pc.CI[1]-hi) <= 1e-12) {
		t.Errorf("paired-ci interval %v, want [%g, %g]", pc.CI, lo, hi)
	}
	if pc.P == nil || !(math.Abs(*pc.P-2.0/32) <= 1e-12) {
		t.Errorf("paired-ci p = %s, want 2/32 (only the all-positive and all-negative sign vectors are as extreme)", notebook.FormatP(pc.P))
	}
	if byID["every-ok"].P != nil {
		t.Errorf("a one-sample claim has no p-value")
	}
	if !strings.Contains(byID["ci-above"].Test, "95% t-interval of the mean over seeds > 0.5") {
		t.Errorf("test description %q", byID["ci-above"].Test)
	}
}

func TestEvaluateRefusesWhatWasNotRegistered(t *testing.T) {
	r := record(good())
	if _, err := r.Evaluate("gpu", nil); err == nil || !strings.Contains(err.Error(), `profile "gpu" is not in the record`) {
		t.Errorf("unknown profile: %v", err)
	}
	if _, err := r.Evaluate("quick", Measurements{"new-claim": Values(1)}); err == nil || !strings.Contains(err.Error(), `"new-claim", which is not a pre-registered claim`) {
		t.Errorf("claim added after the run: %v", err)
	}
}

// TestStatusDiffersFailsNamingTheClaim: a recorded status flipped either
// way makes the result fail with one line naming the claim, the recorded and
// the measured status; a "not replicated" recorded and measured passes.
func TestStatusDiffersFailsNamingTheClaim(t *testing.T) {
	for _, tc := range []struct {
		name, recorded string
		values         []float64
		wantFail       string
	}{
		{"recorded replicated, measured not", "replicated", []float64{0.5, 0.6}, `claim "acc": recorded "replicated", measured "not replicated"`},
		{"recorded not replicated, measured replicated", "not replicated: too small here", []float64{0.95, 0.99}, `claim "acc": recorded "not replicated", measured "replicated"`},
		{"recorded not replicated, measured not replicated", "not replicated: too small here", []float64{0.5, 0.6}, ""},
		{"recorded replicated, measured replicated", "replicated", []float64{0.95, 0.99}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			c.Expected = map[string]string{"quick": tc.recorded, "full": "replicated"}
			cs, err := record(c).Evaluate("quick", Measurements{"acc": Values(tc.values...)})
			if err != nil {
				t.Fatal(err)
			}
			res := notebook.Result{Notebook: "nb", Claims: cs}
			failed := res.FailedClaims()
			switch {
			case tc.wantFail == "" && len(failed) > 0:
				t.Errorf("failed: %v", failed)
			case tc.wantFail != "" && (len(failed) != 1 || !strings.Contains(failed[0], tc.wantFail)):
				t.Errorf("failed %v, want one line containing %q", failed, tc.wantFail)
			}
		})
	}
}

func FuzzParseThreshold(f *testing.F) {
	for _, s := range []string{">= 0.9", "< 1e-3", "≤ 2", "", ">=", "> NaN", "0.5", "<= -Inf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseThreshold(s)
		if err != nil {
			return
		}
		if math.IsNaN(c.value) || math.IsInf(c.value, 0) {
			t.Fatalf("%q parsed to a non-finite threshold", s)
		}
		if c.holds(math.NaN()) {
			t.Fatalf("%q: NaN satisfies the threshold", s)
		}
	})
}

func FuzzParseExpected(f *testing.F) {
	for _, s := range []string{"replicated", "not replicated: x", "not replicated", "not replicated:", "Replicated", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, reason, err := ParseExpected(s)
		if err != nil {
			return
		}
		if st != Replicated && st != NotReplicated {
			t.Fatalf("%q parsed to status %q", s, st)
		}
		if st == NotReplicated && strings.TrimSpace(reason) == "" {
			t.Fatalf("%q: not replicated without a reason", s)
		}
	})
}
