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
	src := strings.Join(lines, "\n")
	if body {
		src = "package p\nfunc main() {\n" + src + "\n}\n"
	} else {
		src = "package p\n" + src + "\n"
	}
	fset := token.NewFileSet()
	_, err := parser.ParseFile(fset, "cell.go", src, parser.SkipObjectResolution)
	if err == nil {
		return IsCompleteReply{Status: "complete"}
	}
	end := fset.File(token.Pos(1)).Size()
	if list, ok := err.(scanner.ErrorList); ok {
		for _, e := range list {
			// An error at the end of the input means more is to come, e.g. an open brace or string.
			if e.Pos.Offset >= end-len("\n}\n")-1 || strings.Contains(e.Msg, "EOF") ||
				strings.Contains(e.Msg, "not terminated") {
				return IsCompleteReply{Status: "incomplete", Indent: indentOf(lines)}
			}
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
