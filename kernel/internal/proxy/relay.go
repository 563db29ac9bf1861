package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gorepro/gorepro/kernel/internal/wire"
)

// route remembers where a relayed request came from.
type route struct {
	identities [][]byte
	count      int // execution count assigned to an execute_request (0: none)
	// quiet drops GoNB's execute_input for the request: the frontend already
	// has the cell's (plugin-generated code, or a cell that waited for GoNB).
	quiet bool
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
		p.log.Error("forwarding to GoNB", "type", msg.Type(), "err", err)
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

// fromGoNB handles a message GoNB sent on one of its sockets.
func (p *Proxy) fromGoNB(g *gonbProcess, channel string, frames [][]byte) {
	msg, err := wire.Parse(frames, g.key)
	if err != nil {
		p.log.Warn(fmt.Sprintf("dropped a message from GoNB on %s: %v", channel, err))
		return
	}
	if strings.HasPrefix(msg.ParentID(), probePrefix) {
		// Replies to the proxy's own requests stay inside the proxy.
		p.onProbeReply(g, channel, msg)
		return
	}
	p.log.Debug("from GoNB", "channel", channel, "type", msg.Type(), "parent", msg.ParentID())
	p.mu.Lock()
	r, known := p.routes[msg.ParentID()]
	waiter := p.waiting[msg.ParentID()]
	p.mu.Unlock()
	switch msg.Type() {
	case "execute_input":
		if r.quiet {
			return
		}
		p.rewriteCount(msg, r.count)
	case "execute_result", "execute_reply":
		if r.count > 0 {
			p.rewriteCount(msg, r.count)
		}
	}
	switch channel {
	case "iopub":
		msg.Identities = [][]byte{[]byte(msg.Type())}
		if err := p.iopub.send(msg.Frames(p.key)); err != nil {
			p.log.Error("relaying to the frontend", "type", msg.Type(), "err", err)
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
			p.log.Warn(fmt.Sprintf("dropped GoNB's %s on %s: no request %q waiting for it", msg.Type(), channel, msg.ParentID()))
			return
		}
		msg.Identities = r.identities
		target := map[string]socket{"shell": p.shell, "control": p.control, "stdin": p.stdin}[channel]
		if err := target.send(msg.Frames(p.key)); err != nil {
			p.log.Error("relaying to the frontend", "type", msg.Type(), "err", err)
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
	p.log.Warn(reason.Error())
	p.launch()
	for _, w := range waiters {
		select { // non-blocking: each waiter needs one result
		case w <- execResult{died: reason}:
		default:
		}
	}
}
