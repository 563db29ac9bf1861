package checkout

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestFinder(t *testing.T) {
	tmp := t.TempDir()
	checkout := filepath.Join(tmp, "gorepro")
	other := filepath.Join(tmp, "other")
	for dir, mod := range map[string]string{checkout: ModulePath, other: "example.com/other"} {
		if err := os.MkdirAll(filepath.Join(dir, "notebooks", ".venv"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module "+mod+"\n\ngo 1.26\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(checkout, ".venv"), 0o755); err != nil {
		t.Fatal(err)
	}
	ownVenv := filepath.Join(tmp, "venv")
	if err := os.Mkdir(ownVenv, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name             string
		env              map[string]string
		workDir          string
		wantRoot         string
		wantVenv         string
		wantVenvs        []string
		wantRootNotFound bool
	}{
		{name: "walk up to go.mod", workDir: filepath.Join(checkout, "notebooks"),
			wantRoot: checkout, wantVenv: filepath.Join(checkout, ".venv"), wantVenvs: []string{filepath.Join(checkout, ".venv")}},
		{name: "another module is no checkout", workDir: filepath.Join(other, "notebooks"), wantRootNotFound: true},
		{name: "GOREPRO_ROOT wins", env: map[string]string{EnvRoot: checkout}, workDir: other,
			wantRoot: checkout, wantVenv: filepath.Join(checkout, ".venv"), wantVenvs: []string{filepath.Join(checkout, ".venv")}},
		{name: "empty GOREPRO_ROOT is unset", env: map[string]string{EnvRoot: ""}, workDir: checkout,
			wantRoot: checkout, wantVenv: filepath.Join(checkout, ".venv"), wantVenvs: []string{filepath.Join(checkout, ".venv")}},
		{name: "GOREPRO_VENV wins, VIRTUAL_ENV last", env: map[string]string{EnvVenv: ownVenv, "VIRTUAL_ENV": filepath.Join(checkout, ".venv")}, workDir: checkout,
			wantRoot: checkout, wantVenv: ownVenv, wantVenvs: []string{ownVenv, filepath.Join(checkout, ".venv")}},
		{name: "venv without a checkout", env: map[string]string{EnvVenv: ownVenv}, workDir: tmp,
			wantRootNotFound: true, wantVenv: ownVenv, wantVenvs: []string{ownVenv}},
		{name: "missing venvs are not searched", env: map[string]string{EnvVenv: filepath.Join(tmp, "missing")}, workDir: tmp,
			wantRootNotFound: true, wantVenv: filepath.Join(tmp, "missing")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := Finder{WorkDir: tc.workDir, LookupEnv: func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }}
			root, ok := f.Root()
			if ok == tc.wantRootNotFound || root != tc.wantRoot {
				t.Errorf("Root = %q, %v; want %q", root, ok, tc.wantRoot)
			}
			if venv, _ := f.Venv(); venv != tc.wantVenv {
				t.Errorf("Venv = %q, want %q", venv, tc.wantVenv)
			}
			if venvs := f.Venvs(); !reflect.DeepEqual(venvs, tc.wantVenvs) {
				t.Errorf("Venvs = %q, want %q", venvs, tc.wantVenvs)
			}
		})
	}
}

func TestProcess(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvRoot, dir)
	t.Setenv(EnvVenv, "")
	if root, err := Root(); err != nil || root != dir {
		t.Errorf("Root = %q, %v; want %q", root, err, dir)
	}
	if bin, err := Bin("python"); err != nil || bin != filepath.Join(dir, ".venv", "bin", "python") {
		t.Errorf("Bin = %q, %v", bin, err)
	}
	t.Setenv(EnvRoot, "")
	t.Chdir(dir)
	if _, err := Root(); !errors.Is(err, ErrNotFound) {
		t.Errorf("Root outside a checkout: %v, want ErrNotFound", err)
	}
	if _, err := Bin("python"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Bin outside a checkout: %v, want ErrNotFound", err)
	}
}
