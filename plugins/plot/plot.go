// Package plot is the %%plot plugin: it draws a figure from a table pasted
// into the cell, so numbers from a log, a paper's table or another tool become
// a curve without writing Go.
//
// The body is the table: CSV with a header row, or JSON, either an array of
// rows (`[{"step": 1, "loss": 0.9}, …]`) or an object of columns
// (`{"step": [1, 2], "loss": [0.9, 0.5]}`). Each y column is drawn against
// the x column, by default the first column against all the other numeric
// ones. Empty cells and JSON nulls are missing values, left out of the
// figure. The figure is drawn by lib/plot, as notebooks' own figures are.
package plot

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/gorepro/gorepro/kernel/plugin"
	"github.com/gorepro/gorepro/lib/plot"
)

//go:embed usage.md
var usage string

func init() {
	plugin.Register(plugin.Plugin{
		Name:    "plot",
		Help:    "draws a line or scatter figure from CSV or JSON pasted into the cell",
		Usage:   usage,
		Handler: Handle,
	})
}

// options are the cell's flags.
type options struct {
	x, kind               string
	y                     []string
	title, xlabel, ylabel string
	logx, logy            bool
}

// rowColumn is the x column name used when the table has a single column:
// its values are drawn against their row number.
const rowColumn = "row"

// Handle runs a %%plot cell.
func Handle(_ context.Context, req *plugin.Request) (*plugin.Response, error) {
	opts, err := parseFlags(req.Args)
	if errors.Is(err, flag.ErrHelp) {
		return &plugin.Response{Outputs: []plugin.Output{plugin.Markdown(usage)}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%%%%plot: %w", err)
	}
	t, err := parseTable(req.Body)
	if err != nil {
		return nil, fmt.Errorf("%%%%plot: %w", err)
	}
	fig, err := figure(t, opts)
	if err != nil {
		return nil, fmt.Errorf("%%%%plot: %w", err)
	}
	svg, png, err := fig.Render()
	if err != nil {
		return nil, fmt.Errorf("%%%%plot: %w", err)
	}
	title := fig.Title
	if title == "" {
		names := make([]string, len(fig.Series))
		for i, s := range fig.Series {
			names[i] = s.Name
		}
		title = strings.Join(names, ", ") + " against " + fig.XLabel
	}
	return &plugin.Response{Outputs: []plugin.Output{plugin.Figure(title, svg, png)}}, nil
}

func parseFlags(args []string) (options, error) {
	var opts options
	var y string
	fs := flag.NewFlagSet("%%plot", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&opts.x, "x", "", "x column")
	fs.StringVar(&y, "y", "", "comma-separated y columns")
	fs.StringVar(&opts.kind, "kind", "line", "line or scatter")
	fs.StringVar(&opts.title, "title", "", "title")
	fs.StringVar(&opts.xlabel, "xlabel", "", "x axis label")
	fs.StringVar(&opts.ylabel, "ylabel", "", "y axis label")
	fs.BoolVar(&opts.logx, "logx", false, "logarithmic x axis")
	fs.BoolVar(&opts.logy, "logy", false, "logarithmic y axis")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return opts, err
		}
		return opts, fmt.Errorf("%v (flags: --x, --y, --kind, --title, --xlabel, --ylabel, --logx, --logy)", err)
	}
	if fs.NArg() > 0 {
		return opts, fmt.Errorf("unexpected argument %q: the data goes in the cell's body, columns are chosen with --x and --y", fs.Arg(0))
	}
	if opts.kind != "line" && opts.kind != "scatter" {
		return opts, fmt.Errorf("--kind %q: want line or scatter", opts.kind)
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "y" {
			for _, name := range strings.Split(y, ",") {
				if name = strings.TrimSpace(name); name != "" {
					opts.y = append(opts.y, name)
				}
			}
			if len(opts.y) == 0 {
				opts.y = []string{""} // reported as an unknown column below
			}
		}
	})
	return opts, nil
}

// figure chooses the columns and builds the figure.
func figure(t *table, opts options) (plot.Figure, error) {
	xName := opts.x
	var x []float64
	switch {
	case xName == "" && len(t.columns) == 1:
		xName = rowColumn
		x = make([]float64, len(t.rows))
		for i := range x {
			x[i] = float64(i + 1)
		}
	case xName == "":
		xName = t.columns[0]
		fallthrough
	default:
		var err error
		if x, err = t.numbers(xName); err != nil {
			return plot.Figure{}, err
		}
	}
	yNames := opts.y
	if yNames == nil {
		for _, name := range t.columns {
			if name != xName && t.numeric(name) {
				yNames = append(yNames, name)
			}
		}
		if len(yNames) == 0 {
			return plot.Figure{}, fmt.Errorf("no numeric column to plot against %q (columns: %s)", xName, strings.Join(t.columns, ", "))
		}
	}
	fig := plot.Figure{Title: opts.title, XLabel: opts.xlabel, YLabel: opts.ylabel, LogX: opts.logx, LogY: opts.logy}
	for _, name := range yNames {
		y, err := t.numbers(name)
		if err != nil {
			return plot.Figure{}, err
		}
		fig.Series = append(fig.Series, plot.Series{Name: name, X: x, Y: y, Scatter: opts.kind == "scatter"})
	}
	if fig.XLabel == "" {
		fig.XLabel = xName
	}
	if fig.YLabel == "" && len(yNames) == 1 {
		fig.YLabel = yNames[0]
	}
	return fig, nil
}

// numbers returns a column's values; an empty cell is NaN (missing).
func (t *table) numbers(name string) ([]float64, error) {
	col := t.index(name)
	if col < 0 {
		return nil, fmt.Errorf("no column %q (columns: %s)", name, strings.Join(t.columns, ", "))
	}
	out := make([]float64, len(t.rows))
	for i, row := range t.rows {
		v, err := number(row[col])
		if err != nil {
			return nil, fmt.Errorf("row %d, column %q: %q is not a number", i+1, name, row[col])
		}
		out[i] = v
	}
	return out, nil
}

// numeric reports whether a column holds numbers, at least one of them present.
func (t *table) numeric(name string) bool {
	col, present := t.index(name), false
	for _, row := range t.rows {
		if _, err := number(row[col]); err != nil {
			return false
		}
		present = present || strings.TrimSpace(row[col]) != ""
	}
	return present
}

func number(text string) (float64, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return math.NaN(), nil
	}
	return strconv.ParseFloat(text, 64)
}
