package claims

import (
	"fmt"
	"hash/fnv"
	"math"
	"strings"

	"github.com/gorepro/gorepro/lib/notebook"
	"github.com/gorepro/gorepro/lib/stats"
)

// Measurement is what a run measured for one claim: one value per unit
// (seed, query, problem), and for a comparison the paired baseline values.
type Measurement struct {
	// Values are the claim's values per unit; for a comparison, arm A's.
	Values []float64
	// Baseline are arm B's values on the same units (comparisons only).
	Baseline []float64
	// Note is shown beside the result, e.g. "onset censored at 4 000 epochs in 3 seeds".
	Note string
}

// Values is the measurement of a claim over units.
func Values(v ...float64) Measurement { return Measurement{Values: v} }

// Paired is the measurement of a comparison: a[i] and b[i] are the two arms
// on unit i; the claim is about a − b.
func Paired(a, b []float64) Measurement { return Measurement{Values: a, Baseline: b} }

// Measurements maps claim IDs to what was measured. A claim without a
// measurement is "not replicated" (not measured at this profile).
type Measurements map[string]Measurement

// Evaluate computes every claim's status at profile from the measurements
// and returns the claims as the RESULT line records them, with the recorded
// status beside the measured one. An unknown profile or a measurement for a
// claim the record does not have is an error: a claim cannot be added after
// the run.
func (r Record) Evaluate(profile string, m Measurements) ([]notebook.Claim, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if !r.hasProfile(profile) {
		return nil, fmt.Errorf("claims: profile %q is not in the record (%s)", profile, strings.Join(r.Profiles, ", "))
	}
	for id := range m {
		if _, ok := r.Claim(id); !ok {
			return nil, fmt.Errorf("claims: a measurement for %q, which is not a pre-registered claim of %s", id, r.Notebook)
		}
	}
	out := make([]notebook.Claim, 0, len(r.Claims))
	for _, c := range r.Claims {
		mm, ok := m[c.ID]
		out = append(out, r.evaluate(c, profile, mm, ok))
	}
	return out, nil
}

func (r Record) evaluate(c Claim, profile string, m Measurement, measured bool) notebook.Claim {
	cmp, _ := parseThreshold(c.Threshold) // checked by Validate
	expected, reason, _ := ParseExpected(c.Expected[profile])
	test, kind := c.test(), c.interval()
	out := notebook.Claim{
		ID: c.ID, Name: c.Quantity, Paper: c.Paper, Tolerance: cmp.String(),
		Expected: string(expected), Reason: reason, Unit: c.Unit, Protocol: c.Protocol,
		Test: r.describe(c), Detail: m.Note,
	}
	status := NotReplicated
	done := func() notebook.Claim {
		out.Status, out.Holds = string(status), status == Replicated
		return out
	}
	if !measured || len(m.Values) == 0 {
		out.Ours, out.Detail = nil, joinDetail("not measured at this profile", m.Note)
		return done()
	}
	out.N = len(m.Values)
	if c.Paired {
		cmpn := stats.Compare(m.Values, m.Baseline, stats.CompareOptions{Level: r.level(), Interval: kind, Rounds: r.rounds(), Seed: seedOf(c.ID)})
		out.Ours, out.N = cmpn.Diff, cmpn.N
		out.CI = interval(cmpn.Lo, cmpn.Hi)
		if !math.IsNaN(cmpn.P) {
			p := cmpn.P
			out.P = &p
		}
		out.Detail = joinDetail(joinDetail(m.Note, cmpn.Reason), fmt.Sprintf("A %.4g vs B %.4g; A > B on %d of %d", cmpn.MeanA, cmpn.MeanB, cmpn.Wins, cmpn.N))
		if decided(test, cmp, cmpn.Diff, cmpn.Lo, cmpn.Hi) {
			status = Replicated
		}
		return done()
	}
	iv := stats.MeanInterval(m.Values, r.level())
	out.CI = interval(iv.Lo, iv.Hi)
	out.Detail = joinDetail(m.Note, iv.Reason)
	if test != EveryUnit {
		out.Ours = iv.Mean
		if decided(test, cmp, iv.Mean, iv.Lo, iv.Hi) {
			status = Replicated
		}
		return done()
	}
	worst, all := m.Values[0], true
	for _, v := range m.Values {
		all = all && cmp.holds(v)
		if math.IsNaN(v) || (cmp.upward() && v < worst) || (!cmp.upward() && v > worst) {
			worst = v
		}
	}
	out.Ours = worst
	if all {
		status = Replicated
	}
	return done()
}

// decided applies a mean or interval test: the interval's bound on the
// threshold's side must satisfy the comparison (an interval that cannot be
// computed never does).
func decided(test Test, cmp comparison, mean, lo, hi float64) bool {
	if test == MeanOnly {
		return cmp.holds(mean)
	}
	if math.IsNaN(lo) || math.IsNaN(hi) {
		return false
	}
	if cmp.upward() {
		return cmp.holds(lo)
	}
	return cmp.holds(hi)
}

// test is the claim's test, MeanCI when unset.
func (c Claim) test() Test {
	if c.Test == "" {
		return MeanCI
	}
	return c.Test
}

// interval is the claim's interval kind, the t-interval when unset.
func (c Claim) interval() stats.IntervalKind {
	if c.Interval == "" {
		return stats.StudentT
	}
	return c.Interval
}

// describe says in words when the claim replicates.
func (r Record) describe(c Claim) string {
	cmp, _ := parseThreshold(c.Threshold) // checked by Validate
	return describeTest(c.test(), c.Paired, c.interval(), r.level(), c.Unit, cmp)
}

func describeTest(test Test, paired bool, kind stats.IntervalKind, level float64, unit string, cmp comparison) string {
	what := "the mean"
	if paired {
		what = "the mean paired difference (A − B)"
	}
	method := "t-interval"
	if paired && kind == stats.Bootstrap {
		method = "bootstrap interval"
	}
	switch test {
	case EveryUnit:
		return fmt.Sprintf("every %s %s", unit, cmp)
	case MeanOnly:
		return fmt.Sprintf("%s %s", what, cmp)
	}
	return fmt.Sprintf("%g%% %s of %s over %ss %s", level*100, method, what, unit, cmp)
}

func interval(lo, hi float64) []float64 {
	if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return nil
	}
	return []float64{lo, hi}
}

func joinDetail(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// seedOf makes each claim's resampling reproducible and independent of the others.
func seedOf(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()
}

// Preregister is the pre-registration cell's work: it checks the record
// (one line naming the cell and the claim on bad input, before any
// experiment runs), checks that profile is one of the record's, shows the
// claims with their recorded status at profile, and records in the kernel
// session that this notebook's claims were stated (notebook.Finish refuses
// pre-registered claims otherwise).
func Preregister(r Record, profile string) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if !r.hasProfile(profile) {
		return fmt.Errorf("%s: profile %q has no recorded statuses (the record's profiles: %s)", r.cellName(), profile, strings.Join(r.Profiles, ", "))
	}
	rows := make([][]string, 0, len(r.Claims))
	for _, c := range r.Claims {
		threshold := r.describe(c)
		if c.Derivation != "" {
			threshold += " (" + c.Derivation + ")"
		}
		rows = append(rows, []string{c.ID, c.Quantity, c.Paper, threshold, c.Expected[profile]})
	}
	notebook.Markdown(fmt.Sprintf("**%d pre-registered claims**, with the status recorded for the %s profile before anything runs:", len(r.Claims), profile))
	notebook.Table([]string{"claim", "quantity", "paper", "replicated when", "recorded status (" + profile + ")"}, rows)
	if notebook.InNotebook() {
		if err := notebook.Set(notebook.PreregisteredKey, r.Notebook); err != nil {
			return fmt.Errorf("%s: %w", r.cellName(), err)
		}
	}
	return nil
}

func (r Record) cellName() string {
	if r.Cell == "" {
		return "the claims cell"
	}
	return r.Cell
}

func (r Record) hasProfile(profile string) bool {
	for _, p := range r.Profiles {
		if p == profile {
			return true
		}
	}
	return false
}
