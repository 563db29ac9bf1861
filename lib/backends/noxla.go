//go:build !cgo || noxla

package backends

import (
	"errors"

	"github.com/gomlx/compute"

	// Registers the pure-Go backend ("go").
	_ "github.com/gomlx/compute/gobackend"
)

// xlaCompiledIn is false in builds without cgo or with the noxla tag.
const xlaCompiledIn = false

func pluginVersion(string) (string, error) {
	return "", errors.New("built without XLA support (noxla tag or CGO_ENABLED=0)")
}

func newXLAWithOptions(string, map[string]any) (compute.Backend, error) {
	return nil, errors.New("built without XLA support (noxla tag or CGO_ENABLED=0)")
}

func tf32Of(compute.Backend) (on, known bool) { return false, false }
