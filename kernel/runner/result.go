package runner

import "github.com/gorepro/gorepro/lib/notebook"

// The RESULT line's format is owned by lib/notebook, which writes it; the
// runner reads it with the same types.
type (
	// Result is the JSON of a notebook's RESULT line.
	Result = notebook.Result
	// Claim is one compared number.
	Claim = notebook.Claim
)

// ErrNoResult is returned when a notebook printed no RESULT line.
var ErrNoResult = notebook.ErrNoResult

// ParseResult finds the last RESULT line in the notebook's text output.
func ParseResult(text string) (*Result, error) { return notebook.ParseResult(text) }

// FormatValue prints a claim value for the report; "–" for none.
func FormatValue(v any) string {
	if s := notebook.FormatValue(v); s != "" {
		return s
	}
	return "–"
}
