package notebook

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"strings"

	"github.com/janpfeifer/gonb/gonbui"

	"github.com/gorepro/gorepro/lib/backends"
)

// Claim is one number compared with the paper's, as the RESULT line
// records it. Three kinds share it:
//   - pre-registered claims (Result.Claims, Expected set, written by
//     lib/claims): Status is what this run measured, Expected what the
//     notebook recorded before running; the notebook fails when they differ;
//   - sanity checks (Result.Checks): Holds must be true;
//   - findings (Result.Findings): reported only.
//
// A claim in Result.Claims without Expected is a legacy assertion from a
// notebook that does not pre-register its claims yet: Holds must be true.
type Claim struct {
	// ID is a pre-registered claim's name in its record.
	ID string `json:"id,omitempty"`
	// Name says what is claimed, e.g. "StableMax test accuracy after 10k epochs".
	Name string `json:"name"`
	// Paper is the paper's number (or text, e.g. "> 0.95").
	Paper any `json:"paper"`
	// Ours is the number this run measured.
	Ours any `json:"ours"`
	// Tolerance is the threshold that replicates the claim (e.g. ">= 0.95"),
	// or how far from the paper still holds.
	Tolerance any `json:"tolerance,omitempty"`
	// Holds is whether the claim held in this run (a pre-registered claim:
	// whether it replicated).
	Holds bool `json:"holds"`
	// Status is what this run measured: "replicated" or "not replicated".
	Status string `json:"status,omitempty"`
	// Expected is the status the notebook recorded for this profile before
	// running; Reason is the record's reason for "not replicated".
	Expected string `json:"expected,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// CI is the confidence interval [lo, hi] of Ours (nil when there is
	// none, e.g. one unit), P the p-value of a paired comparison (nil when
	// there is none) and N the number of units (seeds, queries, problems).
	CI []float64 `json:"ci"`
	P  *float64  `json:"p"`
	N  int       `json:"n"`
	// Unit is what N counts; Test says how the status was decided, e.g.
	// "every seed >= 0.95" or "95% t-interval of the mean difference > 0".
	Unit string `json:"unit,omitempty"`
	Test string `json:"test,omitempty"`
	// Protocol names the tuning protocol the compared arms ran under.
	Protocol string `json:"protocol,omitempty"`
	// Detail explains a missing or non-finite measurement.
	Detail string `json:"detail,omitempty"`
}

// Preregistered is whether the claim comes from a pre-registered record.
func (c Claim) Preregistered() bool { return c.Expected != "" }

// Check is a sanity check for Result.Checks: it must hold (the pipeline
// learns, numbers are finite); unlike a claim it says nothing about the paper.
func Check(name string, ours any, holds bool) Claim {
	return Claim{Name: name, Ours: ours, Holds: holds}
}

// MarshalJSON writes a diverged arm's non-finite scores as "NaN", "+Inf"
// or "-Inf", which JSON numbers cannot hold.
func (t Tuned) MarshalJSON() ([]byte, error) {
	type plain Tuned
	scores := make([]any, len(t.Scores))
	for i, v := range t.Scores {
		scores[i] = JSONValue(v)
	}
	return json.Marshal(struct {
		plain
		Scores []any `json:"scores"`
		Chosen any   `json:"chosen"`
	}{plain(t), scores, JSONValue(t.Chosen)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (t *Tuned) UnmarshalJSON(data []byte) error {
	type plain Tuned
	var raw struct {
		plain
		Scores []any `json:"scores"`
		Chosen any   `json:"chosen"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	*t = Tuned(raw.plain)
	t.Scores = make([]float64, len(raw.Scores))
	for i, v := range raw.Scores {
		f, err := fromJSONValue(v)
		if err != nil {
			return fmt.Errorf("tuning score %d: %w", i, err)
		}
		t.Scores[i] = f
	}
	f, err := fromJSONValue(raw.Chosen)
	if err != nil {
		return fmt.Errorf("tuning choice: %w", err)
	}
	t.Chosen = f
	return nil
}

// fromJSONValue reads a number JSONValue wrote: a JSON number or "NaN", "+Inf", "-Inf".
func fromJSONValue(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case string:
		switch x {
		case "NaN":
			return math.NaN(), nil
		case "+Inf":
			return math.Inf(1), nil
		case "-Inf":
			return math.Inf(-1), nil
		}
	}
	return 0, fmt.Errorf("%v is not a number", v)
}

// Tuned records one arm's tuning: the values tried for a parameter, the
// validation score of each (never the test set's) and the value chosen.
type Tuned struct {
	Arm    string    `json:"arm"`
	Param  string    `json:"param"`
	Grid   []float64 `json:"grid"`
	Scores []float64 `json:"scores"`
	Chosen float64   `json:"chosen"`
	// Split names the data the scores came from, e.g. "validation (10 % of train)".
	Split string `json:"split"`
}

// Within is a claim that ours is within tol of the paper's number.
func Within(name string, paper, ours, tol float64) Claim {
	return Claim{Name: name, Paper: paper, Ours: ours, Tolerance: tol, Holds: math.Abs(ours-paper) <= tol && !math.IsNaN(ours)}
}

// AtLeast is a claim that ours ≥ min; paper is the paper's number for that
// quantity. A NaN never holds.
func AtLeast(name string, paper any, ours, min float64) Claim {
	return Claim{Name: name, Paper: paper, Ours: ours, Tolerance: fmt.Sprintf(">= %g", min), Holds: ours >= min}
}

// AtMost is a claim that ours ≤ max; paper is the paper's number for that quantity.
func AtMost(name string, paper any, ours, max float64) Claim {
	return Claim{Name: name, Paper: paper, Ours: ours, Tolerance: fmt.Sprintf("<= %g", max), Holds: ours <= max && !math.IsNaN(ours)}
}

// Result is what a notebook reports in its last line.
type Result struct {
	Notebook string `json:"notebook"`
	Backend  string `json:"backend"`
	// Precision is what float32 matrix products ran at: "float32" (full) or
	// "tf32"; Finish fills it from Backend when empty.
	Precision string  `json:"precision,omitempty"`
	Profile   string  `json:"profile,omitempty"`
	Seconds   float64 `json:"seconds"`
	// Claims are the notebook's pre-registered claims (see Claim).
	Claims []Claim `json:"claims"`
	// Checks are sanity checks that must hold.
	Checks   []Claim `json:"checks,omitempty"`
	Findings []Claim `json:"findings,omitempty"`
	// Tuning records how each arm's hyperparameters were chosen.
	Tuning []Tuned `json:"tuning,omitempty"`
	// FromCache is true when some of the numbers were read from checkpoints
	// of earlier runs instead of computed by this one.
	FromCache bool `json:"from_cache,omitempty"`
}

// ResultPrefix starts the machine-readable RESULT line.
const ResultPrefix = "RESULT "

// Finish ends a notebook: it shows the pre-registered claims (measured
// status beside the recorded one), the sanity checks and the findings beside
// the paper's numbers, prints `RESULT {json}` as the last line, and stops the
// cell with an error (so papermill and `gorepro run` fail) when a claim's
// measured status differs from its recorded one — one line per claim naming
// it, the recorded and the measured status —, when a sanity check fails, or
// when a legacy (not pre-registered) claim does not hold. Inside a notebook,
// pre-registered claims must have been stated with claims.Preregister in an
// earlier cell. Seconds is filled from Start when zero.
func Finish(r Result) {
	if r.Seconds == 0 {
		r.Seconds = math.Round(Elapsed().Seconds()*10) / 10
	}
	if r.Claims == nil {
		r.Claims = []Claim{}
	}
	if r.Precision == "" {
		r.Precision = backends.PrecisionOf(r.Backend)
	}
	showClaims(r)
	line, err := encodeResult(r)
	if err != nil {
		Must(fmt.Errorf("encoding the RESULT line: %w", err))
	}
	fmt.Fprintln(output, ResultPrefix+line)
	failed := r.FailedClaims()
	if n := countPreregistered(r.Claims); n > 0 && gonbui.IsNotebook {
		var registered string
		if Get(PreregisteredKey, &registered) != nil || registered != r.Notebook {
			failed = append(failed, fmt.Sprintf("the %d claims were not pre-registered in this kernel session: state them with claims.Preregister in a cell before the experiments", n))
		}
	}
	if len(failed) > 0 {
		kind := r.failureKind()
		if kind == "" {
			kind = errClaims.Error()
		}
		fmt.Fprintf(os.Stderr, "%s:\n", kind)
		for _, f := range failed {
			fmt.Fprintln(os.Stderr, "  "+f)
		}
		gonbui.Sync()
		exit(1)
	}
}

// PreregisteredKey is the session value in which claims.Preregister records
// the notebook whose claims it checked and showed, so that Finish can tell
// claims stated before the experiments from claims made up after them.
const PreregisteredKey = "gorepro.claims-preregistered"

func countPreregistered(cs []Claim) int {
	n := 0
	for _, c := range cs {
		if c.Preregistered() {
			n++
		}
	}
	return n
}

// Replicated counts the pre-registered claims that replicated in this run, of n.
func (r *Result) Replicated() (k, n int) {
	if r == nil {
		return 0, 0
	}
	for _, c := range r.Claims {
		if c.Preregistered() {
			n++
			if c.Status == "replicated" {
				k++
			}
		}
	}
	return k, n
}

// FormatCI prints an interval as "[lo, hi]", or "" for none.
func FormatCI(ci []float64) string {
	if len(ci) != 2 {
		return ""
	}
	return fmt.Sprintf("[%.4g, %.4g]", ci[0], ci[1])
}

// FormatP prints a p-value, or "" for none.
func FormatP(p *float64) string {
	if p == nil {
		return ""
	}
	return fmt.Sprintf("%.3g", *p)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

// showClaims displays the claims, checks and findings as tables.
func showClaims(r Result) {
	var pre, legacy [][]string
	for _, c := range r.Claims {
		if !c.Preregistered() {
			legacy = append(legacy, []string{c.Name, FormatValue(c.Paper), FormatValue(c.Ours), FormatValue(c.Tolerance), yesNo(c.Holds)})
			continue
		}
		agree := "as recorded"
		if c.Status != c.Expected {
			agree = "DIFFERS from the record"
		}
		pre = append(pre, []string{c.ID, c.Name, FormatValue(c.Paper), FormatValue(c.Tolerance), FormatValue(c.Ours),
			FormatCI(c.CI), FormatP(c.P), fmt.Sprintf("%d %s", c.N, c.Unit), c.Status, agree})
	}
	if len(pre) > 0 {
		k, n := r.Replicated()
		Markdown(fmt.Sprintf("**Replicated %d of %d pre-registered claims** (profile %s).", k, n, r.Profile))
		Table([]string{"claim", "quantity", "paper", "threshold", "ours", "CI", "p", "n", "status", "vs record"}, pre)
	}
	if len(legacy) > 0 {
		Table([]string{"claim (not pre-registered)", "paper", "ours", "tolerance", "holds"}, legacy)
	}
	if len(r.Checks) > 0 {
		rows := make([][]string, 0, len(r.Checks))
		for _, c := range r.Checks {
			rows = append(rows, []string{c.Name, FormatValue(c.Ours), yesNo(c.Holds)})
		}
		Table([]string{"sanity check", "ours", "holds"}, rows)
	}
	if len(r.Findings) > 0 {
		rows := make([][]string, 0, len(r.Findings))
		for _, c := range r.Findings {
			rows = append(rows, []string{c.Name, FormatValue(c.Paper), FormatValue(c.Ours), FormatCI(c.CI), FormatValue(c.Tolerance), yesNo(c.Holds)})
		}
		Table([]string{"finding", "paper", "ours", "CI", "tolerance", "holds"}, rows)
	}
}

// encodeResult is the RESULT line's JSON: one line, `<`, `>` and `&` as they
// are (not \u003c…), and every value JSON cannot hold recorded as text
// (see JSONValue), so that a diverged run is reported, not a crash.
func encodeResult(r Result) (string, error) {
	safe := func(cs []Claim) []Claim {
		out := make([]Claim, len(cs))
		for i, c := range cs {
			c.Paper, c.Ours, c.Tolerance = JSONValue(c.Paper), JSONValue(c.Ours), JSONValue(c.Tolerance)
			if len(c.CI) != 2 || !finite(c.CI[0]) || !finite(c.CI[1]) {
				c.CI = nil
			}
			if c.P != nil && !finite(*c.P) {
				c.P = nil
			}
			out[i] = c
		}
		return out
	}
	r.Claims = safe(r.Claims)
	if r.Checks != nil {
		r.Checks = safe(r.Checks)
	}
	if r.Findings != nil {
		r.Findings = safe(r.Findings)
	}
	if math.IsNaN(r.Seconds) || math.IsInf(r.Seconds, 0) {
		r.Seconds = 0
	}
	return marshalJSON(r)
}

// marshalJSON encodes v on one line without HTML escaping.
func marshalJSON(v any) (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// Float is a float64 that JSON holds even when it is NaN or ±Inf: those
// are written as the strings "NaN", "+Inf" and "-Inf" (JSON numbers cannot
// hold them), so a diverged run's loss is cached and reported, never a
// failure to write it.
type Float float64

// MarshalJSON writes a number, or "NaN", "+Inf", "-Inf".
func (f Float) MarshalJSON() ([]byte, error) { return json.Marshal(JSONValue(float64(f))) }

// UnmarshalJSON reads what MarshalJSON writes.
func (f *Float) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	x, err := fromJSONValue(v)
	if err != nil {
		return err
	}
	*f = Float(x)
	return nil
}

// JSONValue returns v if JSON can hold it; a NaN or ±Inf float becomes the
// text "NaN", "+Inf" or "-Inf", and any other value JSON cannot encode (a
// slice with a NaN inside) its fmt rendering, such as "[0.5 NaN]".
func JSONValue(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nonFinite(x)
		}
		return x
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nonFinite(float64(x))
		}
		return x
	}
	if _, err := json.Marshal(v); err != nil {
		return fmt.Sprint(v)
	}
	return v
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func nonFinite(x float64) string {
	switch {
	case math.IsNaN(x):
		return "NaN"
	case x > 0:
		return "+Inf"
	}
	return "-Inf"
}

// FormatValue prints a claim value compactly: numbers to 4 significant
// digits, strings as they are, nil as "", anything else as JSON.
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return fmt.Sprintf("%.4g", x)
	case float32:
		return fmt.Sprintf("%.4g", x)
	case string:
		return x
	}
	b, err := marshalJSON(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return b
}

// FailedClaims lists why the run fails: each pre-registered claim whose
// measured status differs from the recorded one (one line naming the claim,
// the recorded and the measured status, and ours), each sanity check that
// does not hold, and each legacy claim that does not hold.
func (r *Result) FailedClaims() []string {
	if r == nil {
		return nil
	}
	var out []string
	for _, c := range r.Claims {
		switch {
		case c.Preregistered() && c.Status != c.Expected:
			detail := "ours " + FormatValue(c.Ours)
			if ci := FormatCI(c.CI); ci != "" {
				detail += ", CI " + ci
			}
			if c.Detail != "" {
				detail += ", " + c.Detail
			}
			out = append(out, fmt.Sprintf("claim %q: recorded %q, measured %q (%s)", c.ID, c.Expected, c.Status, detail))
		case !c.Preregistered() && !c.Holds:
			out = append(out, fmt.Sprintf("%s (paper %s, ours %s)", c.Name, FormatValue(c.Paper), FormatValue(c.Ours)))
		}
	}
	for _, c := range r.Checks {
		if !c.Holds {
			out = append(out, fmt.Sprintf("sanity check failed: %s (ours %s)", c.Name, FormatValue(c.Ours)))
		}
	}
	return out
}

// Failure says in one line why the run fails ("" when it does not): what
// kind of failure — claims that differ from their record, legacy claims that
// do not hold, sanity checks that fail — then FailedClaims.
func (r *Result) Failure() string {
	failed := r.FailedClaims()
	if len(failed) == 0 {
		return ""
	}
	return r.failureKind() + ": " + strings.Join(failed, "; ")
}

func (r *Result) failureKind() string {
	var differ, legacy, checks bool
	for _, c := range r.Claims {
		differ = differ || (c.Preregistered() && c.Status != c.Expected)
		legacy = legacy || (!c.Preregistered() && !c.Holds)
	}
	for _, c := range r.Checks {
		checks = checks || !c.Holds
	}
	var kinds []string
	if differ {
		kinds = append(kinds, "claims differ from their record")
	}
	if legacy {
		kinds = append(kinds, "claims do not hold")
	}
	if checks {
		kinds = append(kinds, "sanity checks fail")
	}
	return strings.Join(kinds, ", ")
}

// ErrNoResult is returned when a notebook printed no RESULT line.
var ErrNoResult = errors.New("the notebook printed no `RESULT {json}` line (the notebook contract requires one)")

var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// ParseResult finds the last RESULT line in a notebook's text output (colour
// codes allowed) and decodes it strictly: unknown fields or a missing notebook
// name are errors.
func ParseResult(text string) (*Result, error) {
	lines := strings.Split(text, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		line := strings.TrimSpace(ansiEscape.ReplaceAllString(lines[i], ""))
		if !strings.HasPrefix(line, ResultPrefix) {
			continue
		}
		var r Result
		dec := json.NewDecoder(strings.NewReader(strings.TrimPrefix(line, ResultPrefix)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return nil, fmt.Errorf("malformed RESULT line: %w", err)
		}
		if r.Notebook == "" {
			return nil, errors.New("malformed RESULT line: no notebook name")
		}
		return &r, nil
	}
	return nil, ErrNoResult
}
