package params

import (
	"reflect"
	"strings"
	"testing"
)

// param is a -p name=value of the command line.
type param struct{ Name, Value string }

// convert is gorepro run's use of the package: Lookup, then Convert.
func convert(p param, declared []Declaration) (any, error) {
	d, err := Lookup(declared, p.Name)
	if err != nil {
		return nil, err
	}
	return d.Convert(p.Value)
}

func TestParseVars(t *testing.T) {
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
	got, err := ParseVars(src)
	if err != nil {
		t.Fatal(err)
	}
	want := []Declaration{
		{Name: "profile", Type: "string", Default: `"quick"`}, {Name: "backend", Type: "string", Default: `""`}, {Name: "seed", Type: "int", Default: "42"},
		{Name: "lr", Type: "float64", Default: "1e-3"}, {Name: "neg", Type: "int", Default: "-5"}, {Name: "ratio", Type: "float64", Default: "2 * 0.5"}, {Name: "on", Type: "bool", Default: "true"},
		{Name: "sizes", Type: "[]int", Default: "[]int{1, 2}"}, {Name: "half", Type: "float32", Default: "float32(0.5)"}, {Name: "steps", Type: "int64", Default: "10"},
		{Name: "name", Type: "string", Default: `"a"`}, {Name: "other", Type: "int", Default: "3"}, {Name: "untyped", Type: "int", Default: ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseVars:\n got %v\nwant %v", got, want)
	}
}

func TestParseVarsRejectsStatements(t *testing.T) {
	if _, err := ParseVars("seed := 3"); err == nil {
		t.Error("a statement in the parameters cell parsed without error")
	}
}

func TestConvert(t *testing.T) {
	declared := []Declaration{{Name: "seed", Type: "int", Default: "1"}, {Name: "lr", Type: "float64", Default: "0.1"}, {Name: "name", Type: "string", Default: `""`},
		{Name: "on", Type: "bool", Default: "false"}, {Name: "sizes", Type: "[]int", Default: ""}, {Name: "count", Type: "uint", Default: "1"}, {Name: "eps", Type: "float32", Default: "1e-6"}}
	tests := []struct {
		param   param
		want    any
		wantErr string
	}{
		{param{"seed", "7"}, int64(7), ""},
		{param{"seed", " -3 "}, int64(-3), ""},
		{param{"lr", "1"}, 1.0, ""},
		{param{"lr", "2.5e-4"}, 2.5e-4, ""},
		{param{"name", `say "hi"` + "\n"}, `say "hi"` + "\n", ""},
		{param{"on", "true"}, true, ""},
		{param{"sizes", "[1, 2, 3]"}, []any{1.0, 2.0, 3.0}, ""},
		{param{"seed", "seven"}, nil, `parameter seed (int): "seven" is not an integer`},
		{param{"seed", "1.5"}, nil, "is not an integer"},
		{param{"lr", "fast"}, nil, "is not a number"},
		{param{"on", "maybe"}, nil, "is not true or false"},
		{param{"sizes", "[1,"}, nil, "is not JSON"},
		{param{"count", "-1"}, nil, "is negative"},
		{param{"lr", "NaN"}, nil, `parameter lr (float64): "NaN" is not a finite float64`},
		{param{"lr", "nan"}, nil, "is not a finite float64"},
		{param{"lr", "Inf"}, nil, "is not a finite float64"},
		{param{"lr", "-infinity"}, nil, "is not a finite float64"},
		{param{"lr", "1e400"}, nil, "is not a finite float64"},
		{param{"lr", "1e-400"}, 0.0, ""},
		{param{"eps", "1e39"}, nil, "is not a finite float32"},
		{param{"eps", "1e38"}, 1e38, ""},
		{param{"epochs", "3"}, nil, `parameter "epochs" is not declared by the notebook (it declares: count, eps, lr, name, on, seed, sizes)`},
	}
	for _, tc := range tests {
		t.Run(tc.param.Name+"="+tc.param.Value, func(t *testing.T) {
			got, err := convert(tc.param, declared)
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
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func FuzzParseVars(f *testing.F) {
	f.Add("var seed = 1\nvar lr = 0.5 // x")
	f.Add("var (\n a = []int{1}\n b float32 = 2\n)")
	f.Add("func main() {}")
	f.Add("var x = map[string]any{\"a\": 1}")
	f.Fuzz(func(t *testing.T, src string) {
		decls, err := ParseVars(src)
		if err != nil {
			return
		}
		for _, d := range decls {
			if d.Name == "" {
				t.Fatalf("declaration without a name from %q", src)
			}
			// Converting any text must not panic.
			_, _ = convert(param{d.Name, src}, decls)
		}
	})
}
