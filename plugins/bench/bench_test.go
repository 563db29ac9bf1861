package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gorepro/gorepro/kernel/plugin"
	"github.com/gorepro/gorepro/lib/backends"
)

func TestFlags(t *testing.T) {
	xlaCPU, xlaErr := backends.Resolve(backends.XLACPU)
	defaults := []string{"go"}
	if xlaErr == nil {
		defaults = append(defaults, xlaCPU.Name)
	}
	tests := []struct {
		args    []string
		want    options
		wantErr string
	}{
		{args: nil, want: options{runs: 10, warmup: 1}},
		{args: []string{"-n", "3", "--warmup", "0", "--backends", "go"}, want: options{runs: 3, warmup: 0, backends: []string{"go"}, backendList: "go"}},
		{args: []string{"--n=5", "--backends", " go , go "}, want: options{runs: 5, warmup: 1, backends: []string{"go"}, backendList: " go , go "}},
		{args: []string{"-n", "0"}, wantErr: "-n 0: want at least 1 timed run"},
		{args: []string{"-n", "x"}, wantErr: `invalid value "x" for flag -n: parse error (flags: --backends LIST, -n RUNS, --warmup RUNS)`},
		{args: []string{"--warmup", "-1"}, wantErr: "--warmup -1: want 0 or more"},
		{args: []string{"--runs", "3"}, wantErr: "flag provided but not defined: -runs"},
		{args: []string{"go"}, wantErr: `unexpected argument "go"`},
		{args: []string{"--backends", "gpu"}, wantErr: `--backends "gpu": "gpu" is not a backend`},
		{args: []string{"--backends", ","}, wantErr: `--backends "," names no backend`},
		{args: []string{"--backends", "go,tf32=false"}, wantErr: `--backends: backend "go,tf32=false": unknown option "tf32=false" for the go backend`},
		{args: []string{"--backends", "xla:tpu9"}, wantErr: `--backends: unknown backend "xla:tpu9"`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got, err := parseFlags(tc.args)
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
				t.Errorf("parseFlags = %+v, want %+v", got, tc.want)
			}
		})
	}
	if got := defaultBackends(""); !reflect.DeepEqual(got, defaults) {
		t.Errorf("defaultBackends() = %q, want %q", got, defaults)
	}
}

func TestHandle(t *testing.T) {
	tests := []struct {
		args    []string
		body    string
		want    []string // in the generated code
		wantErr string
	}{
		{args: []string{"--backends", "go", "-n", "4", "--warmup", "2"}, body: "_ = backend.Name()\n",
			want: []string{`range []string{"go"}`, "make([]time.Duration, 4)", "for i := range 2 {", "_ = backend.Name()"}},
		{args: []string{"--backends", "go"}, body: "x := tensors.FromValue([]float32{1})\n_ = x\n",
			want: []string{`"github.com/gomlx/gomlx/core/tensors"`}},
		{body: "  \n", wantErr: "%%bench: empty body: write the Go statements to time"},
		{body: "x := 1\ny := (\n", wantErr: "%%bench: body line 2: unfinished statement (expected operand, found '}')"},
		{body: "x := 1\n//bench:timed\n_ = x +\n", wantErr: "%%bench: body line 3: unfinished statement"},
		{body: "x := 1\n//bench:timed\n_ = x ++ 1\n", wantErr: "%%bench: body line 3: expected"},
		{body: "x := 1\n//bench:timed\n", wantErr: "%%bench: nothing to time after the //bench:timed line"},
		{args: []string{"-n", "-3"}, body: "_ = 1", wantErr: "%%bench: -n -3: want at least 1 timed run"},
	}
	for _, tc := range tests {
		t.Run(tc.body, func(t *testing.T) {
			resp, err := Handle(context.Background(), &plugin.Request{Name: "bench", Args: tc.args, Body: tc.body})
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Outputs) != 0 || resp.Backend != "" {
				t.Errorf("response = %+v, want only code", resp)
			}
			for _, w := range tc.want {
				if !strings.Contains(resp.Code, w) {
					t.Errorf("code lacks %q:\n%s", w, resp.Code)
				}
			}
		})
	}
}

// TestGeneratedCodeRuns builds the generated cell inside this module (so
// that lib/... and GoMLX resolve as they do for GoNB) and runs it: the go
// backend is timed, and a backend that cannot load gets a row saying why.
func TestGeneratedCodeRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a GoMLX program")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	body := `x := tensors.FromShape(shapes.Make(dtypes.Float32, 8, 8))
exec, err := graph.NewExec(backend, func(x *graph.Node) *graph.Node { return graph.ReduceAllSum(graph.MatMul(x, x)) })
if err != nil {
	panic(err)
}
//bench:timed
out, err := exec.Call(x)
if err != nil {
	panic(err)
}
_ = out[0].Value()
`
	code, err := Generate([]string{"xla:/nonexistent/pjrt_plugin.so", "go"}, 3, 1, body)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "build"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(filepath.Join(root, "build"), "benchtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\n"+code), 0o644); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(dir, "bench")
	build := exec.Command("go", "build", "-o", prog, "./"+filepath.Join("build", filepath.Base(dir)))
	build.Dir = root
	build.Env = append(os.Environ(), "GOWORK=off", "GOPROXY=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the generated code does not build: %v\n%s\n%s", err, out, code)
	}
	run := exec.Command(prog)
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("the benchmark failed: %v\n%s", err, out)
	}
	text := string(out)
	t.Logf("the benchmark's output:\n%s", text)
	for _, want := range []string{"backend", "median ÷ go", `not run: backend "xla:/nonexistent/pjrt_plugin.so"`, "1.00×"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	var goRow string
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "go ") {
			goRow = line
		}
	}
	if fields := strings.Fields(goRow); len(fields) < 6 || fields[1] != "3" {
		t.Errorf("the go row %q does not show 3 timed runs:\n%s", goRow, text)
	}
}
