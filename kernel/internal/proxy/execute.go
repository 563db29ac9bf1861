package proxy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/gorepro/gorepro/kernel/internal/wire"
	"github.com/gorepro/gorepro/kernel/plugin"
)

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
		p.log.Error("building execute_reply", "err", err)
		return
	}
	reply.Metadata = []byte(`{"status":"aborted"}`)
	if err := p.shell.send(reply.Frames(p.key)); err != nil {
		p.log.Error("sending execute_reply", "err", err)
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
		p.history.add(msg.Session(), count, c.Code)
	} else {
		count = p.execCount
	}
	p.mu.Unlock()

	cell, isPlugin, parseErr := plugin.ParseCell(c.Code)
	if isPlugin && plugin.IsGoNBForm(cell.Name) {
		isPlugin = false
	}
	p.log.Debug("execute_request", "msg_id", msg.ID(), "count", count, "plugin", isPlugin, "silent", c.Silent)
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
			resp, err = plugin.RunExternal(ctx, path, req, 0)
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
		p.log.Error("building execute_reply", "err", err)
		return
	}
	if err := p.shell.send(m.Frames(p.key)); err != nil {
		p.log.Error("sending execute_reply", "err", err)
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
// is dropped: the frontend already has the cell's.
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
	p.mu.Lock()
	_, inFlight := p.routes[msg.ID()]
	if !inFlight {
		p.routes[msg.ID()] = route{identities: msg.Identities, count: count, quiet: quiet}
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
