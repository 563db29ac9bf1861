package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
)

// envFakeGoNB makes the test binary a GoNB (see TestMain) that binds the
// sockets of its connection file, never answers, and appends a line
// "start <TMPDIR>" to the file the variable names when it starts.
const envFakeGoNB = "GOREPRO_TEST_FAKE_GONB"

func fakeGoNB(args []string) int {
	var file string
	for i, a := range args {
		if a == "--kernel" && i+1 < len(args) {
			file = args[i+1]
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake GoNB:", err)
		return 2
	}
	var c Connection
	if err := json.Unmarshal(data, &c); err != nil {
		fmt.Fprintln(os.Stderr, "fake GoNB:", err)
		return 2
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	ctx := context.Background()
	for _, b := range []struct {
		s    zmq4.Socket
		port int
	}{{zmq4.NewRouter(ctx), c.ShellPort}, {zmq4.NewRouter(ctx), c.ControlPort}, {zmq4.NewRouter(ctx), c.StdinPort},
		{zmq4.NewPub(ctx), c.IOPubPort}, {zmq4.NewRep(ctx), c.HBPort}} {
		if err := b.s.Listen(c.Endpoint(b.port)); err != nil {
			fmt.Fprintln(os.Stderr, "fake GoNB:", err)
			return 2
		}
		defer b.s.Close()
	}
	rec, err := os.OpenFile(os.Getenv(envFakeGoNB), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return 2
	}
	fmt.Fprintf(rec, "start %s\n", os.Getenv("TMPDIR"))
	rec.Close()
	<-stop
	// Like GoNB v0.11.5 stopped while it starts: noise on the way out.
	fmt.Fprintln(os.Stderr, "panic: runtime error: invalid memory address or nil pointer dereference")
	return 2
}

// syncBuffer is a log both the proxy and GoNB's output goroutine write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeGoNBProxy is a Proxy with just what launching GoNB needs; starts
// lists the TMPDIR of each start of the fake GoNB.
func fakeGoNBProxy(t *testing.T) (p *Proxy, logs *syncBuffer, starts func() []string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(t.TempDir(), "starts")
	t.Setenv(envFakeGoNB, record)
	t.Setenv("GOREPRO_KERNEL_DEBUG", "")
	logs = &syncBuffer{}
	ctx, stop := context.WithCancel(context.Background())
	state, err := os.MkdirTemp("", "gorepro-kernel-")
	if err != nil {
		t.Fatal(err)
	}
	p = &Proxy{cfg: Config{GoNB: []string{self}, Log: logs}, ctx: ctx, stop: stop,
		log: newLogger(logs, slog.LevelInfo), stateDir: state, sessionDir: filepath.Join(state, "session")}
	t.Cleanup(func() {
		stop()
		if g := p.currentGoNB(); g != nil {
			g.terminate(time.Second)
		}
		os.RemoveAll(state)
	})
	starts = func() []string {
		data, _ := os.ReadFile(record)
		var tmpdirs []string // one per start
		for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			if tmp, ok := strings.CutPrefix(line, "start "); ok {
				tmpdirs = append(tmpdirs, tmp)
			}
		}
		return tmpdirs
	}
	return p, logs, starts
}

func waitFor(t *testing.T, what string, logs *syncBuffer, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 20 s; log:\n%s", what, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// shutdownRequest does to p what onControl's shutdown_request case does.
func shutdownRequest(p *Proxy) {
	p.mu.Lock()
	p.shutdown = true
	p.mu.Unlock()
	if g := p.currentGoNB(); g != nil {
		g.expectExit()
		g.terminate(5 * time.Second)
	}
}

// A shutdown while GoNB starts: the GoNB the proxy stopped is not a failed
// start, so none is started again (and its dying words stay out of the log).
// Meanwhile GoNB talks to the proxy over unix sockets in its own private
// directory, with its TMPDIR there too.
func TestLaunchShutdownWhileGoNBStarts(t *testing.T) {
	p, logs, starts := fakeGoNBProxy(t)
	p.launch()
	waitFor(t, "GoNB", logs, func() bool { return p.currentGoNB() != nil && len(starts()) == 1 })
	g := p.currentGoNB()

	if g.conn.Transport != "ipc" {
		t.Errorf("GoNB's transport is %q, want ipc", g.conn.Transport)
	}
	if filepath.Dir(g.dir) != p.stateDir {
		t.Errorf("GoNB's directory %s is not in the kernel's %s", g.dir, p.stateDir)
	}
	for _, port := range []int{g.conn.ShellPort, g.conn.ControlPort, g.conn.StdinPort, g.conn.IOPubPort, g.conn.HBPort} {
		path := strings.TrimPrefix(g.conn.Endpoint(port), "ipc://")
		if fi, err := os.Stat(path); err != nil || fi.Mode()&os.ModeSocket == 0 || filepath.Dir(path) != g.dir {
			t.Errorf("GoNB's socket %s: %v (in %s?)", path, err, g.dir)
		}
	}
	tmp := starts()[0]
	if fi, err := os.Stat(tmp); err != nil || filepath.Dir(tmp) != g.dir || fi.Mode().Perm() != 0o700 {
		t.Errorf("GoNB's TMPDIR %q: %v; want a 0700 directory in %s", tmp, err, g.dir)
	}

	shutdownRequest(p)
	time.Sleep(3 * launchBackoff(1)) // a retry would have started by now
	if n := len(starts()); n != 1 {
		t.Errorf("GoNB was started %d times, want 1", n)
	}
	for _, noise := range []string{"again", "attempt", "could not be started", "panic"} {
		if strings.Contains(logs.String(), noise) {
			t.Errorf("%q in the log:\n%s", noise, logs)
		}
	}
	if _, err := os.Stat(g.dir); !os.IsNotExist(err) {
		t.Errorf("GoNB's directory %s is left: %v", g.dir, err)
	}
}

// A shutdown before the launcher published the GoNB it starts (the shutdown
// cannot stop it): the launcher stops it itself, and starts no other.
func TestLaunchShutdownBeforeGoNBIsPublished(t *testing.T) {
	p, logs, starts := fakeGoNBProxy(t)
	p.launch()
	p.mu.Lock()
	p.shutdown = true
	p.mu.Unlock()
	p.gonbMu.Lock()
	ready := p.ready
	p.gonbMu.Unlock()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatalf("the launcher still runs 20 s after the shutdown; log:\n%s", logs)
	}
	if g := p.currentGoNB(); g != nil {
		select {
		case <-g.exited:
		case <-time.After(5 * time.Second):
			t.Error("the GoNB started during the shutdown still runs")
		}
	}
	time.Sleep(3 * launchBackoff(1))
	if n := len(starts()); n > 1 {
		t.Errorf("GoNB was started %d times, want at most 1", n)
	}
	if strings.Contains(logs.String(), "again") {
		t.Errorf("the log says GoNB was started again:\n%s", logs)
	}
}

func TestNewIPCConnection(t *testing.T) {
	c, err := NewIPCConnection("/run/k/s")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Endpoint(c.IOPubPort); got != "ipc:///run/k/s-4" {
		t.Errorf("iopub endpoint %q", got)
	}
	if len(c.Key) != 64 {
		t.Errorf("key %q", c.Key)
	}
	long := "/" + strings.Repeat("d", 110)
	if _, err := NewIPCConnection(long); err == nil || !strings.Contains(err.Error(), long+"-5") {
		t.Errorf("a %d-byte socket path: error %v, want one naming it", len(long), err)
	}
}
