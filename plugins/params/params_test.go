package params

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/gorepro/gorepro/kernel/plugin"
	grammar "github.com/gorepro/gorepro/lib/params"
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

func TestHandle(t *testing.T) {
	resp, err := Handle(context.Background(), &plugin.Request{Name: "params", Body: sample})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Backend != "" || len(resp.Outputs) != 1 {
		t.Fatalf("response = %+v", resp)
	}
	table := resp.Outputs[0].Data["text/markdown"].(string)
	for _, want := range []string{"| `profile` | `string` | `\"quick\"` | quick, full | quick: CPU minutes;", "| `lr` | `float64` | `1e-3` | [1e-06, 1] | learning rate |", `c\|d`} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	for _, want := range []string{`profile\s+string\s+= "quick" // quick: CPU minutes;`, `func ` + initFunc + `\(\) {`, `if !\(lr >= 1e-06 && lr <= 1\) {`} {
		if !regexp.MustCompile(want).MatchString(resp.Code) {
			t.Errorf("code lacks %q:\n%s", want, resp.Code)
		}
	}

	for _, tc := range []struct {
		args []string
		body string
		want string
	}{
		{[]string{"x"}, sample, `%%params takes no arguments, got "x"`},
		{nil, "seed int = x", "%%params: line 1: parameter seed: default x is not a Go constant of type int"},
	} {
		if _, err := Handle(context.Background(), &plugin.Request{Name: "params", Args: tc.args, Body: tc.body}); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Handle(%q, %q) error = %v, want %q", tc.args, tc.body, err, tc.want)
		}
	}
}

func TestUsage(t *testing.T) {
	resp, err := Handle(context.Background(), &plugin.Request{Name: "params", Args: []string{"--help"}})
	if err != nil || resp.Code != "" || resp.Outputs[0].Data["text/markdown"] != usage {
		t.Errorf("%%%%params --help = %+v, %v; want the usage", resp, err)
	}
}

func TestCodeWithoutChecks(t *testing.T) {
	decls, err := grammar.Parse("seed int = 1 // seed")
	if err != nil {
		t.Fatal(err)
	}
	want := "// Parameters (from %%params): papermill's cell, after this one, assigns new values.\nvar (\n\tseed int = 1 // seed\n)\n"
	if got := Code(decls); got != want {
		t.Errorf("Code = %q, want %q", got, want)
	}
}

func FuzzCode(f *testing.F) {
	for _, s := range strings.Split(sample, "\n") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		decls, err := grammar.Parse(body)
		if err != nil {
			return
		}
		_ = Code(decls)
	})
}
