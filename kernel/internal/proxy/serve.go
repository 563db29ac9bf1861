package proxy

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/gorepro/gorepro/kernel/internal/wire"
)

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
				p.log.Error(name+" socket", "err", err)
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
		p.log.Error("building "+msgType, "err", err)
		return
	}
	if err := s.send(reply.Frames(p.key)); err != nil {
		p.log.Error("sending "+msgType, "err", err)
	}
}

// publish sends an iopub message whose parent is req.
func (p *Proxy) publish(req *wire.Message, msgType string, content any) {
	m, err := wire.Reply(req, msgType, content)
	if err != nil {
		p.log.Error("building "+msgType, "err", err)
		return
	}
	m.Identities = [][]byte{[]byte(msgType)}
	if err := p.iopub.send(m.Frames(p.key)); err != nil {
		p.log.Error("publishing "+msgType, "err", err)
	}
}

func (p *Proxy) status(req *wire.Message, state string) {
	p.publish(req, "status", map[string]any{"execution_state": state})
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

// IsCompleteReply is the content of an is_complete_reply.
type IsCompleteReply struct {
	Status string `json:"status"`
	Indent string `json:"indent"`
}
