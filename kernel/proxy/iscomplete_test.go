package proxy

import (
	"strings"
	"testing"
)

func TestIsComplete(t *testing.T) {
	tests := []struct {
		code, status, indent string
	}{
		{"", "complete", ""},
		{"func main() {}", "complete", ""},
		{"func main() {", "incomplete", "\t"},
		{"func main() {\n\tif x {", "incomplete", "\t\t"},
		{"var s = `raw\nstring", "incomplete", ""},
		{"var x = (1 +", "incomplete", ""},
		{"var x = f(", "incomplete", "\t"},
		{"import \"fmt\"\nfunc main() { fmt.Println(1) }", "complete", ""},
		{"%%\nfmt.Println(1)", "complete", ""},
		{"%%\nfor i := 0; i < 3; i++ {", "incomplete", "\t"},
		{"%% --some-flag\nx := 1\n_ = x", "complete", ""},
		{"%env FOO bar\nfunc main() {}", "complete", ""},
		{"!ls -l\n", "complete", ""},
		{"%%bash\nfor x in\n", "complete", ""},
		{"%%writefile f.txt\nanything {", "complete", ""},
		{"%%help", "complete", ""},
		{"%%plot --title \"a b\"\nx,y\n1,2", "complete", ""},
		{"%%plot \"unterminated", "invalid", ""},
		{"func main() { ) }", "invalid", ""},
		{"x := 1", "invalid", ""},
	}
	for _, tc := range tests {
		got := IsComplete(tc.code)
		if got.Status != tc.status || got.Indent != tc.indent {
			t.Errorf("IsComplete(%q) = %+v, want {%s %q}", tc.code, got, tc.status, tc.indent)
		}
	}
}

func FuzzIsComplete(f *testing.F) {
	for _, s := range []string{"func main() {", "%%\nfor {", "%%plot 'x", "!ls\n%env A b", "var x = `"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, code string) {
		switch IsComplete(code).Status {
		case "complete", "incomplete", "invalid":
		default:
			t.Fatalf("IsComplete(%q): unknown status", code)
		}
	})
}

func TestGoNBLogFilter(t *testing.T) {
	var out strings.Builder
	f := newGoNBLogFilter(&out)
	input := "I1122 20:39:48.869786   10433 jpyexec.go:187] [616d1b5c] Executing\n" +
		"W1122 20:39:48.869786   10433 kernel.go:340] a warning\n" +
		"I1122 20:39:48.895476   10433 exec.go:179] [616d1b5c] killing gopls: \n" +
		"goroutine 1 [running]:\n\t/root/go/pkg/mod/x.go:16\n" +
		"I1122 20:39:48.905881   10433 main.go:261] [616d1b5c] Exiting...\n" +
		"a real message"
	for _, chunk := range strings.SplitAfter(input, "e") { // arbitrary write boundaries
		if _, err := f.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	f.Write([]byte("\n"))
	want := "W1122 20:39:48.869786   10433 kernel.go:340] a warning\na real message\n"
	if out.String() != want {
		t.Errorf("filtered output %q, want %q", out.String(), want)
	}
}
