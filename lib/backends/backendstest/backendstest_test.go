package backendstest

import "testing"

// $GOREPRO_TEST_BACKENDS replaces the default list.
func TestEnvBackends(t *testing.T) {
	t.Setenv(EnvBackends, "go")
	got := Available(t)
	if len(got) != 1 || got[0].Name() != "Go Backend" {
		names := []string{}
		for _, b := range got {
			names = append(names, b.Name())
		}
		t.Fatalf("Available with %s=go: %v", EnvBackends, names)
	}
}
