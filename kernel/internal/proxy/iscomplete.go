package proxy

import (
	"go/parser"
	"go/scanner"
	"go/token"
	"strings"

	"github.com/gorepro/gorepro/kernel/plugin"
)

// IsComplete says whether a cell is ready to run, as a console asks before
// submitting: "complete", "incomplete" (with an indent for the next line) or
// "invalid". Plugin cells are complete when their first line parses. Go cells
// may hold GoNB's line magics (%…, !…), which are removed first; a `%%` cell
// is a function body.
func IsComplete(code string) IsCompleteReply {
	if strings.TrimSpace(code) == "" {
		return IsCompleteReply{Status: "complete"}
	}
	if cell, ok, err := plugin.ParseCell(code); ok && !plugin.IsGoNBForm(cell.Name) {
		if err != nil {
			return IsCompleteReply{Status: "invalid"}
		}
		return IsCompleteReply{Status: "complete"}
	}
	lines := strings.Split(code, "\n")
	body := false
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "%%") && i == 0 {
			name := strings.Fields(t + " x")[0][2:]
			if plugin.IsGoNBForm(name) && name != "" {
				return IsCompleteReply{Status: "complete"} // %%writefile, %%bash…: not Go
			}
			body = true
			lines[i] = ""
		} else if strings.HasPrefix(t, "%") || strings.HasPrefix(t, "!") {
			lines[i] = ""
		}
	}
	user := strings.TrimRight(strings.Join(lines, "\n"), " \t\n")
	prefix, suffix := "package p\n", "\n"
	if body {
		prefix, suffix = "package p\nfunc main() {\n", "\n}\n"
	}
	src := prefix + user + suffix
	codeEnd := len(prefix) + len(user)
	fset := token.NewFileSet()
	_, err := parser.ParseFile(fset, "cell.go", src, parser.SkipObjectResolution)
	if err == nil {
		return IsCompleteReply{Status: "complete"}
	}
	// The first error decides: at the end of the input (an open brace, paren
	// or string), more is to come; anywhere else the cell is wrong as typed.
	if list, ok := err.(scanner.ErrorList); ok && len(list) > 0 {
		e := list[0]
		if e.Pos.Offset >= codeEnd || strings.Contains(e.Msg, "EOF") ||
			strings.Contains(e.Msg, "not terminated") {
			return IsCompleteReply{Status: "incomplete", Indent: indentOf(lines)}
		}
	}
	return IsCompleteReply{Status: "invalid"}
}

func indentOf(lines []string) string {
	last := ""
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.TrimSpace(lines[i]) != "" {
			last = lines[i]
			break
		}
	}
	indent := last[:len(last)-len(strings.TrimLeft(last, " \t"))]
	if t := strings.TrimSpace(last); strings.HasSuffix(t, "{") || strings.HasSuffix(t, "(") {
		indent += "\t"
	}
	return indent
}
