// Package backends owns the choice of the GoMLX compute backend for everything
// gorepro runs: notebooks, tests, benchmarks and the gorepro command.
//
// A backend is named by a short spec:
//
//	go                    pure Go, no cgo, no plugin: always available, ~15× slower for training
//	xla:cpu               XLA's CPU PJRT plugin (PyPI wheel lammps-jax-pjrt-cpu, installed in the project's venv)
//	xla:cuda              a JAX CUDA PJRT plugin found in an installed Python environment
//	xla:tpu               libtpu.so (PyPI wheel libtpu, or $GOREPRO_XLA_TPU_PLUGIN), only where a TPU chip is seen;
//	                      discovery is tested, but gorepro has never run on a TPU
//	xla:/abs/plugin.so    any PJRT plugin, by absolute path
//
// Options follow the name after commas, as in GoMLX. "devices=N" asks for N
// devices of one backend, for distributed (data-parallel) execution:
// "xla:cpu,devices=4" gives 4 virtual CPU devices (XLA's CPU plugin reports 4
// on any machine unless told otherwise, and ignores
// XLA_FLAGS=--xla_force_host_platform_device_count; the count is its create
// option cpu_device_count), "xla:cuda,devices=2" the GPUs 0 and 1
// (visible_devices=0;1, which picks others by number). The go backend has one
// device. lib/parallel trains on all of a backend's devices.
//
// Float32 matmuls run at full float32 precision on every backend by default,
// as PyTorch's do (go-xla alone would let CUDA use TF32 tensor cores, which
// changes the 4th digit of a training loss): "xla:cuda,tf32=true" opts into
// TF32 for speed.
//
// The spec comes, in order of precedence, from the caller (a notebook's
// `backend` parameter), from $GOMLX_BACKEND, or from the default: xla:cpu when
// its plugin is found, else go. No other package reads $GOMLX_BACKEND or
// searches for plugins.
//
// Plugins are always handed to GoMLX by absolute path, so go-xla never
// searches or downloads on its own: its auto-installer needs the internet and
// panics without it. This package never imports it.
package backends

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gomlx/compute"
)

// Names of the backends gorepro knows, as accepted by Resolve.
const (
	Go      = "go"
	XLACPU  = "xla:cpu"
	XLACUDA = "xla:cuda"
	XLATPU  = "xla:tpu"
)

// EnvBackend is the environment variable that overrides the default backend.
// It is GoMLX's own variable, read only here.
const EnvBackend = "GOMLX_BACKEND"

// Spec is a resolved backend choice: which backend, with which options, from
// which plugin file, and why it was chosen.
type Spec struct {
	// Name is "go", "xla:cpu", "xla:cuda", "xla:tpu", or "xla:<abs path>" for a plugin given by path.
	Name string
	// Options are the comma-separated options after the name, e.g. ["tf32=false", "devices=4"].
	Options []string
	// PluginPath is the absolute path of the PJRT plugin for xla backends; empty for go.
	PluginPath string
	// PluginSource says where the plugin was found, e.g. "project venv (PyPI lammps-jax-pjrt-cpu)".
	PluginSource string
	// Source says where the choice came from: "argument", "$GOMLX_BACKEND" or "default".
	Source string
}

// String returns the spec as a user writes it, e.g. "xla:cuda,tf32=false".
func (s Spec) String() string {
	return strings.Join(append([]string{s.Name}, s.Options...), ",")
}

// Config returns the configuration string GoMLX's compute.NewWithConfig takes:
// the plugin by absolute path, so go-xla neither searches nor downloads, and
// tf32=false unless the spec asks for TF32 (see Precision); devices=N
// becomes visible_devices=0;…;N-1 on CUDA, and on CPU a create option go-xla's
// config string cannot carry (NewFromSpec passes it). The go backend
// runs a graph's operations one at a time (ops_sequential, each operation
// still using several cores) unless ops_parallel is given: its parallel
// scheduler deadlocked here on the ColBERT training step (every worker
// waiting in workerspool.WaitToStart, 0 % CPU; the same with parallelism=4),
// and ops_sequential ran it in 3.4 s.
func (s Spec) Config() string {
	if s.Name == Go {
		options := s.Options
		if !slices.Contains(options, "ops_parallel") && !slices.Contains(options, "ops_sequential") {
			options = append(slices.Clip(options), "ops_sequential")
		}
		return "go:" + strings.Join(options, ",")
	}
	var options []string
	for _, opt := range s.Options {
		if key, _, _ := strings.Cut(opt, "="); key != optionDevices {
			options = append(options, opt)
		}
	}
	if _, set := tf32Option(options); !set {
		options = append(options, "tf32=false")
	}
	if n := s.Devices(); n > 0 && s.platform() == "cuda" {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = strconv.Itoa(i)
		}
		options = append(options, "visible_devices="+strings.Join(ids, ";"))
	}
	return "xla:" + strings.Join(append([]string{s.PluginPath}, options...), ",")
}

// optionDevices is the option that asks for a number of devices ("devices=4").
const optionDevices = "devices"

// Devices is the number of devices the spec asks for with devices=N, or 0
// when it leaves the count to the plugin (XLA's CPU plugin then reports 4,
// a CUDA plugin every GPU it sees). Resolve has checked the value.
func (s Spec) Devices() int {
	n, _, _ := devicesOption(s.Options)
	return n
}

// platform is "cpu", "cuda" or "tpu" for XLA plugins gorepro knows, by
// name or, for a plugin given by path, by its file name; "" otherwise.
func (s Spec) platform() string {
	switch s.Name {
	case Go:
		return ""
	case XLACPU, XLACUDA, XLATPU:
		return strings.TrimPrefix(s.Name, "xla:")
	}
	base := strings.ToLower(filepath.Base(s.PluginPath))
	for _, p := range []string{"cpu", "cuda", "tpu"} {
		if strings.Contains(base, p) {
			return p
		}
	}
	return ""
}

// pluginOptions are the PJRT client create options the spec needs beyond
// what go-xla's config string can say: the CPU plugin's device count.
func (s Spec) pluginOptions() map[string]any {
	if n := s.Devices(); n > 0 && s.platform() == "cpu" {
		return map[string]any{"cpu_device_count": int64(n)}
	}
	return nil
}

// devicesOption reads devices=N: N must be a whole number ≥ 1, given once.
func devicesOption(options []string) (n int, set bool, err error) {
	for _, opt := range options {
		key, value, hasValue := strings.Cut(opt, "=")
		if key != optionDevices {
			continue
		}
		if set {
			return 0, true, fmt.Errorf("%s= is given twice", optionDevices)
		}
		set = true
		n, err = strconv.Atoi(strings.TrimSpace(value))
		if !hasValue || err != nil || n < 1 {
			return 0, true, fmt.Errorf("%q: the number of devices must be a whole number ≥ 1, e.g. devices=4", opt)
		}
	}
	return n, set, nil
}

// checkDevices validates devices=N against the backend: only XLA's CPU and
// CUDA plugins take a device count, and CUDA takes it or an explicit
// visible_devices list, not both.
func checkDevices(spec Spec) error {
	_, set, err := devicesOption(spec.Options)
	if err != nil || !set {
		return err
	}
	switch spec.platform() {
	case "cpu":
		return nil
	case "cuda":
		for _, opt := range spec.Options {
			if key, _, _ := strings.Cut(opt, "="); key == "visible_devices" {
				return fmt.Errorf("give devices=N (GPUs 0…N-1) or visible_devices=i;j (those GPUs), not both")
			}
		}
		return nil
	}
	return fmt.Errorf("devices=N is supported on %s (plugin option cpu_device_count) and %s (visible_devices), not on %s",
		XLACPU, XLACUDA, spec.Name)
}

// Precision names the precision float32 matrix products run at on this
// backend: "float32" (full, the default everywhere) or "tf32" (opted into
// with tf32=true; only CUDA GPUs have TF32).
func (s Spec) Precision() string {
	if on, _ := tf32Option(s.Options); on && s.IsXLA() {
		return "tf32"
	}
	return "float32"
}

// PrecisionOf is Spec.Precision for a spec as a user writes it
// ("xla:cuda,tf32=true"), without resolving it; "" for the default.
func PrecisionOf(spec string) string {
	name, options := splitSpec(spec)
	return Spec{Name: name, Options: options}.Precision()
}

// tf32Option reads a tf32 option ("tf32", "tf32=true|false", "notf32").
func tf32Option(options []string) (on, set bool) {
	for _, opt := range options {
		key, value, hasValue := strings.Cut(opt, "=")
		switch {
		case key == "notf32":
			on, set = false, true
		case key == "tf32" && !hasValue:
			on, set = true, true
		case key == "tf32":
			on, set = value == "true" || value == "1", true
		}
	}
	return on, set
}

// IsXLA reports whether the spec names an XLA (PJRT) backend.
func (s Spec) IsXLA() bool { return s.Name != Go }

// Resolve turns a user's choice into a Spec. An empty choice or "default" means
// $GOMLX_BACKEND if set, else the default (xla:cpu when its plugin is found,
// else go). It never loads a plugin: that happens in New.
func Resolve(choice string) (Spec, error) {
	return DefaultLocator().Resolve(choice)
}

// Resolve is Resolve with this locator's environment and search paths.
func (l *Locator) Resolve(choice string) (Spec, error) {
	source := "argument"
	choice = strings.TrimSpace(choice)
	if choice == "" || choice == "default" {
		if env, ok := l.lookupEnv(EnvBackend); ok && strings.TrimSpace(env) != "" {
			choice, source = strings.TrimSpace(env), "$"+EnvBackend
		} else {
			spec := Spec{Name: Go, Source: "default"}
			if p, err := l.FindPlugin(XLACPU); err == nil && xlaCompiledIn {
				spec = Spec{Name: XLACPU, PluginPath: p.Path, PluginSource: p.Source, Source: "default"}
			}
			return spec, nil
		}
	}
	name, options := splitSpec(choice)
	spec := Spec{Options: options, Source: source}
	switch {
	case name == Go:
		spec.Name = Go
		for _, opt := range options {
			key, value, _ := strings.Cut(opt, "=")
			if key == optionDevices {
				return Spec{}, fmt.Errorf("backend %q: the go backend has one device; devices=N needs %s or %s", choice, XLACPU, XLACUDA)
			}
			_, err := strconv.Atoi(value)
			if (key == "parallelism" && err == nil) || (slices.Contains(goFlags, key) && !strings.Contains(opt, "=")) {
				continue
			}
			return Spec{}, fmt.Errorf("backend %q: unknown option %q for the go backend (known: parallelism=N, %s)", choice, opt, strings.Join(goFlags, ", "))
		}
		return spec, nil
	case name == "xla" || name == XLACPU || name == XLACUDA || name == XLATPU:
		if name == "xla" {
			name = XLACPU
		}
		spec.Name = name
		if !xlaCompiledIn {
			return Spec{}, fmt.Errorf("backend %q: this program was built without XLA (build tag noxla or CGO_ENABLED=0); use %q or rebuild with cgo", choice, Go)
		}
		p, err := l.FindPlugin(name)
		if err != nil {
			return Spec{}, fmt.Errorf("backend %q: %w", choice, err)
		}
		if name == XLATPU {
			if err := l.checkTPU(p); err != nil {
				return Spec{}, fmt.Errorf("backend %q: %w", choice, err)
			}
		}
		spec.PluginPath, spec.PluginSource = p.Path, p.Source
	case strings.HasPrefix(name, "xla:/"):
		path := strings.TrimPrefix(name, "xla:")
		spec.Name = name
		if !xlaCompiledIn {
			return Spec{}, fmt.Errorf("backend %q: this program was built without XLA (build tag noxla or CGO_ENABLED=0); use %q or rebuild with cgo", choice, Go)
		}
		if _, err := os.Stat(path); err != nil {
			return Spec{}, fmt.Errorf("backend %q: plugin file not found: %w", choice, err)
		}
		spec.PluginPath, spec.PluginSource = path, "given by path"
		// Give it its short name when it is one of the plugins we would find anyway.
		for _, known := range []string{XLACPU, XLACUDA, XLATPU} {
			if p, err := l.FindPlugin(known); err == nil && p.Path == path {
				spec.Name, spec.PluginSource = known, p.Source
			}
		}
		if isTPUPlugin(spec.Name, path) {
			if err := l.checkTPU(Plugin{Path: path, Source: spec.PluginSource}); err != nil {
				return Spec{}, fmt.Errorf("backend %q: %w", choice, err)
			}
		}
	default:
		return Spec{}, fmt.Errorf("unknown backend %q: choose one of %s, or xla:/absolute/path/to/pjrt_plugin.so",
			choice, strings.Join([]string{Go, XLACPU, XLACUDA, XLATPU}, ", "))
	}
	if err := checkOptions(spec.Name, options); err != nil {
		return Spec{}, fmt.Errorf("backend %q: %w", choice, err)
	}
	if err := checkDevices(spec); err != nil {
		return Spec{}, fmt.Errorf("backend %q: %w", choice, err)
	}
	if on, _ := tf32Option(options); on && (spec.Name == XLACPU || spec.Name == XLATPU) {
		// XLA's CPU compiler refuses TF32 dot algorithms ("not known to be supported on any hardware").
		return Spec{}, fmt.Errorf("backend %q: TF32 exists only on CUDA GPUs (xla:cuda,tf32=true); %s computes float32 products in full float32", choice, spec.Name)
	}
	return spec, nil
}

// goFlags are the go backend's own options that take no value (GoMLX's
// compute/gobackend): how a graph's operations are scheduled.
var goFlags = []string{"ops_sequential", "ops_parallel", "dependency_order", "creation_order"}

// xlaOptions are the option keys go-xla's backend accepts (boolean ones also
// as "no<key>"), and gorepro's devices.
var xlaOptions = []string{optionDevices, "tf32", "shared_buffers", "preallocate", "memory_fraction", "allocator", "visible_devices", "use_tfrt_gpu_client"}

func checkOptions(name string, options []string) error {
	for _, opt := range options {
		key, _, _ := strings.Cut(opt, "=")
		if slices.Contains(xlaOptions, key) || slices.Contains(xlaOptions, strings.TrimPrefix(key, "no")) {
			continue
		}
		return fmt.Errorf("unknown option %q for %s (known: %s)", opt, name, strings.Join(xlaOptions, ", "))
	}
	return nil
}

// splitSpec splits "xla:cuda,tf32=false" into "xla:cuda" and ["tf32=false"].
func splitSpec(choice string) (string, []string) {
	parts := strings.Split(choice, ",")
	var options []string
	for _, p := range parts[1:] {
		if p = strings.TrimSpace(p); p != "" {
			options = append(options, p)
		}
	}
	return strings.TrimSpace(parts[0]), options
}

// New resolves choice (see Resolve) and creates the backend. Errors, including
// panics inside GoMLX or the plugin's loader, come back as one error naming the
// backend and what to install.
func New(choice string) (compute.Backend, Spec, error) {
	spec, err := Resolve(choice)
	if err != nil {
		return nil, Spec{}, err
	}
	b, err := NewFromSpec(spec)
	return b, spec, err
}

// NewFromSpec creates the backend a resolved Spec describes.
func NewFromSpec(spec Spec) (b compute.Backend, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("backend %s: failed while loading: %v", spec, r)
		}
	}()
	if spec.Precision() == "float32" && (spec.Name == XLACUDA || strings.Contains(strings.ToLower(filepath.Base(spec.PluginPath)), "cuda")) {
		if err := fullFloat32Convolutions(); err != nil {
			return nil, fmt.Errorf("backend %s: %w", spec, err)
		}
	}
	if options := spec.pluginOptions(); options != nil {
		b, err = newXLAWithOptions(strings.TrimPrefix(spec.Config(), "xla:"), options)
	} else {
		b, err = compute.NewWithConfig(spec.Config())
	}
	if err != nil {
		hint := ""
		if spec.IsXLA() {
			hint = " (" + installHint(spec.Name) + ")"
		}
		return nil, fmt.Errorf("backend %s (plugin %s): %w%s", spec, spec.PluginPath, err, hint)
	}
	if want := spec.Devices(); want > 0 && b.NumDevices() != want {
		got := b.NumDevices()
		b.Finalize()
		return nil, fmt.Errorf("backend %s: asked for %d devices, the plugin %s gives %d", spec, want, spec.PluginPath, got)
	}
	return b, nil
}

// EnvTF32Override is NVIDIA's switch for TF32 in cuBLAS and cuDNN: "0"
// turns it off for the whole process.
const EnvTF32Override = "NVIDIA_TF32_OVERRIDE"

// fullFloat32Convolutions makes CUDA's libraries run float32 at full
// precision. go-xla's tf32=false gives matrix products (DotGeneral)
// HIGHEST precision but builds convolutions with the default precision,
// which lets cuDNN use TF32 on Ampere and later GPUs (measured on an H200:
// a float32 3×3 convolution differed from float64 by ~1e-3 relative without
// this, see tests/bench/tract -probe). The variable is set before the plugin
// loads cuDNN, to "0" whatever it was: float32 means full float32 (ask for
// TF32 with tf32=true). It holds for the whole process.
func fullFloat32Convolutions() error {
	if err := os.Setenv(EnvTF32Override, "0"); err != nil {
		return fmt.Errorf("setting $%s=0 for full float32 convolutions: %w", EnvTF32Override, err)
	}
	return nil
}

// MustNew is New for notebooks and examples: it panics with New's error.
func MustNew(choice string) compute.Backend {
	b, _, err := New(choice)
	if err != nil {
		panic(err)
	}
	return b
}

// Identity describes a created backend by everything that changes the
// numbers it computes: its name, GoMLX's description (platform, plugin) and
// the float32 matmul precision. Caches of computed results key on it.
func Identity(b compute.Backend) string {
	id := b.Name() + " | " + b.Description()
	if tf32, known := tf32Of(b); known {
		id += fmt.Sprintf(" | tf32=%t", tf32)
	}
	return id
}
