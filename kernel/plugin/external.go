package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ExternalPrefix starts the name of an external plugin's executable:
// `%%name` runs `gorepro-plugin-name` from PATH when no in-tree plugin has that name.
const ExternalPrefix = "gorepro-plugin-"

// DefaultExternalTimeout bounds one run of an external plugin when
// RunExternal is given no timeout of its own.
const DefaultExternalTimeout = 2 * time.Minute

// ExternalReply is what an external plugin writes on stdout: a Response, or an error.
type ExternalReply struct {
	Response
	// Error, if not empty, is shown as the cell's error.
	Error string `json:"error,omitempty"`
}

// LookupExternal finds the executable of an external plugin on PATH.
func LookupExternal(name string) (string, bool) {
	if !validName.MatchString(name) {
		return "", false
	}
	path, err := exec.LookPath(ExternalPrefix + name)
	return path, err == nil
}

// ListExternal returns the sorted names of the external plugins on PATH: the
// executables named gorepro-plugin-<name> with a valid plugin name. A name
// found in several PATH directories is listed once (LookupExternal takes the
// first, as the shell would). Relative PATH entries are skipped, as
// exec.LookPath refuses programs found through them.
func ListExternal() []string {
	seen := map[string]bool{}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if !filepath.IsAbs(dir) {
			continue
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			name, ok := strings.CutPrefix(e.Name(), ExternalPrefix)
			if !ok || seen[name] || !validName.MatchString(name) {
				continue
			}
			if info, err := os.Stat(filepath.Join(dir, e.Name())); err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
				continue
			}
			seen[name] = true
		}
	}
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// MaxExternalOutput bounds what an external plugin may write on stdout and
// on stderr (each): past it the plugin is stopped and the cell fails.
const MaxExternalOutput = 64 << 20

// RunExternal runs an external plugin: the Request as JSON on stdin, an
// ExternalReply as JSON on stdout, within timeout (DefaultExternalTimeout
// when it is not positive) or until ctx is done. The plugin runs in a process group of its own; on a timeout, an
// interrupt or too much output the whole group is killed, so nothing it
// started keeps running.
func RunExternal(ctx context.Context, path string, req *Request, timeout time.Duration) (*Response, error) {
	if timeout <= 0 {
		timeout = DefaultExternalTimeout
	}
	input, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encoding the request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ctx, overflow := context.WithCancelCause(ctx)
	defer overflow(nil)
	cmd := exec.CommandContext(ctx, path)
	cmd.Stdin = bytes.NewReader(input)
	stdout := &limitedBuffer{name: "stdout", stop: overflow}
	stderr := &limitedBuffer{name: "stderr", stop: overflow}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	runErr := cmd.Run()
	if cmd.Process != nil {
		// Whatever the plugin left running in its group goes with it.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if cause := context.Cause(ctx); ctx.Err() != nil {
		var tooMuch *outputLimitError
		switch {
		case errors.As(cause, &tooMuch):
			return nil, fmt.Errorf("external plugin %s: %w", path, tooMuch)
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return nil, fmt.Errorf("external plugin %s timed out after %s", path, timeout)
		}
		return nil, fmt.Errorf("external plugin %s interrupted", path)
	}
	if runErr != nil {
		return nil, fmt.Errorf("external plugin %s: %v%s", path, runErr, tail(stderr.String()))
	}
	var reply ExternalReply
	dec := json.NewDecoder(&stdout.buf)
	if err := dec.Decode(&reply); err != nil {
		return nil, fmt.Errorf("external plugin %s wrote no valid JSON reply: %v%s", path, err, tail(stderr.String()))
	}
	if reply.Error != "" {
		return nil, errors.New(reply.Error)
	}
	return &reply.Response, nil
}

// outputLimitError says which stream of a plugin went past MaxExternalOutput.
type outputLimitError struct{ stream string }

func (e *outputLimitError) Error() string {
	return fmt.Sprintf("wrote more than %d MiB on %s: stopped", MaxExternalOutput>>20, e.stream)
}

// limitedBuffer keeps at most MaxExternalOutput bytes; one more stops the plugin.
type limitedBuffer struct {
	name string
	stop context.CancelCauseFunc
	mu   sync.Mutex
	buf  bytes.Buffer
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len()+len(p) > MaxExternalOutput {
		err := &outputLimitError{stream: b.name}
		b.stop(err)
		return 0, err
	}
	return b.buf.Write(p)
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func tail(stderr string) string {
	stderr = strings.TrimSpace(stderr)
	if stderr == "" {
		return ""
	}
	lines := strings.Split(stderr, "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return ": " + strings.Join(lines, " | ")
}
