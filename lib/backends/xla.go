//go:build cgo && !noxla

package backends

import (
	"fmt"

	"github.com/gomlx/compute"
	// Registers the pure-Go backend ("go").
	_ "github.com/gomlx/compute/gobackend"
	// Registers the XLA backend ("xla") without go-xla's auto-installer.
	"github.com/gomlx/go-xla/compute/xla"
	"github.com/gomlx/go-xla/pjrt"
)

// xlaCompiledIn is false in builds without cgo or with the noxla tag.
const xlaCompiledIn = true

// pluginVersion loads a PJRT plugin (cached by go-xla) and returns its PJRT C API version.
func pluginVersion(path string) (version string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("loading %s panicked: %v", path, r)
		}
	}()
	p, err := pjrt.GetPlugin(path)
	if err != nil {
		return "", err
	}
	major, minor := p.Version()
	return fmt.Sprintf("%d.%d", major, minor), nil
}

// newXLAWithOptions creates go-xla's backend from a config ("/abs/plugin.so,tf32=false")
// with PJRT client create options its config string cannot carry (cpu_device_count).
func newXLAWithOptions(config string, options map[string]any) (compute.Backend, error) {
	b, err := xla.NewWithOptions(config, pjrt.NamedValuesMap(options))
	if err != nil {
		return nil, err
	}
	return b, nil
}

// tf32Of reports whether an XLA backend lets float32 matmuls use TF32.
func tf32Of(b compute.Backend) (on, known bool) {
	if x, ok := b.(*xla.Backend); ok {
		return x.DotGeneralUseTF32, true
	}
	return false, false
}
