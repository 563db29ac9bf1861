// Command gorepro-plugin-echo is the sample external plugin: a program that
// handles the cell `%%echo args…` by echoing its arguments and body back as
// Markdown.
//
// An external plugin is any executable named gorepro-plugin-<name> on PATH.
// The gorepro kernel runs it once per cell, writes the request as JSON on its
// standard input ({"name", "args", "body", "backend", "notebook_dir"}) and
// reads one JSON reply from its standard output: {"outputs": [{"data": {MIME
// type: value}}], "result": {"data": …}, "code": …, "backend": …}, or {"error": "one line"} to fail
// the cell. Standard error is only shown when the plugin exits non-zero.
//
// Build it with `go build -o .venv/bin/gorepro-plugin-echo ./plugins/external/echo`
// (make setup does). The argument --fail makes it reply with an error, to try
// the error path; --result makes the body the cell's value (execute_result).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/gorepro/gorepro/kernel/plugin"
)

func main() {
	var req plugin.Request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "gorepro-plugin-echo: reading the request on stdin:", err)
		os.Exit(2)
	}
	if err := json.NewEncoder(os.Stdout).Encode(reply(&req)); err != nil {
		fmt.Fprintln(os.Stderr, "gorepro-plugin-echo: writing the reply:", err)
		os.Exit(2)
	}
}

func reply(req *plugin.Request) plugin.ExternalReply {
	if slices.Contains(req.Args, "--fail") {
		return plugin.ExternalReply{Error: fmt.Sprintf("%%%%%s: failing as asked by --fail", req.Name)}
	}
	if slices.Contains(req.Args, "--result") {
		// The cell's value: its body, as the cell's execute_result.
		return plugin.ExternalReply{Response: plugin.Response{Result: &plugin.Output{Data: map[string]any{"text/plain": strings.TrimRight(req.Body, "\n")}}}}
	}
	var md strings.Builder
	fmt.Fprintf(&md, "**%%%%%s** received %d argument(s)", req.Name, len(req.Args))
	for i, a := range req.Args {
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(&md, "%s`%s`", sep, strings.ReplaceAll(a, "`", "'"))
	}
	md.WriteString("\n\n")
	if strings.TrimSpace(req.Body) == "" {
		md.WriteString("and an empty body.\n")
	} else {
		// A fence longer than any backtick run in the body keeps it verbatim.
		fence := "```"
		for strings.Contains(req.Body, fence) {
			fence += "`"
		}
		fmt.Fprintf(&md, "Body:\n\n%s\n%s\n%s\n", fence, strings.TrimRight(req.Body, "\n"), fence)
	}
	return plugin.ExternalReply{Response: plugin.Response{Outputs: []plugin.Output{plugin.Markdown(md.String())}}}
}
