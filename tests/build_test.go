package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorepro/gorepro/lib/notebook"
)

// noGoEnv is an environment in which nothing can be compiled: no `go` on
// PATH, no GOROOT, an empty module cache and GOFLAGS=-mod=mod (which would
// make any go command rewrite go.mod) with the proxy off.
func noGoEnv(t *testing.T, emptyModCache string) []string {
	t.Helper()
	var path []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(dir, "go")); err == nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "gofmt")); err == nil {
			continue
		}
		path = append(path, dir)
	}
	var env []string
	for _, e := range os.Environ() {
		name, _, _ := strings.Cut(e, "=")
		switch name {
		case "PATH", "GOROOT", "GOPATH", "GOMODCACHE", "GOFLAGS", "GOPROXY", "GOREPRO_ROOT", "GOREPRO_VENV", "GOREPRO_CACHE_DIR", "GOWORK":
			continue
		}
		env = append(env, e)
	}
	return append(env, "PATH="+strings.Join(path, string(os.PathListSeparator)), "GOMODCACHE="+emptyModCache,
		"GOFLAGS=-mod=mod", "GOPROXY=off", "GOMLX_NO_AUTO_INSTALL=1")
}

// TestBuiltNotebooks is `gorepro build` of the tour and the grokking notebook,
// run where no Go exists, against `gorepro run` of the same notebooks with
// the same parameters: the same claims (ids, names) with the same statuses,
// and the output layout `gorepro report` merges.
func TestBuiltNotebooks(t *testing.T) {
	needE2E(t)
	bin := t.TempDir()
	start := time.Now()
	res := runCmd(t, gorepro, "build", "-o", bin, "notebooks/00_tour.ipynb", "notebooks/grokking_stablemax.ipynb")
	if res.code != 0 {
		t.Fatalf("gorepro build exited %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	t.Logf("gorepro build of 2 notebooks: %.1fs", time.Since(start).Seconds())
	cases := []struct {
		notebook string
		args     []string
	}{
		{"00_tour", []string{"--backend", "go"}},
		{"grokking_stablemax", []string{"-p", "profile=smoke", "--backend", "go"}},
	}
	for _, tc := range cases {
		t.Run(tc.notebook, func(t *testing.T) {
			runStart := time.Now()
			_, want := runNotebook(t, filepath.Join("notebooks", tc.notebook+".ipynb"), tc.args...)
			t.Logf("gorepro run: %.1fs", time.Since(runStart).Seconds())

			emptyModCache, out, wd := t.TempDir(), t.TempDir(), t.TempDir()
			cmd := exec.Command(filepath.Join(bin, tc.notebook), append(append([]string{}, tc.args...), "--out", out)...)
			cmd.Dir, cmd.Env = wd, noGoEnv(t, emptyModCache)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			runStart = time.Now()
			if err := cmd.Run(); err != nil {
				t.Fatalf("the built %s failed (%v)\nstdout:\n%s\nstderr:\n%s", tc.notebook, err, stdout.String(), stderr.String())
			}
			t.Logf("built executable: %.1fs", time.Since(runStart).Seconds())
			if entries, _ := os.ReadDir(emptyModCache); len(entries) > 0 {
				t.Errorf("the built notebook wrote into the empty module cache: %v", entries)
			}
			_, got := executedResult(t, filepath.Join(out, tc.notebook+".ipynb"))
			compareClaims(t, got, want)
			for _, f := range []string{"report.md", "report.html", "logs/" + tc.notebook + ".log", "logs/" + tc.notebook + ".params.json", "figures/" + tc.notebook + "-1.svg"} {
				if _, err := os.Stat(filepath.Join(out, f)); err != nil {
					t.Errorf("output %s: %v", f, err)
				}
			}
			if !strings.Contains(stdout.String(), notebook.ResultPrefix+"{") {
				t.Errorf("the RESULT line was not streamed to stdout:\n%s", stdout.String())
			}
			rep := runCmd(t, gorepro, "report", "-o", filepath.Join(t.TempDir(), "merged.md"), out)
			if rep.code != 0 {
				t.Errorf("gorepro report of the built run exited %d\n%s\n%s", rep.code, rep.stdout, rep.stderr)
			}
		})
	}
}

// compareClaims requires the same backend, profile, claims (id, name,
// holds, status) and sanity checks in both results.
func compareClaims(t *testing.T, got, want *notebook.Result) {
	t.Helper()
	if got.Backend != want.Backend || got.Profile != want.Profile || got.Notebook != want.Notebook {
		t.Errorf("built run: notebook %s backend %s profile %s; gorepro run: %s %s %s",
			got.Notebook, got.Backend, got.Profile, want.Notebook, want.Backend, want.Profile)
	}
	if len(got.Claims) != len(want.Claims) {
		t.Fatalf("built run: %d claims; gorepro run: %d", len(got.Claims), len(want.Claims))
	}
	for i, g := range got.Claims {
		w := want.Claims[i]
		if g.ID != w.ID || g.Name != w.Name || g.Holds != w.Holds || g.Status != w.Status {
			t.Errorf("claim %d: built run %q %q holds=%v status=%q; gorepro run %q %q holds=%v status=%q",
				i, g.ID, g.Name, g.Holds, g.Status, w.ID, w.Name, w.Holds, w.Status)
		}
		t.Logf("claim %s %q: built %v, gorepro run %v (%s)", g.ID, g.Name, g.Ours, w.Ours, g.Status)
	}
	if len(got.Checks) != len(want.Checks) {
		t.Errorf("built run: %d checks; gorepro run: %d", len(got.Checks), len(want.Checks))
	}
}
