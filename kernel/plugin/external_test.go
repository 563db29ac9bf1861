package plugin

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// externalDir builds the sample external plugin gorepro-plugin-echo and a few
// scripts into a temporary directory and makes it the whole PATH.
func externalDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, ExternalPrefix+"echo"), "github.com/gorepro/gorepro/plugins/external/echo")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the echo plugin: %v\n%s", err, out)
	}
	scripts := map[string]string{
		ExternalPrefix + "sleepy":   "#!/bin/sh\nsleep 30\n",
		ExternalPrefix + "garbage":  "#!/bin/sh\necho not json\n",
		ExternalPrefix + "crash":    "#!/bin/sh\necho 'it broke' >&2\nexit 3\n",
		ExternalPrefix + "bad.name": "#!/bin/sh\n",
		// Starts a grandchild that would outlive a kill of the plugin alone.
		ExternalPrefix + "forks": "#!/bin/sh\nsleep 300 &\necho $! > \"$GOREPRO_TEST_PIDFILE\"\nwait\n",
		// Floods stdout; head stops it after 100 MiB if nothing else does.
		ExternalPrefix + "flood": "#!/bin/sh\nyes xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx | head -c 104857600\n",
	}
	for name, text := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Neither a file that is not executable nor a directory is a plugin.
	if err := os.WriteFile(filepath.Join(dir, ExternalPrefix+"noexec"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, ExternalPrefix+"folder"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The scripts name /bin/sh on their #! line but look up sleep on PATH.
	t.Setenv("PATH", dir+string(os.PathListSeparator)+"/usr/bin"+string(os.PathListSeparator)+"/bin")
	return dir
}

func TestExternalPlugins(t *testing.T) {
	dir := externalDir(t)

	if got, want := ListExternal(), []string{"crash", "echo", "flood", "forks", "garbage", "sleepy"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ListExternal() = %q, want %q", got, want)
	}
	for name, want := range map[string]bool{"echo": true, "sleepy": true, "noexec": false, "folder": false, "bad.name": false, "missing": false, "../echo": false} {
		path, ok := LookupExternal(name)
		if ok != want {
			t.Errorf("LookupExternal(%q) = %q, %v; want found = %v", name, path, ok, want)
		}
		if ok && path != filepath.Join(dir, ExternalPrefix+name) {
			t.Errorf("LookupExternal(%q) = %q, want it in %s", name, path, dir)
		}
	}

	echo, _ := LookupExternal("echo")
	tests := []struct {
		name    string
		path    string
		req     Request
		want    []string // substrings of the Markdown output
		wantErr string
	}{
		{name: "echo", path: echo, req: Request{Name: "echo", Args: []string{"a", "b c"}, Body: "x := 1\n"},
			want: []string{"**%%echo** received 2 argument(s): `a`, `b c`", "```\nx := 1\n```"}},
		{name: "empty", path: echo, req: Request{Name: "echo"}, want: []string{"received 0 argument(s)", "empty body"}},
		{name: "fail", path: echo, req: Request{Name: "echo", Args: []string{"--fail"}}, wantErr: "%%echo: failing as asked by --fail"},
		{name: "not JSON", path: filepath.Join(dir, ExternalPrefix+"garbage"), req: Request{Name: "garbage"}, wantErr: "wrote no valid JSON reply"},
		{name: "exit status", path: filepath.Join(dir, ExternalPrefix+"crash"), req: Request{Name: "crash"}, wantErr: "exit status 3: it broke"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := RunExternal(context.Background(), tc.path, &tc.req, 0)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Outputs) != 1 {
				t.Fatalf("%d outputs, want 1", len(resp.Outputs))
			}
			md, _ := resp.Outputs[0].Data["text/markdown"].(string)
			for _, w := range tc.want {
				if !strings.Contains(md, w) {
					t.Errorf("output %q lacks %q", md, w)
				}
			}
		})
	}

	t.Run("timeout", func(t *testing.T) {
		sleepy, _ := LookupExternal("sleepy")
		start := time.Now()
		_, err := RunExternal(context.Background(), sleepy, &Request{Name: "sleepy"}, 200*time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), "timed out after 200ms") {
			t.Fatalf("error = %v, want a timeout", err)
		}
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Errorf("the timed-out plugin held the kernel for %s", elapsed)
		}
	})

	t.Run("interrupted", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		sleepy, _ := LookupExternal("sleepy")
		if _, err := RunExternal(ctx, sleepy, &Request{Name: "sleepy"}, 0); err == nil || !strings.Contains(err.Error(), "interrupted") {
			t.Fatalf("error = %v, want interrupted", err)
		}
	})

	t.Run("timeout kills the process group", func(t *testing.T) {
		pidFile := filepath.Join(t.TempDir(), "pid")
		t.Setenv("GOREPRO_TEST_PIDFILE", pidFile)
		forks, _ := LookupExternal("forks")
		if _, err := RunExternal(context.Background(), forks, &Request{Name: "forks"}, 500*time.Millisecond); err == nil || !strings.Contains(err.Error(), "timed out") {
			t.Fatalf("error = %v, want a timeout", err)
		}
		data, err := os.ReadFile(pidFile)
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
			if err != nil || !strings.Contains(string(stat), "(sleep)") || strings.Contains(string(stat), ") Z ") {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("the plugin's child %d outlived its timeout", pid)
	})

	t.Run("output is bounded", func(t *testing.T) {
		flood, _ := LookupExternal("flood")
		start := time.Now()
		_, err := RunExternal(context.Background(), flood, &Request{Name: "flood"}, 0)
		if err == nil || !strings.Contains(err.Error(), "wrote more than 64 MiB on stdout") {
			t.Fatalf("error = %v, want the output limit", err)
		}
		if elapsed := time.Since(start); elapsed > 30*time.Second {
			t.Errorf("took %s", elapsed)
		}
	})
}
