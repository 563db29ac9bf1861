package install

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gorepro/gorepro/kernel/project"
)

func TestWriteKernelSpec(t *testing.T) {
	dir := t.TempDir()
	p := &project.Project{Root: filepath.Join(dir, "repo"), Venv: filepath.Join(dir, "repo", ".venv")}
	if err := WriteKernelSpec(p); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(p.Venv, "share", "jupyter", "kernels", "gorepro", "kernel.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec KernelSpec
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	if spec.DisplayName != "Go (gorepro)" || spec.Language != "go" || spec.InterruptMode != "message" {
		t.Errorf("spec = %+v", spec)
	}
	wantArgv := []string{filepath.Join(p.Venv, "bin", "gorepro"), "kernel", "--connection-file", "{connection_file}"}
	if !slices.Equal(spec.Argv, wantArgv) {
		t.Errorf("argv = %q, want %q", spec.Argv, wantArgv)
	}
	if !strings.HasPrefix(spec.Env["PATH"], filepath.Join(p.Venv, "bin")+":") {
		t.Errorf("PATH = %q: the venv's tools must come first", spec.Env["PATH"])
	}
	for k, v := range map[string]string{"GOREPRO_ROOT": p.Root, "GOREPRO_VENV": p.Venv, "GOMLX_NO_AUTO_INSTALL": "1"} {
		if spec.Env[k] != v {
			t.Errorf("env %s = %q, want %q", k, spec.Env[k], v)
		}
	}
	if _, set := spec.Env["GOMLX_BACKEND"]; set {
		t.Error("the kernelspec must not fix GOMLX_BACKEND: it would override the notebook's backend parameter")
	}
}
