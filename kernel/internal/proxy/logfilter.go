package proxy

import (
	"bytes"
	"io"
	"os"
	"regexp"
	"sync"
)

// gonbLogFilter passes GoNB's output on to the kernel's log (the Jupyter
// server's log) keeping only what an operator can act on: GoNB's warnings and
// errors, one line each. It drops GoNB's informational lines, the sample
// warning and error it logs at every start, the compile errors of cells (the
// cell shows them), stack traces, and everything a GoNB says once the proxy
// stops it (its exit is expected; GoNB v0.11.5 may panic on the way out).
// GOREPRO_KERNEL_DEBUG=1, or the log level debug, turns the filter off.
//
// GoNB logs with klog: an entry is a header line ("E1206 22:49:29.524625
// 15324 file.go:283] message") followed by the lines of a multi-line message,
// so a line without a header belongs to the entry above it and shares its fate.
type gonbLogFilter struct {
	mu      sync.Mutex
	out     io.Writer
	raw     bool // GOREPRO_KERNEL_DEBUG or level debug: pass everything
	partial []byte
	// dropEntry: the rest of the current entry is dropped (an informational
	// or noisy entry, or a kept one after its first line of stack trace).
	dropEntry bool
	quiet     bool // the proxy is stopping GoNB: nothing more is passed
}

var (
	// ansiEscape matches the CSI sequences GoNB colours its session id with
	// ("\x1b[7;39;32m[0aca890b]\x1b[0m"): they hide the text from suffix matches.
	ansiEscape = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`)
	// klogHeader matches a klog line's header; group 1 is the severity.
	klogHeader = regexp.MustCompile(`^([IWEF])\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [^ \]]+:\d+\] `)
	// traceLine matches the lines of a Go stack trace: a goroutine header, a
	// frame's function (no spaces), its "\tfile.go:line +0x…", "created by …".
	traceLine = regexp.MustCompile(`^(goroutine \d+ \[|\t\S.*:\d+( \+0x[0-9a-f]+)?$|created by |[\w.\-/]+(\.\(\*?\w+\))?\.[\w.\[\]]+(\(.*\))?$)`)
	// gonbNoise matches the messages of warning and error entries that are not
	// the operator's concern: GoNB's sample lines (main.go), the SIGTERM the
	// proxy sent it, and a cell's compile error (shown in the cell).
	gonbNoise = regexp.MustCompile(`^(\[\w+\] )?(Warning message|Error message|Signal terminated triggers kernel stop\.?|Failed ".*go build .*":)\s*$`)
	// goCrash starts what a Go program prints when it dies (outside klog).
	goCrash = regexp.MustCompile(`^(panic: |fatal error: )`)
)

func newGoNBLogFilter(out io.Writer, debug bool) *gonbLogFilter {
	return &gonbLogFilter{out: out, raw: debug || os.Getenv("GOREPRO_KERNEL_DEBUG") != ""}
}

// stopping tells the filter that the proxy is stopping GoNB: what it prints
// from now on is the noise of an exit the proxy asked for.
func (f *gonbLogFilter) stopping() {
	f.mu.Lock()
	f.quiet = true
	f.mu.Unlock()
}

func (f *gonbLogFilter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.raw {
		return f.out.Write(p)
	}
	f.partial = append(f.partial, p...)
	for {
		i := bytes.IndexByte(f.partial, '\n')
		if i < 0 {
			break
		}
		line := ansiEscape.ReplaceAll(f.partial[:i+1], nil)
		f.partial = f.partial[i+1:]
		if !f.keep(line) {
			continue
		}
		if _, err := f.out.Write(line); err != nil {
			return len(p), err
		}
	}
	return len(p), nil
}

// keep decides for one line (with its newline, escapes removed).
func (f *gonbLogFilter) keep(line []byte) bool {
	if f.quiet {
		return false
	}
	text := bytes.TrimRight(line, "\r\n")
	if m := klogHeader.FindSubmatchIndex(text); m != nil {
		severity := text[m[2]]
		message := bytes.TrimSpace(text[m[1]:])
		f.dropEntry = severity == 'I' || gonbNoise.Match(message)
		return !f.dropEntry
	}
	if goCrash.Match(text) {
		// A crash of a live GoNB: its first line says why; the proxy logs the exit.
		f.dropEntry = true
		return true
	}
	if f.dropEntry {
		return false
	}
	if traceLine.Match(text) {
		f.dropEntry = true
		return false
	}
	return true
}
