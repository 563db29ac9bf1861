// Package checkout locates the gorepro checkout a process works in, and the
// Python virtual environment beside it.
//
// The kernelspec, the Makefile and `gorepro run` set two environment
// variables for the processes they start: $GOREPRO_ROOT, the checkout, and
// $GOREPRO_VENV, its venv. Without them, the checkout is the nearest
// directory above the working directory whose go.mod declares the gorepro
// module, and the venv is its .venv directory. Everything that needs either
// (the cache of results, the code hash, the data sets a Python package
// ships, the command's tools in the venv) asks here, so there is one answer.
package checkout

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

const (
	// EnvRoot names the gorepro checkout.
	EnvRoot = "GOREPRO_ROOT"
	// EnvVenv names the checkout's Python virtual environment (default $GOREPRO_ROOT/.venv).
	EnvVenv = "GOREPRO_VENV"
	// ModulePath is gorepro's Go module path: a go.mod declaring it marks a checkout.
	ModulePath = "github.com/gorepro/gorepro"
)

// ErrNotFound is returned when no checkout is found.
var ErrNotFound = errors.New("not inside a gorepro checkout: run from the repository (or set $" + EnvRoot + ")")

// Finder searches for the checkout. Its fields make the search testable;
// Default searches this process's environment from its working directory.
type Finder struct {
	// LookupEnv reads the environment; nil reads nothing.
	LookupEnv func(string) (string, bool)
	// WorkDir is where the walk up to a go.mod starts.
	WorkDir string
}

// Default is the Finder of this process: os.LookupEnv and the working directory.
func Default() Finder {
	wd, _ := os.Getwd()
	return Finder{LookupEnv: os.LookupEnv, WorkDir: wd}
}

func (f Finder) lookupEnv(key string) (string, bool) {
	if f.LookupEnv == nil {
		return "", false
	}
	return f.LookupEnv(key)
}

// Root returns the checkout: $GOREPRO_ROOT when set and not empty, else the
// nearest directory above WorkDir (itself included) whose go.mod declares
// ModulePath. ok is false when there is none. The path is returned as found,
// not made absolute.
func (f Finder) Root() (root string, ok bool) {
	if root, ok := f.lookupEnv(EnvRoot); ok && root != "" {
		return root, true
	}
	for dir := f.WorkDir; dir != "" && dir != "/" && dir != "."; dir = filepath.Dir(dir) {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(data), "module "+ModulePath+"\n") {
			return dir, true
		}
	}
	return "", false
}

// Venv returns the checkout's venv: $GOREPRO_VENV when set and not empty,
// else Root's .venv. It does not check that the directory exists.
func (f Finder) Venv() (venv string, ok bool) {
	if v, ok := f.lookupEnv(EnvVenv); ok && v != "" {
		return v, true
	}
	root, ok := f.Root()
	if !ok {
		return "", false
	}
	return filepath.Join(root, ".venv"), true
}

// Venvs returns the existing Python environments to search for an installed
// package, most specific first and without repeats: $GOREPRO_VENV, the
// checkout's .venv, $VIRTUAL_ENV.
func (f Finder) Venvs() []string {
	var venvs []string
	add := func(dir string) {
		if dir == "" || slices.Contains(venvs, dir) {
			return
		}
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			venvs = append(venvs, dir)
		}
	}
	if v, ok := f.lookupEnv(EnvVenv); ok {
		add(v)
	}
	if root, ok := f.Root(); ok {
		add(filepath.Join(root, ".venv"))
	}
	if v, ok := f.lookupEnv("VIRTUAL_ENV"); ok {
		add(v)
	}
	return venvs
}

// Root returns the absolute path of this process's checkout (see
// Finder.Root), or ErrNotFound.
func Root() (string, error) {
	root, ok := Default().Root()
	if !ok {
		return "", ErrNotFound
	}
	return filepath.Abs(root)
}

// Venv returns the absolute path of this process's venv (see Finder.Venv),
// or ErrNotFound when neither $GOREPRO_VENV nor a checkout is known.
func Venv() (string, error) {
	venv, ok := Default().Venv()
	if !ok {
		return "", ErrNotFound
	}
	return filepath.Abs(venv)
}

// Bin returns the path of the executable name in the venv's bin directory.
// It does not check that the file exists.
func Bin(name string) (string, error) {
	venv, err := Venv()
	if err != nil {
		return "", err
	}
	return filepath.Join(venv, "bin", name), nil
}
