package proxy

import (
	"errors"
	"fmt"
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
// killing GoNB alone leaves gopls servers running forever.
//
// The supervisor is a child subreaper (PR_SET_CHILD_SUBREAPER): a process
// orphaned anywhere below it is re-parented to it, not to init. So the
// processes to stop are exactly its live descendants at that moment, read
// from /proc then; it never keeps a list of process ids, which after the
// processes exit could name someone else's processes.
//
// If the proxy died (the supervisor was re-parented), it also removes the
// kernel's directory, $GOREPRO_KERNEL_STATE_DIR, which the proxy could not.
// It returns the child's exit code.
func Supervise(argv []string) int {
	if len(argv) == 0 {
		return 2
	}
	parent := os.Getppid()
	if err := setChildSubreaper(); err != nil {
		fmt.Fprintf(os.Stderr, "gorepro kernel-supervise: %v: processes GoNB orphans may outlive it\n", err)
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
	self := os.Getpid()
	reap := time.NewTicker(2 * time.Second)
	defer reap.Stop()
	for {
		select {
		case <-reap.C:
			reapZombies(self, cmd.Process.Pid)
		case err := <-done:
			stopDescendants(self, 0)
			removeStateDir(parent)
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				if code := exit.ExitCode(); code >= 0 {
					return code
				}
				return 128 + int(exit.Sys().(syscall.WaitStatus).Signal())
			}
			return 0
		case <-stop:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			signalAll(descendants(self), syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(3 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			stopDescendants(self, 0)
			removeStateDir(parent)
			return 143
		}
	}
}

// prSetChildSubreaper is prctl's PR_SET_CHILD_SUBREAPER (linux/prctl.h).
const prSetChildSubreaper = 36

func setChildSubreaper() error {
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		return fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", errno)
	}
	return nil
}

// stopDescendants SIGKILLs the live processes below self until none is left
// (a process may fork while it is being killed), and reaps them. skip, if
// not 0, is a child whose exit status someone else waits for.
func stopDescendants(self, skip int) {
	for range 50 {
		pids := descendants(self)
		if len(pids) == 0 {
			return
		}
		signalAll(pids, syscall.SIGKILL)
		time.Sleep(20 * time.Millisecond)
		reapZombies(self, skip)
	}
}

func signalAll(pids []int, sig syscall.Signal) {
	for _, pid := range pids {
		_ = syscall.Kill(pid, sig)
	}
}

// reapZombies waits for the exited children of self (orphans re-parented to
// it), except skip, whose status cmd.Wait collects.
func reapZombies(self, skip int) {
	for _, pid := range children(self) {
		if pid == skip {
			continue
		}
		var status syscall.WaitStatus
		_, _ = syscall.Wait4(pid, &status, syscall.WNOHANG, nil)
	}
}

// removeStateDir removes $GOREPRO_KERNEL_STATE_DIR when the process that
// started the supervisor (the proxy) is gone: it removes its own otherwise.
func removeStateDir(parent int) {
	dir := os.Getenv(EnvStateDir)
	if dir == "" || os.Getppid() == parent {
		return
	}
	if strings.HasPrefix(filepath.Base(dir), "gorepro-kernel-") {
		os.RemoveAll(dir)
	}
}

// children lists the processes whose parent is pid.
func children(pid int) []int {
	return processTree()[pid]
}

// processTree maps each process id to its children's, from /proc (Linux).
func processTree() map[int][]int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	tree := map[int][]int{}
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
		tree[ppid] = append(tree[ppid], pid)
	}
	return tree
}

// descendants lists the live processes below root.
func descendants(root int) []int {
	tree := processTree()
	var out []int
	stack := []int{root}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, c := range tree[p] {
			out = append(out, c)
			stack = append(stack, c)
		}
	}
	return out
}
