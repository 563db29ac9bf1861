// Package proxy is the gorepro kernel: a Jupyter-protocol proxy in front of
// an unmodified GoNB.
//
// The proxy owns the five sockets a Jupyter frontend connects to (shell,
// control, stdin, iopub, heartbeat). It starts GoNB as a subprocess with a
// connection file of its own on loopback, and relays every message both ways:
// checked against the frontend's key on the way in, re-signed with the other
// side's key on the way out, parent headers untouched. On top of GoNB it
//
//   - runs plugin cells (first line `%%name args…`, see kernel/plugin) itself,
//     or hands the Go code a plugin generates to GoNB;
//   - answers what GoNB ignores, so waiting clients do not hang:
//     is_complete_request (Go's parser) and history_request;
//   - answers kernel_info_request itself, naming gorepro and the backend;
//   - keeps one execution counter across plugin and Go cells;
//   - drops messages with a bad signature (GoNB stops answering after one);
//   - restarts GoNB if it dies, reporting it in the cell that was running.
//
// Execute requests run one at a time, in order; everything else (completion,
// inspection, comms, input replies) is relayed at once.
package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/gorepro/gorepro/kernel/internal/wire"
	"github.com/gorepro/gorepro/kernel/plugin"
)

// Config configures the proxy.
type Config struct {
	// ConnectionFile is the frontend's connection file.
	ConnectionFile string
	// GoNB is the command that starts GoNB, without its --kernel flag.
	GoNB []string
	// Supervisor, if set, is the gorepro executable: GoNB then runs under
	// `gorepro kernel-supervise`, so that nothing it started outlives the kernel.
	Supervisor string
	// Log receives the proxy's log lines and GoNB's output (stderr by default).
	Log io.Writer
	// Version is gorepro's version, for kernel_info.
	Version string
	// DescribeBackend says which backend a choice ("" = default) resolves to, for kernel_info.
	DescribeBackend func(choice string) string
	// GoNBVersion is shown in the kernel_info banner.
	GoNBVersion string
	// Limits bound each peer of the frontend's sockets (zero fields: defaults).
	Limits GuardLimits
	// AllowUnsigned lets a connection file with an empty key (no message
	// signing) be used; otherwise the kernel refuses it.
	AllowUnsigned bool
}

// EnvAllowUnsigned names the variable that allows an empty key (Config.AllowUnsigned).
const EnvAllowUnsigned = "GOREPRO_ALLOW_UNSIGNED"

// Proxy is a running gorepro kernel.
type Proxy struct {
	cfg  Config
	conn *Connection
	key  []byte
	log  *log.Logger
	// peerLog limits the log lines that frontend peers cause (see rateLog).
	peerLog *rateLog
	ctx     context.Context
	stop    context.CancelFunc

	shell, control, stdin, iopub, hb socket

	// stateDir is the kernel's private directory (0700, made by MkdirTemp,
	// removed on exit; by the supervisor if the proxy is killed): GoNB's
	// connection files and sessionDir, the cells' session values.
	stateDir, sessionDir string

	gonbMu  sync.Mutex
	gonb    *gonbProcess  // nil while none is started or when the kernel is down
	ready   chan struct{} // closed when the current launch ended: GoNB ready, or down
	downErr error         // why no GoNB could be started (set before ready is closed)

	queue   chan *wire.Message
	replays *wire.Replays // signatures of accepted frontend messages

	mu        sync.Mutex
	routes    map[string]route // request msg_id -> who asked
	execCount int
	history   []historyEntry
	backend   string
	cancelRun context.CancelFunc
	waiting   map[string]chan execResult // execute msg_id -> executor waiting for GoNB's reply
	hinted    map[string]map[string]bool // execute msg_id -> modules a missing-module hint was shown for, until idle
	shutdown  bool
}

// socket is a ZeroMQ socket with its sends serialised.
type socket struct {
	zmq4.Socket
	mu *sync.Mutex
}

func newSocket(s zmq4.Socket) socket { return socket{s, &sync.Mutex{}} }

func (s socket) send(frames [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.SendMulti(zmq4.NewMsgFrom(frames...))
}

// route remembers where a relayed request came from.
type route struct {
	identities [][]byte
	count      int // execution count assigned to an execute_request (0: none)
}

type historyEntry struct {
	session string
	line    int
	input   string
}

type execResult struct {
	status string
	died   error
}

// Run starts the proxy and serves until a shutdown_request or ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	if len(cfg.GoNB) == 0 {
		return errors.New("proxy: no GoNB command configured")
	}
	conn, err := ReadConnection(cfg.ConnectionFile)
	if err != nil {
		return err
	}
	if conn.Key == "" && !cfg.AllowUnsigned {
		return fmt.Errorf("proxy: the connection file %s has an empty key, which turns message signing off: "+
			"any local process could run code in this kernel; refusing (set %s=1 to allow it)", cfg.ConnectionFile, EnvAllowUnsigned)
	}
	if conn.Key == "" {
		fmt.Fprintf(cfg.Log, "gorepro kernel: WARNING: message signing is off (empty key, allowed by %s=1): any local process can run code in this kernel\n", EnvAllowUnsigned)
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	p := &Proxy{
		cfg: cfg, conn: conn, key: []byte(conn.Key), ctx: ctx, stop: stop,
		log:     log.New(cfg.Log, "gorepro kernel: ", log.LstdFlags),
		queue:   make(chan *wire.Message, 1024),
		replays: wire.NewReplays(1 << 16),
		routes:  map[string]route{},
		waiting: map[string]chan execResult{},
		hinted:  map[string]map[string]bool{},
	}
	p.peerLog = newRateLog(p.log, peerLogBurst, peerLogInterval)
	if err := p.listen(); err != nil {
		return err
	}
	defer p.closeFrontend()
	if p.stateDir, err = os.MkdirTemp("", "gorepro-kernel-"); err != nil {
		return fmt.Errorf("proxy: creating the kernel's directory: %w", err)
	}
	defer os.RemoveAll(p.stateDir)
	p.sessionDir = filepath.Join(p.stateDir, "session")
	if err := os.Mkdir(p.sessionDir, 0o700); err != nil {
		return fmt.Errorf("proxy: creating the session directory: %w", err)
	}
	p.launch()
	go p.serveHeartbeat()
	go p.serveFrontend(p.shell, "shell")
	go p.serveFrontend(p.control, "control")
	go p.serveFrontend(p.stdin, "stdin")
	go p.executor()
	<-ctx.Done()
	p.gonbMu.Lock()
	g := p.gonb
	p.gonbMu.Unlock()
	if g != nil {
		g.terminate(5 * time.Second)
	}
	return nil
}

func (p *Proxy) listen() error {
	if p.conn.Transport != "tcp" {
		return fmt.Errorf("proxy: transport %q is not supported (tcp only)", p.conn.Transport)
	}
	network, err := guardedNetwork(p.cfg.Limits.withDefaults())
	if err != nil {
		return err
	}
	bind := func(s zmq4.Socket, port int, name string) (socket, error) {
		endpoint := fmt.Sprintf("%s://%s:%d", network, p.conn.IP, port)
		if err := s.Listen(endpoint); err != nil {
			return socket{}, fmt.Errorf("proxy: binding %s socket to %s: %w", name, p.conn.Endpoint(port), err)
		}
		return newSocket(s), nil
	}
	if p.shell, err = bind(zmq4.NewRouter(p.ctx, zmq4.WithLogger(p.zmqLogger("shell"))), p.conn.ShellPort, "shell"); err != nil {
		return err
	}
	if p.control, err = bind(zmq4.NewRouter(p.ctx, zmq4.WithLogger(p.zmqLogger("control"))), p.conn.ControlPort, "control"); err != nil {
		return err
	}
	if p.stdin, err = bind(zmq4.NewRouter(p.ctx, zmq4.WithLogger(p.zmqLogger("stdin"))), p.conn.StdinPort, "stdin"); err != nil {
		return err
	}
	if p.iopub, err = bind(zmq4.NewPub(p.ctx, zmq4.WithLogger(p.zmqLogger("iopub"))), p.conn.IOPubPort, "iopub"); err != nil {
		return err
	}
	if p.hb, err = bind(zmq4.NewRep(p.ctx, zmq4.WithLogger(p.zmqLogger("heartbeat"))), p.conn.HBPort, "heartbeat"); err != nil {
		return err
	}
	return nil
}

func (p *Proxy) closeFrontend() {
	for _, s := range []socket{p.shell, p.control, p.stdin, p.iopub, p.hb} {
		if s.Socket != nil {
			s.Close()
		}
	}
}

func (p *Proxy) serveHeartbeat() {
	for {
		msg, err := p.hb.Recv()
		if err != nil {
			if p.ctx.Err() != nil {
				return
			}
			// zmq4's REP fails Recv for one malformed message (the guard
			// filters those, this is a second line): the next Recv serves
			// the other peers.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if err := p.hb.send(msg.Frames); err != nil {
			return
		}
	}
}

// serveFrontend reads one frontend socket, checks signatures and dispatches.
func (p *Proxy) serveFrontend(s socket, name string) {
	for {
		raw, err := s.Recv()
		if err != nil {
			if p.ctx.Err() == nil {
				p.log.Printf("%s socket: %v", name, err)
			}
			return
		}
		msg, err := wire.Parse(raw.Frames, p.key)
		if err == nil && !fromFrontend(name, msg.Type()) {
			err = fmt.Errorf("%.100q is not a message a frontend sends on %s", msg.Type(), name)
		}
		if err == nil {
			err = p.replays.Check(msg.Signature())
		}
		if err != nil {
			p.peerLogf("dropped messages on "+name, "dropped a message on %s: %v", name, err)
			continue
		}
		switch name {
		case "shell":
			p.onShell(msg)
		case "control":
			p.onControl(msg)
		case "stdin":
			p.forward(msg, "stdin", false)
		}
	}
}

// fromFrontend reports whether a frontend may send msgType on channel. A
// message the kernel sent (an iopub execute_input, a reply) carries a valid
// signature, since the key is shared: re-sent on shell it would reach GoNB
// as if the frontend had sent it. Only requests, comms and input replies
// travel from a frontend to a kernel.
func fromFrontend(channel, msgType string) bool {
	switch channel {
	case "shell":
		switch msgType {
		case "comm_open", "comm_msg", "comm_close":
			return true
		}
		return strings.HasSuffix(msgType, "_request")
	case "control":
		return strings.HasSuffix(msgType, "_request")
	case "stdin":
		return msgType == "input_reply"
	}
	return false
}

func (p *Proxy) onShell(msg *wire.Message) {
	switch msg.Type() {
	case "execute_request":
		p.queue <- msg
	case "kernel_info_request":
		p.answer(p.shell, msg, "kernel_info_reply", p.kernelInfo())
	case "is_complete_request":
		var c struct {
			Code string `json:"code"`
		}
		_ = msg.DecodeContent(&c)
		p.answer(p.shell, msg, "is_complete_reply", IsComplete(c.Code))
	case "history_request":
		p.answer(p.shell, msg, "history_reply", p.historyReply(msg))
	case "comm_info_request":
		// GoNB never answers it; widget frontends wait for it. GoNB's own
		// widgets open their comms from the kernel side, so none are listed.
		p.answer(p.shell, msg, "comm_info_reply", map[string]any{"status": "ok", "comms": map[string]any{}})
	default:
		p.forward(msg, "shell", true)
	}
}

func (p *Proxy) onControl(msg *wire.Message) {
	switch msg.Type() {
	case "kernel_info_request":
		p.answer(p.control, msg, "kernel_info_reply", p.kernelInfo())
	case "interrupt_request":
		p.mu.Lock()
		cancel := p.cancelRun
		p.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		// GoNB stops the running cell, but answers on its shell socket, where
		// the proxy's control identity is unknown: the proxy replies itself.
		p.forward(msg, "control", false)
		p.answer(p.control, msg, "interrupt_reply", map[string]any{"status": "ok"})
	case "shutdown_request":
		p.mu.Lock()
		p.shutdown = true
		p.mu.Unlock()
		var c struct {
			Restart bool `json:"restart"`
		}
		_ = msg.DecodeContent(&c)
		p.gonbMu.Lock()
		g := p.gonb
		p.gonbMu.Unlock()
		if g != nil {
			g.expectExit()
			g.terminate(5 * time.Second)
		}
		p.answer(p.control, msg, "shutdown_reply", map[string]any{"status": "ok", "restart": c.Restart})
		// Give the reply time to leave before the sockets close.
		time.AfterFunc(200*time.Millisecond, p.stop)
	default:
		p.forward(msg, "control", true)
	}
}

// answer replies on a ROUTER socket with busy/idle around it on iopub.
func (p *Proxy) answer(s socket, req *wire.Message, msgType string, content any) {
	p.status(req, "busy")
	defer p.status(req, "idle")
	reply, err := wire.Reply(req, msgType, content)
	if err != nil {
		p.log.Printf("building %s: %v", msgType, err)
		return
	}
	if err := s.send(reply.Frames(p.key)); err != nil {
		p.log.Printf("sending %s: %v", msgType, err)
	}
}

// publish sends an iopub message whose parent is req.
func (p *Proxy) publish(req *wire.Message, msgType string, content any) {
	m, err := wire.Reply(req, msgType, content)
	if err != nil {
		p.log.Printf("building %s: %v", msgType, err)
		return
	}
	m.Identities = [][]byte{[]byte(msgType)}
	if err := p.iopub.send(m.Frames(p.key)); err != nil {
		p.log.Printf("publishing %s: %v", msgType, err)
	}
}

func (p *Proxy) status(req *wire.Message, state string) {
	p.publish(req, "status", map[string]any{"execution_state": state})
}

// forward relays a frontend message to GoNB, remembering who asked when a reply is expected.
func (p *Proxy) forward(msg *wire.Message, channel string, expectReply bool) {
	// Only requests get replies: a route kept for anything else (comm_msg,
	// comm_open, comm_close, input_reply) would never be removed.
	expectReply = expectReply && strings.HasSuffix(msg.Type(), "_request")
	if expectReply && msg.Type() != "execute_request" { // runInGoNB routes cells
		p.mu.Lock()
		_, inFlight := p.routes[msg.ID()]
		if !inFlight {
			p.routes[msg.ID()] = route{identities: msg.Identities}
		}
		p.mu.Unlock()
		if inFlight {
			p.refuseDuplicate(msg, channel)
			return
		}
	}
	g := p.currentGoNB()
	if g == nil {
		p.peerLogf("messages GoNB could not take", "no GoNB to forward %s to", msg.Type())
		p.mu.Lock()
		waiter := p.waiting[msg.ID()]
		if waiter == nil {
			delete(p.routes, msg.ID())
		}
		p.mu.Unlock()
		if waiter != nil {
			// A cell whose GoNB went away between waitReady and here: its
			// executor reports it (error, idle) and cleans up.
			select { // non-blocking: gonbDied may have reported it already
			case waiter <- execResult{died: errors.New(p.downReason())}:
			default:
			}
			return
		}
		if reply, ok := strings.CutSuffix(msg.Type(), "_request"); ok && expectReply && channel != "stdin" {
			// The client waits for a reply: say why there is none.
			target := map[string]socket{"shell": p.shell, "control": p.control}[channel]
			p.answer(target, msg, reply+"_reply", map[string]any{"status": "error", "ename": "KernelDown", "evalue": p.downReason()})
		}
		return
	}
	out := *msg
	out.Identities = nil
	var s socket
	switch channel {
	case "shell":
		s = g.shell
	case "control":
		s = g.control
	case "stdin":
		s = g.stdin
	}
	if err := s.send(out.Frames(g.key)); err != nil {
		p.log.Printf("forwarding %s to GoNB: %v", msg.Type(), err)
	}
}

// refuseDuplicate answers a request whose msg_id is that of a request still
// in flight: relaying it would hand the first request's replies to its sender.
func (p *Proxy) refuseDuplicate(msg *wire.Message, channel string) {
	p.peerLogf("duplicate msg_ids", "refused a %s on %s: msg_id %q is already in flight", msg.Type(), channel, msg.ID())
	target := map[string]socket{"shell": p.shell, "control": p.control}[channel]
	if reply, ok := strings.CutSuffix(msg.Type(), "_request"); ok && target.Socket != nil {
		p.answer(target, msg, reply+"_reply", map[string]any{"status": "error", "ename": "DuplicateMsgID",
			"evalue": "msg_id " + msg.ID() + " is already in flight: every request needs a new msg_id"})
	}
}

// downReason says why no GoNB is there to answer.
func (p *Proxy) downReason() string {
	p.gonbMu.Lock()
	defer p.gonbMu.Unlock()
	if p.downErr != nil {
		return p.downErr.Error()
	}
	return "the Go kernel (GoNB) is starting: try again in a moment"
}

func (p *Proxy) currentGoNB() *gonbProcess {
	p.gonbMu.Lock()
	defer p.gonbMu.Unlock()
	return p.gonb
}

func (p *Proxy) kernelInfo() map[string]any {
	backend := "default"
	p.mu.Lock()
	choice := p.backend
	p.mu.Unlock()
	if p.cfg.DescribeBackend != nil {
		backend = p.cfg.DescribeBackend(choice)
	}
	return map[string]any{
		"status":                 "ok",
		"protocol_version":       wire.ProtocolVersion,
		"implementation":         "gorepro",
		"implementation_version": p.cfg.Version,
		"language_info": map[string]any{
			"name": "go", "version": runtime.Version(), "mimetype": "text/x-go", "file_extension": ".go",
			"pygments_lexer": "go", "codemirror_mode": "go", "nbconvert_exporter": "",
		},
		"banner": fmt.Sprintf("gorepro kernel %s (GoNB %s, %s); backend: %s; %%%%help lists the plugin cells",
			p.cfg.Version, p.cfg.GoNBVersion, runtime.Version(), backend),
		"help_links": []map[string]string{
			{"text": "GoNB", "url": "https://github.com/janpfeifer/gonb"},
			{"text": "GoMLX", "url": "https://github.com/gomlx/gomlx"},
		},
		"debugger": false,
	}
}

// executeContent is an execute_request's content.
type executeContent struct {
	Code         string `json:"code"`
	Silent       bool   `json:"silent"`
	StoreHistory *bool  `json:"store_history"`
	StopOnError  *bool  `json:"stop_on_error"`
}

// stopOnError is the request's stop_on_error, true when absent (as in ipykernel).
func (c executeContent) stopOnError() bool { return c.StopOnError == nil || *c.StopOnError }

// executor runs execute requests one at a time. After a cell that failed and
// asked for it (stop_on_error, not silent), the cells already queued behind
// it are aborted, as ipykernel does: Run All and jupyter_client's execute()
// send every cell at once, and the cells after an error mostly depend on it.
// Aborting ends when the queue has drained: a request that arrives later was
// sent after its sender could see the error.
func (p *Proxy) executor() {
	aborting := false
	for {
		select {
		case <-p.ctx.Done():
			return
		case msg := <-p.queue:
			aborting = p.executeNext(msg, aborting)
		}
	}
}

// executeNext runs or aborts one queued request; it returns whether the
// requests queued after it are to be aborted.
func (p *Proxy) executeNext(msg *wire.Message, aborting bool) bool {
	var c executeContent
	_ = msg.DecodeContent(&c) // execute reports a bad content
	if aborting && c.stopOnError() {
		p.abort(msg)
	} else if status := p.execute(msg); status != "ok" && !c.Silent && c.stopOnError() {
		aborting = true
	}
	return aborting && len(p.queue) > 0
}

// abort answers a queued execute request that follows a failed cell, as
// ipykernel's _send_abort_reply does: status aborted, in the content and the
// metadata; busy and idle around it, so that a client waiting for idle ends.
// It does not run, takes no execution count and no history entry.
func (p *Proxy) abort(msg *wire.Message) {
	p.status(msg, "busy")
	defer p.status(msg, "idle")
	p.mu.Lock()
	count := p.execCount
	p.mu.Unlock()
	reply, err := wire.Reply(msg, "execute_reply", map[string]any{"status": "aborted", "execution_count": count})
	if err != nil {
		p.log.Printf("building execute_reply: %v", err)
		return
	}
	reply.Metadata = []byte(`{"status":"aborted"}`)
	if err := p.shell.send(reply.Frames(p.key)); err != nil {
		p.log.Printf("sending execute_reply: %v", err)
	}
}

// execute runs one execute request and returns its reply's status (ok,
// error, aborted).
func (p *Proxy) execute(msg *wire.Message) string {
	var c executeContent
	if err := msg.DecodeContent(&c); err != nil {
		p.publishError(msg, 0, "BadRequest", err.Error())
		return "error"
	}
	store := !c.Silent && (c.StoreHistory == nil || *c.StoreHistory)
	count := 0
	p.mu.Lock()
	if store {
		p.execCount++
		count = p.execCount
		p.history = append(p.history, historyEntry{session: msg.Session(), line: count, input: c.Code})
	} else {
		count = p.execCount
	}
	p.mu.Unlock()

	cell, isPlugin, parseErr := plugin.ParseCell(c.Code)
	if isPlugin && plugin.IsGoNBForm(cell.Name) {
		isPlugin = false
	}
	if !isPlugin {
		return p.runInGoNB(msg, c, count, false)
	}
	p.status(msg, "busy")
	if !c.Silent {
		p.publish(msg, "execute_input", map[string]any{"code": c.Code, "execution_count": count})
	}
	var resp *plugin.Response
	err := parseErr
	if err == nil {
		resp, err = p.runPlugin(msg, cell)
	}
	if err != nil {
		p.publishError(msg, count, "PluginError", err.Error())
		p.status(msg, "idle")
		return "error"
	}
	for _, out := range resp.Outputs {
		p.publish(msg, "display_data", map[string]any{"data": out.Data, "metadata": map[string]any{}, "transient": map[string]any{}})
	}
	if resp.Result != nil && !c.Silent {
		p.publish(msg, "execute_result", map[string]any{"data": resp.Result.Data, "metadata": map[string]any{}, "execution_count": count})
	}
	if resp.Backend != "" {
		p.mu.Lock()
		p.backend = resp.Backend
		p.mu.Unlock()
	}
	if resp.Code != "" {
		// GoNB runs the generated code under the same request: its replies
		// carry the request's msg_id, and the execution count is rewritten.
		gen := *msg
		if err := gen.SetContent(map[string]any{
			"code": resp.Code, "silent": c.Silent, "store_history": false, "user_expressions": map[string]any{},
			"allow_stdin": true, "stop_on_error": true,
		}); err != nil {
			p.publishError(msg, count, "PluginError", err.Error())
			p.status(msg, "idle")
			return "error"
		}
		// No idle here: GoNB's own busy/idle close the cell, and a client that
		// saw idle now would stop listening before GoNB's outputs.
		return p.runInGoNB(&gen, c, count, true)
	}
	p.reply(msg, map[string]any{"status": "ok", "execution_count": count, "user_expressions": map[string]any{}, "payload": []any{}})
	p.status(msg, "idle")
	return "ok"
}

func (p *Proxy) runPlugin(msg *wire.Message, cell plugin.Cell) (*plugin.Response, error) {
	ctx, cancel := context.WithCancel(p.ctx)
	p.mu.Lock()
	p.cancelRun = cancel
	backend := p.backend
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.cancelRun = nil
		p.mu.Unlock()
		cancel()
	}()
	wd, _ := os.Getwd()
	req := &plugin.Request{Name: cell.Name, Args: cell.Args, Body: cell.Body, Backend: backend, NotebookDir: wd}
	var resp *plugin.Response
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("plugin %%%%%s panicked: %v", cell.Name, r)
			}
		}()
		if pl, ok := plugin.Lookup(cell.Name); ok {
			resp, err = pl.Handler(ctx, req)
			return
		}
		if path, ok := plugin.LookupExternal(cell.Name); ok {
			resp, err = plugin.RunExternal(ctx, path, req)
			return
		}
		err = unknownPlugin(cell.Name)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		// Interrupted: the handler got the cancellation; give it a moment.
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			return nil, fmt.Errorf("%%%%%s interrupted", cell.Name)
		}
	}
	if err == nil && resp == nil {
		resp = &plugin.Response{}
	}
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("%%%%%s interrupted", cell.Name)
	}
	return resp, err
}

func unknownPlugin(name string) error {
	var names []string
	for _, p := range plugin.All() {
		names = append(names, "%%"+p.Name)
	}
	return fmt.Errorf("unknown plugin %%%%%s: plugins are %v, and executables named %s<name> on PATH (%%%%help lists them)",
		name, names, plugin.ExternalPrefix)
}

func (p *Proxy) reply(req *wire.Message, content any) {
	m, err := wire.Reply(req, "execute_reply", content)
	if err != nil {
		p.log.Printf("building execute_reply: %v", err)
		return
	}
	if err := p.shell.send(m.Frames(p.key)); err != nil {
		p.log.Printf("sending execute_reply: %v", err)
	}
}

// publishError shows an error as the cell's output and replies with status error.
func (p *Proxy) publishError(req *wire.Message, count int, ename, evalue string) {
	p.publish(req, "error", map[string]any{"ename": ename, "evalue": evalue, "traceback": []string{ename + ": " + evalue}})
	p.reply(req, map[string]any{"status": "error", "execution_count": count, "ename": ename, "evalue": evalue,
		"traceback": []string{ename + ": " + evalue}})
}

// runInGoNB relays an execute request to GoNB, waits for its reply and
// returns its status. For plugin-generated code (quiet) GoNB's execute_input
// is dropped: the frontend already has the cell's. A quiet route is marked by
// a negative count.
func (p *Proxy) runInGoNB(msg *wire.Message, c executeContent, count int, quiet bool) string {
	if !quiet && !p.isReady() {
		// GoNB (re)starts, which takes seconds: the frontend shows the cell
		// as running now, and an interrupt can end the wait. GoNB's own
		// execute_input would come second: it is dropped, as for quiet code.
		p.status(msg, "busy")
		if !c.Silent {
			p.publish(msg, "execute_input", map[string]any{"code": c.Code, "execution_count": count})
		}
		quiet = true
	}
	if err := p.waitReadyInterruptible(); err != nil {
		if !quiet {
			p.status(msg, "busy")
		}
		ename := "KernelSetupError"
		if errors.Is(err, errInterrupted) {
			ename = "Interrupted"
		}
		p.publishError(msg, count, ename, err.Error())
		p.status(msg, "idle")
		return "error"
	}
	done := make(chan execResult, 1)
	routeCount := count
	if quiet {
		routeCount = -count
	}
	p.mu.Lock()
	_, inFlight := p.routes[msg.ID()]
	if !inFlight {
		p.routes[msg.ID()] = route{identities: msg.Identities, count: routeCount}
		p.waiting[msg.ID()] = done
	}
	p.mu.Unlock()
	if inFlight {
		p.publishError(msg, count, "DuplicateMsgID", "msg_id "+msg.ID()+" is already in flight: every request needs a new msg_id")
		p.status(msg, "idle")
		return "error"
	}
	p.forward(msg, "shell", true)
	return p.await(msg, count, done)
}

// await waits for GoNB's execute_reply to msg and returns its status.
func (p *Proxy) await(msg *wire.Message, count int, done chan execResult) string {
	status := "error"
	select {
	case res := <-done:
		if res.died != nil {
			p.publish(msg, "stream", map[string]any{"name": "stderr", "text": res.died.Error() + "\n"})
			p.publishError(msg, count, "KernelDied", res.died.Error())
			p.status(msg, "idle")
		} else {
			status = res.status
		}
	case <-p.ctx.Done():
	}
	p.mu.Lock()
	delete(p.waiting, msg.ID())
	delete(p.routes, msg.ID())
	p.mu.Unlock()
	return status
}

// errInterrupted ends a wait for GoNB that an interrupt_request cut short.
var errInterrupted = errors.New("interrupted while the Go kernel (GoNB) was starting: the cell did not run")

// isReady reports whether the current launch of GoNB has ended (waitReady
// would not wait).
func (p *Proxy) isReady() bool {
	p.gonbMu.Lock()
	ready := p.ready
	p.gonbMu.Unlock()
	select {
	case <-ready:
		return true
	default:
		return false
	}
}

// waitReadyInterruptible is waitReady that an interrupt_request ends, with
// errInterrupted: a restart can take long, and the user may give up on the cell.
func (p *Proxy) waitReadyInterruptible() error {
	ctx, cancel := context.WithCancel(p.ctx)
	p.mu.Lock()
	p.cancelRun = cancel
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.cancelRun = nil
		p.mu.Unlock()
		cancel()
	}()
	err := p.waitReady(ctx)
	if err != nil && ctx.Err() != nil && p.ctx.Err() == nil {
		return errInterrupted
	}
	return err
}

// waitReady waits until the current launch of GoNB ended and returns why
// cells cannot run, if they cannot: GoNB is down, or refused the setup, or
// ctx ended first.
func (p *Proxy) waitReady(ctx context.Context) error {
	p.gonbMu.Lock()
	ready := p.ready
	p.gonbMu.Unlock()
	select {
	case <-ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	p.gonbMu.Lock()
	defer p.gonbMu.Unlock()
	if p.downErr != nil {
		return p.downErr
	}
	if p.gonb == nil {
		return errors.New("the Go kernel (GoNB) is not running")
	}
	return p.gonb.setupErr
}

// fromGoNB handles a message GoNB sent on one of its sockets.
func (p *Proxy) fromGoNB(g *gonbProcess, channel string, frames [][]byte) {
	msg, err := wire.Parse(frames, g.key)
	if err != nil {
		p.log.Printf("dropped a message from GoNB on %s: %v", channel, err)
		return
	}
	if strings.HasPrefix(msg.ParentID(), probePrefix) {
		// Replies to the proxy's own requests stay inside the proxy.
		p.onProbeReply(g, channel, msg)
		return
	}
	p.mu.Lock()
	r, known := p.routes[msg.ParentID()]
	waiter := p.waiting[msg.ParentID()]
	p.mu.Unlock()
	quiet := r.count < 0
	count := r.count
	if quiet {
		count = -count
	}
	switch msg.Type() {
	case "execute_input":
		if quiet {
			return
		}
		p.rewriteCount(msg, count)
	case "execute_result", "execute_reply":
		if count > 0 {
			p.rewriteCount(msg, count)
		}
	}
	switch channel {
	case "iopub":
		msg.Identities = [][]byte{[]byte(msg.Type())}
		if err := p.iopub.send(msg.Frames(p.key)); err != nil {
			p.log.Printf("relaying %s: %v", msg.Type(), err)
		}
		if msg.ParentType() == "execute_request" {
			// Here, not on the shell reply: GoNB's iopub messages may be
			// handled after its execute_reply, but always before its idle.
			switch msg.Type() {
			case "error", "stream", "display_data":
				p.hintMissingModules(msg)
			case "status":
				p.mu.Lock()
				delete(p.hinted, msg.ParentID())
				p.mu.Unlock()
			}
		}
	case "shell", "control", "stdin":
		if !known {
			p.log.Printf("dropped GoNB's %s on %s: no request %q waiting for it", msg.Type(), channel, msg.ParentID())
			return
		}
		msg.Identities = r.identities
		target := map[string]socket{"shell": p.shell, "control": p.control, "stdin": p.stdin}[channel]
		if err := target.send(msg.Frames(p.key)); err != nil {
			p.log.Printf("relaying %s: %v", msg.Type(), err)
		}
		if channel == "shell" && msg.Type() == "execute_reply" && waiter != nil {
			var c struct {
				Status string `json:"status"`
			}
			_ = msg.DecodeContent(&c)
			select { // non-blocking: the waiter takes one result (a duplicate reply is dropped)
			case waiter <- execResult{status: c.Status}:
			default:
			}
		} else if channel != "stdin" {
			p.mu.Lock()
			if p.waiting[msg.ParentID()] == nil {
				delete(p.routes, msg.ParentID())
			}
			p.mu.Unlock()
		}
	}
}

// missingModule matches the go command's errors for an import that no module
// of the workspace provides, or one that only an indirect requirement does
// (then it names the version the workspace already has).
var missingModule = regexp.MustCompile(`no required module provides package ([^\s;:"]+)|imports ([^\s"]+) from implicitly required module; to add missing requirements, run:(?:\s|<[^>]*>)+go get ([^\s"@]+)@([^\s"<]+)`)

// hintMissingModules adds, after GoNB's compile error for a cell that imports
// a package outside the project's modules, one line naming the package and
// the way to add its module: cells never fetch modules (auto-get is off).
func (p *Proxy) hintMissingModules(msg *wire.Message) {
	if !bytes.Contains(msg.Content, []byte("required module")) {
		return
	}
	var content any
	if err := json.Unmarshal(msg.Content, &content); err != nil {
		return
	}
	var hints []string
	p.mu.Lock()
	hinted := p.hinted[msg.ParentID()]
	if hinted == nil {
		hinted = map[string]bool{}
		p.hinted[msg.ParentID()] = hinted
	}
	forEachString(content, func(s string) {
		for _, m := range missingModule.FindAllStringSubmatch(s, -1) {
			var key, hint string
			if m[1] != "" {
				key = m[1]
				hint = fmt.Sprintf("gorepro: package %s is in no module this project requires, and cells never fetch modules: "+
					"add its module at an exact version with a cell `%%%%require MODULE@vX.Y.Z` (see `%%%%help require`), then run this cell again", m[1])
			} else {
				key = m[3]
				hint = fmt.Sprintf("gorepro: package %s comes from %s, which the project requires only indirectly: "+
					"add it with a cell `%%%%require %s@%s` (the version the project already uses), then run this cell again", m[2], m[3], m[3], m[4])
			}
			if !hinted[key] {
				hinted[key] = true
				hints = append(hints, hint)
			}
		}
	})
	p.mu.Unlock()
	for _, h := range hints {
		out, err := wire.Sibling(msg, "stream", map[string]any{"name": "stderr", "text": h + "\n"})
		if err != nil {
			p.log.Printf("building a missing-module hint: %v", err)
			continue
		}
		out.Identities = [][]byte{[]byte("stream")}
		if err := p.iopub.send(out.Frames(p.key)); err != nil {
			p.log.Printf("publishing a missing-module hint: %v", err)
		}
	}
}

// forEachString calls fn on every string inside a decoded JSON value.
func forEachString(v any, fn func(string)) {
	switch v := v.(type) {
	case string:
		fn(v)
	case []any:
		for _, e := range v {
			forEachString(e, fn)
		}
	case map[string]any:
		for _, e := range v {
			forEachString(e, fn)
		}
	}
}

func (p *Proxy) rewriteCount(msg *wire.Message, count int) {
	var content map[string]json.RawMessage
	if err := json.Unmarshal(msg.Content, &content); err != nil {
		return
	}
	content["execution_count"] = json.RawMessage(fmt.Sprint(count))
	if data, err := json.Marshal(content); err == nil {
		msg.Content = data
	}
}

// gonbDied is called when a live GoNB exits on its own: the running cell
// gets an error at once, and a new GoNB is launched (cells wait for it).
func (p *Proxy) gonbDied(g *gonbProcess, exitErr error) {
	g.release()
	p.mu.Lock()
	shuttingDown := p.shutdown
	waiters := p.waiting
	p.waiting = map[string]chan execResult{}
	p.mu.Unlock()
	if shuttingDown || p.ctx.Err() != nil {
		return
	}
	reason := fmt.Errorf("the Go kernel (GoNB) exited (%v); gorepro is starting a new one: declarations from earlier cells are gone, run them again", exitErr)
	p.log.Print(reason)
	p.launch()
	for _, w := range waiters {
		select { // non-blocking: each waiter needs one result
		case w <- execResult{died: reason}:
		default:
		}
	}
}

// IsCompleteReply is the content of an is_complete_reply.
type IsCompleteReply struct {
	Status string `json:"status"`
	Indent string `json:"indent"`
}

// historyReply answers tail, range and search requests from this kernel's cells.
func (p *Proxy) historyReply(msg *wire.Message) map[string]any {
	var c struct {
		Output         bool   `json:"output"`
		Raw            bool   `json:"raw"`
		HistAccessType string `json:"hist_access_type"`
		Session        int    `json:"session"`
		Start          int    `json:"start"`
		Stop           int    `json:"stop"`
		N              int    `json:"n"`
		Pattern        string `json:"pattern"`
		Unique         bool   `json:"unique"`
	}
	_ = msg.DecodeContent(&c)
	p.mu.Lock()
	entries := append([]historyEntry{}, p.history...)
	p.mu.Unlock()
	var selected []historyEntry
	switch c.HistAccessType {
	case "range":
		for _, e := range entries {
			if e.line >= c.Start && (c.Stop <= 0 || e.line < c.Stop) {
				selected = append(selected, e)
			}
		}
	case "search":
		seen := map[string]bool{}
		for i := len(entries) - 1; i >= 0; i-- {
			e := entries[i]
			if !globMatch(c.Pattern, e.input) {
				continue
			}
			if c.Unique && seen[e.input] {
				continue
			}
			seen[e.input] = true
			selected = append([]historyEntry{e}, selected...)
			if c.N > 0 && len(selected) >= c.N {
				break
			}
		}
	default: // "tail"
		selected = entries
		if c.N > 0 && len(selected) > c.N {
			selected = selected[len(selected)-c.N:]
		}
	}
	history := make([]any, 0, len(selected))
	for _, e := range selected {
		if c.Output {
			history = append(history, []any{0, e.line, []any{e.input, nil}})
		} else {
			history = append(history, []any{0, e.line, e.input})
		}
	}
	return map[string]any{"status": "ok", "history": history}
}

// globMatch matches IPython-style history patterns: * is any text (slashes
// and newlines included), ? any one character; an empty pattern matches all.
func globMatch(pattern, s string) bool {
	if pattern == "" {
		return true
	}
	var re strings.Builder
	re.WriteString("(?s)^")
	for _, r := range pattern {
		switch r {
		case '*':
			re.WriteString(".*")
		case '?':
			re.WriteString(".")
		default:
			re.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	re.WriteString("$")
	ok, err := regexp.MatchString(re.String(), s)
	return err == nil && ok
}
