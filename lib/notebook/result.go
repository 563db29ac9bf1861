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

// Claim is one number compared with the paper's. Claims in Result.Claims are
// asserted; Result.Findings are reported only.
type Claim struct {
	// Name says what is claimed, e.g. "StableMax test accuracy after 10k epochs".
	Name string `json:"name"`
	// Paper is the paper's number (or text, e.g. "> 0.95").
	Paper any `json:"paper"`
	// Ours is the number this run measured.
	Ours any `json:"ours"`
	// Tolerance says how far from the paper still holds, when it is a comparison.
	Tolerance any `json:"tolerance,omitempty"`
	// Holds is whether the claim held in this run.
	Holds bool `json:"holds"`
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
	Claims    []Claim `json:"claims"`
	Findings  []Claim `json:"findings,omitempty"`
	// FromCache is true when some of the numbers were read from checkpoints
	// of earlier runs instead of computed by this one.
	FromCache bool `json:"from_cache,omitempty"`
}

// ResultPrefix starts the machine-readable RESULT line.
const ResultPrefix = "RESULT "

// Finish ends a notebook: it shows the claims and findings beside the paper's
// numbers, prints `RESULT {json}` as the last line, and stops the cell with an
// error when a claim does not hold (so papermill and `gorepro run` fail).
// Seconds is filled from Start when zero.
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
	all := append(append([]Claim{}, r.Claims...), r.Findings...)
	rows := make([][]string, 0, len(all))
	for i, c := range all {
		kind := "claim"
		if i >= len(r.Claims) {
			kind = "finding"
		}
		held := "yes"
		if !c.Holds {
			held = "NO"
		}
		rows = append(rows, []string{kind, c.Name, FormatValue(c.Paper), FormatValue(c.Ours), FormatValue(c.Tolerance), held})
	}
	Table([]string{"", "claim", "paper", "ours", "tolerance", "holds"}, rows)
	var failed []string
	for _, c := range r.Claims {
		if !c.Holds {
			failed = append(failed, c.Name)
		}
	}
	line, err := encodeResult(r)
	if err != nil {
		Must(fmt.Errorf("encoding the RESULT line: %w", err))
	}
	fmt.Fprintln(Output, ResultPrefix+line)
	if len(failed) > 0 {
		fmt.Fprintf(os.Stderr, "%v: %s\n", errClaims, strings.Join(failed, "; "))
		gonbui.Sync()
		exit(1)
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
			out[i] = c
		}
		return out
	}
	r.Claims = safe(r.Claims)
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

// FailedClaims lists the claims that do not hold, with the paper's number and ours.
func (r *Result) FailedClaims() []string {
	if r == nil {
		return nil
	}
	var out []string
	for _, c := range r.Claims {
		if !c.Holds {
			out = append(out, fmt.Sprintf("%s (paper %s, ours %s)", c.Name, FormatValue(c.Paper), FormatValue(c.Ours)))
		}
	}
	return out
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
