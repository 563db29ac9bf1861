package proxy

import (
	"bytes"
	"io"
	"os"
	"regexp"
	"sync"
)

// gonbLogFilter passes GoNB's output on to the kernel's log without its
// informational log lines and the goroutine trace it prints when it stops
// gopls at shutdown (noise that looks like a crash). Warnings and errors stay.
// GOREPRO_KERNEL_DEBUG=1 turns the filter off.
type gonbLogFilter struct {
	mu      sync.Mutex
	out     io.Writer
	partial []byte
	inTrace bool
}

var klogInfo = regexp.MustCompile(`^I\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ `)

func newGoNBLogFilter(out io.Writer) io.Writer {
	if os.Getenv("GOREPRO_KERNEL_DEBUG") != "" {
		return out
	}
	return &gonbLogFilter{out: out}
}

func (f *gonbLogFilter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.partial = append(f.partial, p...)
	for {
		i := bytes.IndexByte(f.partial, '\n')
		if i < 0 {
			break
		}
		line := f.partial[:i+1]
		f.partial = f.partial[i+1:]
		if bytes.Contains(line, []byte("killing gopls")) {
			f.inTrace = true
		}
		// GoNB logs a sample warning and error at every start (main.go:190-191).
		sample := bytes.HasSuffix(bytes.TrimSpace(line), []byte("] Warning message")) ||
			bytes.HasSuffix(bytes.TrimSpace(line), []byte("] Error message"))
		if f.inTrace || sample || klogInfo.Match(line) {
			if bytes.Contains(line, []byte("Exiting...")) {
				f.inTrace = false
			}
			continue
		}
		if _, err := f.out.Write(line); err != nil {
			return len(p), err
		}
	}
	return len(p), nil
}
