package proxy

import "testing"

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
