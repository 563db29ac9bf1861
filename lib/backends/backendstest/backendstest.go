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
	"os/exec"
	"path/filepath"
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

// Python returns the python of a project venv that imports every one of
// modules (reference implementations the numerical tests compare with). It
// skips the test when there is none, or fails it when the environment
// variable requireEnv is set (make test sets such variables).
func Python(t testing.TB, requireEnv string, modules ...string) string {
	t.Helper()
	imports := "import " + strings.Join(modules, ", ")
	for _, v := range backends.DefaultLocator().Venvs() {
		p := filepath.Join(v, "bin", "python")
		if _, err := os.Stat(p); err == nil && exec.Command(p, "-c", imports).Run() == nil {
			return p
		}
	}
	if os.Getenv(requireEnv) != "" {
		t.Fatalf("a project venv with %s is required ($%s) but none has it: run make setup", strings.Join(modules, ", "), requireEnv)
	}
	t.Skipf("no project venv with %s (make setup installs it)", strings.Join(modules, ", "))
	return ""
}
