// Package backendstest gives tests the backends to run numerical checks on:
// go always, and xla:cpu when its plugin is installed — required when
// $GOREPRO_REQUIRE_XLA_CPU is set (make test sets it), so that a missing plugin
// fails CI instead of silently testing less.
package backendstest

import (
	"os"
	"testing"

	"github.com/gomlx/compute"

	"github.com/gorepro/gorepro/lib/backends"
)

// Available creates the backends to test on; they are finalised when the test ends.
func Available(t testing.TB) []compute.Backend {
	t.Helper()
	var out []compute.Backend
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
