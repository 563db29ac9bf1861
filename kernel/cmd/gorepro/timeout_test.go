package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorepro/gorepro/kernel/internal/project"
)

// envRunMain makes the test binary act as the gorepro command (see TestMain):
// TestRunTimeout runs it as a child in a process group of its own, so that a
// run the timeout does not stop can be killed with what it started.
const envRunMain = "GOREPRO_TEST_RUN_MAIN"

// envRequireKernel turns the skip of TestRunTimeout without the venv, papermill
// or the gorepro kernelspec into a failure (make test-go sets it).
const envRequireKernel = "GOREPRO_REQUIRE_KERNEL"

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" {
		main() // exits non-zero on failure
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestRunTimeout: `gorepro run --timeout S` stops a notebook whose cell runs
// longer than S seconds, through the real path (papermill's
// --execution-timeout on the gorepro kernel): tests/notebooks/timeout_cell.ipynb
// prints a line and sleeps for ten minutes. The run must end within a few
// minutes (measured: about 30 s with S = 25, kernel start and the cell's
// compilation included), fail with exit status 1, say in its output and its
// log that a cell timed out after S seconds, and leave the sleeping cell
// without its last line and the next cell unrun; report.md gives the
// timeout as the reason.
func TestRunTimeout(t *testing.T) {
	p, err := project.Find()
	if err != nil {
		t.Fatal(err)
	}
	kernelJSON := filepath.Join(p.JupyterData(), "kernels", "gorepro", "kernel.json")
	missing := p.NeedVenv("papermill")
	if _, err := os.Stat(kernelJSON); missing == nil && err != nil {
		missing = err
	}
	if _, err := exec.LookPath("go"); missing == nil && err != nil {
		missing = err
	}
	if missing != nil {
		if os.Getenv(envRequireKernel) != "" {
			t.Fatalf("the gorepro kernel is required ($%s) but: %v", envRequireKernel, missing)
		}
		t.Skipf("no gorepro kernel to run notebooks on (make setup installs it): %v", missing)
	}

	// The cell's compilation counts against the timeout: 25 s leaves room for
	// it on a loaded 2-core machine; the cell sleeps 24 times as long.
	const timeout = 25
	out := t.TempDir()
	nb := filepath.Join(p.Root, "tests", "notebooks", "timeout_cell.ipynb")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "run", "--timeout", strconv.Itoa(timeout), "--out", out, nb)
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("gorepro run --timeout %d was still running after %v (killed): the sleeping cell was not stopped\n%s",
			timeout, wall.Round(time.Second), output.String())
	}
	t.Logf("gorepro run --timeout %d ended after %.1f s", timeout, wall.Seconds())
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
		t.Fatalf("gorepro run: %v, want exit status 1\n%s", err, output.String())
	}
	if want := "gorepro: 1 of 1 notebooks failed (timeout_cell.ipynb)"; !strings.Contains(output.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, output.String())
	}

	// The output (papermill's lines, relayed) and papermill's log name the timeout.
	logText, err := os.ReadFile(filepath.Join(out, "logs", "timeout_cell.log"))
	if err != nil {
		t.Fatal(err)
	}
	timedOut := "CellTimeoutError: A cell timed out while it was being executed, after " + strconv.Itoa(timeout) + " seconds"
	if !strings.Contains(output.String(), "[timeout_cell] nbclient.exceptions."+timedOut) {
		t.Errorf("the output does not say that a cell timed out (%q):\n%s", timedOut, output.String())
	}
	if !strings.Contains(string(logText), timedOut) {
		t.Errorf("the log lacks %q:\n%s", timedOut, logText)
	}
	report, err := os.ReadFile(filepath.Join(out, "report.md"))
	if want := "a cell ran longer than --timeout " + strconv.Itoa(timeout) + " s and was stopped"; err != nil || !strings.Contains(string(report), want) {
		t.Errorf("report.md (%v) does not give the timeout as the reason (%q):\n%s", err, want, report)
	}

	// The executed notebook: the cell was stopped in its sleep, the next never ran.
	data, err := os.ReadFile(filepath.Join(out, "timeout_cell.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	var executed struct {
		Cells []struct {
			Outputs []json.RawMessage `json:"outputs"`
		} `json:"cells"`
	}
	if err := json.Unmarshal(data, &executed); err != nil {
		t.Fatal(err)
	}
	if len(executed.Cells) != 3 {
		t.Fatalf("the executed notebook has %d cells, want 3", len(executed.Cells))
	}
	sleeping := ""
	for _, o := range executed.Cells[1].Outputs {
		sleeping += string(o)
	}
	if !strings.Contains(sleeping, "sleeping for ten minutes") {
		t.Errorf("the sleeping cell's outputs lack its first line (did the timeout hit its compilation?): %s", sleeping)
	}
	if strings.Contains(sleeping, "woke up") {
		t.Errorf("the sleeping cell ran to its end: %s", sleeping)
	}
	if n := len(executed.Cells[2].Outputs); n != 0 {
		t.Errorf("the cell after the timeout has %d outputs, want none (it must not run)", n)
	}
}
