package backends

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTree builds a directory tree with fake plugin files and returns a locator over it.
func fakeTree(t testing.TB, env map[string]string, files ...string) (*Locator, string) {
	t.Helper()
	root := t.TempDir()
	for _, f := range files {
		path := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("not really a plugin"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	resolved := map[string]string{}
	for k, v := range env {
		resolved[k] = strings.ReplaceAll(v, "$ROOT", root)
	}
	l := &Locator{
		LookupEnv:        func(k string) (string, bool) { v, ok := resolved[k]; return v, ok },
		WorkDir:          filepath.Join(root, "work"),
		SystemPythonDirs: []string{filepath.Join(root, "sys/lib/python3*/site-packages")},
		GoXLADirs:        []string{filepath.Join(root, "goxla")},
		PCIDevicesDir:    filepath.Join(root, "pci"),
	}
	return l, root
}

// fakePCIDevice adds a PCI device with the given vendor and device ids to a fake tree.
func fakePCIDevice(t *testing.T, root, slot, vendor, device string) {
	t.Helper()
	dir := filepath.Join(root, "pci", slot)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, value := range map[string]string{"vendor": vendor + "\n", "device": device + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(value), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const (
	venvCPU  = "proj/.venv/lib/python3.11/site-packages/lammps_jax_pjrt_cpu/pjrt_c_api_cpu_plugin.so"
	sysCUDA  = "sys/lib/python3.12/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so"
	goxlaCPU = "goxla/pjrt_c_api_cpu_plugin.so"
)

func TestResolve(t *testing.T) {
	if !xlaCompiledIn {
		t.Skip("built without XLA")
	}
	projEnv := map[string]string{EnvRoot: "$ROOT/proj"}
	tests := []struct {
		name       string
		choice     string
		env        map[string]string
		files      []string
		wantName   string
		wantPlugin string // relative to the tree root
		wantOpts   string
		wantSource string
		wantErr    string
	}{
		{name: "default is xla:cpu when the venv has the plugin", env: projEnv, files: []string{venvCPU},
			wantName: XLACPU, wantPlugin: venvCPU, wantSource: "default"},
		{name: "default falls back to go", env: projEnv, wantName: Go, wantSource: "default"},
		{name: "default word is the same as empty", choice: "default", env: projEnv, wantName: Go, wantSource: "default"},
		{name: "env var overrides the default", env: map[string]string{EnvRoot: "$ROOT/proj", EnvBackend: "go"},
			files: []string{venvCPU}, wantName: Go, wantSource: "$GOMLX_BACKEND"},
		{name: "argument overrides the env var", choice: "xla:cpu", env: map[string]string{EnvRoot: "$ROOT/proj", EnvBackend: "go"},
			files: []string{venvCPU}, wantName: XLACPU, wantPlugin: venvCPU, wantSource: "argument"},
		{name: "xla alone means xla:cpu", choice: "xla", env: projEnv, files: []string{venvCPU}, wantName: XLACPU, wantPlugin: venvCPU},
		{name: "options are kept", choice: "xla:cpu, tf32=false ,notf32", env: projEnv, files: []string{venvCPU},
			wantName: XLACPU, wantPlugin: venvCPU, wantOpts: "tf32=false,notf32"},
		{name: "go takes only its own options", choice: "go,tf32=false", wantErr: `unknown option "tf32=false" for the go backend`},
		{name: "go options are kept", choice: "go,parallelism=2,ops_parallel", wantName: Go, wantOpts: "parallelism=2,ops_parallel"},
		{name: "go parallelism needs a number", choice: "go,parallelism=many", wantErr: `unknown option "parallelism=many"`},
		{name: "go flags take no value", choice: "go,ops_parallel=1", wantErr: `unknown option "ops_parallel=1"`},
		{name: "unknown option", choice: "xla:cpu,turbo=1", env: projEnv, files: []string{venvCPU}, wantErr: `unknown option "turbo=1"`},
		{name: "devices on cpu", choice: "xla:cpu,devices=4", env: projEnv, files: []string{venvCPU},
			wantName: XLACPU, wantPlugin: venvCPU, wantOpts: "devices=4"},
		{name: "devices on cuda", choice: "xla:cuda,devices=2,tf32=false", env: projEnv, files: []string{sysCUDA},
			wantName: XLACUDA, wantPlugin: sysCUDA, wantOpts: "devices=2,tf32=false"},
		{name: "devices on a cpu plugin given by path", choice: "xla:$ROOT/custom/my_cpu_plugin.so,devices=2", files: []string{"custom/my_cpu_plugin.so"},
			wantName: "xla:$ROOT/custom/my_cpu_plugin.so", wantPlugin: "custom/my_cpu_plugin.so", wantOpts: "devices=2"},
		{name: "devices=0", choice: "xla:cpu,devices=0", env: projEnv, files: []string{venvCPU}, wantErr: `"devices=0": the number of devices must be a whole number ≥ 1`},
		{name: "negative devices", choice: "xla:cpu,devices=-2", env: projEnv, files: []string{venvCPU}, wantErr: "whole number ≥ 1"},
		{name: "devices not an integer", choice: "xla:cpu,devices=2.5", env: projEnv, files: []string{venvCPU}, wantErr: `"devices=2.5"`},
		{name: "devices without a value", choice: "xla:cpu,devices", env: projEnv, files: []string{venvCPU}, wantErr: "whole number ≥ 1"},
		{name: "devices twice", choice: "xla:cpu,devices=2,devices=4", env: projEnv, files: []string{venvCPU}, wantErr: "given twice"},
		{name: "devices on go", choice: "go,devices=4", wantErr: "the go backend has one device"},
		{name: "devices and visible_devices", choice: "xla:cuda,devices=2,visible_devices=0;1", env: projEnv, files: []string{sysCUDA},
			wantErr: "not both"},
		{name: "devices on an unknown plugin", choice: "xla:$ROOT/other.so,devices=2", files: []string{"other.so"},
			wantErr: "devices=N is supported on xla:cpu"},
		{name: "unknown backend", choice: "tpu", wantErr: `unknown backend "tpu"`},
		{name: "unknown xla platform", choice: "xla:metal", wantErr: `unknown backend "xla:metal"`},
		{name: "missing cpu plugin says what to install", choice: "xla:cpu", env: projEnv, wantErr: "lammps-jax-pjrt-cpu==0.11.2"},
		{name: "missing cuda plugin says what to install", choice: "xla:cuda", env: projEnv, wantErr: "jax-cuda13-plugin"},
		{name: "cuda plugin found in a system python", choice: "xla:cuda,tf32=false", env: projEnv, files: []string{sysCUDA},
			wantName: XLACUDA, wantPlugin: sysCUDA, wantOpts: "tf32=false"},
		{name: "cpu plugin in go-xla's directory", choice: "xla:cpu", env: projEnv, files: []string{goxlaCPU},
			wantName: XLACPU, wantPlugin: goxlaCPU},
		{name: "PJRT_PLUGIN_LIBRARY_PATH replaces go-xla's directories", choice: "xla:cpu",
			env: map[string]string{envPJRTPaths: "$ROOT/elsewhere"}, files: []string{goxlaCPU}, wantErr: "not found"},
		{name: "explicit plugin variable", choice: "xla:cpu", env: map[string]string{EnvCPUPlugin: "$ROOT/" + goxlaCPU},
			files: []string{goxlaCPU}, wantName: XLACPU, wantPlugin: goxlaCPU},
		{name: "explicit plugin variable must be absolute", choice: "xla:cpu", env: map[string]string{EnvCPUPlugin: "rel/p.so"},
			wantErr: "must be absolute"},
		{name: "explicit plugin variable must exist", choice: "xla:cpu", env: map[string]string{EnvCPUPlugin: "$ROOT/none.so"},
			wantErr: "no such file"},
		{name: "absolute path of a known plugin gets its short name", choice: "xla:$ROOT/" + venvCPU, env: projEnv,
			files: []string{venvCPU}, wantName: XLACPU, wantPlugin: venvCPU},
		{name: "absolute path that does not exist", choice: "xla:/nonexistent/plugin.so", wantErr: "plugin file not found"},
		{name: "GOREPRO_VENV is searched", choice: "xla:cpu", env: map[string]string{EnvVenv: "$ROOT/proj/.venv"},
			files: []string{venvCPU}, wantName: XLACPU, wantPlugin: venvCPU},
		{name: "VIRTUAL_ENV is searched", choice: "xla:cpu", env: map[string]string{"VIRTUAL_ENV": "$ROOT/proj/.venv"},
			files: []string{venvCPU}, wantName: XLACPU, wantPlugin: venvCPU},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, root := fakeTree(t, tc.env, tc.files...)
			choice := strings.ReplaceAll(tc.choice, "$ROOT", root)
			spec, err := l.Resolve(choice)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Resolve(%q) error = %v, want it to contain %q", choice, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve(%q): %v", choice, err)
			}
			if wantName := strings.ReplaceAll(tc.wantName, "$ROOT", root); spec.Name != wantName {
				t.Errorf("Name = %q, want %q", spec.Name, wantName)
			}
			wantPlugin := ""
			if tc.wantPlugin != "" {
				wantPlugin = filepath.Join(root, tc.wantPlugin)
			}
			if spec.PluginPath != wantPlugin {
				t.Errorf("PluginPath = %q, want %q", spec.PluginPath, wantPlugin)
			}
			if got := strings.Join(spec.Options, ","); got != tc.wantOpts {
				t.Errorf("Options = %q, want %q", got, tc.wantOpts)
			}
			if tc.wantSource != "" && spec.Source != tc.wantSource {
				t.Errorf("Source = %q, want %q", spec.Source, tc.wantSource)
			}
		})
	}
}

func TestMissingPluginIsTyped(t *testing.T) {
	l, _ := fakeTree(t, nil)
	_, err := l.FindPlugin(XLACUDA)
	var missing *MissingPluginError
	if !errors.As(err, &missing) || missing.Backend != XLACUDA || len(missing.Searched) == 0 {
		t.Fatalf("FindPlugin(xla:cuda) = %v, want a MissingPluginError listing where it searched", err)
	}
}

func TestSpecConfig(t *testing.T) {
	tests := []struct {
		spec Spec
		want string
		str  string
	}{
		{Spec{Name: Go}, "go:ops_sequential", "go"},
		{Spec{Name: Go, Options: []string{"ops_parallel", "parallelism=2"}}, "go:ops_parallel,parallelism=2", "go,ops_parallel,parallelism=2"},
		{Spec{Name: Go, Options: []string{"creation_order"}}, "go:creation_order,ops_sequential", "go,creation_order"},
		{Spec{Name: XLACPU, PluginPath: "/p/cpu.so"}, "xla:/p/cpu.so,tf32=false", "xla:cpu"},
		{Spec{Name: XLACUDA, PluginPath: "/p/cuda.so"}, "xla:/p/cuda.so,tf32=false", "xla:cuda"},
		{Spec{Name: XLACUDA, PluginPath: "/p/cuda.so", Options: []string{"tf32=false"}}, "xla:/p/cuda.so,tf32=false", "xla:cuda,tf32=false"},
		{Spec{Name: XLACUDA, PluginPath: "/p/cuda.so", Options: []string{"tf32=true"}}, "xla:/p/cuda.so,tf32=true", "xla:cuda,tf32=true"},
		{Spec{Name: XLACUDA, PluginPath: "/p/cuda.so", Options: []string{"tf32"}}, "xla:/p/cuda.so,tf32", "xla:cuda,tf32"},
		// An absolute path: go-xla neither searches nor auto-installs (it would download libtpu from PyPI).
		{Spec{Name: XLATPU, PluginPath: "/p/libtpu/libtpu.so"}, "xla:/p/libtpu/libtpu.so,tf32=false", "xla:tpu"},
		// The CPU device count is a create option, not part of go-xla's config string (it rejects unknown options).
		{Spec{Name: XLACPU, PluginPath: "/p/cpu.so", Options: []string{"devices=4"}}, "xla:/p/cpu.so,tf32=false", "xla:cpu,devices=4"},
		{Spec{Name: XLACUDA, PluginPath: "/p/cuda.so", Options: []string{"devices=3", "tf32=true"}},
			"xla:/p/cuda.so,tf32=true,visible_devices=0;1;2", "xla:cuda,devices=3,tf32=true"},
	}
	for _, tc := range tests {
		if got := tc.spec.Config(); got != tc.want {
			t.Errorf("Config() = %q, want %q", got, tc.want)
		}
		if got := tc.spec.String(); got != tc.str {
			t.Errorf("String() = %q, want %q", got, tc.str)
		}
	}
}

// Full float32 is the default everywhere: TF32 only when asked for.
func TestPrecision(t *testing.T) {
	for spec, want := range map[string]string{
		"": "float32", "go": "float32", "xla:cpu": "float32", "xla:cuda": "float32", "xla:cuda,tf32=false": "float32",
		"xla:cuda,tf32=true": "tf32", "xla:cuda,tf32": "tf32", "xla:cuda,tf32=true,notf32": "float32",
	} {
		if got := PrecisionOf(spec); got != want {
			t.Errorf("PrecisionOf(%q) = %q, want %q", spec, got, want)
		}
	}
}

// The created backend has TF32 off unless asked for, and Identity says so.
func TestCreatedBackendPrecision(t *testing.T) {
	if _, err := Resolve(XLACPU); err != nil {
		t.Skipf("xla:cpu not found: %v", err)
	}
	if _, err := Resolve("xla:cpu,tf32=true"); err == nil || !strings.Contains(err.Error(), "TF32 exists only on CUDA GPUs") {
		t.Errorf("Resolve(xla:cpu,tf32=true) = %v; want a clear error (XLA's CPU compiler refuses TF32)", err)
	}
	for choice, want := range map[string]string{"xla:cpu": "tf32=false", "xla:cpu,tf32=false": "tf32=false"} {
		b, _, err := New(choice)
		if err != nil {
			t.Fatal(err)
		}
		if id := Identity(b); !strings.HasSuffix(id, want) {
			t.Errorf("Identity(%s) = %q, want it to end in %q", choice, id, want)
		}
		b.Finalize()
	}
}

func TestBrokenPluginIsAnErrorNotAPanic(t *testing.T) {
	if !xlaCompiledIn {
		t.Skip("built without XLA")
	}
	bogus := filepath.Join(t.TempDir(), "pjrt_c_api_cpu_plugin.so")
	if err := os.WriteFile(bogus, []byte("not an ELF file"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := New("xla:" + bogus)
	if err == nil {
		t.Fatal("New on a broken plugin succeeded")
	}
	if !strings.Contains(err.Error(), bogus) {
		t.Errorf("error %q does not name the plugin file", err)
	}
}

// On xla:cuda at full float32, NewFromSpec sets NVIDIA_TF32_OVERRIDE=0 before
// loading the plugin (go-xla's tf32=false alone left convolutions and, with
// the JAX 0.11.2 plugin, matrix products at TF32: measured on an H200) — also
// for a CUDA plugin given by path, over a value the user set — and leaves it
// alone for tf32=true and other backends.
func TestFullFloat32OnCUDA(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "xla_cuda_plugin.so")
	for _, tc := range []struct {
		spec    Spec
		preset  string // "" = unset
		wantEnv string // "" = unset
	}{
		{Spec{Name: XLACUDA, PluginPath: missing}, "", "0"},
		{Spec{Name: XLACUDA, PluginPath: missing, Options: []string{"tf32=false"}}, "", "0"},
		{Spec{Name: XLACUDA, PluginPath: missing}, "1", "0"},
		{Spec{Name: XLACPU + "-by-path", PluginPath: filepath.Join(t.TempDir(), "xla_cuda_plugin.so")}, "", "0"},
		{Spec{Name: XLACUDA, PluginPath: missing, Options: []string{"tf32=true"}}, "", ""},
		{Spec{Name: XLACPU, PluginPath: filepath.Join(t.TempDir(), "pjrt_c_api_cpu_plugin.so")}, "", ""},
	} {
		t.Setenv(EnvTF32Override, "")
		os.Unsetenv(EnvTF32Override)
		if tc.preset != "" {
			t.Setenv(EnvTF32Override, tc.preset)
		}
		if _, err := NewFromSpec(tc.spec); err == nil {
			t.Fatalf("%s: a missing plugin loaded", tc.spec)
		}
		got, set := os.LookupEnv(EnvTF32Override)
		if (tc.wantEnv == "" && set) || (tc.wantEnv != "" && got != tc.wantEnv) {
			t.Errorf("%s (preset %q): $%s = %q (set %v), want %q", tc.spec, tc.preset, EnvTF32Override, got, set, tc.wantEnv)
		}
	}
}
