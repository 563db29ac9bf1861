package params

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"math"
	"sort"
	"strconv"
	"strings"
)

// ParseVars reads the `var` declarations of a parameters cell written as Go
// source. Each Declaration has a Name, a Type (written, or inferred from the
// default: "int", "float64", "string", "bool", "[]int", …; "" when it cannot
// be inferred) and a Default as Go source; Help and the allowed values are
// empty. Other declarations (functions, types, constants) are skipped; a
// cell that is not Go declarations is an error.
func ParseVars(src string) ([]Declaration, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "parameters.go", "package p\n"+src, parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("parameters cell is not valid Go declarations: %w", err)
	}
	var out []Declaration
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.VAR {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				d := Declaration{Name: name.Name}
				if vs.Type != nil {
					d.Type = nodeString(fset, vs.Type)
				}
				if i < len(vs.Values) {
					d.Default = nodeString(fset, vs.Values[i])
					if d.Type == "" {
						d.Type = inferType(fset, vs.Values[i])
					}
				}
				out = append(out, d)
			}
		}
	}
	return out, nil
}

func nodeString(fset *token.FileSet, n ast.Node) string {
	var b bytes.Buffer
	_ = printer.Fprint(&b, fset, n)
	return b.String()
}

func inferType(fset *token.FileSet, e ast.Expr) string {
	switch v := e.(type) {
	case *ast.BasicLit:
		switch v.Kind {
		case token.INT:
			return "int"
		case token.FLOAT:
			return "float64"
		case token.STRING:
			return "string"
		}
	case *ast.Ident:
		if v.Name == "true" || v.Name == "false" {
			return "bool"
		}
	case *ast.UnaryExpr:
		return inferType(fset, v.X)
	case *ast.ParenExpr:
		return inferType(fset, v.X)
	case *ast.BinaryExpr:
		x, y := inferType(fset, v.X), inferType(fset, v.Y)
		if x == "float64" || y == "float64" {
			return "float64"
		}
		return x
	case *ast.CompositeLit:
		if v.Type != nil {
			return nodeString(fset, v.Type)
		}
	case *ast.CallExpr: // conversions such as float32(0.1)
		if id, ok := v.Fun.(*ast.Ident); ok {
			return id.Name
		}
	}
	return ""
}

// Lookup finds the declaration of name. The error names the declared
// parameters, or says that there are none.
func Lookup(declared []Declaration, name string) (Declaration, error) {
	var names []string
	for _, d := range declared {
		if d.Name == name {
			return d, nil
		}
		names = append(names, d.Name)
	}
	if len(names) == 0 {
		return Declaration{}, fmt.Errorf("parameter %q: the notebook declares no parameters", name)
	}
	sort.Strings(names)
	return Declaration{}, fmt.Errorf("parameter %q is not declared by the notebook (it declares: %s)", name, strings.Join(names, ", "))
}

// Convert converts command-line text (the value of `-p name=value`) to the
// declared type, as papermill's parameter file holds it: int64 for integer
// types, a finite float64 for float types, bool, string, and the decoded
// JSON for slices and maps; for a type it does not know it returns the text,
// for the notebook's compile step to check. The error reads
// `parameter NAME (TYPE): …`. Allowed values are not checked here: see Check.
func (d Declaration) Convert(text string) (any, error) {
	v, err := convertValue(text, d.Type)
	if err != nil {
		return nil, fmt.Errorf("parameter %s (%s): %w", d.Name, d.Type, err)
	}
	return v, nil
}

func convertValue(text, typ string) (any, error) {
	switch typ {
	case "int", "int64", "int32", "int16", "int8", "uint", "uint64", "uint32", "uint16", "uint8":
		v, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", text)
		}
		if strings.HasPrefix(typ, "uint") && v < 0 {
			return nil, fmt.Errorf("%q is negative", text)
		}
		return v, nil
	case "float64", "float32":
		v, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, fmt.Errorf("%q is not a number", text)
		}
		// NaN and ±Inf cannot be written as JSON for papermill, and a
		// parameter that is not finite is a mistake in every notebook here.
		if math.IsNaN(v) || math.IsInf(v, 0) || (typ == "float32" && math.Abs(v) > math.MaxFloat32) {
			return nil, fmt.Errorf("%q is not a finite %s", text, typ)
		}
		return v, nil
	case "bool":
		v, err := strconv.ParseBool(strings.TrimSpace(text))
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", text)
		}
		return v, nil
	case "string":
		return text, nil
	}
	if strings.HasPrefix(typ, "[]") || strings.HasPrefix(typ, "map[") {
		var v any
		if err := json.Unmarshal([]byte(text), &v); err != nil {
			return nil, fmt.Errorf("%q is not JSON for a %s: %v", text, typ, err)
		}
		return v, nil
	}
	// Unknown type: pass the text; the notebook's compile step checks it.
	return text, nil
}
