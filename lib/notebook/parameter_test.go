package notebook

import (
	"strings"
	"testing"
)

func TestParameter(t *testing.T) {
	t.Setenv(EnvBuildParams, `{"seed": 7, "profile": "smoke", "sizes": [64, 128], "lr": 0.5, "bad": "x"}`)
	if got := Parameter[int]("seed", 42); got != 7 {
		t.Errorf("seed = %d, want 7", got)
	}
	if got := Parameter[string]("profile", "quick"); got != "smoke" {
		t.Errorf("profile = %q, want smoke", got)
	}
	if got := Parameter[[]int]("sizes", nil); len(got) != 2 || got[1] != 128 {
		t.Errorf("sizes = %v", got)
	}
	if got := Parameter[float64]("lr", 1e-3); got != 0.5 {
		t.Errorf("lr = %v", got)
	}
	if got := Parameter[int]("unset", 3); got != 3 {
		t.Errorf("unset = %d, want the default 3", got)
	}
	exitCode := 0
	exit = func(code int) { exitCode = code }
	defer func() { exit = func(code int) { panic(code) } }()
	if got := Parameter[int]("bad", 5); got != 5 || exitCode != 1 {
		t.Errorf("bad = %d, exit %d; want the default and exit 1", got, exitCode)
	}
	t.Setenv(EnvBuildParams, "")
	if got := Parameter[string]("profile", "quick"); got != "quick" {
		t.Errorf("outside a built notebook: profile = %q, want the default", got)
	}
	if !strings.Contains(EnvBuildParams, "BUILD") {
		t.Error("EnvBuildParams renamed?")
	}
}
