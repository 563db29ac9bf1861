// Package help is the %%help plugin: it lists the plugin cells this kernel
// understands and shows how to use each one.
//
// A plugin cell is a cell whose first line is `%%name args…`. The plugins
// come from two places: in-tree plugins are Go packages compiled into the
// gorepro command (plugin.All), and external plugins are executables named
// gorepro-plugin-<name> on PATH (plugin.ListExternal). An in-tree plugin
// shadows an external one of the same name, as the kernel dispatches to it
// first. `%%help` lists both; `%%help name` shows one plugin's usage text.
package help

import (
	"context"
	_ "embed"
	"fmt"
	"slices"
	"strings"

	"github.com/gorepro/gorepro/kernel/plugin"
)

//go:embed usage.md
var usage string

func init() {
	plugin.Register(plugin.Plugin{
		Name:    "help",
		Help:    "lists the plugin cells; `%%help name` shows one's usage",
		Usage:   usage,
		Handler: Handle,
	})
}

// Handle runs a %%help cell: with no argument a Markdown table of every
// plugin, with one the usage of the plugin it names.
func Handle(_ context.Context, req *plugin.Request) (*plugin.Response, error) {
	switch len(req.Args) {
	case 0:
		return &plugin.Response{Outputs: []plugin.Output{plugin.Markdown(list())}}, nil
	case 1:
		if req.Args[0] == "-h" || req.Args[0] == "--help" {
			return &plugin.Response{Outputs: []plugin.Output{plugin.Markdown(usage)}}, nil
		}
		md, err := describe(strings.TrimPrefix(req.Args[0], "%%"))
		if err != nil {
			return nil, err
		}
		return &plugin.Response{Outputs: []plugin.Output{plugin.Markdown(md)}}, nil
	default:
		return nil, fmt.Errorf("%%%%help takes at most one plugin name, got %d arguments: %s", len(req.Args), strings.Join(req.Args, " "))
	}
}

// list renders the table of all plugins, in-tree first, then external.
func list() string {
	var b strings.Builder
	b.WriteString("| cell | plugin | what it does |\n|---|---|---|\n")
	for _, p := range plugin.All() {
		fmt.Fprintf(&b, "| `%%%%%s` | in-tree | %s |\n", p.Name, plugin.MarkdownCell(p.Help))
	}
	for _, name := range plugin.ListExternal() {
		path, _ := plugin.LookupExternal(name)
		what := "external: `" + plugin.MarkdownCell(path) + "`"
		if _, shadowed := plugin.Lookup(name); shadowed {
			what += " (not used: the in-tree plugin of that name runs instead)"
		}
		fmt.Fprintf(&b, "| `%%%%%s` | external | %s |\n", name, what)
	}
	b.WriteString("\n`%%help name` shows a plugin's usage. GoNB's own cell forms (`%%`, `%%writefile`, `%%script`, `%%bash`, `%%sh`) go to GoNB unchanged.\n")
	return b.String()
}

// describe renders one plugin's usage.
func describe(name string) (string, error) {
	if p, ok := plugin.Lookup(name); ok {
		return p.Usage, nil
	}
	if path, ok := plugin.LookupExternal(name); ok {
		return fmt.Sprintf("`%%%%%s` is an external plugin: the program `%s`.\n\n"+
			"The kernel runs it once per cell with the request as JSON on its standard input; "+
			"see its own documentation for its arguments.\n", name, path), nil
	}
	if plugin.IsGoNBForm(name) {
		return fmt.Sprintf("`%%%%%s` is one of GoNB's own cell forms, not a plugin: run `%%help` in a Go cell for GoNB's help.\n", name), nil
	}
	return "", fmt.Errorf("%%%%help: no plugin named %q (plugins: %s)", name, strings.Join(names(), ", "))
}

// names lists every plugin name, in-tree and external, sorted and without repeats.
func names() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range plugin.All() {
		seen[p.Name] = true
		out = append(out, p.Name)
	}
	for _, name := range plugin.ListExternal() {
		if !seen[name] {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
