package runner

import (
	"github.com/gorepro/gorepro/lib/ipynb"
	"reflect"
	"strings"
	"testing"
)

func TestParseParameters(t *testing.T) {
	src := `// Parameters
var (
	profile = "quick" // quick or full
	backend = ""
	seed    = 42
	lr      = 1e-3
	neg     = -5
	ratio   = 2 * 0.5
	on      = true
	sizes   = []int{1, 2}
	half    = float32(0.5)
	steps   int64 = 10
)
var name, other = "a", 3
var untyped int
`
	got, err := ParseParameters(src)
	if err != nil {
		t.Fatal(err)
	}
	want := []Declared{
		{"profile", "string", `"quick"`}, {"backend", "string", `""`}, {"seed", "int", "42"},
		{"lr", "float64", "1e-3"}, {"neg", "int", "-5"}, {"ratio", "float64", "2 * 0.5"}, {"on", "bool", "true"},
		{"sizes", "[]int", "[]int{1, 2}"}, {"half", "float32", "float32(0.5)"}, {"steps", "int64", "10"},
		{"name", "string", `"a"`}, {"other", "int", "3"}, {"untyped", "int", ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseParameters:\n got %v\nwant %v", got, want)
	}
}

func TestParseParametersRejectsStatements(t *testing.T) {
	if _, err := ParseParameters("seed := 3"); err == nil {
		t.Error("a statement in the parameters cell parsed without error")
	}
}

func TestConvert(t *testing.T) {
	declared := []Declared{{"seed", "int", "1"}, {"lr", "float64", "0.1"}, {"name", "string", `""`},
		{"on", "bool", "false"}, {"sizes", "[]int", ""}, {"count", "uint", "1"}, {"eps", "float32", "1e-6"}}
	tests := []struct {
		param   Param
		want    any
		wantErr string
	}{
		{Param{"seed", "7"}, int64(7), ""},
		{Param{"seed", " -3 "}, int64(-3), ""},
		{Param{"lr", "1"}, 1.0, ""},
		{Param{"lr", "2.5e-4"}, 2.5e-4, ""},
		{Param{"name", `say "hi"` + "\n"}, `say "hi"` + "\n", ""},
		{Param{"on", "true"}, true, ""},
		{Param{"sizes", "[1, 2, 3]"}, []any{1.0, 2.0, 3.0}, ""},
		{Param{"seed", "seven"}, nil, `parameter seed (int): "seven" is not an integer`},
		{Param{"seed", "1.5"}, nil, "is not an integer"},
		{Param{"lr", "fast"}, nil, "is not a number"},
		{Param{"on", "maybe"}, nil, "is not true or false"},
		{Param{"sizes", "[1,"}, nil, "is not JSON"},
		{Param{"count", "-1"}, nil, "is negative"},
		{Param{"lr", "NaN"}, nil, `parameter lr (float64): "NaN" is not a finite float64`},
		{Param{"lr", "nan"}, nil, "is not a finite float64"},
		{Param{"lr", "Inf"}, nil, "is not a finite float64"},
		{Param{"lr", "-infinity"}, nil, "is not a finite float64"},
		{Param{"lr", "1e400"}, nil, "is not a finite float64"},
		{Param{"lr", "1e-400"}, 0.0, ""},
		{Param{"eps", "1e39"}, nil, "is not a finite float32"},
		{Param{"eps", "1e38"}, 1e38, ""},
		{Param{"epochs", "3"}, nil, `parameter "epochs" is not declared by the notebook (it declares: count, eps, lr, name, on, seed, sizes)`},
	}
	for _, tc := range tests {
		t.Run(tc.param.Name+"="+tc.param.Value, func(t *testing.T) {
			got, err := Convert([]Param{tc.param}, declared)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got[tc.param.Name], tc.want) {
				t.Errorf("got %#v, want %#v", got[tc.param.Name], tc.want)
			}
		})
	}
}

func TestCheckParamsWithoutParametersCell(t *testing.T) {
	nb := &ipynb.Notebook{Cells: []ipynb.Cell{{CellType: "code", Source: "var seed = 1"}}}
	if _, err := CheckParams(nb, nil); err != nil {
		t.Errorf("no params, no parameters cell: %v", err)
	}
	_, err := CheckParams(nb, []Param{{"seed", "2"}})
	if err == nil || !strings.Contains(err.Error(), "no cell tagged `parameters`") {
		t.Errorf("error = %v", err)
	}
}

func TestCheckParamsPluginCell(t *testing.T) {
	source := "%%params\n" +
		"profile string  = \"quick\"  // quick: CPU minutes; full: the paper's scale  [quick, full]\n" +
		"seed    int     = 42       // random seed\n" +
		"lr      float64 = 1e-3     // learning rate  [1e-6 .. 1]\n" +
		"sizes   []int   = {64}\n"
	nb := &ipynb.Notebook{Cells: []ipynb.Cell{{CellType: "code", Source: ipynb.MultiString(source), Metadata: ipynb.CellMetadata{Tags: []string{"parameters"}}}}}
	tests := []struct {
		params  []Param
		want    map[string]any
		wantErr string
	}{
		{nil, map[string]any{}, ""},
		{[]Param{{"profile", "full"}, {"seed", "7"}, {"lr", "0.5"}, {"sizes", "[1, 2]"}},
			map[string]any{"profile": "full", "seed": int64(7), "lr": 0.5, "sizes": []any{1.0, 2.0}}, ""},
		{[]Param{{"profile", "huge"}}, nil, `parameter profile = "huge": want one of quick, full`},
		{[]Param{{"lr", "2"}}, nil, "parameter lr = 2: want a value in [1e-06, 1]"},
		{[]Param{{"seed", "seven"}}, nil, `parameter seed (int): "seven" is not an integer`},
		{[]Param{{"epochs", "3"}}, nil, `parameter "epochs" is not declared by the notebook (it declares: lr, profile, seed, sizes)`},
	}
	for _, tc := range tests {
		got, err := CheckParams(nb, tc.params)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("CheckParams(%v) error = %v, want %q", tc.params, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("CheckParams(%v) = %#v, %v; want %#v", tc.params, got, err, tc.want)
		}
	}

	bad := &ipynb.Notebook{Cells: []ipynb.Cell{{CellType: "code", Source: "%%params\nseed int = x\n", Metadata: ipynb.CellMetadata{Tags: []string{"parameters"}}}}}
	if _, err := CheckParams(bad, nil); err == nil || !strings.Contains(err.Error(), "parameters cell (%%params): line 1: parameter seed: default x") {
		t.Errorf("a bad %%%%params cell: error = %v", err)
	}
}

func FuzzParseParameters(f *testing.F) {
	f.Add("var seed = 1\nvar lr = 0.5 // x")
	f.Add("var (\n a = []int{1}\n b float32 = 2\n)")
	f.Add("func main() {}")
	f.Add("var x = map[string]any{\"a\": 1}")
	f.Fuzz(func(t *testing.T, src string) {
		decls, err := ParseParameters(src)
		if err != nil {
			return
		}
		for _, d := range decls {
			if d.Name == "" {
				t.Fatalf("declaration without a name from %q", src)
			}
			// Converting any text must not panic.
			_, _ = Convert([]Param{{d.Name, src}}, decls)
		}
	})
}
