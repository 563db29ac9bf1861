// Package claims is how a gorepro notebook pre-registers what it tests.
//
// A reproduction is only as good as the order in which it was written: the
// claims first — each a quantity, the paper's number for it, the threshold
// the paper states (or one derived from the paper, the derivation written
// beside it) and the statistical test over the unit the paper averages over
// (seeds, queries, problems) — and only then the experiments. A Record holds
// those claims together with the status each is expected to have at each
// profile: "replicated", or "not replicated: <why, at this scale>". The
// notebook states its Record in a cell before any experiment runs
// (Preregister checks it and shows it); after the runs, Evaluate computes
// every claim's status from the measurements, and notebook.Finish fails the
// notebook when a measured status differs from the recorded one, in either
// direction. A failed replication honestly recorded is therefore a green
// notebook, while a regression or an unexpected success fails CI, and
// changing the record is a visible diff.
//
// The tests:
//   - EveryUnit: every unit's value lies beyond the threshold (the worst one
//     is reported as ours).
//   - MeanCI: the confidence interval of the mean (of the values, or of the
//     paired differences for a comparison) lies entirely beyond the
//     threshold: "A beats B by ≥ δ" holds only when the paired difference's
//     interval lies above δ.
//   - MeanOnly: the mean lies beyond the threshold (for a single full-scale
//     run where no interval exists; the interval is still reported).
//
// Sanity checks (the pipeline learns, numbers are finite) are not claims:
// they are notebook.Check values that must hold.
package claims

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gorepro/gorepro/lib/stats"
)

// Status is a claim's outcome at one profile.
type Status string

// The two statuses a claim can have.
const (
	Replicated    Status = "replicated"
	NotReplicated Status = "not replicated"
)

// Test is how a claim's status is decided from its per-unit values.
type Test string

// The tests a claim can use (see the package documentation).
const (
	EveryUnit Test = "every"
	MeanCI    Test = "ci"
	MeanOnly  Test = "mean"
)

// Claim is one pre-registered claim of the paper.
type Claim struct {
	// ID names the claim in the record, the measurements and the RESULT line
	// (letters, digits, '-', '_', '.').
	ID string
	// Quantity says what is measured, e.g. "test accuracy after 300 epochs, ⊥Grad, p = 113".
	Quantity string
	// Paper is the paper's number or statement for the quantity, quoted
	// with its source, e.g. "1.0 within 300 epochs (Fig. 1)".
	Paper string
	// Threshold is the comparison that replicates the claim: an operator
	// (>=, >, <=, <) and a number, e.g. ">= 0.95". For a comparison
	// (Paired), it applies to the difference A − B.
	Threshold string
	// Derivation says where the threshold comes from when the paper does not
	// state it (required then; empty means the paper states it).
	Derivation string
	// Unit is what the values are averaged over: "seed", "query", "problem".
	Unit string
	// Test decides the status (EveryUnit, MeanCI or MeanOnly); MeanCI when empty.
	Test Test
	// Paired marks a comparison "A against B": its measurement is two
	// paired samples and the threshold applies to their difference.
	Paired bool
	// Interval is how a comparison's interval is computed: stats.StudentT
	// (few units, e.g. seeds; the default) or stats.Bootstrap (many units,
	// e.g. queries).
	Interval stats.IntervalKind
	// Protocol names the tuning protocol the claim's arms ran under, e.g.
	// "paper (method in the baseline's tuned recipe)" or "each arm at its own
	// best"; empty where nothing was tuned.
	Protocol string
	// Expected is the recorded status per profile: "replicated" or
	// "not replicated: <one-line reason at this scale>". Every profile of
	// the record must have one.
	Expected map[string]string
}

// Record is a notebook's pre-registered claims.
type Record struct {
	// Notebook is the notebook's name, as in its RESULT line.
	Notebook string
	// Cell names the cell that states the record, for error messages
	// ("the claims cell" when empty).
	Cell string
	// Profiles are the notebook's profiles; every claim records a status for each.
	Profiles []string
	// Level is the confidence level of every interval (0.95 when zero).
	Level float64
	// Rounds is the number of permutation and bootstrap rounds (10 000 when zero).
	Rounds int
	// Claims are the claims, in the order the notebook reports them.
	Claims []Claim
}

// comparison is a parsed Threshold.
type comparison struct {
	op    string
	value float64
}

func parseThreshold(s string) (comparison, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return comparison{}, errors.New("no threshold (want an operator and a number, e.g. \">= 0.95\")")
	}
	for _, op := range []string{">=", "<=", ">", "<", "≥", "≤"} {
		if strings.HasPrefix(t, op) {
			v, err := strconv.ParseFloat(strings.TrimSpace(t[len(op):]), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return comparison{}, fmt.Errorf("threshold %q: %q is not a finite number", s, strings.TrimSpace(t[len(op):]))
			}
			switch op {
			case "≥":
				op = ">="
			case "≤":
				op = "<="
			}
			return comparison{op: op, value: v}, nil
		}
	}
	return comparison{}, fmt.Errorf("threshold %q: want an operator (>=, >, <=, <) and a number, e.g. \">= 0.95\"", s)
}

// holds reports whether x satisfies the comparison; NaN never does.
func (c comparison) holds(x float64) bool {
	switch c.op {
	case ">=":
		return x >= c.value
	case ">":
		return x > c.value
	case "<=":
		return x <= c.value
	case "<":
		return x < c.value
	}
	return false
}

// upward is whether larger values satisfy the comparison.
func (c comparison) upward() bool { return c.op == ">=" || c.op == ">" }

func (c comparison) String() string { return c.op + " " + strconv.FormatFloat(c.value, 'g', -1, 64) }

// ParseExpected reads a recorded status: "replicated", or "not replicated:
// reason" (the reason is required).
func ParseExpected(s string) (Status, string, error) {
	t := strings.TrimSpace(s)
	switch {
	case t == string(Replicated):
		return Replicated, "", nil
	case strings.HasPrefix(t, string(NotReplicated)):
		rest := strings.TrimSpace(strings.TrimPrefix(t, string(NotReplicated)))
		if !strings.HasPrefix(rest, ":") || strings.TrimSpace(rest[1:]) == "" {
			return "", "", fmt.Errorf("status %q: a claim not replicated needs a one-line reason: \"not replicated: <why, at this scale>\"", s)
		}
		reason := strings.TrimSpace(rest[1:])
		if strings.Contains(reason, "\n") {
			return "", "", fmt.Errorf("status %q: the reason must be one line", s)
		}
		return NotReplicated, reason, nil
	}
	return "", "", fmt.Errorf("status %q: want \"replicated\" or \"not replicated: <reason>\"", s)
}

func validID(id string) bool {
	if id == "" {
		return false
	}
	for _, r := range id {
		if !(r == '-' || r == '_' || r == '.' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
			return false
		}
	}
	return true
}

// Validate checks the record: every claim has an ID, a quantity, the paper's
// number, a threshold that parses, a known test and unit, and one valid
// status for each of the record's profiles and no other. The error is one
// line naming the cell and the claim.
func (r Record) Validate() error {
	cell := r.Cell
	if cell == "" {
		cell = "the claims cell"
	}
	fail := func(id string, format string, args ...any) error {
		if id == "" {
			return fmt.Errorf("%s: %s", cell, fmt.Sprintf(format, args...))
		}
		return fmt.Errorf("%s: claim %q: %s", cell, id, fmt.Sprintf(format, args...))
	}
	if r.Notebook == "" {
		return fail("", "the record names no notebook")
	}
	if len(r.Profiles) == 0 {
		return fail("", "the record lists no profiles")
	}
	if len(r.Claims) == 0 {
		return fail("", "the record has no claims")
	}
	if r.Level != 0 && !(r.Level > 0 && r.Level < 1) {
		return fail("", "confidence level %g must be in (0, 1)", r.Level)
	}
	if r.Rounds < 0 {
		return fail("", "rounds %d must be positive", r.Rounds)
	}
	profiles := map[string]bool{}
	for _, p := range r.Profiles {
		if p == "" || profiles[p] {
			return fail("", "profile %q is empty or listed twice", p)
		}
		profiles[p] = true
	}
	seen := map[string]bool{}
	for i, c := range r.Claims {
		id := c.ID
		if !validID(id) {
			return fail(fmt.Sprintf("#%d %s", i+1, id), "the ID must be letters, digits, '-', '_' or '.'")
		}
		if seen[id] {
			return fail(id, "the ID is used twice")
		}
		seen[id] = true
		if strings.TrimSpace(c.Quantity) == "" {
			return fail(id, "no quantity (what is measured)")
		}
		if strings.TrimSpace(c.Paper) == "" {
			return fail(id, "no paper's number (quote the paper's value and where it is stated)")
		}
		if _, err := parseThreshold(c.Threshold); err != nil {
			return fail(id, "%v", err)
		}
		switch c.Test {
		case "", EveryUnit, MeanCI, MeanOnly:
		default:
			return fail(id, "unknown test %q (every, ci, mean)", c.Test)
		}
		if c.Paired && c.Test == EveryUnit {
			return fail(id, "a comparison is decided on its paired difference's interval or mean, not unit by unit")
		}
		switch c.Interval {
		case "", stats.StudentT, stats.Bootstrap:
		default:
			return fail(id, "unknown interval %q (t, bootstrap)", c.Interval)
		}
		if c.Interval != "" && !c.Paired {
			return fail(id, "an interval kind is for comparisons (Paired); a one-sample claim uses the t-interval")
		}
		if strings.TrimSpace(c.Unit) == "" {
			return fail(id, "no unit (what the values are averaged over: seed, query, problem)")
		}
		for p, s := range c.Expected {
			if !profiles[p] {
				return fail(id, "status for unknown profile %q (profiles: %s)", p, strings.Join(r.Profiles, ", "))
			}
			if _, _, err := ParseExpected(s); err != nil {
				return fail(id, "profile %s: %v", p, err)
			}
		}
		for _, p := range r.Profiles {
			if _, ok := c.Expected[p]; !ok {
				return fail(id, "no recorded status for profile %q", p)
			}
		}
	}
	return nil
}

// Claim returns the claim with the given ID.
func (r Record) Claim(id string) (Claim, bool) {
	for _, c := range r.Claims {
		if c.ID == id {
			return c, true
		}
	}
	return Claim{}, false
}

func (r Record) level() float64 {
	if r.Level == 0 {
		return 0.95
	}
	return r.Level
}

func (r Record) rounds() int {
	if r.Rounds == 0 {
		return 10000
	}
	return r.Rounds
}
