// Package params is the grammar of a notebook's parameters: the cell tagged
// `parameters` that papermill overrides with the values of a headless run.
// The cell is written in one of two forms.
//
// A %%params cell declares one parameter per line, with help and the values
// that make sense (the %%params plugin turns it into Go code for GoNB):
//
//	profile string  = "quick"  // quick: CPU minutes; full: the paper's scale on a GPU  [quick, full]
//	seed    int     = 42       // random seed
//	lr      float64 = 1e-3     // learning rate  [1e-6 .. 1]
//
// Each line is `name type = default // help`, the help optionally ending in
// the allowed values: `[a, b, c]` for a set, `[lo .. hi]` for a closed
// numeric range. Parse reads it; Declaration.Check checks a command-line
// value against a line's type and allowed values.
//
// A plain Go cell declares package-level variables (`var seed = 42`);
// ParseVars reads those, their types written or inferred from the default.
//
// Convert turns `gorepro run -p name=value` text into values of the declared
// types, for papermill's parameter file. The package depends on the standard
// library only, so that the %%params plugin and `gorepro run` read the same
// grammar without depending on each other.
package params

import (
	"errors"
	"fmt"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"go/types"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Declaration is one parameter of a %%params cell.
type Declaration struct {
	// Name is the Go variable's name.
	Name string
	// Type is a Go type: for a %%params line one of int, int64, float64,
	// float32, string, bool, []int, []float64, []string; for a `var`
	// declaration as written or inferred from the default.
	Type string
	// Default is the default value as Go source, e.g. `"quick"`, `1e-3`, `[]int{64, 128}`.
	Default string
	// Help is the comment's text, without the allowed values.
	Help string
	// Allowed are the values of an allowed set, as written (strings unquoted); nil if none.
	Allowed []string
	// Min and Max bound a numeric parameter to the closed range [Min, Max]; nil if unbounded.
	Min, Max *float64
}

// declarable are the Go types a %%params line may declare.
var declarable = []string{"int", "int64", "float64", "float32", "string", "bool", "[]int", "[]float64", "[]string"}

var (
	identifier = regexp.MustCompile(`^[\p{L}_][\p{L}\p{Nd}_]*$`)
	allowedSet = regexp.MustCompile(`\[([^\[\]]*)\]\s*$`)
)

// Parse reads a %%params body: one declaration per line,
// `name type = default // help [allowed]`. Blank lines and lines that are
// only a // comment are skipped. Errors name the line and what is wrong with it.
func Parse(body string) ([]Declaration, error) {
	var decls []Declaration
	seen := map[string]bool{}
	for i, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "//") {
			continue
		}
		d, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if seen[d.Name] {
			return nil, fmt.Errorf("line %d: parameter %s is declared twice", i+1, d.Name)
		}
		seen[d.Name] = true
		decls = append(decls, d)
	}
	if len(decls) == 0 {
		return nil, errors.New("no parameters declared: write one per line, e.g. `seed int = 42 // random seed`")
	}
	return decls, nil
}

func parseLine(line string) (Declaration, error) {
	code, help := splitComment(line)
	lhs, def, found := strings.Cut(code, "=")
	if !found {
		return Declaration{}, fmt.Errorf("%q: want `name type = default // help`", line)
	}
	fields := strings.Fields(lhs)
	if len(fields) != 2 {
		return Declaration{}, fmt.Errorf("%q: want `name type = default // help` (a name and a type before =)", strings.TrimSpace(lhs))
	}
	d := Declaration{Name: fields[0], Type: fields[1], Default: strings.TrimSpace(def)}
	if !identifier.MatchString(d.Name) || token.IsKeyword(d.Name) {
		return Declaration{}, fmt.Errorf("%q is not a Go variable name", d.Name)
	}
	if !slices.Contains(declarable, d.Type) {
		return Declaration{}, fmt.Errorf("parameter %s: type %q is not one of %s", d.Name, d.Type, strings.Join(declarable, ", "))
	}
	var err error
	if d.Default, err = checkDefault(d.Type, d.Default); err != nil {
		return Declaration{}, fmt.Errorf("parameter %s: default %s", d.Name, err)
	}
	d.Help = help
	if m := allowedSet.FindStringSubmatchIndex(help); m != nil {
		d.Help = strings.TrimSpace(help[:m[0]])
		if err := d.parseAllowed(help[m[2]:m[3]]); err != nil {
			return Declaration{}, fmt.Errorf("parameter %s: allowed values [%s]: %w", d.Name, help[m[2]:m[3]], err)
		}
		if err := d.check(d.Default, true); err != nil {
			return Declaration{}, fmt.Errorf("default: %w", err)
		}
	}
	return d, nil
}

// splitComment splits a line at its // comment, ignoring // inside Go string literals.
func splitComment(line string) (code, comment string) {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == '\\' && quote != '`' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '`' || c == '\'':
			quote = c
		case strings.HasPrefix(line[i:], "//"):
			return strings.TrimSpace(line[:i]), strings.TrimSpace(line[i+2:])
		}
	}
	return strings.TrimSpace(line), ""
}

// checkDefault checks that src is a constant of type typ (for slices, a
// composite literal of constants, `{…}` allowed for `[]T{…}`) and returns
// it as Go source.
func checkDefault(typ, src string) (string, error) {
	if src == "" {
		return "", errors.New("is missing: every parameter needs a default after =")
	}
	elem, isSlice := strings.CutPrefix(typ, "[]")
	if !isSlice {
		_, err := constantOf(typ, src)
		return src, err
	}
	if src == "nil" {
		return src, nil
	}
	if strings.HasPrefix(src, "{") {
		src = typ + src
	}
	expr, err := parser.ParseExpr(src)
	if err != nil {
		return "", fmt.Errorf("%s is not a Go expression", src)
	}
	lit, ok := expr.(*ast.CompositeLit)
	if !ok || lit.Type == nil || types.ExprString(lit.Type) != typ {
		return "", fmt.Errorf("%s is not a %s literal such as %s{…}", src, typ, typ)
	}
	for _, e := range lit.Elts {
		if _, isKV := e.(*ast.KeyValueExpr); isKV {
			return "", fmt.Errorf("%s: write the elements without indices", src)
		}
		if _, err := constantOf(elem, types.ExprString(e)); err != nil {
			return "", fmt.Errorf("element %s", err)
		}
	}
	return src, nil
}

// constantOf evaluates src as a Go constant of the scalar type typ.
func constantOf(typ, src string) (constant.Value, error) {
	tv, err := types.Eval(token.NewFileSet(), nil, token.NoPos, src)
	if err != nil || tv.Value == nil {
		return nil, fmt.Errorf("%s is not a Go constant of type %s", src, typ)
	}
	v := tv.Value
	var ok bool
	switch typ {
	case "string":
		ok = v.Kind() == constant.String
	case "bool":
		ok = v.Kind() == constant.Bool
	default:
		ok = v.Kind() == constant.Int || v.Kind() == constant.Float
	}
	if ok { // representable: the conversion T(src) compiles
		_, err = types.Eval(token.NewFileSet(), nil, token.NoPos, typ+"("+src+")")
		ok = err == nil
	}
	if !ok {
		return nil, fmt.Errorf("%s is not a value of type %s", src, typ)
	}
	return v, nil
}

func isNumeric(typ string) bool {
	return typ == "int" || typ == "int64" || typ == "float64" || typ == "float32"
}

// parseAllowed reads the inside of `[a, b, c]` or `[lo .. hi]`.
func (d *Declaration) parseAllowed(inside string) error {
	if strings.HasPrefix(d.Type, "[]") {
		return fmt.Errorf("a %s parameter cannot have allowed values", d.Type)
	}
	if lo, hi, isRange := strings.Cut(inside, ".."); isRange {
		if !isNumeric(d.Type) {
			return fmt.Errorf("a range needs a number type, not %s", d.Type)
		}
		var bounds [2]float64
		for i, text := range []string{lo, hi} {
			v, err := constantOf(d.Type, strings.TrimSpace(text))
			if err != nil {
				return err
			}
			bounds[i], _ = constant.Float64Val(v)
		}
		if bounds[0] > bounds[1] {
			return fmt.Errorf("the range is empty: %s > %s", strings.TrimSpace(lo), strings.TrimSpace(hi))
		}
		d.Min, d.Max = &bounds[0], &bounds[1]
		return nil
	}
	for _, item := range strings.Split(inside, ",") {
		item = strings.TrimSpace(item)
		if d.Type == "string" {
			if unquoted, err := strconv.Unquote(item); err == nil {
				item = unquoted
			} else if item == "" {
				return errors.New(`an empty value: write "" for the empty string`)
			}
		} else if _, err := constantOf(d.Type, item); err != nil {
			return err
		}
		d.Allowed = append(d.Allowed, item)
	}
	return nil
}

// Check checks a command-line value (the text of `-p name=value`) against
// the declaration's type and allowed values. The error reads
// `parameter NAME = VALUE: want …`. List parameters are not checked here:
// the notebook's compile step checks them.
func (d Declaration) Check(text string) error {
	return d.check(text, false)
}

// check is Check for a value given as text, or as Go source (a default).
func (d Declaration) check(text string, source bool) error {
	if len(d.Allowed) == 0 && (d.Min == nil || d.Max == nil) {
		return nil
	}
	value, shown, err := d.parseValue(text, source)
	if err != nil {
		return fmt.Errorf("parameter %s (%s): %w", d.Name, d.Type, err)
	}
	if len(d.Allowed) > 0 {
		for _, a := range d.Allowed {
			if item, _, err := d.parseValue(a, d.Type != "string"); err == nil && constant.Compare(value, token.EQL, item) {
				return nil
			}
		}
		return fmt.Errorf("parameter %s = %s: want one of %s", d.Name, shown, strings.Join(d.Allowed, ", "))
	}
	f, _ := constant.Float64Val(value)
	if !(f >= *d.Min && f <= *d.Max) {
		return fmt.Errorf("parameter %s = %s: want a value in [%s, %s]", d.Name, shown, formatBound(*d.Min), formatBound(*d.Max))
	}
	return nil
}

// parseValue reads a scalar value of the declaration's type, from Go source
// or from command-line text (read as gorepro run's conversion does). shown is
// how messages write it.
func (d Declaration) parseValue(text string, source bool) (value constant.Value, shown string, err error) {
	if source {
		v, err := constantOf(d.Type, strings.TrimSpace(text))
		if err != nil {
			return nil, "", err
		}
		if d.Type == "string" {
			return v, v.ExactString(), nil
		}
		return d.rounded(v), strings.TrimSpace(text), nil
	}
	if d.Type == "string" {
		return constant.MakeString(text), strconv.Quote(text), nil
	}
	text = strings.TrimSpace(text)
	switch d.Type {
	case "bool":
		b, err := strconv.ParseBool(text)
		if err != nil {
			return nil, "", fmt.Errorf("%q is not true or false", text)
		}
		return constant.MakeBool(b), text, nil
	case "int", "int64":
		i, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, "", fmt.Errorf("%q is not an integer", text)
		}
		return constant.MakeInt64(i), text, nil
	default:
		f, err := strconv.ParseFloat(text, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, "", fmt.Errorf("%q is not a finite number", text)
		}
		return d.rounded(constant.MakeFloat64(f)), text, nil
	}
}

// rounded rounds a number to the float type of the declaration, as the
// program will hold it, so that 0.1 written in the cell equals 0.1 given on
// the command line.
func (d Declaration) rounded(v constant.Value) constant.Value {
	switch d.Type {
	case "float64":
		f, _ := constant.Float64Val(v)
		return constant.MakeFloat64(f)
	case "float32":
		f, _ := constant.Float32Val(v)
		return constant.MakeFloat64(float64(f))
	}
	return v
}

func formatBound(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
