package runner

import (
	"github.com/gorepro/gorepro/lib/ipynb"
	"reflect"
	"strings"
	"testing"
)

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

func TestCheckParamsExecuted(t *testing.T) {
	nb, err := ipynb.Read("testdata/executed.ipynb")
	if err != nil {
		t.Fatal(err)
	}
	declared, err := CheckParams(nb, []Param{{"seed", "9"}})
	if err != nil || declared["seed"] != int64(9) {
		t.Errorf("CheckParams = %v, %v", declared, err)
	}
}
