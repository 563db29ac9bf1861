package plot

import (
	"context"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/gorepro/gorepro/kernel/plugin"
)

func TestParseTable(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    *table
		wantErr string
	}{
		{name: "csv", body: "step, loss\n# a comment\n1, 0.5\n2,\n",
			want: &table{columns: []string{"step", "loss"}, rows: [][]string{{"1", "0.5"}, {"2", ""}}}},
		{name: "json rows", body: `[{"step": 1, "loss": 0.5}, {"step": 2, "acc": "0.9", "loss": null}]`,
			want: &table{columns: []string{"step", "loss", "acc"}, rows: [][]string{{"1", "0.5", ""}, {"2", "", "0.9"}}}},
		{name: "json columns", body: ` {"x": [1, 2e3], "ok": [true, [1]]} `,
			want: &table{columns: []string{"x", "ok"}, rows: [][]string{{"1", "true"}, {"2e3", "[1]"}}}},
		{name: "empty", body: " \n\t", wantErr: "empty body"},
		{name: "only comments", body: "# step,loss\n#1,2", wantErr: "no header row"},
		{name: "header only", body: "a,b\n", wantErr: "no data rows, only the columns a, b"},
		{name: "ragged csv", body: "a,b\n1,2\n3\n", wantErr: "body is not valid CSV: record on line 3: wrong number of fields"},
		{name: "duplicate column", body: "a,a\n1,2\n", wantErr: `column "a" appears twice`},
		{name: "unnamed column", body: "a,\n1,2\n", wantErr: "column 2 has no name"},
		{name: "bad json", body: `[{"a": 1,}]`, wantErr: "body is not valid JSON: invalid character '}'"},
		{name: "short json", body: `{"a": [1, 2]`, wantErr: "body is not valid JSON: it ends too early"},
		{name: "trailing json", body: `{"a": [1]} {}`, wantErr: "more data after the end of the top-level value"},
		{name: "row not object", body: `[{"a": 1}, 2]`, wantErr: "row 2 is not an object"},
		{name: "column not array", body: `{"a": 1}`, wantErr: `column "a" is not an array`},
		{name: "unequal columns", body: `{"a": [1, 2], "b": [1]}`, wantErr: `column "b" has 1 values, column "a" has 2`},
		{name: "no columns", body: `{}`, wantErr: "the JSON object has no columns"},
		{name: "no rows", body: `[]`, wantErr: "no data rows"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTable(tc.body)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseTable = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// series is what a test expects of one drawn series.
type series struct {
	name    string
	x, y    []float64
	scatter bool
}

func TestFigure(t *testing.T) {
	const csv = "step,loss,acc,note\n1,0.5,0.1,a\n2,,0.4,b\n4,0.25,0.9,c\n"
	nan := math.NaN()
	tests := []struct {
		name           string
		args           []string
		body           string
		want           []series
		xlabel, ylabel string
		wantErr        string
	}{
		{name: "defaults", body: csv, xlabel: "step", want: []series{
			{name: "loss", x: []float64{1, 2, 4}, y: []float64{0.5, nan, 0.25}},
			{name: "acc", x: []float64{1, 2, 4}, y: []float64{0.1, 0.4, 0.9}},
		}},
		{name: "chosen", args: []string{"--x", "acc", "--y", "step", "--kind", "scatter", "--xlabel", "accuracy"}, body: csv,
			xlabel: "accuracy", ylabel: "step", want: []series{{name: "step", x: []float64{0.1, 0.4, 0.9}, y: []float64{1, 2, 4}, scatter: true}}},
		{name: "one column", body: "loss\n3\n2\n", xlabel: "row", ylabel: "loss", want: []series{{name: "loss", x: []float64{1, 2}, y: []float64{3, 2}}}},
		{name: "json columns", args: []string{"--y", " b , a "}, body: `{"t": [0, 1], "a": [1, 2], "b": ["3", 4]}`, xlabel: "t", want: []series{
			{name: "b", x: []float64{0, 1}, y: []float64{3, 4}},
			{name: "a", x: []float64{0, 1}, y: []float64{1, 2}},
		}},
		{name: "unknown y", args: []string{"--y", "loss,lr"}, body: csv, wantErr: `%%plot: no column "lr" (columns: step, loss, acc, note)`},
		{name: "empty y", args: []string{"--y", ","}, body: csv, wantErr: `%%plot: no column "" (columns: step, loss, acc, note)`},
		{name: "unknown x", args: []string{"--x", "epoch"}, body: csv, wantErr: `%%plot: no column "epoch" (columns: step, loss, acc, note)`},
		{name: "non-numeric y", args: []string{"--y", "note"}, body: csv, wantErr: `%%plot: row 1, column "note": "a" is not a number`},
		{name: "non-numeric x", args: []string{"--x", "note"}, body: csv, wantErr: `%%plot: row 1, column "note": "a" is not a number`},
		{name: "nothing numeric", body: "step,what\n1,b\n", wantErr: `%%plot: no numeric column to plot against "step" (columns: step, what)`},
		{name: "bad kind", args: []string{"--kind", "bar"}, body: csv, wantErr: `%%plot: --kind "bar": want line or scatter`},
		{name: "unknown flag", args: []string{"--colour", "red"}, body: csv, wantErr: "%%plot: flag provided but not defined: -colour (flags: --x, --y,"},
		{name: "missing value", args: []string{"--x"}, body: csv, wantErr: "%%plot: flag needs an argument: -x"},
		{name: "positional", args: []string{"loss"}, body: csv, wantErr: `%%plot: unexpected argument "loss"`},
		{name: "empty body", body: "", wantErr: "%%plot: empty body"},
		{name: "log of non-positive", args: []string{"--y", "loss", "--logy"}, body: "x,loss\n1,0\n2,-1\n", wantErr: `%%plot: plot: series "loss" has no finite points to draw`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := Handle(context.Background(), &plugin.Request{Name: "plot", Args: tc.args, Body: tc.body})
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Outputs) != 1 || resp.Code != "" {
				t.Fatalf("response = %+v, want one figure", resp)
			}
			data := resp.Outputs[0].Data
			if svg, _ := data["image/svg+xml"].(string); !strings.Contains(svg, "<svg") {
				t.Errorf("no SVG in the output: %v", data["text/plain"])
			}
			if png, _ := data["image/png"].(string); png == "" {
				t.Errorf("no PNG in the output")
			}

			// The figure itself, built the same way.
			opts, _ := parseFlags(tc.args)
			tab, _ := parseTable(tc.body)
			fig, err := figure(tab, opts)
			if err != nil {
				t.Fatal(err)
			}
			if fig.XLabel != tc.xlabel || fig.YLabel != tc.ylabel {
				t.Errorf("labels %q, %q; want %q, %q", fig.XLabel, fig.YLabel, tc.xlabel, tc.ylabel)
			}
			var got []series
			for _, s := range fig.Series {
				got = append(got, series{s.Name, s.X, s.Y, s.Scatter})
			}
			if !sameSeries(got, tc.want) {
				t.Errorf("series = %v, want %v", got, tc.want)
			}
		})
	}
}

func sameSeries(a, b []series) bool {
	if len(a) != len(b) {
		return false
	}
	same := func(x, y []float64) bool {
		return len(x) == len(y) && func() bool {
			for i := range x {
				if x[i] != y[i] && !(math.IsNaN(x[i]) && math.IsNaN(y[i])) {
					return false
				}
			}
			return true
		}()
	}
	for i := range a {
		if a[i].name != b[i].name || a[i].scatter != b[i].scatter || !same(a[i].x, b[i].x) || !same(a[i].y, b[i].y) {
			return false
		}
	}
	return true
}

func TestHelpFlag(t *testing.T) {
	resp, err := Handle(context.Background(), &plugin.Request{Name: "plot", Args: []string{"--help"}})
	if err != nil || resp.Outputs[0].Data["text/markdown"] != usage {
		t.Fatalf("%%%%plot --help = %+v, %v; want the usage", resp, err)
	}
}

func FuzzParseTable(f *testing.F) {
	for _, s := range []string{"a,b\n1,2\n", `[{"a":1},{"b":2}]`, `{"a":[1],"b":[null]}`, "[", "{\"a\":[1,{}]}", "\"x\n", "a\n\n1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		tab, err := parseTable(body)
		if err != nil {
			return
		}
		if len(tab.columns) == 0 || len(tab.rows) == 0 {
			t.Fatalf("parseTable(%q) = %+v without error, but it is empty", body, tab)
		}
		for i, row := range tab.rows {
			if len(row) != len(tab.columns) {
				t.Fatalf("parseTable(%q): row %d has %d cells for %d columns", body, i+1, len(row), len(tab.columns))
			}
		}
		// Choosing columns never panics, whatever the table holds.
		_, _ = figure(tab, options{kind: "line"})
	})
}
