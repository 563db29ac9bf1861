// Package plugin is the API of gorepro's plugin cells.
//
// A plugin cell is a notebook cell whose first line is `%%name args…`. The
// gorepro kernel (a proxy in front of GoNB) hands such a cell to the plugin
// registered under that name, or to an executable `gorepro-plugin-<name>`
// found on PATH. Every other cell, and GoNB's own cell forms (`%%`,
// `%% -flags`, `%%writefile`, `%%script`, `%%bash`, `%%sh`), goes to GoNB
// unchanged.
//
// A plugin answers in one of two ways:
//
//   - with outputs (text, Markdown, HTML, SVG, PNG, JSON) that the kernel
//     shows as the cell's output, or an error shown as the cell's error; or
//   - with Go code that the kernel runs in GoNB in place of the cell, so a
//     plugin can generate a program (a benchmark, typed parameter
//     declarations) and let GoNB compile and run it.
//
// In-tree plugins are Go packages under plugins/ that call Register from an
// init function; the gorepro command imports them all.
package plugin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"sync"
)

// Request is what a plugin receives for one cell.
type Request struct {
	// Name is the plugin's name, as written after %%.
	Name string `json:"name"`
	// Args are the first line's arguments, split with shell-like quoting.
	Args []string `json:"args"`
	// Body is the rest of the cell, after the first line.
	Body string `json:"body"`
	// Backend is the backend chosen for this kernel session ("" for the default).
	Backend string `json:"backend"`
	// NotebookDir is the directory of the notebook (the kernel's working directory).
	NotebookDir string `json:"notebook_dir"`
}

// Output is one rich output: a MIME bundle such as {"text/plain": …, "image/svg+xml": …}.
// Binary formats (image/png) are base64 strings, as in Jupyter messages.
type Output struct {
	Data map[string]any `json:"data"`
}

// Response is a plugin's answer.
type Response struct {
	// Outputs are shown in order as the cell's outputs.
	Outputs []Output `json:"outputs,omitempty"`
	// Result, if set, is the cell's value: shown after Outputs (and before
	// what Code prints, when both are set) as the cell's execute_result
	// (JupyterLab's Out[n]), as a Python cell's last expression is.
	Result *Output `json:"result,omitempty"`
	// Code, if not empty, is run in GoNB in place of the cell (after Outputs are shown).
	Code string `json:"code,omitempty"`
	// Backend, if not empty, becomes the backend that later plugin cells receive.
	Backend string `json:"backend,omitempty"`
}

// Handler runs a plugin cell. ctx is cancelled when the user interrupts the
// kernel. A returned error is shown as the cell's error; the kernel goes on.
type Handler func(ctx context.Context, req *Request) (*Response, error)

// Plugin is a registered plugin.
type Plugin struct {
	// Name is what follows %% (letters, digits, _ and -).
	Name string
	// Help is one line for %%help's list.
	Help string
	// Usage is the full usage text (Markdown), shown by %%help name.
	Usage string
	// Handler runs the cell.
	Handler Handler
}

var (
	mu        sync.RWMutex
	registry  = map[string]*Plugin{}
	validName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)
)

// gonbForms are GoNB's own cell-level commands: never plugins.
var gonbForms = map[string]bool{"writefile": true, "script": true, "bash": true, "sh": true}

// IsGoNBForm reports whether %%name is one of GoNB's own cell forms.
func IsGoNBForm(name string) bool { return name == "" || gonbForms[name] }

// Register adds a plugin. It panics on an invalid or duplicate name or a nil
// handler: these are programming errors found when the program starts.
func Register(p Plugin) {
	mu.Lock()
	defer mu.Unlock()
	if !validName.MatchString(p.Name) || IsGoNBForm(p.Name) {
		panic(fmt.Sprintf("plugin: invalid plugin name %q", p.Name))
	}
	if p.Handler == nil {
		panic(fmt.Sprintf("plugin: %q has no handler", p.Name))
	}
	if _, dup := registry[p.Name]; dup {
		panic(fmt.Sprintf("plugin: %q registered twice", p.Name))
	}
	registry[p.Name] = &p
}

// Lookup returns the in-tree plugin registered under name.
func Lookup(name string) (*Plugin, bool) {
	mu.RLock()
	defer mu.RUnlock()
	p, ok := registry[name]
	return p, ok
}

// All returns the in-tree plugins sorted by name.
func All() []*Plugin {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]*Plugin, 0, len(registry))
	for _, p := range registry {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Text is a plain-text output.
func Text(s string) Output { return Output{Data: map[string]any{"text/plain": s}} }

// Markdown is a Markdown output with its text as plain-text fallback.
func Markdown(md string) Output {
	return Output{Data: map[string]any{"text/markdown": md, "text/plain": md}}
}

// HTML is an HTML output with a plain-text fallback.
func HTML(html, plain string) Output {
	return Output{Data: map[string]any{"text/html": html, "text/plain": plain}}
}

// Figure is an SVG figure with an optional PNG rendering (for untrusted
// notebooks, where JupyterLab does not render SVG) and a title as text.
func Figure(title string, svg, png []byte) Output {
	data := map[string]any{"image/svg+xml": string(svg), "text/plain": "[figure: " + title + "]"}
	if len(png) > 0 {
		data["image/png"] = base64.StdEncoding.EncodeToString(png)
	}
	return Output{Data: data}
}

// JSON is an application/json output of v, with its indented text as plain text.
func JSON(v any) (Output, error) {
	text, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return Output{}, fmt.Errorf("encoding JSON output: %w", err)
	}
	return Output{Data: map[string]any{"application/json": v, "text/plain": string(text)}}, nil
}
