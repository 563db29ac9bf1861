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
}

func (g *gonbProcess) markReady() { g.readyOnce.Do(func() { close(g.ready) }) }

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
		exited: make(chan struct{}), ready: make(chan struct{})}
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

// probePrefix starts the msg_id of the readiness probes.
const probePrefix = "gorepro-probe-"

// probeReady asks GoNB for kernel_info until it answers (its sockets are up).
func (p *Proxy) probeReady(g *gonbProcess) {
	for attempt := 0; ; attempt++ {
		probe := &wire.Message{Header: []byte(fmt.Sprintf(
			`{"msg_id":%q,"session":"gorepro-proxy","username":"gorepro","date":"","msg_type":"kernel_info_request","version":%q}`,
			probePrefix+wire.NewID(), wire.ProtocolVersion))}
		parsed, err := wire.Parse(probe.Frames(nil), nil)
		if err != nil {
			p.log.Printf("building the readiness probe: %v", err)
			return
		}
		if err := g.shell.send(parsed.Frames(g.key)); err != nil {
			p.log.Printf("probing GoNB: %v", err)
		}
		select {
		case <-g.ready:
			return
		case <-g.exited:
			return
		case <-time.After(time.Duration(min(attempt+1, 10)) * 500 * time.Millisecond):
		}
	}
}
