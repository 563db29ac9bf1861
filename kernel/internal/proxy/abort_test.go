package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/gorepro/gorepro/kernel/internal/wire"
	"github.com/gorepro/gorepro/kernel/plugin"
)

// recordingSocket records what the proxy sends on a frontend socket.
type recordingSocket struct {
	zmq4.Socket // nil: only SendMulti is used
	mu          sync.Mutex
	sent        []*wire.Message
	key         []byte
}

func (s *recordingSocket) SendMulti(m zmq4.Msg) error {
	msg, err := wire.Parse(m.Frames, s.key)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, msg)
	return nil
}

func (s *recordingSocket) messages() []*wire.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*wire.Message{}, s.sent...)
}

var registerTestPlugins sync.Once

// testProxy is a Proxy whose frontend sockets record, with plugins
// %%abort-test-ok, %%abort-test-fail and %%abort-test-block (runs until
// interrupted), and a GoNB launch that is ready with no GoNB (Go cells fail
// with KernelSetupError) unless the test replaces p.ready.
func testProxy(t *testing.T) (*Proxy, *recordingSocket, *recordingSocket) {
	t.Helper()
	registerTestPlugins.Do(func() {
		ok := func(ctx context.Context, req *plugin.Request) (*plugin.Response, error) {
			return &plugin.Response{Outputs: []plugin.Output{{Data: map[string]any{"text/plain": "ran " + req.Body}}}}, nil
		}
		plugin.Register(plugin.Plugin{Name: "abort-test-ok", Handler: ok})
		plugin.Register(plugin.Plugin{Name: "abort-test-fail", Handler: func(context.Context, *plugin.Request) (*plugin.Response, error) {
			return nil, errors.New("failed on purpose")
		}})
		plugin.Register(plugin.Plugin{Name: "abort-test-block", Handler: func(ctx context.Context, _ *plugin.Request) (*plugin.Response, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}})
	})
	key := []byte("test-key")
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	shell, iopub := &recordingSocket{key: key}, &recordingSocket{key: key}
	ready := make(chan struct{})
	close(ready)
	p := &Proxy{
		key: key, ctx: ctx, stop: stop, log: slog.New(slog.DiscardHandler),
		shell: newSocket(shell), iopub: newSocket(iopub),
		queue: make(chan *wire.Message, 16), routes: map[string]route{},
		waiting: map[string]chan execResult{}, hinted: map[string]map[string]bool{},
		ready: ready, downErr: errors.New("no GoNB in this test"),
	}
	return p, shell, iopub
}

func executeRequest(t *testing.T, code string, extra map[string]any) *wire.Message {
	t.Helper()
	m := frontendMessage(t, "execute_request")
	content := map[string]any{"code": code, "silent": false, "store_history": true, "user_expressions": map[string]any{}, "allow_stdin": false}
	for k, v := range extra {
		content[k] = v
	}
	if err := m.SetContent(content); err != nil {
		t.Fatal(err)
	}
	return m
}

// replyTo waits for the execute_reply to req and returns its content and metadata.
func replyTo(t *testing.T, shell *recordingSocket, req *wire.Message) (content map[string]any, metadata string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range shell.messages() {
			if m.ParentID() == req.ID() {
				if err := m.DecodeContent(&content); err != nil {
					t.Fatal(err)
				}
				return content, string(m.Metadata)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no reply to %s", req.ID())
	return nil, ""
}

// published lists the types of the iopub messages whose parent is req.
func published(iopub *recordingSocket, req *wire.Message) []string {
	var types []string
	for _, m := range iopub.messages() {
		if m.ParentID() == req.ID() {
			t := m.Type()
			if t == "status" {
				var c struct {
					State string `json:"execution_state"`
				}
				_ = m.DecodeContent(&c)
				t += ":" + c.State
			}
			types = append(types, t)
		}
	}
	return types
}

// runQueued queues reqs before the executor starts (as a burst that arrived
// while an earlier cell ran), then runs the executor.
func runQueued(p *Proxy, reqs ...*wire.Message) {
	for _, r := range reqs {
		p.queue <- r
	}
	go p.executor()
}

func TestQueuedCellsAfterAnErrorAreAborted(t *testing.T) {
	for _, failing := range []string{"%%abort-test-fail", "%%no-such-plugin-abort-test", "package main\n\nfunc main() {}"} {
		t.Run(failing, func(t *testing.T) {
			p, shell, iopub := testProxy(t)
			first := executeRequest(t, failing, nil)
			second := executeRequest(t, "%%abort-test-ok\nsecond", nil)
			third := executeRequest(t, "%%abort-test-ok\nthird", map[string]any{"stop_on_error": true})
			runQueued(p, first, second, third)
			c, _ := replyTo(t, shell, first)
			if c["status"] != "error" {
				t.Fatalf("first: %v", c)
			}
			for _, req := range []*wire.Message{second, third} {
				c, md := replyTo(t, shell, req)
				if c["status"] != "aborted" || c["execution_count"] != float64(1) {
					t.Errorf("queued cell after the error: reply %v, want aborted with count 1", c)
				}
				if md != `{"status":"aborted"}` {
					t.Errorf("metadata %s", md)
				}
				if got := fmt.Sprint(published(iopub, req)); got != "[status:busy status:idle]" {
					t.Errorf("iopub for an aborted cell: %s", got)
				}
			}
			// The queue drained: the next request runs, with the next count.
			fourth := executeRequest(t, "%%abort-test-ok\nfourth", nil)
			p.queue <- fourth
			if c, _ := replyTo(t, shell, fourth); c["status"] != "ok" || c["execution_count"] != float64(2) {
				t.Errorf("a cell sent after the queue drained: %v, want ok with count 2", c)
			}
			n := p.history.len()
			if n != 2 {
				t.Errorf("%d history entries, want 2 (aborted cells have none)", n)
			}
		})
	}
}

func TestStopOnErrorFalseAndSilentDoNotAbort(t *testing.T) {
	p, shell, _ := testProxy(t)
	first := executeRequest(t, "%%abort-test-fail", nil)
	keeps := executeRequest(t, "%%abort-test-ok\nkeeps", map[string]any{"stop_on_error": false})
	aborted := executeRequest(t, "%%abort-test-ok\naborted", nil)
	runQueued(p, first, keeps, aborted)
	if c, _ := replyTo(t, shell, keeps); c["status"] != "ok" {
		t.Errorf("stop_on_error false: %v, want ok", c)
	}
	if c, _ := replyTo(t, shell, aborted); c["status"] != "aborted" {
		t.Errorf("after it: %v, want aborted", c)
	}

	p, shell, _ = testProxy(t)
	failNoStop := executeRequest(t, "%%abort-test-fail", map[string]any{"stop_on_error": false})
	silentFail := executeRequest(t, "%%abort-test-fail", map[string]any{"silent": true})
	after := executeRequest(t, "%%abort-test-ok\nafter", nil)
	runQueued(p, failNoStop, silentFail, after)
	if c, _ := replyTo(t, shell, after); c["status"] != "ok" {
		t.Errorf("after failures that do not stop the queue: %v, want ok", c)
	}
}

func TestInterruptedCellAbortsTheQueue(t *testing.T) {
	p, shell, _ := testProxy(t)
	first := executeRequest(t, "%%abort-test-block", nil)
	second := executeRequest(t, "%%abort-test-ok\nsecond", nil)
	runQueued(p, first, second)
	interruptWhenRunning(t, p)
	if c, _ := replyTo(t, shell, first); c["status"] != "error" {
		t.Errorf("interrupted cell: %v", c)
	}
	if c, _ := replyTo(t, shell, second); c["status"] != "aborted" {
		t.Errorf("cell queued behind an interrupted one: %v, want aborted", c)
	}
}

// interruptWhenRunning does what an interrupt_request does once a cell can
// be interrupted.
func interruptWhenRunning(t *testing.T, p *Proxy) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		cancel := p.cancelRun
		p.mu.Unlock()
		if cancel != nil {
			cancel()
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the cell never became interruptible")
}

// A cell sent while GoNB (re)starts shows as running at once, and an
// interrupt ends its wait; the cells queued behind it are aborted.
func TestInterruptEndsTheWaitForGoNB(t *testing.T) {
	p, shell, iopub := testProxy(t)
	p.ready, p.downErr = make(chan struct{}), nil // a launch that never ends
	first := executeRequest(t, "package main\n\nfunc main() {}", nil)
	second := executeRequest(t, "%%abort-test-ok\nsecond", nil)
	runQueued(p, first, second)
	deadline := time.Now().Add(10 * time.Second)
	for len(published(iopub, first)) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := fmt.Sprint(published(iopub, first)); got != "[status:busy execute_input]" {
		t.Fatalf("iopub while waiting for GoNB: %s, want busy and execute_input", got)
	}
	interruptWhenRunning(t, p)
	c, _ := replyTo(t, shell, first)
	if c["status"] != "error" || c["ename"] != "Interrupted" || c["execution_count"] != float64(1) {
		t.Errorf("interrupted wait: %v", c)
	}
	if got := fmt.Sprint(published(iopub, first)); got != "[status:busy execute_input error status:idle]" {
		t.Errorf("iopub of the interrupted cell: %s", got)
	}
	if c, _ := replyTo(t, shell, second); c["status"] != "aborted" {
		t.Errorf("cell queued behind it: %v, want aborted", c)
	}
}

func TestFromFrontend(t *testing.T) {
	for _, tc := range []struct {
		channel, msgType string
		want             bool
	}{
		{"shell", "execute_request", true},
		{"shell", "complete_request", true},
		{"shell", "comm_open", true},
		{"shell", "comm_msg", true},
		{"shell", "comm_close", true},
		{"shell", "execute_input", false},
		{"shell", "execute_reply", false},
		{"shell", "execute_result", false},
		{"shell", "status", false},
		{"shell", "stream", false},
		{"shell", "input_reply", false},
		{"shell", "input_request", true}, // a request name: GoNB ignores it
		{"control", "interrupt_request", true},
		{"control", "shutdown_request", true},
		{"control", "comm_msg", false},
		{"control", "interrupt_reply", false},
		{"stdin", "input_reply", true},
		{"stdin", "input_request", false},
		{"stdin", "execute_request", false},
		{"iopub", "execute_request", false},
	} {
		if got := fromFrontend(tc.channel, tc.msgType); got != tc.want {
			t.Errorf("fromFrontend(%q, %q) = %v, want %v", tc.channel, tc.msgType, got, tc.want)
		}
	}
}
