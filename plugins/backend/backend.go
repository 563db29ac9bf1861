// Package backend is the %%backend plugin: it shows which GoMLX backends this
// machine can run, and switches the backend the rest of the notebook uses.
//
// The backend a Go cell runs on is resolved by lib/backends: the notebook's
// `backend` parameter, else $GOMLX_BACKEND, else xla:cpu when its plugin is
// found, else go. Each Go cell is its own process started by GoNB, so
// `%%backend SPEC` changes the choice for later cells by having GoNB set
// $GOMLX_BACKEND (`%env GOMLX_BACKEND SPEC`) — cells that leave `backend`
// empty then follow — and by telling the kernel, which hands SPEC to later
// plugin cells as Request.Backend.
//
// The handler runs in the kernel's process. It resolves a SPEC (finding its
// PJRT plugin) but does not load it there: loading happens in the cells, and
// a CUDA plugin would otherwise claim the GPU's memory for the kernel. The
// table, which loads every plugin and computes on it, comes from a child
// process (`gorepro doctor --backends`), so a plugin that crashes or hangs
// takes only that process down.
package backend

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/gorepro/gorepro/kernel/plugin"
	"github.com/gorepro/gorepro/lib/backends"
)

//go:embed usage.md
var usage string

func init() {
	plugin.Register(plugin.Plugin{
		Name:    "backend",
		Help:    "shows the GoMLX backends found here; `%%backend SPEC` switches later cells to SPEC",
		Usage:   usage,
		Handler: Handle,
	})
}

// diagnose diagnoses every backend; tests replace it.
var diagnose = diagnoseInChild

// diagnoseTimeout bounds the child that loads every plugin.
const diagnoseTimeout = 3 * time.Minute

// diagnoseInChild runs `gorepro doctor --backends` (this executable) and
// reads its JSON: the plugins are loaded in that process, never the kernel's.
func diagnoseInChild(ctx context.Context) ([]backends.Status, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("%%%%backend: finding the gorepro executable: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, diagnoseTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, self, "doctor", "--backends")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		why := err.Error()
		if ctx.Err() != nil {
			why = "no answer within " + diagnoseTimeout.String()
		}
		return nil, fmt.Errorf("%%%%backend: diagnosing the backends failed in its own process (%s), the kernel is fine: %s",
			why, lastLine(stderr.String()))
	}
	var statuses []backends.Status
	if err := json.Unmarshal(stdout.Bytes(), &statuses); err != nil {
		return nil, fmt.Errorf("%%%%backend: reading the diagnosis: %w", err)
	}
	return statuses, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// Handle runs a %%backend cell: with no argument it diagnoses every backend,
// with one it makes that backend the session's.
func Handle(ctx context.Context, req *plugin.Request) (*plugin.Response, error) {
	switch len(req.Args) {
	case 0:
		statuses, err := diagnose(ctx)
		if err != nil {
			return nil, err
		}
		return &plugin.Response{Outputs: []plugin.Output{table(req.Backend, statuses)}}, nil
	case 1:
		if req.Args[0] == "-h" || req.Args[0] == "--help" {
			return &plugin.Response{Outputs: []plugin.Output{plugin.Markdown(usage)}}, nil
		}
		return choose(req.Args[0])
	default:
		return nil, fmt.Errorf("%%%%backend takes one backend spec (e.g. go, xla:cpu, xla:cuda,tf32=false), got %d arguments: %s",
			len(req.Args), strings.Join(req.Args, " "))
	}
}

// choose validates spec and switches the session to it. "default" means the
// backend an empty choice resolves to in the kernel's environment.
func choose(choice string) (*plugin.Response, error) {
	if strings.ContainsAny(choice, " \t\n") {
		return nil, fmt.Errorf("%%%%backend: backend spec %q contains white space", choice)
	}
	if choice == "default" {
		choice = ""
	}
	spec, err := backends.Resolve(choice)
	if err != nil {
		return nil, fmt.Errorf("%%%%backend: %w", err)
	}
	name := spec.String()
	var md strings.Builder
	fmt.Fprintf(&md, "Later cells use backend **`%s`**", name)
	if spec.IsXLA() {
		fmt.Fprintf(&md, ": PJRT plugin `%s` (%s)", spec.PluginPath, spec.PluginSource)
	} else {
		md.WriteString(": GoMLX's pure-Go backend, no plugin")
	}
	if choice == "" {
		fmt.Fprintf(&md, "; chosen by %s", spec.Source)
	}
	fmt.Fprintf(&md, "; float32 matrix products at **%s** precision", spec.Precision())
	md.WriteString(".\n\nGo cells follow through `$GOMLX_BACKEND` when their `backend` parameter is empty; " +
		"a notebook's explicit `backend` parameter still wins.\n")
	return &plugin.Response{
		Outputs: []plugin.Output{plugin.Markdown(md.String())},
		Code:    "%env " + backends.EnvBackend + " " + name + "\n",
		Backend: name,
	}, nil
}

// table renders the diagnosis of each backend, marking the session's.
func table(current string, statuses []backends.Status) plugin.Output {
	var b strings.Builder
	b.WriteString("| backend | available | current | devices | PJRT | float32 matmul | details |\n|---|---|---|---|---|---|---|\n")
	spec, specErr := backends.Resolve(current)
	for _, st := range statuses {
		name := "`" + st.Name + "`"
		if st.Default {
			name += " (default)"
		}
		available, devices := "no", ""
		if st.Available {
			available, devices = "yes", strconv.Itoa(st.Devices)
		}
		mark := ""
		if specErr == nil && st.Name == spec.Name {
			mark = "**yes**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", name, available, mark, devices, st.PJRTVersion, st.Precision, plugin.MarkdownCell(details(st)))
	}
	b.WriteString("\n")
	switch {
	case specErr != nil:
		fmt.Fprintf(&b, "The session's backend `%s` does not resolve: %s\n", current, plugin.MarkdownCell(specErr.Error()))
	case current == "":
		fmt.Fprintf(&b, "The current backend is `%s` (chosen by %s).\n", spec, spec.Source)
	default:
		fmt.Fprintf(&b, "The current backend is `%s`, set by `%%%%backend`.\n", spec)
	}
	b.WriteString("`%%backend SPEC` switches later cells, e.g. `%%backend go` or `%%backend xla:cuda,tf32=true` (TF32 matmuls, faster, less precise; full float32 is the default).\n")
	return plugin.Markdown(b.String())
}

// details says what was found, or why the backend is not available.
func details(st backends.Status) string {
	if !st.Available {
		return st.Reason
	}
	parts := []string{}
	if st.Description != "" {
		parts = append(parts, st.Description)
	}
	if st.Plugin != "" {
		parts = append(parts, fmt.Sprintf("plugin %s (%s)", st.Plugin, st.PluginSource))
	}
	if st.Check != "" {
		parts = append(parts, st.Check)
	}
	if st.LoadSeconds > 0 {
		parts = append(parts, fmt.Sprintf("loaded in %.2fs", st.LoadSeconds))
	}
	if st.Reason != "" {
		parts = append(parts, st.Reason)
	}
	return strings.Join(parts, "; ")
}
