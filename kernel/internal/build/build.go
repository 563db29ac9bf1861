// Package build compiles notebooks into executables that run without Go,
// GoNB or Jupyter (`gorepro build NOTEBOOK... -o DIR`).
//
// GoNB runs each code cell as a Go program of its own: the cell's
// declarations (imports, functions, types, variables, constants) merged
// over those of the cells before it, a later declaration replacing an
// earlier one with the same key, and the cell's main, if it has one. This
// package makes the same programs the same way (merge.go follows GoNB
// v0.11.5's internal/goexec, goimports included) and compiles each with the
// go command against the checkout's module, in a workspace as GoNB's
// --go_work does, so the cells build with exactly go.mod's versions. The
// programs go to DIR/<notebook>.cells/ with a copy of the notebook and a
// manifest; DIR/<notebook> is the driver (kernel/cmd/gorepro-notebook) that
// runs them in order (kernel/internal/built).
//
// One program per cell, not one program for the notebook: a cell's
// package-level initialisers and init functions run when its program starts,
// after the earlier cells have run, and a name means what its latest
// declaration says; one binary would have to rename every declaration per
// cell and defer every initialiser to keep that. The cost is disk: each
// program links GoMLX (see docs/build.md for the sizes).
//
// Plugin cells: %%params becomes Go declarations whose values the driver
// passes at run time (-p, --profile, --backend, checked as `gorepro run -p`
// checks them); %%backend switches or shows the backend at run time. A cell
// with no meaning without the kernel (another plugin, %%writefile, %%script,
// %%bash, %%sh, a `!` shell line, most % commands) fails the build with one
// line naming the notebook and the cell, as does a cell that does not
// compile.
package build

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"github.com/gorepro/gorepro/kernel/internal/built"
	"github.com/gorepro/gorepro/kernel/internal/project"
	"github.com/gorepro/gorepro/lib/ipynb"
)

// Options configures a build.
type Options struct {
	// OutDir receives DIR/<notebook> and DIR/<notebook>.cells/.
	OutDir string
	// Log receives one progress line per notebook.
	Log io.Writer
}

// CellError is a cell that cannot be built.
type CellError struct {
	// Notebook is the notebook's path, Cell the cell's position from 1
	// (markdown cells counted, as nbformat lists them).
	Notebook string
	Cell     int
	// Reason is one line.
	Reason string
}

func (e *CellError) Error() string {
	return fmt.Sprintf("%s: cell %d: %s", e.Notebook, e.Cell, e.Reason)
}

// Build compiles each notebook into opts.OutDir. It stops at the first
// notebook that fails and says why in one line.
func Build(p *project.Project, notebooks []string, opts Options) error {
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	goimports := p.Bin("goimports")
	if _, err := os.Stat(goimports); err != nil {
		return fmt.Errorf("goimports (which GoNB runs on every cell) is not installed at %s: run `make setup`", goimports)
	}
	// Absolute: the cells compile in a work directory, where a relative
	// output path would name a directory that is then deleted.
	out, err := filepath.Abs(opts.OutDir)
	if err != nil {
		return fmt.Errorf("the output directory %s: %w", opts.OutDir, err)
	}
	opts.OutDir = out
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", opts.OutDir, err)
	}
	tmp, err := os.MkdirTemp("", "gorepro-build-")
	if err != nil {
		return fmt.Errorf("creating a work directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	driver := filepath.Join(tmp, "driver")
	if err := goBuild(p.Root, append(p.Env(), "GOWORK=off"), driver, "./kernel/cmd/gorepro-notebook"); err != nil {
		return fmt.Errorf("building the driver: %w", err)
	}
	for _, path := range notebooks {
		if err := buildOne(p, path, driver, goimports, filepath.Join(tmp, "cells"), opts); err != nil {
			return err
		}
	}
	return nil
}

// goBuild runs `go build -trimpath -ldflags=-s -w -o out pkgs...` in dir:
// no symbol table or DWARF (a third smaller; panics still name functions and
// lines).
func goBuild(dir string, env []string, out string, pkgs ...string) error {
	cmd := exec.Command("go", append([]string{"build", "-trimpath", "-ldflags=-s -w", "-o", out}, pkgs...)...)
	cmd.Dir, cmd.Env = dir, env
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(output.String()))
	}
	return nil
}

// program is one code cell's Go program.
type program struct {
	cell   int // index in the notebook
	source string
}

func buildOne(p *project.Project, path, driver, goimports, work string, opts Options) error {
	nb, err := ipynb.Read(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	name := strings.TrimSuffix(filepath.Base(path), ".ipynb")
	if err := os.RemoveAll(work); err != nil {
		return fmt.Errorf("cleaning %s: %w", work, err)
	}
	if err := writeWorkspace(work, p.Root); err != nil {
		return err
	}
	// The workspace's go.work, whatever $GOWORK says.
	env := append(p.Env(), "GOWORK="+filepath.Join(work, "go.work"))
	manifest, programs, err := plan(path, nb, func(cell int, src string) (string, error) {
		return runGoimports(goimports, work, cell, src, env)
	})
	if err != nil {
		return err
	}
	manifest.Notebook, manifest.Source, manifest.GoVersion = name, path, goVersion(p)
	cellsDir := filepath.Join(opts.OutDir, name+".cells")
	if err := os.RemoveAll(cellsDir); err != nil {
		return fmt.Errorf("removing the old %s: %w", cellsDir, err)
	}
	if err := os.MkdirAll(filepath.Join(cellsDir, sourceDir), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", cellsDir, err)
	}
	var pkgs []string
	for _, prog := range programs {
		dir := cellDirName(prog.cell)
		if err := os.MkdirAll(filepath.Join(work, dir), 0o755); err != nil {
			return fmt.Errorf("creating the cell's directory: %w", err)
		}
		for _, f := range []string{filepath.Join(work, dir, "main.go"), filepath.Join(cellsDir, sourceDir, dir+".go")} {
			if err := os.WriteFile(f, []byte(prog.source), 0o644); err != nil {
				return fmt.Errorf("writing the cell's program: %w", err)
			}
		}
		pkgs = append(pkgs, "./"+dir)
	}
	if len(pkgs) > 0 {
		if err := goBuild(work, env, cellsDir+string(filepath.Separator), pkgs...); err != nil {
			return compileError(path, cellsDir, err)
		}
	}
	data, err := json.MarshalIndent(manifest, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the manifest: %w", err)
	}
	if err := os.WriteFile(filepath.Join(cellsDir, built.ManifestFile), data, 0o644); err != nil {
		return fmt.Errorf("writing the manifest: %w", err)
	}
	if err := copyFile(path, filepath.Join(cellsDir, built.NotebookFile), 0o644); err != nil {
		return err
	}
	exe := filepath.Join(opts.OutDir, name)
	if err := copyFile(driver, exe, 0o755); err != nil {
		return err
	}
	fmt.Fprintf(opts.Log, "gorepro build: %s → %s (%d cell programs in %s)\n", path, exe, len(programs), cellsDir)
	return nil
}

// sourceDir holds each cell program's source beside the programs. Its
// leading underscore keeps the go command's ./... out of it: a build
// inside a module (build/bin in a checkout) must not add packages to it.
const sourceDir = "_src"

// cellDirName names the program of the cell at index (from 0) by its
// position from 1: cell-006.
func cellDirName(index int) string { return fmt.Sprintf("cell-%03d", index+1) }

// writeWorkspace makes work a module whose workspace includes the
// checkout's module, as GoNB's --go_work does for the kernel.
func writeWorkspace(work, root string) error {
	if err := os.MkdirAll(work, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", work, err)
	}
	goLine := "go " + strings.TrimPrefix(runtime.Version(), "go")
	if data, err := os.ReadFile(filepath.Join(root, "go.mod")); err == nil {
		if m := regexp.MustCompile(`(?m)^go (\S+)`).FindSubmatch(data); m != nil {
			goLine = "go " + string(m[1])
		}
	}
	files := map[string]string{
		"go.mod":  "module gorepro.build/cells\n\n" + goLine + "\n",
		"go.work": goLine + "\n\nuse (\n\t.\n\t" + strconv.Quote(root) + "\n)\n",
	}
	for f, content := range files {
		if err := os.WriteFile(filepath.Join(work, f), []byte(content), 0o644); err != nil {
			return fmt.Errorf("writing the build's %s: %w", f, err)
		}
	}
	return nil
}

// runGoimports runs goimports on a cell's rendered program in the
// workspace, as GoNB does, and returns its output.
func runGoimports(goimports, work string, cell int, src string, env []string) (string, error) {
	dir := filepath.Join(work, "goimports", cellDirName(cell))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	file := filepath.Join(dir, "main.go")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		return "", fmt.Errorf("writing %s: %w", file, err)
	}
	cmd := exec.Command(goimports, "-w", file)
	cmd.Dir, cmd.Env = dir, env
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("goimports: %s", firstLine(strings.ReplaceAll(string(out), file, "main.go")))
	}
	out, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading goimports' output: %w", err)
	}
	return string(out), nil
}

var compiledFile = regexp.MustCompile(`(?m)^(?:\./)?(cell-(\d{3}))/main\.go:(\d+)(?::\d+)?: (.*)$`)

// compileError turns the go command's output into one line naming the
// first cell that failed to compile.
func compileError(notebook, cellsDir string, err error) error {
	m := compiledFile.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("%s: compiling the cells: %s", notebook, firstLine(err.Error()))
	}
	n, _ := strconv.Atoi(m[2])
	return &CellError{Notebook: notebook, Cell: n, Reason: fmt.Sprintf("does not compile: %s (line %s of the program %s)",
		m[4], m[3], filepath.Join(cellsDir, sourceDir, m[1]+".go"))}
}

func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			return l
		}
	}
	return strings.TrimSpace(s)
}

func goVersion(p *project.Project) string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return runtime.Version()
	}
	return strings.TrimSpace(string(out))
}

func copyFile(from, to string, mode os.FileMode) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("copying %s: %w", from, err)
	}
	if err := os.WriteFile(to+".tmp", data, mode); err != nil {
		return fmt.Errorf("copying %s: %w", from, err)
	}
	if err := os.Rename(to+".tmp", to); err != nil {
		return fmt.Errorf("copying %s: %w", from, err)
	}
	return nil
}
