// Package project finds the parts of a gorepro checkout the command works
// with: the repository root, its Python venv, the tools built into it, and the
// build directory.
package project

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gorepro/gorepro/lib/checkout"
)

// Project is a gorepro checkout.
type Project struct {
	// Root is the checkout's directory (holding go.mod).
	Root string
	// Venv is the project's Python virtual environment ($GOREPRO_VENV or Root/.venv).
	Venv string
}

// Find locates the checkout and its venv (lib/checkout: $GOREPRO_ROOT and
// $GOREPRO_VENV, or the walk up from the current directory).
func Find() (*Project, error) {
	root, err := checkout.Root()
	if err != nil {
		return nil, err
	}
	venv, err := checkout.Venv()
	if err != nil {
		return nil, err
	}
	return &Project{Root: root, Venv: venv}, nil
}

// Bin returns the path of an executable in the venv's bin directory.
func (p *Project) Bin(name string) string { return filepath.Join(p.Venv, "bin", name) }

// JupyterData is the Jupyter data directory inside the venv, where kernelspecs go.
func (p *Project) JupyterData() string { return filepath.Join(p.Venv, "share", "jupyter") }

// NeedVenv returns an error naming the setup command when the venv or one of
// the named executables in it is missing.
func (p *Project) NeedVenv(executables ...string) error {
	for _, exe := range append([]string{"python"}, executables...) {
		if _, err := os.Stat(p.Bin(exe)); err != nil {
			return fmt.Errorf("%s is missing: run `make setup` first", p.Bin(exe))
		}
	}
	return nil
}

// Env returns the environment for processes that run notebooks: the venv's
// bin first on PATH, and the variables the kernel and lib/backend read.
func (p *Project) Env() []string {
	env := os.Environ()
	set := func(k, v string) {
		prefix := k + "="
		for i, e := range env {
			if len(e) >= len(prefix) && e[:len(prefix)] == prefix {
				env[i] = prefix + v
				return
			}
		}
		env = append(env, prefix+v)
	}
	set("PATH", filepath.Join(p.Venv, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	set("VIRTUAL_ENV", p.Venv)
	set(checkout.EnvRoot, p.Root)
	set(checkout.EnvVenv, p.Venv)
	set("JUPYTER_DATA_DIR", p.JupyterData())
	// JupyterLab's user settings and workspaces, kept in the checkout rather than ~/.jupyter.
	set("JUPYTER_CONFIG_DIR", filepath.Join(p.Venv, "etc", "jupyter"))
	set("GOMLX_NO_AUTO_INSTALL", "1")
	set("PYDEVD_DISABLE_FILE_VALIDATION", "1")
	return env
}
