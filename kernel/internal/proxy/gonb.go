package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/gorepro/gorepro/kernel/internal/wire"
)

// gonbProcess is one GoNB subprocess and the proxy's sockets to it.
type gonbProcess struct {
	cmd      *exec.Cmd
	logf     *gonbLogFilter
	conn     *Connection
	key      []byte
	dir      string
	ctx      context.Context
	cancel   context.CancelFunc
	shell    socket
	control  socket
	stdin    socket
	iopub    socket
	exited   chan struct{}
	exitErr  error // written before exited is closed
	expected atomic.Bool
	// state is starting, then live once the launcher adopted it, or dead:
	// the one who moves it out of starting or live handles the exit.
	state       atomic.Int32
	releaseOnce sync.Once
	readyOnce   sync.Once
	ready       chan struct{}
	// answered is closed by GoNB's first kernel_info_reply.
	answered     chan struct{}
	answeredOnce sync.Once
	// setupErr, written before ready is closed, says why GoNB did not take
	// the session setup (setupCommands); cells then fail with it.
	setupErr error
}

const (
	gonbStarting int32 = iota
	gonbLive
	gonbDead
)

func (g *gonbProcess) markReady(setupErr error) {
	g.readyOnce.Do(func() {
		g.setupErr = setupErr
		close(g.ready)
	})
}

// expectExit marks g's exit as the proxy's doing: no failure to report, no
// restart, and nothing more of what it prints reaches the log.
func (g *gonbProcess) expectExit() {
	g.expected.Store(true)
	if g.logf != nil {
		g.logf.stopping()
	}
}

// terminate stops GoNB: SIGTERM, then SIGKILL after grace; then releases it.
func (g *gonbProcess) terminate(grace time.Duration) {
	g.expectExit()
	if g.cmd.Process != nil {
		_ = g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.exited:
		case <-time.After(grace):
			_ = g.cmd.Process.Kill()
			<-g.exited
		}
	}
	g.release()
}

// release frees what the proxy holds for a GoNB that is gone: its sockets
// (and so their reading goroutines), its context and its directory.
func (g *gonbProcess) release() {
	g.releaseOnce.Do(func() {
		g.cancel()
		for _, s := range []socket{g.shell, g.control, g.stdin, g.iopub} {
			if s.Socket != nil {
				s.Close()
			}
		}
		os.RemoveAll(g.dir)
	})
}

// Launch policy: a GoNB that fails to start, or exits before it is ready, is
// tried again after a growing pause, launchAttempts times in all; then the
// kernel is down and every cell fails at once, saying so.
const (
	launchAttempts = 4
	launchTimeout  = 2 * time.Minute
)

// launchBackoff is the pause before attempt n (n ≥ 1): 0.5 s, 1 s, 2 s.
func launchBackoff(n int) time.Duration { return time.Duration(1<<(n-1)) * 500 * time.Millisecond }

// stopping says whether the kernel is shutting down: a shutdown_request came
// (p.shutdown is set before its GoNB is stopped) or the proxy's context ended.
// Nothing is started or retried then.
func (p *Proxy) stopping() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.shutdown || p.ctx.Err() != nil
}

// launch starts a GoNB in the background and makes it the current one once
// it is ready. Cells wait for p.ready; if every attempt fails, p.downErr says
// why and cells fail with it. There is only ever one launch at a time: it is
// called at start and by gonbDied, which only a live GoNB triggers.
//
// A shutdown may come at any point of a launch, also before the launcher
// published the GoNB it is starting (then the shutdown cannot stop it): so
// the launcher checks for one after publishing it and before every retry,
// and a GoNB that the proxy stopped is not a failed start.
func (p *Proxy) launch() {
	ready := make(chan struct{})
	p.gonbMu.Lock()
	p.gonb, p.ready, p.downErr = nil, ready, nil
	p.gonbMu.Unlock()
	go func() {
		defer close(ready)
		var last error
		for attempt := 0; attempt < launchAttempts; attempt++ {
			if attempt > 0 {
				if p.stopping() {
					return
				}
				p.log.Warn(fmt.Sprintf("starting GoNB again in %v (attempt %d of %d): %v", launchBackoff(attempt), attempt+1, launchAttempts, last))
				select {
				case <-time.After(launchBackoff(attempt)):
				case <-p.ctx.Done():
					return
				}
			}
			if p.stopping() {
				return
			}
			g, err := p.startGoNB()
			if err != nil {
				last = err
				continue
			}
			p.gonbMu.Lock()
			p.gonb = g // requests other than cells may reach it while it starts
			p.gonbMu.Unlock()
			if p.stopping() {
				g.terminate(time.Second)
				return
			}
			select {
			case <-g.ready:
				if g.state.CompareAndSwap(gonbStarting, gonbLive) {
					return
				}
				last = fmt.Errorf("GoNB exited while starting (%v)", g.exitErr)
			case <-g.exited:
				if g.expected.Load() || p.stopping() {
					g.release()
					return // stopped by the proxy: shutting down
				}
				last = fmt.Errorf("GoNB exited while starting (%v)", g.exitErr)
			case <-time.After(launchTimeout):
				last = fmt.Errorf("GoNB did not answer within %v", launchTimeout)
			case <-p.ctx.Done():
				g.terminate(time.Second)
				return
			}
			g.terminate(time.Second)
			p.gonbMu.Lock()
			p.gonb = nil
			p.gonbMu.Unlock()
		}
		if p.stopping() {
			return
		}
		err := fmt.Errorf("the Go kernel (GoNB) could not be started (%d attempts; last: %v): restart the kernel once the cause is fixed", launchAttempts, last)
		p.log.Error(err.Error())
		p.gonbMu.Lock()
		p.downErr = err
		p.gonbMu.Unlock()
	}()
}

// goplsSocketSuffix is what GoNB v0.11.5 appends to its TMPDIR for gopls's
// unix socket ($TMPDIR/gonb_<8 hex>/gopls_socket): it must fit too.
const goplsSocketSuffix = "/gonb_01234567/gopls_socket"

// startGoNB starts a GoNB and connects to it. Everything of this GoNB lies
// in a directory of its own inside the kernel's private one: its connection
// file, the unix sockets it listens on (no TCP port: another local user
// could connect to, flood or take one first), and its TMPDIR (its Go code,
// gopls's socket, the cells' binaries), so that the directory's removal on
// any exit of the kernel, a crash included (by the supervisor), takes them.
// The proxy's executor waits until GoNB took the session setup (see onProbeReply).
func (p *Proxy) startGoNB() (*gonbProcess, error) {
	dir, err := os.MkdirTemp(p.stateDir, "gonb-")
	if err != nil {
		return nil, err
	}
	conn, err := NewIPCConnection(filepath.Join(dir, "k"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	tmp := filepath.Join(dir, "tmp")
	if gopls := tmp + goplsSocketSuffix; len(gopls) > maxSocketPath {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("gopls's unix socket path %s would be %d bytes long, over the limit of %d: set TMPDIR to a shorter directory",
			gopls, len(gopls), maxSocketPath)
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// GoNB reads its kernel id from a file named kernel-<id>.json.
	file := filepath.Join(dir, "kernel-"+wire.NewID()[:12]+".json")
	if err := conn.Write(file); err != nil {
		os.RemoveAll(dir)
		return nil, err
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
	// GoNB, the go command and gopls take their temporary files from TMPDIR
	// (os.TempDir); go build's work directory too, unless GOTMPDIR says otherwise,
	// which is left to the user: go removes its work directory itself.
	cmd.Env = append(os.Environ(), EnvSessionDir+"="+p.sessionDir, EnvStateDir+"="+p.stateDir, "TMPDIR="+tmp)
	gonbLog := newGoNBLogFilter(p.cfg.Log, p.log.Enabled(p.ctx, slog.LevelDebug))
	cmd.Stdout, cmd.Stderr = gonbLog, gonbLog
	// Its own process group, so that an interrupt of the proxy does not reach it.
	// If the proxy is killed, the supervisor gets SIGTERM and stops GoNB and its gopls.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	g := &gonbProcess{cmd: cmd, logf: gonbLog, conn: conn, key: []byte(conn.Key), dir: dir, ctx: ctx, cancel: cancel,
		exited: make(chan struct{}), ready: make(chan struct{}), answered: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		g.release()
		return nil, fmt.Errorf("starting GoNB (%s): %w", p.cfg.GoNB[0], err)
	}
	go func() {
		g.exitErr = cmd.Wait()
		close(g.exited)
		if g.expected.Load() {
			return
		}
		// A live GoNB's death is gonbDied's; a starting one's, the launcher's.
		if g.state.CompareAndSwap(gonbLive, gonbDead) {
			p.gonbDied(g, g.exitErr)
		} else if g.state.CompareAndSwap(gonbStarting, gonbDead) {
			g.cancel() // stops the sockets' dial retries: nobody is there
		}
	}()
	if err := p.dialGoNB(g); err != nil {
		select {
		case <-g.exited:
			err = fmt.Errorf("GoNB exited while starting (%v)", g.exitErr)
		default:
		}
		g.terminate(time.Second)
		return nil, err
	}
	go p.probeReady(g)
	return g, nil
}

// dialGoNB connects the proxy's sockets to g and starts relaying what it sends.
func (p *Proxy) dialGoNB(g *gonbProcess) error {
	idText := "gorepro-" + wire.NewID()[:12]
	id := zmq4.SocketIdentity(idText)
	opts := []zmq4.Option{zmq4.WithDialerRetry(50 * time.Millisecond), zmq4.WithDialerMaxRetries(1200)}
	dial := func(s zmq4.Socket, port int) (socket, error) {
		if err := s.Dial(g.conn.Endpoint(port)); err != nil {
			return socket{}, fmt.Errorf("connecting to GoNB: %w", err)
		}
		return newSocket(s), nil
	}
	var err error
	if g.shell, err = dial(zmq4.NewDealer(g.ctx, append(opts, zmq4.WithID(id))...), g.conn.ShellPort); err != nil {
		return err
	}
	if g.stdin, err = dial(zmq4.NewDealer(g.ctx, append(opts, zmq4.WithID(id))...), g.conn.StdinPort); err != nil {
		return err
	}
	if g.control, err = dial(zmq4.NewDealer(g.ctx, append(opts, zmq4.WithID(zmq4.SocketIdentity(idText+"-control")))...), g.conn.ControlPort); err != nil {
		return err
	}
	sub := zmq4.NewSub(g.ctx, opts...)
	if err := sub.SetOption(zmq4.OptionSubscribe, ""); err != nil {
		return err
	}
	if g.iopub, err = dial(sub, g.conn.IOPubPort); err != nil {
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
			p.log.Error("building the readiness probe", "err", err)
			return
		}
		if err := g.shell.send(probe.Frames(g.key)); err != nil {
			p.log.Warn("probing GoNB", "err", err)
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
			p.log.Error(err.Error())
			g.markReady(err)
			return
		}
		g.markReady(nil)
	}
}

// EnvSessionDir names the variable that gives cells the kernel's session
// directory (lib/notebook's Set and Get keep values there).
const EnvSessionDir = "GOREPRO_SESSION_DIR"

// EnvStateDir names the variable that tells the supervisor the kernel's
// directory, which it removes if the proxy dies without removing it.
const EnvStateDir = "GOREPRO_KERNEL_STATE_DIR"
