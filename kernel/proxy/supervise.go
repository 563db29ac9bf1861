package proxy

import (
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// SuperviseCommand is the gorepro subcommand that runs Supervise: the proxy
// starts GoNB as `gorepro kernel-supervise -- gonb args…`.
const SuperviseCommand = "kernel-supervise"

// Supervise runs argv as a child and makes sure that it, and every process
// it started, is gone when the supervisor is told to stop (SIGTERM, sent by
// the kernel when the proxy dies: Pdeathsig) or when the child exits. GoNB
// starts gopls in a process group of its own and does not always stop it, so
// killing GoNB alone leaves gopls servers running forever. It returns the
// child's exit code.
func Supervise(argv []string) int {
	if len(argv) == 0 {
		return 2
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGHUP)
	signal.Ignore(syscall.SIGINT)
	if err := cmd.Start(); err != nil {
		return 127
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Descendants are re-parented to init when GoNB dies, so remember them while it lives.
	known := map[int]bool{}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			for _, pid := range descendants(cmd.Process.Pid) {
				known[pid] = true
			}
		case err := <-done:
			killAll(known, syscall.SIGKILL)
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				if code := exit.ExitCode(); code >= 0 {
					return code
				}
				return 128 + int(exit.Sys().(syscall.WaitStatus).Signal())
			}
			return 0
		case <-stop:
			for _, pid := range descendants(cmd.Process.Pid) {
				known[pid] = true
			}
			_ = cmd.Process.Signal(syscall.SIGTERM)
			killAll(known, syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(3 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			killAll(known, syscall.SIGKILL)
			return 143
		}
	}
}

func killAll(pids map[int]bool, sig syscall.Signal) {
	for pid := range pids {
		_ = syscall.Kill(pid, sig)
	}
}

// descendants lists the processes below pid, from /proc (Linux).
func descendants(root int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name may hold spaces and parentheses: fields start after the last ')'.
		s := string(data)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		children[ppid] = append(children[ppid], pid)
	}
	var out []int
	stack := []int{root}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, c := range children[p] {
			out = append(out, c)
			stack = append(stack, c)
		}
	}
	return out
}
