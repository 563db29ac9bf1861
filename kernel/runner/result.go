package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ResultPrefix starts the machine-readable last line of every notebook.
const ResultPrefix = "RESULT "

// Result is the JSON of a notebook's RESULT line.
type Result struct {
	Notebook string  `json:"notebook"`
	Backend  string  `json:"backend"`
	Profile  string  `json:"profile,omitempty"`
	Seconds  float64 `json:"seconds"`
	Claims   []Claim `json:"claims"`
	Findings []Claim `json:"findings,omitempty"`
}

// Claim is one compared number: the paper's, ours, and whether the claim holds.
type Claim struct {
	Name      string `json:"name"`
	Paper     any    `json:"paper"`
	Ours      any    `json:"ours"`
	Tolerance any    `json:"tolerance,omitempty"`
	Holds     bool   `json:"holds"`
}

// ErrNoResult is returned when a notebook printed no RESULT line.
var ErrNoResult = errors.New("the notebook printed no `RESULT {json}` line (the notebook contract requires one)")

// ParseResult finds the last RESULT line in the notebook's text output.
func ParseResult(text string) (*Result, error) {
	lines := strings.Split(text, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		line := strings.TrimSpace(StripANSI(lines[i]))
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

// FailedClaims lists the claims that do not hold.
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

// FormatValue prints a claim value compactly.
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "–"
	case float64:
		return fmt.Sprintf("%.4g", x)
	case string:
		return x
	}
	b, _ := json.Marshal(v)
	return string(b)
}
