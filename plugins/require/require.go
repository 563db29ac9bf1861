// Package require is the %%require plugin: it adds a Go module, at an exact
// version, to the kernel session.
//
// The gorepro kernel turns GoNB's automatic `go get` off, so notebook cells
// compile against the versions the project's go.mod pins and never query a
// module proxy. %%require is the deliberate way to add a module: it refuses
// anything but an exact version, resolves the module in a scratch workspace
// beside the project, refuses it if it would move a version the project pins,
// and then has GoNB run `go get MODULE@VERSION` in its session module, from
// the module cache.
package require

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/gorepro/gorepro/kernel/plugin"
	"github.com/gorepro/gorepro/lib/checkout"
)

//go:embed usage.md
var usage string

// EnvGoProxy names the variable holding the module proxy %%require uses: the
// kernel itself runs with GOPROXY=off, and setup records the proxy that was
// in force when it ran.
const EnvGoProxy = "GOREPRO_GOPROXY"

// defaultGoProxy is Go's own default, used when setup recorded none.
const defaultGoProxy = "https://proxy.golang.org,direct"

func init() {
	plugin.Register(plugin.Plugin{
		Name:    "require",
		Help:    "adds a Go module at an exact version to the session: `%%require module@v1.2.3`",
		Usage:   usage,
		Handler: Handle,
	})
}

// Requirement is one module at an exact version.
type Requirement struct {
	Path    string
	Version string
}

func (r Requirement) String() string { return r.Path + "@" + r.Version }

// Parse checks one MODULE@VERSION argument: a valid module path and an exact
// version (canonical semantic version, pre-release, pseudo-version or
// +incompatible), never a query such as latest, a branch or a range.
func Parse(arg string) (Requirement, error) {
	path, version, found := strings.Cut(arg, "@")
	if !found || version == "" {
		return Requirement{}, fmt.Errorf("%%%%require %s: no version: write %s@vX.Y.Z (an exact version; cells never pick one)", arg, strings.TrimSuffix(arg, "@"))
	}
	if err := module.CheckPath(path); err != nil {
		return Requirement{}, fmt.Errorf("%%%%require %s: %w", arg, err)
	}
	base := strings.TrimSuffix(version, "+incompatible")
	if !semver.IsValid(base) || semver.Canonical(base) != base {
		return Requirement{}, fmt.Errorf("%%%%require %s: %q is not an exact version (want vX.Y.Z, a pre-release or a pseudo-version; not latest, a branch or a query)", arg, version)
	}
	if err := module.Check(path, version); err != nil {
		return Requirement{}, fmt.Errorf("%%%%require %s: %w", arg, err)
	}
	return Requirement{Path: path, Version: version}, nil
}

// Handle runs a %%require cell.
func Handle(ctx context.Context, req *plugin.Request) (*plugin.Response, error) {
	if len(req.Args) == 0 {
		return nil, errors.New("%%require needs at least one MODULE@VERSION, e.g. %%require github.com/google/go-cmp@v0.7.0")
	}
	if strings.TrimSpace(req.Body) != "" {
		return nil, errors.New("%%require takes its modules on the first line; the cell has more lines")
	}
	var reqs []Requirement
	for _, arg := range req.Args {
		r, err := Parse(arg)
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, r)
	}
	root, ok := checkout.Default().Root()
	if !ok {
		return nil, errors.New("%%require: the project's checkout is not known ($GOREPRO_ROOT is not set)")
	}
	proxy := os.Getenv(EnvGoProxy)
	if proxy == "" {
		proxy = defaultGoProxy
	}
	if proxy == "off" {
		return nil, fmt.Errorf("%%%%require: no module proxy: $%s is off", EnvGoProxy)
	}
	if err := Resolve(ctx, root, proxy, reqs); err != nil {
		return nil, err
	}
	args := make([]string, len(reqs))
	var table strings.Builder
	table.WriteString("| module | version |\n|---|---|\n")
	for i, r := range reqs {
		args[i] = r.String()
		fmt.Fprintf(&table, "| `%s` | `%s` |\n", r.Path, r.Version)
	}
	table.WriteString("\nChecked: every module the project pins keeps its version. Adding to the session module:\n")
	return &plugin.Response{
		Outputs: []plugin.Output{plugin.Markdown(table.String())},
		// GoNB's `!*` runs a shell command in its session module's directory.
		// The kernel's GOPROXY=off holds: Resolve put the module in the cache.
		Code: "!*go get " + strings.Join(args, " "),
	}, nil
}

// Resolve fetches reqs into the module cache through proxy, in a scratch
// workspace that uses the project at root, and fails if that moves any module
// the project's go.mod requires away from its pinned version.
func Resolve(ctx context.Context, root, proxy string, reqs []Requirement) error {
	scratch, err := os.MkdirTemp("", "gorepro-require-")
	if err != nil {
		return fmt.Errorf("%%%%require: %w", err)
	}
	defer os.RemoveAll(scratch)
	env := append(os.Environ(), "GOPROXY="+proxy, "GOFLAGS=", "GOWORK=", "GOTOOLCHAIN=local")
	goCmd := func(dir string, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir, cmd.Env = dir, env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := runGroup(cmd); err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("go %s: stopped: %w", strings.Join(args, " "), context.Cause(ctx))
			}
			return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return stdout.Bytes(), nil
	}
	pinned, err := pinnedModules(goCmd, root)
	if err != nil {
		return fmt.Errorf("%%%%require: reading the project's go.mod: %w", err)
	}
	for _, r := range reqs {
		if v, ok := pinned[r.Path]; ok && v != r.Version {
			return fmt.Errorf("%%%%require %s: the project pins %s at %s; change go.mod deliberately to use another version", r, r.Path, v)
		}
	}
	steps := [][]string{{"mod", "init", "gorepro_require"}, {"work", "init"}, {"work", "use", ".", root}}
	for _, step := range steps {
		if _, err := goCmd(scratch, step...); err != nil {
			return fmt.Errorf("%%%%require: preparing a scratch workspace: %w", err)
		}
	}
	get := []string{"get"}
	for _, r := range reqs {
		get = append(get, r.String())
	}
	if _, err := goCmd(scratch, get...); err != nil {
		return fmt.Errorf("%%%%require: %w", err)
	}
	paths := make([]string, 0, len(pinned))
	for p := range pinned {
		paths = append(paths, p)
	}
	out, err := goCmd(scratch, append([]string{"list", "-m", "-f", "{{.Path}} {{.Version}}"}, paths...)...)
	if err != nil {
		return fmt.Errorf("%%%%require: listing the workspace's modules: %w", err)
	}
	var moved []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, version, _ := strings.Cut(line, " ")
		if want, ok := pinned[path]; ok && version != want {
			moved = append(moved, fmt.Sprintf("%s %s → %s", path, want, version))
		}
	}
	if len(moved) > 0 {
		names := make([]string, len(reqs))
		for i, r := range reqs {
			names[i] = r.String()
		}
		return fmt.Errorf("%%%%require %s: refused, it would move modules the project pins: %s; pick a version that fits go.mod, or change go.mod deliberately",
			strings.Join(names, " "), strings.Join(moved, ", "))
	}
	return nil
}

// waitDelay bounds how long Wait waits for a go command's output after the
// command is killed: a grandchild that kept stdout or stderr open must not
// hold the cell.
const waitDelay = 2 * time.Second

// runGroup runs cmd (made with exec.CommandContext) in a process group of its
// own, as kernel/plugin.RunExternal runs external plugins: when the context
// is done (an interrupt, a timeout) the whole group is killed, so nothing
// `go` started (git, a VCS helper, the compiler) keeps running, and whatever
// the command left in its group is killed when it returns.
func runGroup(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	return err
}

// pinnedModules reads the modules the project's go.mod requires, with their versions.
func pinnedModules(goCmd func(string, ...string) ([]byte, error), root string) (map[string]string, error) {
	out, err := goCmd(root, "mod", "edit", "-json")
	if err != nil {
		return nil, err
	}
	var mod struct {
		Require []struct{ Path, Version string }
	}
	if err := json.Unmarshal(out, &mod); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", filepath.Join(root, "go.mod"), err)
	}
	pinned := make(map[string]string, len(mod.Require))
	for _, r := range mod.Require {
		pinned[r.Path] = r.Version
	}
	return pinned, nil
}
