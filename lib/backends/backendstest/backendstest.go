// Package backendstest gives tests the backends to run numerical checks on:
// go always, and xla:cpu when its plugin is installed — required when
// $GOREPRO_REQUIRE_XLA_CPU is set (make test sets it), so that a missing plugin
// fails CI instead of silently testing less. $GOREPRO_TEST_BACKENDS (backend
// specs separated by ";", e.g. "xla:cuda,tf32=false") replaces that list:
// it runs the same tests on a GPU from a `go test -c` binary, and a backend
// named there that does not start fails the test.
package backendstest

import (
	"os"
	"strings"
	"testing"

	"github.com/gomlx/compute"

	"github.com/gorepro/gorepro/lib/backends"
)

// EnvBackends, when set, lists the backends to test on instead of the default.
const EnvBackends = "GOREPRO_TEST_BACKENDS"

// Available creates the backends to test on; they are finalised when the test ends.
func Available(t testing.TB) []compute.Backend {
	t.Helper()
	var out []compute.Backend
	if list := os.Getenv(EnvBackends); list != "" {
		for _, spec := range strings.Split(list, ";") {
			b, _, err := backends.New(strings.TrimSpace(spec))
			if err != nil {
				t.Fatalf("$%s names %q: %v", EnvBackends, spec, err)
			}
			t.Cleanup(b.Finalize)
			out = append(out, b)
		}
		return out
	}
	for _, name := range []string{backends.Go, backends.XLACPU} {
		b, _, err := backends.New(name)
		if err != nil {
			if name == backends.XLACPU && os.Getenv("GOREPRO_REQUIRE_XLA_CPU") != "" {
				t.Fatalf("xla:cpu is required ($GOREPRO_REQUIRE_XLA_CPU) but: %v", err)
			}
			t.Logf("%s not tested: %v", name, err)
			continue
		}
		t.Cleanup(b.Finalize)
		out = append(out, b)
	}
	return out
}
