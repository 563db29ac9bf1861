package params

import (
	"bytes"
	"errors"
	"fmt"
	grammar "github.com/gorepro/gorepro/lib/params"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// papermillCell is the cell papermill injects after the parameters cell, as
// python/gorepro_papermill writes it: each scalar through a constant named
// after the parameter, lists through append.
func papermillCell(assignments ...string) string {
	var b strings.Builder
	b.WriteString("// Parameters\nvar papermillParameters = func() bool {\n")
	for _, a := range assignments {
		name, value, _ := strings.Cut(a, "=")
		if strings.HasPrefix(value, "[") {
			fmt.Fprintf(&b, "\t%s = append(%s[:0:0], %s)\n", name, name, strings.Trim(value, "[]"))
		} else {
			fmt.Fprintf(&b, "\tconst papermill_%s = %s\n\t%s = papermill_%s\n", name, value, name, name)
		}
	}
	b.WriteString("\treturn true\n}()\n")
	return b.String()
}

// TestGeneratedCodeRuns compiles the code of the sample cell the way GoNB
// composes a later cell's program — the declarations, papermill's cell, the
// init_ check renamed to init — and runs it with the go command.
func TestGeneratedCodeRuns(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	decls, err := grammar.Parse(sample)
	if err != nil {
		t.Fatal(err)
	}
	code := Code(decls)
	// GoNB renders every memorised function named init_* as `func init()`.
	code = strings.Replace(code, "func "+initFunc+"()", "func init()", 1)
	const main = `package main

import "fmt"

func main() { fmt.Println(profile, seed, lr, backend, steps, half, mode, on, sizes, names) }
`
	tests := []struct {
		name       string
		papermill  []string // assignments name=value, as papermill's -p would give them
		wantStdout string
		wantStderr string // the program fails with this message
		wantBuild  string // the build fails with this message
	}{
		{name: "defaults", wantStdout: "quick 42 0.001  1024 0.1 a b true [64 128] [a // b c]\n"},
		{name: "in range", papermill: []string{`profile="full"`, "seed=7", "lr=1", "half=0.5", "sizes=[1, 2]", `mode="100%"`},
			wantStdout: "full 7 1  1024 0.5 100% true [1 2] [a // b c]\n"},
		{name: "out of set", papermill: []string{`profile="huge"`}, wantStderr: "parameter profile = \"huge\": want one of quick, full\n"},
		{name: "out of range", papermill: []string{"lr=5"}, wantStderr: "parameter lr = 5: want a value in [1e-06, 1]\n"},
		{name: "int out of range", papermill: []string{"steps=0"}, wantStderr: "parameter steps = 0: want a value in [1, 1e+06]\n"},
		{name: "float32 set", papermill: []string{"half=0.25"}, wantStderr: "parameter half = 0.25: want one of 0.1, 0.5\n"},
		{name: "percent in set", papermill: []string{`mode="x"`}, wantStderr: "parameter mode = \"x\": want one of a b, c|d, 100%\n"},
		{name: "wrong type", papermill: []string{`seed="seven"`}, wantBuild: `cannot use papermill_seed (untyped string constant "seven") as int value in assignment`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string]string{
				"go.mod":    "module paramscheck\n\ngo 1.26\n",
				"params.go": "package main\n\n" + code,
				"main.go":   main,
			}
			if tc.papermill != nil {
				files["papermill.go"] = "package main\n\n" + papermillCell(tc.papermill...)
			}
			for name, text := range files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			build := exec.Command(goCmd, "build", "-o", "prog", ".")
			build.Dir = dir
			build.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOWORK=off", "GOFLAGS=", "GOPROXY=off")
			out, err := build.CombinedOutput()
			if tc.wantBuild != "" {
				if err == nil || !strings.Contains(string(out), tc.wantBuild) {
					t.Fatalf("build: %v\n%s\nwant a failure with %q", err, out, tc.wantBuild)
				}
				return
			}
			if err != nil {
				t.Fatalf("the generated code does not build: %v\n%s\n%s", err, out, files["params.go"])
			}
			var stdout, stderr bytes.Buffer
			run := exec.Command(filepath.Join(dir, "prog"))
			run.Stdout, run.Stderr = &stdout, &stderr
			err = run.Run()
			if tc.wantStderr != "" {
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() != 1 || stderr.String() != tc.wantStderr || stdout.Len() > 0 {
					t.Fatalf("run: %v, stdout %q, stderr %q; want exit status 1 and %q", err, stdout.String(), stderr.String(), tc.wantStderr)
				}
				return
			}
			if err != nil || stdout.String() != tc.wantStdout {
				t.Fatalf("run: %v, stdout %q, stderr %q; want %q", err, stdout.String(), stderr.String(), tc.wantStdout)
			}
		})
	}
}
