package params

import (
	"reflect"
	"strings"
	"testing"
)

const sample = `
// The tour's parameters.
profile string  = "quick"  // quick: CPU minutes; full: the paper's scale on a GPU  [quick, full]
seed    int     = 42       // random seed
lr      float64 = 1e-3     // learning rate  [1e-6 .. 1]
backend string  = ""       // "" = default backend
steps   int64   = 1 << 10  // [1 .. 1e6]
half    float32 = 0.1      // [0.1, 0.5]
mode    string  = "a b"    // ["a b", "c|d", "100%"]
on      bool    = true
sizes   []int   = {64, 128} // widths
names   []string = []string{"a // b", ` + "`c`" + `}
`

func ptr(f float64) *float64 { return &f }

func TestParse(t *testing.T) {
	got, err := Parse(sample)
	if err != nil {
		t.Fatal(err)
	}
	want := []Declaration{
		{Name: "profile", Type: "string", Default: `"quick"`, Help: "quick: CPU minutes; full: the paper's scale on a GPU", Allowed: []string{"quick", "full"}},
		{Name: "seed", Type: "int", Default: "42", Help: "random seed"},
		{Name: "lr", Type: "float64", Default: "1e-3", Help: "learning rate", Min: ptr(1e-6), Max: ptr(1)},
		{Name: "backend", Type: "string", Default: `""`, Help: `"" = default backend`},
		{Name: "steps", Type: "int64", Default: "1 << 10", Min: ptr(1), Max: ptr(1e6)},
		{Name: "half", Type: "float32", Default: "0.1", Allowed: []string{"0.1", "0.5"}},
		{Name: "mode", Type: "string", Default: `"a b"`, Allowed: []string{"a b", "c|d", "100%"}},
		{Name: "on", Type: "bool", Default: "true"},
		{Name: "sizes", Type: "[]int", Default: "[]int{64, 128}", Help: "widths"},
		{Name: "names", Type: "[]string", Default: "[]string{\"a // b\", `c`}"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		body, want string
	}{
		{"", "no parameters declared"},
		{"// only a comment\n\n", "no parameters declared"},
		{"seed = 42", "line 1: \"seed\": want `name type = default // help` (a name and a type before =)"},
		{"seed int", "line 1: \"seed int\": want `name type = default // help`"},
		{"seed int =", "line 1: parameter seed: default is missing"},
		{"seed uint = 1", `line 1: parameter seed: type "uint" is not one of int, int64, float64, float32, string, bool, []int, []float64, []string`},
		{"func int = 1", `line 1: "func" is not a Go variable name`},
		{"2x int = 1", `line 1: "2x" is not a Go variable name`},
		{"seed int = 1.5", "line 1: parameter seed: default 1.5 is not a value of type int"},
		{`seed int = "7"`, `line 1: parameter seed: default "7" is not a value of type int`},
		{"lr float32 = 1e100", "line 1: parameter lr: default 1e100 is not a value of type float32"},
		{"name string = quick", "line 1: parameter name: default quick is not a Go constant of type string"},
		{"on bool = 1", "line 1: parameter on: default 1 is not a value of type bool"},
		{"sizes []int = {1, 2.5}", "line 1: parameter sizes: default element 2.5 is not a value of type int"},
		{"sizes []int = []float64{1}", "line 1: parameter sizes: default []float64{1} is not a []int literal"},
		{"sizes []int = {0: 1}", "write the elements without indices"},
		{"seed int = 1\nseed int = 2", "line 2: parameter seed is declared twice"},
		{`profile string = "slow" // [quick, full]`, `line 1: default: parameter profile = "slow": want one of quick, full`},
		{"lr float64 = 2 // [0 .. 1]", "line 1: default: parameter lr = 2: want a value in [0, 1]"},
		{"lr float64 = 0.5 // [1 .. 0]", "line 1: parameter lr: allowed values [1 .. 0]: the range is empty: 1 > 0"},
		{"n int = 1 // [0 .. 2.5]", "line 1: parameter n: allowed values [0 .. 2.5]: 2.5 is not a value of type int"},
		{`s string = "a" // [a .. z]`, "a range needs a number type, not string"},
		{"n int = 1 // [1, two]", "two is not a Go constant of type int"},
		{`s string = "a" // [a, , b]`, `an empty value: write "" for the empty string`},
		{"xs []int = {1} // [1, 2]", "a []int parameter cannot have allowed values"},
	}
	for _, tc := range tests {
		_, err := Parse(tc.body)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) error = %v, want %q", tc.body, err, tc.want)
		}
	}
}

func TestCheck(t *testing.T) {
	decls, err := Parse(sample)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Declaration{}
	for _, d := range decls {
		byName[d.Name] = d
	}
	tests := []struct {
		name, value, want string
	}{
		{"profile", "full", ""},
		{"profile", "huge", `parameter profile = "huge": want one of quick, full`},
		{"profile", `"quick"`, `parameter profile = "\"quick\"": want one of quick, full`},
		{"lr", "1", ""},
		{"lr", "1e-6", ""},
		{"lr", "5", "parameter lr = 5: want a value in [1e-06, 1]"},
		{"lr", "NaN", `parameter lr (float64): "NaN" is not a finite number`},
		{"steps", "1000000", ""},
		{"steps", "0", "parameter steps = 0: want a value in [1, 1e+06]"},
		{"half", "0.1", ""}, // the float32 nearest 0.1, as in the cell
		{"half", "0.2", "parameter half = 0.2: want one of 0.1, 0.5"},
		{"mode", "c|d", ""},
		{"seed", "anything", ""}, // no allowed values: Convert checks the type
		{"sizes", "[1]", ""},
	}
	for _, tc := range tests {
		err := byName[tc.name].Check(tc.value)
		if (err == nil) != (tc.want == "") || (err != nil && err.Error() != tc.want) {
			t.Errorf("Check(%s=%s) = %v, want %q", tc.name, tc.value, err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range strings.Split(sample, "\n") {
		f.Add(s)
	}
	f.Add(`x string = "a" // ["%v", "\"", b]`)
	f.Fuzz(func(t *testing.T, body string) {
		decls, err := Parse(body)
		if err != nil {
			return
		}
		for _, d := range decls {
			// A parsed default always passes its own check.
			if err := d.check(d.Default, true); err != nil {
				t.Fatalf("Parse(%q): default of %s fails its check: %v", body, d.Name, err)
			}
		}
	})
}
