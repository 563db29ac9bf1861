package runner

import (
	"fmt"
	"regexp"
	"strings"
)

// ParamValues is one `-p name=v1,v2,...` flag: a parameter and the values a
// sweep gives it, each still text. One value is an ordinary parameter.
type ParamValues struct {
	Name   string
	Values []string
}

// ParseParamFlag reads the text of one -p flag, `name=value` or
// `name=v1,v2,...`; SplitValues says how the values are separated.
func ParseParamFlag(text string) (ParamValues, error) {
	name, value, ok := strings.Cut(text, "=")
	if !ok || strings.TrimSpace(name) == "" {
		return ParamValues{}, fmt.Errorf("malformed -p %q: want name=value", text)
	}
	return ParamValues{Name: strings.TrimSpace(name), Values: SplitValues(value)}, nil
}

// SplitValues splits the value of a -p flag into a sweep's values:
//
//   - a comma separates values: `1,2,3` is three values;
//   - `\,` is a comma inside a value and `\\` a backslash; any other
//     backslash is kept as it is (`a\,b` is the one value "a,b");
//   - a value that starts with `[` or `{` is JSON up to its matching bracket
//     (strings inside it included), so a list keeps its commas:
//     `[64,128],[256]` is two values.
//
// Text without a comma is one value, unchanged apart from those escapes;
// an empty text is one empty value. It never fails: a value that does not
// convert to the parameter's type is reported by the parameter check.
func SplitValues(text string) []string {
	var values []string
	var cur strings.Builder
	atStart := true
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case atStart && (c == '[' || c == '{'):
			end := matchingBracket(text, i)
			cur.WriteString(text[i:end])
			i = end - 1
		case c == '\\' && i+1 < len(text) && (text[i+1] == ',' || text[i+1] == '\\'):
			cur.WriteByte(text[i+1])
			i++
		case c == ',':
			values = append(values, cur.String())
			cur.Reset()
			atStart = true
			continue
		default:
			cur.WriteByte(c)
		}
		atStart = false
	}
	return append(values, cur.String())
}

// matchingBracket returns the index just past the bracket that closes the one
// at text[start], skipping JSON strings; len(text) when it is never closed.
func matchingBracket(text string, start int) int {
	depth, inString := 0, false
	for i := start; i < len(text); i++ {
		c := text[i]
		switch {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(text)
}

// Grid is the cartesian product of the parameters' values: one []Param per
// run, the first parameter varying slowest (as nested loops in flag order).
// A name given twice keeps its first position and its last values, as a
// repeated -p always did. No parameters give one run with none.
func Grid(params []ParamValues) [][]Param {
	var merged []ParamValues
	index := map[string]int{}
	for _, p := range params {
		if i, ok := index[p.Name]; ok {
			merged[i] = p
			continue
		}
		index[p.Name] = len(merged)
		merged = append(merged, p)
	}
	points := [][]Param{nil}
	for _, p := range merged {
		var next [][]Param
		for _, point := range points {
			for _, v := range p.Values {
				next = append(next, append(point[:len(point):len(point)], Param{Name: p.Name, Value: v}))
			}
		}
		points = next
	}
	return points
}

// Swept lists the parameters that take more than one value, in flag order
// (a name given twice counts with its last values).
func Swept(params []ParamValues) []string {
	last := map[string]int{}
	for _, p := range params {
		last[p.Name] = len(p.Values)
	}
	var names []string
	seen := map[string]bool{}
	for _, p := range params {
		if last[p.Name] > 1 && !seen[p.Name] {
			names = append(names, p.Name)
			seen[p.Name] = true
		}
	}
	return names
}

// describeRun is how reports and output lines name a run of a sweep: the
// swept parameters' values, "seed=1 lr=0.1".
func describeRun(point []Param, swept []string) string {
	var parts []string
	for _, name := range swept {
		for _, p := range point {
			if p.Name == name {
				parts = append(parts, p.Name+"="+p.Value)
			}
		}
	}
	return strings.Join(parts, " ")
}

var unsafeInFileName = regexp.MustCompile(`[^A-Za-z0-9._=+-]+`)

// fileSlug turns a run's description into a file name: "seed=1 lr=0.1" →
// "seed=1_lr=0.1"; anything but letters, digits and ._=+- becomes "_", and
// long names are cut (callers make names unique).
func fileSlug(description string) string {
	s := unsafeInFileName.ReplaceAllString(description, "_")
	s = strings.Trim(s, "_.")
	if len(s) > 100 {
		s = s[:100]
	}
	if s == "" {
		s = "run"
	}
	return s
}

// uniqueNames makes names unique by adding -2, -3, … to repeats, keeping the
// first as it is.
type uniqueNames map[string]bool

func (u uniqueNames) take(name string) string {
	got := name
	for i := 2; u[got]; i++ {
		got = fmt.Sprintf("%s-%d", name, i)
	}
	u[got] = true
	return got
}
