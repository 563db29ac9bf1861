package plugin

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseCell(t *testing.T) {
	tests := []struct {
		source  string
		ok      bool
		want    Cell
		wantErr string
	}{
		{source: `%%plot --title "a b" x`, ok: true, want: Cell{Name: "plot", Args: []string{"--title", "a b", "x"}}},
		{source: "%%plot --x step\nstep,loss\n1,2\n", ok: true,
			want: Cell{Name: "plot", Args: []string{"--x", "step"}, Body: "step,loss\n1,2\n"}},
		{source: "%%help", ok: true, want: Cell{Name: "help"}},
		{source: "%%help\r\nbody\r\n", ok: true, want: Cell{Name: "help", Body: "body\r\n"}},
		{source: "%%bench\t-n 3", ok: true, want: Cell{Name: "bench", Args: []string{"-n", "3"}}},
		{source: `%%echo 'it''s' "say \"hi\"" a\ b`, ok: true, want: Cell{Name: "echo", Args: []string{"its", `say "hi"`, "a b"}}},
		{source: `%%echo "" ''`, ok: true, want: Cell{Name: "echo", Args: []string{"", ""}}},
		// GoNB's own forms: %%writefile has a name, so it parses; the proxy
		// passes it to GoNB because IsGoNBForm says so.
		{source: "%%writefile f.txt\nhello", ok: true, want: Cell{Name: "writefile", Args: []string{"f.txt"}, Body: "hello"}},
		{source: "%%\nfmt.Println(1)", ok: false},
		{source: "%% -n 3\nfmt.Println(1)", ok: false},
		{source: "%%-n", ok: false},
		{source: "package main", ok: false},
		{source: "", ok: false},
		{source: " %%plot", ok: false},
		{source: "%plot", ok: false},
		{source: `%%plot --title "a b`, ok: true, wantErr: "%%plot: unterminated quote"},
		{source: `%%plot 'x`, ok: true, wantErr: "unterminated quote"},
		{source: `%%plot x\`, ok: true, wantErr: "trailing backslash"},
	}
	for _, tc := range tests {
		t.Run(tc.source, func(t *testing.T) {
			got, ok, err := ParseCell(tc.source)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
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
				t.Errorf("ParseCell = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestIsGoNBForm(t *testing.T) {
	for name, want := range map[string]bool{"": true, "writefile": true, "script": true, "bash": true, "sh": true,
		"plot": false, "help": false, "Bash": false} {
		if got := IsGoNBForm(name); got != want {
			t.Errorf("IsGoNBForm(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		line    string
		want    []string
		wantErr string
	}{
		{"", nil, ""},
		{"   \t ", nil, ""},
		{"a b\tc", []string{"a", "b", "c"}, ""},
		{"  --y loss,acc  ", []string{"--y", "loss,acc"}, ""},
		{`"a b"c'd e'`, []string{"a bcd e"}, ""},
		{`'$HOME \n'`, []string{`$HOME \n`}, ""},
		{`"\$HOME \n \\ \` + "`" + `"`, []string{`$HOME \n \ ` + "`"}, ""},
		{`a\ b \"c`, []string{"a b", `"c`}, ""},
		{"héllo wörld", []string{"héllo", "wörld"}, ""},
		{`"unterminated`, nil, "unterminated quote"},
		{`'unterminated`, nil, "unterminated quote"},
		{`trailing\`, nil, "trailing backslash"},
	}
	for _, tc := range tests {
		got, err := SplitArgs(tc.line)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("SplitArgs(%q) error = %v, want %q", tc.line, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SplitArgs(%q) = %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}
}

// shellQuote quotes an argument so that SplitArgs reads it back unchanged.
func shellQuote(arg string) string {
	return "'" + strings.ReplaceAll(arg, "'", `'\''`) + "'"
}

func FuzzSplitArgs(f *testing.F) {
	for _, s := range []string{"", `--title "a b" x`, `'it'\''s'`, `a\ b "c\"d"`, `"x`, "\t\\", "\xff 'é'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args, err := SplitArgs(line)
		if err != nil {
			return
		}
		// Quoting the arguments again must give them back: nothing is lost or merged.
		quoted := make([]string, len(args))
		for i, a := range args {
			quoted[i] = shellQuote(a)
		}
		again, err := SplitArgs(strings.Join(quoted, " "))
		if err != nil {
			t.Fatalf("re-splitting %q: %v", quoted, err)
		}
		if len(args) == 0 && len(again) == 0 {
			return
		}
		if !reflect.DeepEqual(args, again) {
			t.Fatalf("SplitArgs(%q) = %q, but its quoted form reads back as %q", line, args, again)
		}
	})
}

func FuzzParseCell(f *testing.F) {
	for _, s := range []string{"%%plot --title \"a b\" x\nbody", "%%", "%% -n 3", "%%writefile f\nx", "%%p 'x", "var x = 1", "%%\t\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, source string) {
		cell, ok, err := ParseCell(source)
		if !ok {
			if err != nil {
				t.Fatalf("ParseCell(%q): not a plugin cell, yet an error: %v", source, err)
			}
			return
		}
		if !strings.HasPrefix(source, "%%"+cell.Name) {
			t.Fatalf("ParseCell(%q): name %q is not what follows %%%%", source, cell.Name)
		}
		if cell.Name == "" || strings.HasPrefix(cell.Name, "-") || strings.ContainsAny(cell.Name, " \t\n") {
			t.Fatalf("ParseCell(%q): bad name %q", source, cell.Name)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "%%"+cell.Name+": ") {
				t.Fatalf("ParseCell(%q): error %q does not name the cell", source, err)
			}
			return
		}
		if _, body, found := strings.Cut(source, "\n"); found && cell.Body != body {
			t.Fatalf("ParseCell(%q): body %q, want %q", source, cell.Body, body)
		}
	})
}
