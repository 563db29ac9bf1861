package proxy

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the supervisor: GOREPRO_TEST_SUPERVISE=1 runs
// Supervise on the arguments after "--"; and as a GoNB (fakeGoNB).
func TestMain(m *testing.M) {
	if os.Getenv("GOREPRO_TEST_SUPERVISE") == "1" {
		i := slices.Index(os.Args, "--")
		os.Exit(Supervise(os.Args[i+1:]))
	}
	if os.Getenv(envFakeGoNB) != "" {
		os.Exit(fakeGoNB(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func supervisorCommand(t *testing.T, env []string, argv ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, append([]string{"-test.run=^$", "--"}, argv...)...)
	cmd.Env = append(append(os.Environ(), "GOREPRO_TEST_SUPERVISE=1"), env...)
	return cmd
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		data, err := os.ReadFile(path)
		if pid, convErr := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && convErr == nil {
			return pid
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no pid in %s", path)
	return 0
}

// runningSleep reports whether pid is a live `sleep` (not a zombie, not reused).
func runningSleep(pid int) bool {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	s := string(data)
	return strings.Contains(s, "(sleep)") && !strings.HasPrefix(strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[0], "Z")
}

func waitGone(pid int, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if !runningSleep(pid) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// GoNB's child exits at once and leaves a grandchild behind: orphaned before
// the supervisor could have noted its pid, it must still be stopped.
func TestSuperviseStopsOrphansOfAnExitedChild(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	cmd := supervisorCommand(t, nil, "sh", "-c", "sleep 300 & echo $! > "+pidFile+"; exit 3")
	err := cmd.Run()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 3 {
		t.Fatalf("supervisor exit = %v, want the child's code 3", err)
	}
	pid := readPID(t, pidFile)
	if !waitGone(pid, 5*time.Second) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("the orphaned sleep %d outlived the supervisor", pid)
	}
}

// When the proxy is gone (the supervisor was re-parented) and the supervisor
// is told to stop, it stops everything below it and removes the kernel's
// directory the proxy could not remove.
func TestSuperviseAfterTheProxyDied(t *testing.T) {
	tmp := t.TempDir()
	state := filepath.Join(tmp, "gorepro-kernel-test")
	if err := os.MkdirAll(filepath.Join(state, "session"), 0o700); err != nil {
		t.Fatal(err)
	}
	supPID, sleepPID := filepath.Join(tmp, "sup"), filepath.Join(tmp, "sleep")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// sh plays the proxy: it starts the supervisor, waits until GoNB (here
	// a shell) started its child, and exits.
	script := `"$0" -test.run='^$' -- sh -c 'sleep 300 & echo $! > ` + sleepPID + `; wait' </dev/null >/dev/null 2>&1 & echo $! > ` + supPID + `; while [ ! -s ` + sleepPID + ` ]; do sleep 0.05; done`
	proxy := exec.Command("sh", "-c", script, self)
	proxy.Env = append(os.Environ(), "GOREPRO_TEST_SUPERVISE=1", EnvStateDir+"="+state)
	if out, err := proxy.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	sup, sleep := readPID(t, supPID), readPID(t, sleepPID)
	if err := syscall.Kill(sup, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !waitGone(sleep, 10*time.Second) {
		_ = syscall.Kill(sleep, syscall.SIGKILL)
		t.Fatalf("sleep %d outlived the supervisor", sleep)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(state); os.IsNotExist(err) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("the kernel's directory %s is still there", state)
}
