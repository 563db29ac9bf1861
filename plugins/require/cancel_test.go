package require

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A `go` that hangs (a `go get` stuck on a slow proxy or a VCS helper) is
// killed with everything it started when the cell is interrupted: Resolve
// returns within seconds, though a grandchild holds the go command's stdout
// open, and the grandchild is dead.
func TestResolveKillsTheGoCommandsGroupOnCancel(t *testing.T) {
	bin := t.TempDir()
	pidFile := filepath.Join(t.TempDir(), "grandchild.pid")
	script := "#!/bin/sh\n" +
		"sleep 60 &\n" + // the grandchild, holding stdout and stderr
		"echo $! > \"$GOREPRO_TEST_PIDFILE.tmp\" && mv \"$GOREPRO_TEST_PIDFILE.tmp\" \"$GOREPRO_TEST_PIDFILE\"\n" +
		"sleep 60\n"
	if err := os.WriteFile(filepath.Join(bin, "go"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("GOREPRO_TEST_PIDFILE", pidFile)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Resolve(ctx, t.TempDir(), "off", []Requirement{{"example.com/m", "v1.0.0"}})
	}()
	pid := waitForPid(t, pidFile)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })

	cancel()
	start := time.Now()
	select {
	case err := <-done:
		if err == nil || !errors.Is(err, context.Canceled) {
			t.Errorf("Resolve after cancel = %v, want an error wrapping context.Canceled", err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("Resolve took %s to return after cancel", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Resolve still running 10 s after cancel: the go command's grandchild holds it")
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the go command's grandchild (pid %d) is still running after cancel", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitForPid(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err := os.ReadFile(path)
		if err == nil {
			pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
			if err != nil {
				t.Fatalf("pid file %q: %v", data, err)
			}
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatal("the fake go command never started its grandchild")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid is a running process: not gone, and not a
// zombie waiting for a reaper.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses: "pid (comm) S ...".
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}
