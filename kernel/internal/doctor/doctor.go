// Package doctor reports what gorepro found on this machine: each compute
// backend (available or not, and why), the plugin files and their PJRT
// versions, devices, and the versions of Go, GoMLX, GoNB, Jupyter and
// papermill. `gorepro doctor` prints it as text or JSON.
package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gorepro/gorepro/kernel/internal/project"
	"github.com/gorepro/gorepro/lib/backends"
)

// Report is the doctor's finding. Its JSON form is stable: tests and tools read it.
type Report struct {
	// Backends lists go, xla:cpu, xla:cuda and xla:tpu in that order.
	Backends []backends.Status `json:"backends"`
	// Default is the backend an empty choice resolves to, with its source.
	Default string `json:"default"`
	// Versions maps a component (go, gomlx, gonb, jupyterlab, papermill, ...) to its version, or "missing".
	Versions map[string]string `json:"versions"`
	// Root is the gorepro checkout, Venv its Python environment.
	Root string `json:"root,omitempty"`
	Venv string `json:"venv,omitempty"`
	// Kernelspecs maps an installed kernelspec name to its kernel.json path.
	Kernelspecs map[string]string `json:"kernelspecs"`
	// Problems lists what stops notebooks from running, one line each.
	Problems []string `json:"problems,omitempty"`
}

// pythonPackages are the Python distributions whose versions the doctor reports.
var pythonPackages = []string{"jupyterlab", "nbconvert", "nbclient", "jupyter_client", "papermill", "lammps-jax-pjrt-cpu", "gorepro-papermill"}

// Run collects the report.
func Run() *Report {
	r := &Report{Versions: map[string]string{}, Kernelspecs: map[string]string{}}
	r.Backends = backends.Diagnose()
	if spec, err := backends.Resolve(""); err == nil {
		r.Default = spec.String() + " (" + spec.Source + ")"
	} else {
		r.Default = "error: " + err.Error()
		r.Problems = append(r.Problems, err.Error())
	}
	r.Versions["go (this binary)"] = runtime.Version()
	r.Versions["go (toolchain)"] = commandVersion("go", "version")
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			switch dep.Path {
			case "github.com/gomlx/gomlx":
				r.Versions["gomlx"] = dep.Version
			case "github.com/gomlx/compute":
				r.Versions["gomlx/compute"] = dep.Version
			case "github.com/gomlx/go-xla":
				r.Versions["go-xla"] = dep.Version
			case "github.com/janpfeifer/gonb":
				r.Versions["gonb (library)"] = dep.Version
			case "gonum.org/v1/plot":
				r.Versions["gonum/plot"] = dep.Version
			}
		}
	}
	p, err := project.Find()
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
		return r
	}
	r.Root, r.Venv = p.Root, p.Venv
	r.Versions["gonb (kernel)"] = firstField(commandVersion(p.Bin("gonb"), "-V"))
	for name, v := range pythonVersions(p) {
		r.Versions[name] = v
	}
	for _, ks := range []string{"gorepro", "gonb"} {
		path := filepath.Join(p.JupyterData(), "kernels", ks, "kernel.json")
		if _, err := os.Stat(path); err == nil {
			r.Kernelspecs[ks] = path
		}
	}
	if _, ok := r.Kernelspecs["gorepro"]; !ok {
		r.Problems = append(r.Problems, "kernelspec gorepro not installed: run `make setup`")
	}
	for _, name := range []string{"papermill", "jupyterlab"} {
		if r.Versions[name] == "missing" {
			r.Problems = append(r.Problems, name+" is not installed in "+p.Venv+": run `make setup`")
		}
	}
	return r
}

func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return s
}

// commandVersion runs a version command with a short timeout; "missing" if it cannot run.
func commandVersion(name string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return "missing"
	}
	return strings.TrimSpace(string(out))
}

func pythonVersions(p *project.Project) map[string]string {
	out := map[string]string{}
	for _, pkg := range pythonPackages {
		out[pkg] = "missing"
	}
	script := `import json, sys, importlib.metadata as m
res = {"python": sys.version.split()[0]}
for p in sys.argv[1:]:
    try: res[p] = m.version(p)
    except Exception: res[p] = "missing"
print(json.dumps(res))`
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	raw, err := exec.CommandContext(ctx, p.Bin("python"), append([]string{"-c", script}, pythonPackages...)...).Output()
	if err != nil {
		out["python"] = "missing (" + p.Bin("python") + ")"
		return out
	}
	_ = json.Unmarshal(raw, &out)
	return out
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKEND\tAVAILABLE\tDEVICES\tPJRT\tFLOAT32 MATMUL\tDETAILS")
	for _, b := range r.Backends {
		avail := "no"
		if b.Available {
			avail = "yes"
			if b.Default {
				avail = "yes (default)"
			}
		}
		details := b.Reason
		if b.Available {
			details = b.Check
		}
		devices, pjrtV, precision := "-", "-", "-"
		if b.Precision != "" {
			precision = b.Precision
		}
		if b.Devices > 0 {
			devices = fmt.Sprint(b.Devices)
		}
		if b.PJRTVersion != "" {
			pjrtV = b.PJRTVersion
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", b.Name, avail, devices, pjrtV, precision, details)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, b := range r.Backends {
		if b.Plugin != "" {
			fmt.Fprintf(w, "%s plugin: %s\n    from %s\n", b.Name, b.Plugin, b.PluginSource)
		}
	}
	fmt.Fprintf(w, "default backend: %s\n\n", r.Default)
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, k := range sortedKeys(r.Versions) {
		fmt.Fprintf(tw, "%s\t%s\n", k, r.Versions[k])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Root != "" {
		fmt.Fprintf(w, "\ncheckout: %s\nvenv:     %s\n", r.Root, r.Venv)
	}
	for _, k := range sortedKeys(r.Kernelspecs) {
		fmt.Fprintf(w, "kernelspec %s: %s\n", k, r.Kernelspecs[k])
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
