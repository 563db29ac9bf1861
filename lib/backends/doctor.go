package backends

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Status is what the doctor found for one backend.
type Status struct {
	// Name is the backend's spec name ("go", "xla:cpu", "xla:cuda", "xla:tpu").
	Name string `json:"name"`
	// Available is true when a computation can run on it now.
	Available bool `json:"available"`
	// Default is true for the backend an empty choice resolves to.
	Default bool `json:"default"`
	// Reason says why it is not available (or a note when it is).
	Reason string `json:"reason,omitempty"`
	// Plugin is the PJRT plugin file, for xla backends.
	Plugin string `json:"plugin,omitempty"`
	// PluginSource says where the plugin was found.
	PluginSource string `json:"plugin_source,omitempty"`
	// PJRTVersion is the plugin's PJRT C API version, e.g. "0.115".
	PJRTVersion string `json:"pjrt_version,omitempty"`
	// Description is GoMLX's description of the backend.
	Description string `json:"description,omitempty"`
	// Precision is what float32 matrix products run at: "float32" (full) or "tf32".
	Precision string `json:"precision,omitempty"`
	// Devices is the number of addressable devices.
	Devices int `json:"devices,omitempty"`
	// Check is the result of a small computation run on it (2+3 on the device).
	Check string `json:"check,omitempty"`
	// LoadSeconds is how long creating the backend took.
	LoadSeconds float64 `json:"load_seconds,omitempty"`
}

// Diagnose checks each known backend: finds its plugin, loads it, counts the
// devices and runs a tiny computation (a 64×64 matmul checked against float64).
// It never panics; each failure becomes the backend's Reason.
func Diagnose() []Status {
	return DefaultLocator().Diagnose()
}

// Diagnose is Diagnose with this locator's environment and search paths.
func (l *Locator) Diagnose() []Status {
	def, defErr := l.Resolve("")
	var out []Status
	for _, name := range []string{Go, XLACPU, XLACUDA, XLATPU} {
		st := Status{Name: name}
		if defErr == nil && def.Name == name {
			st.Default = true
		}
		out = append(out, diagnoseOne(l, name, st))
	}
	return out
}

func diagnoseOne(l *Locator, name string, st Status) Status {
	spec, err := l.Resolve(name)
	if err != nil {
		var missing *MissingPluginError
		if errors.As(err, &missing) {
			st.Reason = missing.Error()
			return st
		}
		st.Reason = strings.TrimPrefix(err.Error(), fmt.Sprintf("backend %q: ", name))
		if p, err := l.FindPlugin(name); err == nil {
			// Found but not usable (e.g. libtpu on a machine without a TPU): say which file.
			st.Plugin, st.PluginSource = p.Path, p.Source
		}
		return st
	}
	st.Plugin, st.PluginSource = spec.PluginPath, spec.PluginSource
	st.Precision = spec.Precision()
	if spec.IsXLA() {
		v, err := pluginVersion(spec.PluginPath)
		if err != nil {
			st.Reason = fmt.Sprintf("plugin %s failed to load: %v", spec.PluginPath, err)
			return st
		}
		st.PJRTVersion = v
	}
	start := time.Now()
	b, err := NewFromSpec(spec)
	if err != nil {
		st.Reason = firstLine(err.Error())
		return st
	}
	defer b.Finalize()
	st.LoadSeconds = time.Since(start).Seconds()
	st.Description = b.Description()
	st.Devices = b.NumDevices()
	result, err := checkMatmul(b)
	if err != nil {
		st.Reason = "loaded, but a test computation failed: " + firstLine(err.Error())
		return st
	}
	st.Check = result
	st.Available = true
	st.Reason = devicesNote(spec)
	return st
}

// devicesNote tells how to ask an available backend for several devices.
func devicesNote(spec Spec) string {
	switch spec.platform() {
	case "cpu":
		return spec.Name + ",devices=N gives N virtual devices (plugin option cpu_device_count)"
	case "cuda":
		return spec.Name + ",devices=N uses GPUs 0…N-1 (visible_devices=i;j picks others)"
	}
	return ""
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// checkMatmul multiplies two 64×64 float32 matrices on b and compares with a
// float64 product computed here; it reports the largest relative error.
func checkMatmul(b compute.Backend) (result string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	const n = 64
	x := make([][]float32, n)
	y := make([][]float32, n)
	for i := range n {
		x[i], y[i] = make([]float32, n), make([]float32, n)
		for j := range n {
			x[i][j] = float32(math.Sin(float64(i*n + j))) // deterministic, signed
			y[i][j] = float32(math.Cos(float64(i + j*n)))
		}
	}
	out, err := graph.CallOnce(b, func(a, c *graph.Node) *graph.Node { return graph.MatMul(a, c) },
		tensors.FromValue(x), tensors.FromValue(y))
	if err != nil {
		return "", err
	}
	got := tensors.MustCopyFlatData[float32](out)
	maxRel := 0.0
	for i := range n {
		for j := range n {
			want, norm := 0.0, 0.0
			for k := range n {
				want += float64(x[i][k]) * float64(y[k][j])
				norm += math.Abs(float64(x[i][k]) * float64(y[k][j]))
			}
			maxRel = math.Max(maxRel, math.Abs(float64(got[i*n+j])-want)/norm)
		}
	}
	if !(maxRel <= 1e-5) { // a NaN result fails too
		return "", fmt.Errorf("64×64 matmul off by %.2g (relative), more than 1e-5", maxRel)
	}
	return fmt.Sprintf("64x64 f32 matmul ok (max rel err %.1e)", maxRel), nil
}
