package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/go-zeromq/zmq4/transport"
)

// The frontend's sockets listen through a guarded TCP transport, registered
// with zmq4 under a name of its own. zmq4 trusts the wire: it allocates a
// frame's body at the size the frame header announces, before any signature
// is checked, and appends a slice header per frame while a message goes on,
// so one unauthenticated peer could make the kernel allocate without bound;
// it runs the ZMTP handshake inline in its accept loop, so one silent TCP
// connection blocked every later client; its ROUTER sends a reply to every
// connection presenting the target identity; and a PUB socket writes to its
// subscribers one after the other, so one subscriber that never reads
// stalled every frontend. Any local user can reach these loopback ports. The
// guard sits between zmq4 and the TCP connections:
//
//   - accepting, it runs the start of the handshake itself, in a goroutine
//     per connection with a deadline (guard_handshake.go): it sends the
//     greeting zmq4 would send, reads the peer's greeting and READY command,
//     refuses an identity already connected on that port, and only then
//     hands the connection to zmq4, which finds those bytes replayed; the
//     number of connections (handshaking or live) per port is capped;
//   - reading, it follows the ZMTP 3 framing (frames: a flags byte, a 1- or
//     8-byte size, the body) and drops the connection when a message (all
//     its frames, each also counted at frameOverhead) announces more than
//     the per-message limit, or when the bytes all guarded connections of
//     the transport may be holding would exceed the total inbound budget;
//     from subscribers (iopub) it passes on nothing but subscriptions
//     (guard_pub.go);
//   - writing, it queues what zmq4 writes and sends it from a goroutine of its
//     own, in chunks with a write deadline, so a peer that does not read
//     never blocks the kernel; when more than the queue bound waits for one
//     peer, or one chunk waits longer than the write timeout, that peer is
//     disconnected and its queue freed.
//
// All these errors are reported to zmq4 as non-timeout network errors, so zmq4
// closes and forgets the connection; the socket goes on serving the others.

// Defaults for GuardLimits.
const (
	// DefaultMaxMessageBytes bounds one incoming message, like libzmq's
	// ZMQ_MAXMSGSIZE: more than any request a frontend sends (code, comm
	// messages with buffers), small enough that a few peers at the limit
	// cannot exhaust the machine.
	DefaultMaxMessageBytes = 128 << 20
	// DefaultMaxQueuedBytes bounds the output waiting for one peer. 64 MiB
	// holds far more than a frontend ever lags by (a viewer reading at all
	// drains it within seconds on loopback) while five sockets' worth of
	// stalled peers stay a bounded share of memory.
	DefaultMaxQueuedBytes = 64 << 20
	// DefaultMaxInboundBytes bounds what all guarded connections together may
	// make zmq4 hold of incoming messages.
	DefaultMaxInboundBytes = 512 << 20
	// DefaultMaxConnections bounds the connections (handshaking or live) one
	// listening socket accepts; a notebook server holds one or two per socket.
	DefaultMaxConnections = 64
	// DefaultWriteTimeout bounds how long one chunk of output may wait for a
	// peer to read it.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultHandshakeTimeout bounds how long a new connection may take to
	// send its greeting and READY command, and zmq4 to adopt it.
	DefaultHandshakeTimeout = 10 * time.Second
)

// frameOverhead is what each frame is counted at on top of its body, so that
// a flood of empty frames, which has no body to count, is bounded like a
// flood of bytes. zmq4 keeps a 24-byte slice header per frame in a slice
// that grows by copying (old and new arrays both live meanwhile: up to about
// 54 bytes per frame), a ROUTER copies that slice once more to prepend the
// identity (24 more), and the garbage collector lets the heap reach about
// twice what is live before it collects. Measured on the kernel: 2M empty
// frames (64 bytes each against 128 MiB) grew it by 160 MiB; 1M frames at
// 128 bytes each grow it by about 85 MiB, below the bytes counted.
const frameOverhead = 128

// writeChunk is how much the writer sends under one write deadline: a peer
// reading slowly but steadily is never cut off, one that stops is found
// within the write timeout.
const writeChunk = 64 << 10

// GuardLimits bound what the peers of the frontend's sockets may do (zero
// fields: the defaults above).
type GuardLimits struct {
	// MaxMessageBytes bounds one incoming message (all its frames, each
	// counted at its size plus frameOverhead).
	MaxMessageBytes uint64
	// MaxQueuedBytes bounds the outgoing bytes waiting for one peer to read
	// them (a single message larger than it is still sent when nothing else waits).
	MaxQueuedBytes int
	// MaxInboundBytes bounds the incoming messages all connections of the
	// transport together may be reading or have zmq4 hold.
	MaxInboundBytes uint64
	// MaxConnections bounds the connections of one listening socket.
	MaxConnections int
	// WriteTimeout bounds how long one chunk of output may wait for its peer.
	WriteTimeout time.Duration
	// HandshakeTimeout bounds a new connection's handshake.
	HandshakeTimeout time.Duration
}

func (l GuardLimits) withDefaults() GuardLimits {
	if l.MaxMessageBytes == 0 {
		l.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if l.MaxQueuedBytes == 0 {
		l.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	if l.MaxInboundBytes == 0 {
		l.MaxInboundBytes = DefaultMaxInboundBytes
	}
	if l.MaxConnections == 0 {
		l.MaxConnections = DefaultMaxConnections
	}
	if l.WriteTimeout == 0 {
		l.WriteTimeout = DefaultWriteTimeout
	}
	if l.HandshakeTimeout == 0 {
		l.HandshakeTimeout = DefaultHandshakeTimeout
	}
	return l
}

var (
	errMessageTooLarge = errors.New("a peer announced a message larger than the limit: connection dropped")
	errInboundBudget   = errors.New("the kernel's inbound memory budget is spent: connection dropped")
	errPeerTooSlow     = errors.New("a peer did not read what the kernel sent: connection dropped")
	errWriteTimeout    = errors.New("a peer read nothing within the write timeout: connection dropped")
	errNotAdopted      = errors.New("zmq4 did not take the connection after its handshake: connection dropped")

	guardedMu       sync.Mutex
	guardedNetworks = map[GuardLimits]string{} // registered network name, by limits
)

// guardedNetwork returns the zmq4 network name of the guarded transport with
// these limits, registering it the first time. All sockets listening on one
// name share its inbound budget.
func guardedNetwork(l GuardLimits) (string, error) {
	guardedMu.Lock()
	defer guardedMu.Unlock()
	if name, ok := guardedNetworks[l]; ok {
		return name, nil
	}
	name := fmt.Sprintf("gorepro-tcp-%d", len(guardedNetworks)+1)
	full := l.withDefaults()
	t := &guardTransport{limits: full, budget: &inboundBudget{max: full.MaxInboundBytes}}
	if err := zmq4.RegisterTransport(name, t); err != nil {
		return "", fmt.Errorf("proxy: registering the guarded transport: %w", err)
	}
	guardedNetworks[l] = name
	return name, nil
}

// inboundBudget is the incoming bytes all connections of a transport may
// hold at once.
type inboundBudget struct {
	max  uint64
	used atomic.Uint64
}

// charge takes n bytes from the budget; false (and nothing taken) when they
// are not there.
func (b *inboundBudget) charge(n uint64) bool {
	if b == nil {
		return true
	}
	for {
		used := b.used.Load()
		if used+n > b.max || used+n < used {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

func (b *inboundBudget) release(n uint64) {
	if b != nil && n > 0 {
		b.used.Add(^(n - 1))
	}
}

// guardTransport is TCP whose connections are guarded.
type guardTransport struct {
	limits GuardLimits
	budget *inboundBudget
}

// Dial connects to a guarded peer (the kernel only listens; this keeps the
// transport complete). The greeting goes through zmq4 unchanged.
func (g *guardTransport) Dial(ctx context.Context, dialer transport.Dialer, addr string) (net.Conn, error) {
	c, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	gc := newGuardedConn(c, g.limits, g.budget)
	gc.frames.greetingLeft = zmtpGreetingSize
	gc.adopted.Store(true)
	gc.startWriter()
	return gc, nil
}

// Listen listens on TCP and hands zmq4 only connections that completed the
// start of the handshake (see guardListener).
func (g *guardTransport) Listen(_ context.Context, addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return newGuardListener(l, g), nil
}

// Addr checks an endpoint's host:port.
func (g *guardTransport) Addr(ep string) (string, error) {
	if _, _, err := net.SplitHostPort(ep); err != nil {
		return "", fmt.Errorf("proxy: invalid endpoint %q: %w", ep, err)
	}
	return ep, nil
}

// guardedConn is one guarded connection.
type guardedConn struct {
	net.Conn
	limits GuardLimits

	// Read side: only zmq4's reading goroutine reads; rmu guards the parser
	// against release from another goroutine.
	rmu     sync.Mutex
	frames  frameParser
	filter  inboundFilter // non-nil: what of the peer's messages zmq4's socket may see (set under rmu)
	pre     []byte        // the peer's greeting and READY, read by the guard, replayed to zmq4
	out     []byte        // filtered bytes zmq4 has not read yet (subscribers)
	readErr error         // an error to report once out is read
	scratch []byte

	learnLocal  bool        // zmq4's READY, yet to be written, names the local socket type (guarded by mu)
	adopted     atomic.Bool // zmq4 read past the handshake: its socket owns the connection
	onRelease   func()      // the listener's bookkeeping, run once when the connection ends
	releaseOnce sync.Once

	mu       sync.Mutex
	wake     *sync.Cond
	swallow  []byte // the rest of the greeting the guard sent for zmq4, expected from zmq4's first writes
	queue    [][]byte
	queued   int
	writeErr error
	closing  bool
	drained  chan struct{} // closed when the writer goroutine ends
}

func newGuardedConn(c net.Conn, l GuardLimits, budget *inboundBudget) *guardedConn {
	l = l.withDefaults()
	g := &guardedConn{Conn: c, limits: l, frames: frameParser{limit: l.MaxMessageBytes, budget: budget},
		drained: make(chan struct{})}
	g.wake = sync.NewCond(&g.mu)
	return g
}

func (g *guardedConn) startWriter() { go g.writeLoop() }

func (g *guardedConn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: g.LocalAddr(), Addr: g.RemoteAddr(), Err: err}
}

// release returns what the connection holds (its inbound charge, its place
// in the listener's count, its identity), once.
func (g *guardedConn) release() {
	g.releaseOnce.Do(func() {
		g.rmu.Lock()
		g.frames.release()
		g.frames.budget = nil // a read racing the close charges nothing more
		g.rmu.Unlock()
		if g.onRelease != nil {
			g.onRelease()
		}
	})
}

// drop ends the connection for err: writes fail from now on, the peer sees
// the connection close, zmq4's read fails.
func (g *guardedConn) drop(err error) {
	g.mu.Lock()
	g.dropLocked(g.opError("write", err))
	g.mu.Unlock()
	g.release()
}

func (g *guardedConn) dropLocked(err error) {
	if g.writeErr == nil {
		g.writeErr = err
	}
	g.queue, g.queued = nil, 0
	g.Conn.Close()
	g.wake.Broadcast()
}

// Read replays the handshake the guard read, then passes the peer's bytes on
// after checking the frame sizes they announce.
func (g *guardedConn) Read(p []byte) (int, error) {
	if len(g.pre) > 0 {
		n := copy(p, g.pre)
		g.pre = g.pre[n:]
		return n, nil
	}
	// Once the handshake is replayed, only a socket that adopted the
	// connection reads on: zmq4 leaves a connection whose handshake it
	// refused open and unread.
	g.adopted.Store(true)
	g.rmu.Lock()
	filtered := g.filter != nil
	g.rmu.Unlock()
	if filtered {
		return g.readFiltered(p)
	}
	n, err := g.Conn.Read(p)
	if n > 0 {
		g.rmu.Lock()
		ferr := g.frames.feed(p[:n])
		g.rmu.Unlock()
		if ferr != nil {
			g.drop(ferr)
			return 0, g.opError("read", ferr)
		}
	}
	if err != nil && !isTimeout(err) {
		g.release()
	}
	return n, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Write queues p for the writer goroutine; it never waits for the peer.
func (g *guardedConn) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.writeErr != nil {
		return 0, g.writeErr
	}
	if g.closing {
		return 0, g.opError("write", net.ErrClosed)
	}
	written := 0
	if len(g.swallow) > 0 {
		// zmq4 sends its greeting; the guard already sent this very greeting.
		k := min(len(p), len(g.swallow))
		if !bytes.Equal(p[:k], g.swallow[:k]) {
			err := g.opError("write", fmt.Errorf("proxy: zmq4's ZMTP greeting %x differs from the one the guard sent for it (%x): "+
				"the guard does not match this zmq4 version; connection dropped", p[:k], g.swallow[:k]))
			g.dropLocked(err)
			go g.release()
			return 0, err
		}
		g.swallow = g.swallow[k:]
		p, written = p[k:], k
		if len(p) == 0 {
			return written, nil
		}
	}
	if g.learnLocal && bytes.HasPrefix(p, []byte("\x05READY")) {
		// zmq4's READY body, written before it reads the peer's READY: the
		// socket type says which inbound traffic that socket mishandles.
		g.learnLocal = false
		if hello, err := parseReady(p); err == nil {
			g.rmu.Lock()
			g.filter = filterFor(hello.socketType)
			g.rmu.Unlock()
		}
	}
	if g.queued > 0 && g.queued+len(p) > g.limits.MaxQueuedBytes {
		g.dropLocked(g.opError("write", errPeerTooSlow))
		go g.release()
		return 0, g.writeErr
	}
	g.queue = append(g.queue, append([]byte(nil), p...))
	g.queued += len(p)
	g.wake.Signal()
	return written + len(p), nil
}

func (g *guardedConn) writeLoop() {
	defer close(g.drained)
	for {
		g.mu.Lock()
		for len(g.queue) == 0 && !g.closing && g.writeErr == nil {
			g.wake.Wait()
		}
		if len(g.queue) == 0 || g.writeErr != nil {
			g.mu.Unlock()
			return
		}
		buf := g.queue[0]
		g.queue[0] = nil
		g.queue = g.queue[1:]
		g.mu.Unlock()
		var err error
		for off := 0; off < len(buf) && err == nil; {
			end := min(off+writeChunk, len(buf))
			g.Conn.SetWriteDeadline(time.Now().Add(g.limits.WriteTimeout))
			var n int
			n, err = g.Conn.Write(buf[off:end])
			off += n
		}
		g.mu.Lock()
		g.queued -= len(buf)
		if err != nil {
			if isTimeout(err) {
				// A timeout would leave zmq4 holding the connection: report a
				// plain network error, and close so that zmq4's read ends too.
				err = g.opError("write", errWriteTimeout)
			}
			g.dropLocked(err)
			g.mu.Unlock()
			g.release()
			return
		}
		g.mu.Unlock()
	}
}

// Close sends what is queued (for at most a second: a shutdown reply must
// leave), then closes the connection.
func (g *guardedConn) Close() error {
	g.mu.Lock()
	g.closing = true
	g.wake.Broadcast()
	g.mu.Unlock()
	select {
	case <-g.drained:
	case <-time.After(time.Second):
	}
	err := g.Conn.Close()
	g.release()
	return err
}

// zmtpGreetingSize is the length of a ZMTP 3.x greeting: signature (10),
// version (2), mechanism (20), as-server (1), filler (31).
const zmtpGreetingSize = 64

// ZMTP frame flags (RFC 23/ZMTP).
const (
	flagMore    = 0x01
	flagLong    = 0x02
	flagCommand = 0x04
)

// frameParser follows the ZMTP byte stream a peer sends and checks each
// message (frames joined by the MORE flag, command frames included: zmq4
// keeps collecting while MORE is set) against limit, and charges it to the
// shared budget, as soon as each frame's size is known: before zmq4
// allocates its body.
type frameParser struct {
	limit        uint64
	budget       *inboundBudget // nil: no shared budget
	greetingLeft int
	state        int // 0: flags byte, 1: size, 2: body
	flags        byte
	size         [8]byte
	sizeNeed     int
	sizeHave     int
	bodyLeft     uint64
	inMessage    bool   // the last frame had MORE: the next one continues its message
	messageBytes uint64 // counted so far for the message being read
	// charged is taken from budget for the message being read, or else for
	// the last complete one, which zmq4 may still hold in its queue: it is
	// given back when the next message starts or the connection ends.
	charged uint64
}

func (f *frameParser) feed(b []byte) error {
	for len(b) > 0 {
		if f.greetingLeft > 0 {
			k := min(len(b), f.greetingLeft)
			f.greetingLeft -= k
			b = b[k:]
			continue
		}
		switch f.state {
		case 0:
			f.flags, b = b[0], b[1:]
			f.sizeNeed, f.sizeHave = 1, 0
			if f.flags&flagLong != 0 {
				f.sizeNeed = 8
			}
			f.state = 1
		case 1:
			k := copy(f.size[f.sizeHave:f.sizeNeed], b)
			f.sizeHave += k
			b = b[k:]
			if f.sizeHave < f.sizeNeed {
				continue
			}
			size := uint64(f.size[0])
			if f.sizeNeed == 8 {
				size = binary.BigEndian.Uint64(f.size[:])
			}
			if err := f.frame(size); err != nil {
				return err
			}
			f.bodyLeft, f.state = size, 2
			if size == 0 {
				f.state = 0
			}
		case 2:
			k := min(uint64(len(b)), f.bodyLeft)
			f.bodyLeft -= k
			b = b[k:]
			if f.bodyLeft == 0 {
				f.state = 0
			}
		}
	}
	return nil
}

// frame counts a frame whose header announced size body bytes.
func (f *frameParser) frame(size uint64) error {
	if !f.inMessage {
		// A new message: zmq4's reader has handed the previous one on.
		f.release()
		f.messageBytes = 0
	}
	if size > f.limit || f.messageBytes+size+frameOverhead > f.limit {
		return fmt.Errorf("%w (%d bytes counted, limit %d)", errMessageTooLarge, f.messageBytes+min(size, f.limit)+frameOverhead, f.limit)
	}
	cost := size + frameOverhead
	if !f.budget.charge(cost) {
		return fmt.Errorf("%w (%d bytes in use, %d more asked, budget %d)", errInboundBudget, f.budget.used.Load(), cost, f.budget.max)
	}
	f.charged += cost
	f.messageBytes += cost
	f.inMessage = f.flags&flagMore != 0
	return nil
}

// release gives the connection's charge back to the budget.
func (f *frameParser) release() {
	f.budget.release(f.charged)
	f.charged = 0
}
