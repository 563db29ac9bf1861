package proxy

import (
	"os"
	"strings"
	"testing"
)

// filterLog runs input through a gonbLogFilter in arbitrary write chunks
// (GoNB's pipe splits lines anywhere) and returns what reaches the log.
func filterLog(t *testing.T, input string, stopAt string) string {
	t.Helper()
	t.Setenv("GOREPRO_KERNEL_DEBUG", "")
	var out strings.Builder
	f := newGoNBLogFilter(&out, false)
	for _, line := range strings.SplitAfter(input, "\n") {
		if stopAt != "" && strings.Contains(line, stopAt) {
			f.stopping()
		}
		for _, chunk := range strings.SplitAfter(line, "e") {
			if _, err := f.Write([]byte(chunk)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out.String()
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestGoNBLogFilterSynthetic(t *testing.T) {
	input := "a line before any klog entry\n" +
		"I1122 20:39:48.869786   10433 jpyexec.go:187] [616d1b5c] Executing\n" +
		"W1122 20:39:48.869786   10433 kernel.go:340] a warning\n" +
		"I1122 20:39:48.895476   10433 exec.go:179] [616d1b5c] killing gopls: \n" +
		"goroutine 1 [running]:\n\t/root/go/pkg/mod/x.go:16\n" +
		"E1122 20:39:48.905881   10433 kernel.go:99] \x1b[7;39;32m[616d1b5c]\x1b[0m lost: something failed\n" +
		"with a second line\n" +
		"github.com/janpfeifer/gonb/internal/goexec.(*State).Compile\n" +
		"\t/root/go/pkg/mod/github.com/janpfeifer/gonb@v0.11.5/internal/goexec/execcode.go:285\n" +
		"not shown: after the trace\n" +
		"I1122 20:39:48.905881   10433 main.go:261] [616d1b5c] Exiting...\n"
	want := "a line before any klog entry\n" +
		"W1122 20:39:48.869786   10433 kernel.go:340] a warning\n" +
		"E1122 20:39:48.905881   10433 kernel.go:99] [616d1b5c] lost: something failed\n" +
		"with a second line\n"
	if got := filterLog(t, input, ""); got != want {
		t.Errorf("filtered output\n%q\nwant\n%q", got, want)
	}
}

// The testdata files are GoNB v0.11.5's own output (its stdout and stderr as
// the proxy gets them, colours included), captured from kernels started with
// the code before the filter knew about them.
func TestGoNBLogFilterCaptured(t *testing.T) {
	tests := []struct {
		file, stopAt string
		want         []string // lines that must pass (escapes removed), in order
	}{
		// Start, then SIGTERM: the sample lines and the "killing gopls" trace.
		{"gonb-start-stop.log", "", []string{
			`goexec.go:200] [ee7ea00d] Could not find Jupyter root directory, %wasm will not work`,
		}},
		// A cell that does not compile: GoNB logs the compiler's output and a
		// stack trace of its error; the cell shows the compile error.
		{"gonb-compile-error.log", "", []string{
			`goexec.go:200] [0aca890b] Could not find Jupyter root directory`,
		}},
		// Stopped by the proxy while it started: GoNB panics on its way out.
		{"gonb-sigterm-panic.log", "Signal terminated", []string{
			`goexec.go:200] [88b214ff] Could not find Jupyter root directory`,
		}},
		// The same GoNB dying on its own: one line says why.
		{"gonb-sigterm-panic.log", "", []string{
			`goexec.go:200] [88b214ff] Could not find Jupyter root directory`,
			`exec.go:124] [88b214ff] gopls failed with: signal: terminated`,
			`panic: runtime error: invalid memory address or nil pointer dereference`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file+"/"+tc.stopAt, func(t *testing.T) {
			input := readTestdata(t, tc.file)
			if !strings.Contains(input, "\x1b[") || !strings.Contains(input, "] \x1b[7;39;32m[") {
				t.Fatalf("%s: not GoNB's coloured output", tc.file)
			}
			got := filterLog(t, input, tc.stopAt)
			lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("%d lines pass, want %d:\n%s", len(lines), len(tc.want), got)
			}
			for i, w := range tc.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("line %d is %q, want one with %q", i, lines[i], w)
				}
			}
			for _, noise := range []string{"Warning message", "Error message", "\x1b[", "goroutine ", ".go:16", "+0x", "undefined", "Signal terminated"} {
				if strings.Contains(got, noise) {
					t.Errorf("%q passes the filter:\n%s", noise, got)
				}
			}
		})
	}
}

func TestGoNBLogFilterDebugPassesAll(t *testing.T) {
	t.Setenv("GOREPRO_KERNEL_DEBUG", "1")
	var out strings.Builder
	f := newGoNBLogFilter(&out, false)
	in := "I1122 20:39:48.869786   10433 jpyexec.go:187] \x1b[7m[616d1b5c]\x1b[0m Executing\n"
	f.Write([]byte(in))
	if out.String() != in {
		t.Errorf("debug output %q, want %q", out.String(), in)
	}
}
