package install

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gorepro/gorepro/kernel/internal/project"
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

func TestStepFailedIsOneLineWithTheLog(t *testing.T) {
	dir := t.TempDir()
	p := &project.Project{Root: dir, Venv: filepath.Join(dir, ".venv")}
	// What a failed warm-up looks like: a long traceback, then papermill's summary.
	script := `echo "Traceback (most recent call last):"; for i in 1 2 3 4 5 6 7 8 9 10; do echo "  File \"x.py\", line $i"; done
echo "------------------------------"; echo 'Exception encountered at "In [1]":'; echo 'failed to run "go get": exit status 1'; echo "-----"; exit 1`
	err := stepFailed(p, "prime the Go build cache", "prime-cache", runIn(dir, os.Environ(), "sh", "-c", script))
	msg := err.Error()
	logPath := filepath.Join(dir, "build", "logs", "setup-prime-cache.log")
	for _, want := range []string{`setup step "prime the Go build cache" failed`, `failed to run "go get": exit status 1`, logPath, filepath.Join(p.Venv, "bin", "gorepro") + " install"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") || strings.Contains(msg, "Traceback") {
		t.Errorf("error is not one line without the traceback: %q", msg)
	}
	log, readErr := os.ReadFile(logPath)
	if readErr != nil {
		t.Fatal(readErr)
	}
	if !strings.Contains(string(log), "Traceback") || !strings.Contains(string(log), "line 10") {
		t.Errorf("the log should keep the whole output:\n%s", log)
	}
}

func TestKernelEnvIsOffline(t *testing.T) {
	p := &project.Project{Root: t.TempDir(), Venv: t.TempDir()}
	env := kernelEnv(p)
	if env["GOPROXY"] != "off" {
		t.Errorf("kernel GOPROXY = %q, want off: cells must never resolve modules", env["GOPROXY"])
	}
	if _, ok := env["GOREPRO_GOPROXY"]; !ok {
		t.Error("GOREPRO_GOPROXY (the proxy %%require uses) is not recorded")
	}
}

func TestWithoutCredentials(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"off", "off"},
		{"direct", "direct"},
		{"https://proxy.golang.org,direct", "https://proxy.golang.org,direct"},
		{"https://user:secret@goproxy.corp.example/api/go", "https://goproxy.corp.example/api/go"},
		{"https://token@goproxy.corp.example", "https://goproxy.corp.example"},
		{"https://user:p%40ss@host:8443/go?x=1", "https://host:8443/go?x=1"},
		{"https://user:p@ss@host/go", "https://host/go"},
		{"https://a:1@one.example/go,https://b:2@two.example|direct", "https://one.example/go,https://two.example|direct"},
		{"https://a:1@one.example|https://proxy.golang.org,off", "https://one.example|https://proxy.golang.org,off"},
		{"user:secret@goproxy.corp.example/go,direct", "goproxy.corp.example/go,direct"},
		{"https://host/go/@v/list", "https://host/go/@v/list"},
		{"file:///srv/goproxy", "file:///srv/goproxy"},
	} {
		if got := withoutCredentials(tc.in); got != tc.want {
			t.Errorf("withoutCredentials(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// The proxy recorded in kernel.json has no credentials, whatever GOPROXY
// setup ran with, and kernel.json is readable by its owner only, even when
// it replaces one that was not.
func TestKernelSpecIsPrivateAndHoldsNoProxyCredentials(t *testing.T) {
	dir := t.TempDir()
	p := &project.Project{Root: filepath.Join(dir, "repo"), Venv: filepath.Join(dir, "repo", ".venv")}
	if err := os.MkdirAll(p.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOPROXY", "https://alice:s3cret@goproxy.corp.example/go,https://proxy.golang.org|direct")
	path := filepath.Join(p.Venv, "share", "jupyter", "kernels", "gorepro", "kernel.json")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("{}"), 0o644); err != nil { // a kernelspec an older setup wrote
		t.Fatal(err)
	}
	if err := WriteKernelSpec(p); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("kernel.json mode %v, want 0600", fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "s3cret") || strings.Contains(string(data), "alice") {
		t.Errorf("kernel.json holds the proxy's credentials:\n%s", data)
	}
	var spec KernelSpec
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	if want := "https://goproxy.corp.example/go,https://proxy.golang.org|direct"; spec.Env["GOREPRO_GOPROXY"] != want {
		t.Errorf("GOREPRO_GOPROXY = %q, want %q", spec.Env["GOREPRO_GOPROXY"], want)
	}
}
