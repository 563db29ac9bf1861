package proxy

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/gorepro/gorepro/kernel/wire"
)

// gonbProcess is one GoNB subprocess and the proxy's sockets to it.
type gonbProcess struct {
	cmd       *exec.Cmd
	conn      *Connection
	key       []byte
	dir       string
	ctx       context.Context
	cancel    context.CancelFunc
	shell     socket
	control   socket
	stdin     socket
	iopub     socket
	exited    chan struct{}
	expected  atomic.Bool
	readyOnce sync.Once
	ready     chan struct{}
	// answered is closed by GoNB's first kernel_info_reply.
	answered     chan struct{}
	answeredOnce sync.Once
	// setupErr, written before ready is closed, says why GoNB did not take
	// the session setup (setupCommands); cells then fail with it.
	setupErr error
}

func (g *gonbProcess) markReady(setupErr error) {
	g.readyOnce.Do(func() {
		g.setupErr = setupErr
		close(g.ready)
	})
}

func (g *gonbProcess) expectExit() { g.expected.Store(true) }

// terminate stops GoNB: SIGTERM, then SIGKILL after grace.
func (g *gonbProcess) terminate(grace time.Duration) {
	g.expectExit()
	if g.cmd.Process != nil {
		_ = g.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-g.exited:
	case <-time.After(grace):
		_ = g.cmd.Process.Kill()
		<-g.exited
	}
	g.cancel()
	for _, s := range []socket{g.shell, g.control, g.stdin, g.iopub} {
		if s.Socket != nil {
			s.Close()
		}
	}
	os.RemoveAll(g.dir)
}

// startGoNB starts a GoNB on fresh loopback ports, connects to it and makes it
// the current one. The proxy's executor waits until it answers kernel_info.
func (p *Proxy) startGoNB() error {
	conn, err := NewLoopbackConnection()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "gorepro-kernel-")
	if err != nil {
		return err
	}
	// GoNB reads its kernel id from a file named kernel-<id>.json.
	file := filepath.Join(dir, "kernel-"+wire.NewID()[:12]+".json")
	if err := conn.Write(file); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(p.ctx)
	argv := append(append([]string{}, p.cfg.GoNB...), "--kernel", file)
	var cmd *exec.Cmd
	if p.cfg.Supervisor != "" {
		// GoNB under `gorepro kernel-supervise`, which takes gopls down with it.
		cmd = exec.Command(p.cfg.Supervisor, append([]string{SuperviseCommand, "--"}, argv...)...)
	} else {
		cmd = exec.Command(argv[0], argv[1:]...)
	}
	gonbLog := newGoNBLogFilter(p.cfg.Log)
	cmd.Stdout, cmd.Stderr = gonbLog, gonbLog
	// Its own process group, so that an interrupt of the proxy does not reach it.
	// If the proxy is killed, the supervisor gets SIGTERM and stops GoNB and its gopls.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	g := &gonbProcess{cmd: cmd, conn: conn, key: []byte(conn.Key), dir: dir, ctx: ctx, cancel: cancel,
		exited: make(chan struct{}), ready: make(chan struct{}), answered: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		cancel()
		os.RemoveAll(dir)
		return fmt.Errorf("starting GoNB (%s): %w", p.cfg.GoNB[0], err)
	}
	go func() {
		err := cmd.Wait()
		close(g.exited)
		if !g.expected.Load() {
			p.gonbDied(g, err)
		}
	}()
	idText := "gorepro-" + wire.NewID()[:12]
	id := zmq4.SocketIdentity(idText)
	opts := []zmq4.Option{zmq4.WithDialerRetry(50 * time.Millisecond), zmq4.WithDialerMaxRetries(1200)}
	dial := func(s zmq4.Socket, port int) (socket, error) {
		if err := s.Dial(conn.Endpoint(port)); err != nil {
			return socket{}, fmt.Errorf("connecting to GoNB: %w", err)
		}
		return newSocket(s), nil
	}
	if g.shell, err = dial(zmq4.NewDealer(ctx, append(opts, zmq4.WithID(id))...), conn.ShellPort); err == nil {
		if g.stdin, err = dial(zmq4.NewDealer(ctx, append(opts, zmq4.WithID(id))...), conn.StdinPort); err == nil {
			if g.control, err = dial(zmq4.NewDealer(ctx, append(opts, zmq4.WithID(zmq4.SocketIdentity(idText+"-control")))...), conn.ControlPort); err == nil {
				sub := zmq4.NewSub(ctx, opts...)
				if err = sub.SetOption(zmq4.OptionSubscribe, ""); err == nil {
					g.iopub, err = dial(sub, conn.IOPubPort)
				}
			}
		}
	}
	if err != nil {
		g.terminate(time.Second)
		return err
	}
	for name, s := range map[string]socket{"shell": g.shell, "control": g.control, "stdin": g.stdin, "iopub": g.iopub} {
		go func(name string, s socket) {
			for {
				msg, err := s.Recv()
				if err != nil {
					return
				}
				p.fromGoNB(g, name, msg.Frames)
			}
		}(name, s)
	}
	p.gonbMu.Lock()
	p.gonb = g
	p.ready = g.ready
	p.gonbMu.Unlock()
	go p.probeReady(g)
	return nil
}

// probePrefix starts the msg_id of the proxy's own requests to GoNB (the
// readiness probes and the session setup); their replies stay in the proxy.
const probePrefix = "gorepro-probe-"

// setupCommands is the cell the proxy runs in every GoNB it starts, before
// any user cell. %noautoget turns off GoNB's `go get` before each cell: with
// it on, a cell's imports are resolved by querying the module proxy for their
// latest versions (which an offline or stale proxy answers with an old module,
// or not at all) instead of through the workspace, i.e. the project's go.mod
// pins. Modules are added deliberately with a %%require cell.
const setupCommands = "%noautoget"

// probeMessage builds a request of the proxy's own to GoNB.
func probeMessage(msgType string, content any) (*wire.Message, error) {
	header := fmt.Sprintf(`{"msg_id":%q,"session":"gorepro-proxy","username":"gorepro","date":"","msg_type":%q,"version":%q}`,
		probePrefix+wire.NewID(), msgType, wire.ProtocolVersion)
	msg, err := wire.Parse((&wire.Message{Header: []byte(header)}).Frames(nil), nil)
	if err != nil {
		return nil, err
	}
	if err := msg.SetContent(content); err != nil {
		return nil, err
	}
	return msg, nil
}

// probeReady asks GoNB for kernel_info until it answers (its sockets are up);
// the answer triggers the session setup (onProbeReply).
func (p *Proxy) probeReady(g *gonbProcess) {
	for attempt := 0; ; attempt++ {
		probe, err := probeMessage("kernel_info_request", map[string]any{})
		if err != nil {
			p.log.Printf("building the readiness probe: %v", err)
			return
		}
		if err := g.shell.send(probe.Frames(g.key)); err != nil {
			p.log.Printf("probing GoNB: %v", err)
		}
		select {
		case <-g.answered:
			return
		case <-g.exited:
			return
		case <-time.After(time.Duration(min(attempt+1, 10)) * 500 * time.Millisecond):
		}
	}
}

// onProbeReply handles GoNB's replies to the proxy's own requests: the first
// kernel_info_reply sends setupCommands, whose execute_reply makes GoNB ready
// for user cells. Everything else they cause (status, streams) is dropped.
func (p *Proxy) onProbeReply(g *gonbProcess, channel string, msg *wire.Message) {
	if channel != "shell" {
		return
	}
	switch msg.Type() {
	case "kernel_info_reply":
		first := false
		g.answeredOnce.Do(func() { first = true; close(g.answered) })
		if !first {
			return
		}
		setup, err := probeMessage("execute_request", map[string]any{
			"code": setupCommands, "silent": true, "store_history": false,
			"user_expressions": map[string]any{}, "allow_stdin": false, "stop_on_error": true,
		})
		if err == nil {
			err = g.shell.send(setup.Frames(g.key))
		}
		if err != nil {
			g.markReady(fmt.Errorf("sending %s to GoNB: %w", setupCommands, err))
		}
	case "execute_reply":
		var c struct {
			Status string `json:"status"`
			EName  string `json:"ename"`
			EValue string `json:"evalue"`
		}
		if err := msg.DecodeContent(&c); err != nil {
			g.markReady(fmt.Errorf("GoNB's reply to %s: %w", setupCommands, err))
			return
		}
		if c.Status != "ok" {
			err := fmt.Errorf("GoNB refused %s (%s: %s): cells could resolve modules outside go.mod, so none are run", setupCommands, c.EName, c.EValue)
			p.log.Print(err)
			g.markReady(err)
			return
		}
		g.markReady(nil)
	}
}
