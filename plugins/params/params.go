// Package params is the %%params plugin: typed parameter declarations for a
// notebook's `parameters` cell, with help and allowed values, checked after
// papermill has injected the values of a headless run.
//
// A notebook's parameters are package-level variables that papermill
// overrides: it inserts a cell after the one tagged `parameters` that assigns
// the new values (see python/gorepro_papermill). Plain `var` declarations say
// nothing about what values make sense; a %%params cell says it on each line:
//
//	%%params
//	profile string  = "quick"  // quick: CPU minutes; full: the paper's scale on a GPU  [quick, full]
//	seed    int     = 42       // random seed
//	lr      float64 = 1e-3     // learning rate  [1e-6 .. 1]
//
// Each line is `name type = default // help`, the help optionally ending in
// the allowed values: `[a, b, c]` for a set, `[lo .. hi]` for a closed numeric
// range. The cell becomes Go code for GoNB: the `var` declarations, and a
// check run before each later cell's main — after papermill's assignments —
// that stops the notebook with `parameter profile = "huge": want one of
// quick, full`. The grammar lives in lib/params, which `gorepro run` reads too, to
// check `-p` values before anything runs.
package params

import (
	"context"
	_ "embed"
	"fmt"
	"go/format"
	"strconv"
	"strings"

	"github.com/gorepro/gorepro/kernel/plugin"
	grammar "github.com/gorepro/gorepro/lib/params"
)

//go:embed usage.md
var usage string

func init() {
	plugin.Register(plugin.Plugin{
		Name:    "params",
		Help:    "typed parameter declarations with help and allowed values, checked after papermill's values",
		Usage:   usage,
		Handler: Handle,
	})
}

// initFunc is the name of the generated check. GoNB keeps one definition per
// function name across cells, so a plain `func init()` would be replaced by
// any other cell's; it renders every function named init_* as an init
// function of each later cell's program instead.
const initFunc = "init_goreproParams"

// Handle runs a %%params cell: it shows the parameters and returns their Go declarations and checks.
func Handle(_ context.Context, req *plugin.Request) (*plugin.Response, error) {
	if len(req.Args) == 1 && (req.Args[0] == "-h" || req.Args[0] == "--help") {
		return &plugin.Response{Outputs: []plugin.Output{plugin.Markdown(usage)}}, nil
	}
	if len(req.Args) > 0 {
		return nil, fmt.Errorf("%%%%params takes no arguments, got %q: the declarations go in the cell's body", strings.Join(req.Args, " "))
	}
	decls, err := grammar.Parse(req.Body)
	if err != nil {
		return nil, fmt.Errorf("%%%%params: %w", err)
	}
	return &plugin.Response{Outputs: []plugin.Output{plugin.Markdown(Table(decls))}, Code: Code(decls)}, nil
}

// Code returns the Go code for GoNB: the declarations, and an init_ function
// (run as an init function by GoNB, after every package-level initialiser,
// papermill's included) that exits the cell's program with a one-line
// message when a parameter is outside its allowed values.
func Code(decls []grammar.Declaration) string {
	var checks strings.Builder
	for _, d := range decls {
		switch {
		case len(d.Allowed) > 0:
			conds := make([]string, len(d.Allowed))
			for i, a := range d.Allowed {
				if d.Type == "string" {
					a = strconv.Quote(a)
				}
				conds[i] = d.Name + " == " + a
			}
			fmt.Fprintf(&checks, "\tif !(%s) {\n\t\tfmt.Fprintf(os.Stderr, \"parameter %s = %s: want one of %s\\n\", %s)\n\t\tos.Exit(1)\n\t}\n",
				strings.Join(conds, " || "), d.Name, verb(d.Type), escapePercent(strings.Join(d.Allowed, ", ")), d.Name)
		case d.Min != nil && d.Max != nil:
			lo, hi := formatBound(*d.Min), formatBound(*d.Max)
			fmt.Fprintf(&checks, "\tif !(%s >= %s && %s <= %s) {\n\t\tfmt.Fprintf(os.Stderr, \"parameter %s = %%v: want a value in [%s, %s]\\n\", %s)\n\t\tos.Exit(1)\n\t}\n",
				d.Name, lo, d.Name, hi, d.Name, lo, hi, d.Name)
		}
	}
	var b strings.Builder
	if checks.Len() > 0 {
		b.WriteString("import (\n\t\"fmt\"\n\t\"os\"\n)\n\n")
	}
	b.WriteString("// Parameters (from %%params): papermill's cell, after this one, assigns new values.\nvar (\n")
	for _, d := range decls {
		fmt.Fprintf(&b, "\t%s %s = %s", d.Name, d.Type, d.Default)
		if d.Help != "" {
			fmt.Fprintf(&b, " // %s", d.Help)
		}
		b.WriteString("\n")
	}
	b.WriteString(")\n")
	if checks.Len() > 0 {
		fmt.Fprintf(&b, "\n// %s checks the parameters' allowed values; GoNB runs it as an init function\n"+
			"// before each later cell, after papermill's assignments.\nfunc %s() {\n%s}\n", initFunc, initFunc, checks.String())
	}
	if formatted, err := format.Source([]byte(b.String())); err == nil {
		return string(formatted)
	}
	return b.String()
}

func verb(typ string) string {
	if typ == "string" {
		return "%q"
	}
	return "%v"
}

// escapePercent makes text safe inside a Go string literal used as a format.
func escapePercent(text string) string {
	q := strconv.Quote(strings.ReplaceAll(text, "%", "%%"))
	return q[1 : len(q)-1]
}

// Table renders the declarations as a Markdown table for the cell's output.
func Table(decls []grammar.Declaration) string {
	var b strings.Builder
	b.WriteString("| parameter | type | default | allowed | what |\n|---|---|---|---|---|\n")
	for _, d := range decls {
		allowed := strings.Join(d.Allowed, ", ")
		if d.Min != nil && d.Max != nil {
			allowed = "[" + formatBound(*d.Min) + ", " + formatBound(*d.Max) + "]"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | `%s` | %s | %s |\n", d.Name, d.Type, plugin.MarkdownCell(d.Default), plugin.MarkdownCell(allowed), plugin.MarkdownCell(d.Help))
	}
	b.WriteString("\n`gorepro run -p name=value` and papermill's `-p name value` set them; values outside the allowed ones stop the notebook.\n")
	return b.String()
}

func formatBound(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
