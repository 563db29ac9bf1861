package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--jobs", "0", "nb.ipynb"}, "run: --jobs 0: want at least 1"},
		{[]string{"run", "-p", "seed", "nb.ipynb"}, `run: malformed -p "seed": want name=value`},
		{[]string{"run", "--backend", "go", "-p", "backend=xla:cpu,go", "nb.ipynb"}, "run: -p backend=xla:cpu,go and --backend go both choose the backend"},
		{[]string{"run", "--profile", "full", "-p", "profile=quick", "nb.ipynb"}, "run: -p profile=quick and --profile full both choose the profile"},
		{[]string{"report"}, "report: no directory or file given"},
		{[]string{"report", "-o", "out.html", "build"}, "report: -o out.html: want a .md file"},
	} {
		err := run(tc.args)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || exitCode(err) != 2 {
			t.Errorf("gorepro %s: %v (exit %d), want a usage error %q", strings.Join(tc.args, " "), err, exitCode(err), tc.want)
		}
	}
}

func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	result := `RESULT {"notebook":"tour","backend":"go","seconds":1,"claims":[{"name":"c","paper":1,"ours":1,"holds":true}]}`
	for name, text := range map[string]string{"a/run.log": result + "\n", "b/run.txt": strings.Replace(result, `"ours":1`, `"ours":2`, 1)} {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out", "merged.md")
	if err := run([]string{"report", filepath.Join(dir, "a"), "-o", out, filepath.Join(dir, "b")}); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(md), "| [tour.ipynb](../") != 2 || !strings.Contains(string(md), "## tour.ipynb: 2 runs") {
		t.Errorf("merged report:\n%s", md)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "merged.html")); err != nil {
		t.Error(err)
	}
	// A missing input is reported in the report and by the exit status.
	err = run([]string{"report", "-o", out, filepath.Join(dir, "a"), filepath.Join(dir, "gone")})
	if err == nil || !strings.Contains(err.Error(), "1 input could not be read") || exitCode(err) != 1 {
		t.Errorf("report with a missing input: %v", err)
	}
}

// TestHelp: a command's -h or --help prints its usage, positional arguments
// and flags on stdout and exits 0.
func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"run", "--help"}, []string{"usage: gorepro run [flags] NOTEBOOK...", "-jobs", "-p value"}},
		{[]string{"run", "nb.ipynb", "-h"}, []string{"usage: gorepro run [flags] NOTEBOOK..."}},
		{[]string{"report", "--help"}, []string{"usage: gorepro report [flags] RUN_DIR_OR_FILE...", "-o string"}},
		{[]string{"doctor", "-h"}, []string{"usage: gorepro doctor [flags]\n", "-json"}},
		{[]string{"kernel", "--help"}, []string{"usage: gorepro kernel [flags]\n", "-connection-file", "-log-level"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var err error
			out := captureStdout(t, func() { err = run(tc.args) })
			if err != nil {
				t.Fatalf("error %v (exit %d), want none", err, exitCode(err))
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("usage lacks %q:\n%s", w, out)
				}
			}
		})
	}
	if err := run([]string{"run", "--no-such-flag"}); err == nil || exitCode(err) != 2 {
		t.Errorf("an unknown flag: %v (exit %d), want a usage error", err, exitCode(err))
	}
	if err := run([]string{"kernel", "--connection-file", "c.json", "--log-level", "loud"}); err == nil || exitCode(err) != 2 ||
		!strings.Contains(err.Error(), `log level "loud": want debug, info, warn or error`) {
		t.Errorf("a bad --log-level: %v, want a usage error", err)
	}
}

// captureStdout returns what fn writes to os.Stdout.
func captureStdout(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		data, _ := io.ReadAll(r)
		done <- string(data)
	}()
	fn()
	os.Stdout = saved
	w.Close()
	return <-done
}
