package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/go-zeromq/zmq4/transport"
)

// The frontend's sockets listen through a guarded TCP transport, registered
// with zmq4 under a name of its own. zmq4 trusts the wire: it allocates a
// frame's body at the size the frame header announces, before any signature
// is checked, so one unauthenticated header announcing a terabyte killed the
// kernel; and a PUB socket writes to its subscribers one after the other, so
// one subscriber that never reads stalled every frontend while the queue
// grew. Any local user can reach these loopback ports. The guard sits between
// zmq4 and the TCP connection:
//
//   - reading, it follows the ZMTP 3 framing (64-byte greeting, then frames:
//     a flags byte, a 1- or 8-byte size, the body) and drops the connection
//     when a frame, or a multi-frame message, announces more than the limit;
//   - writing, it queues what zmq4 writes and sends it from a goroutine of its
//     own, so a peer that does not read never blocks the kernel; when more
//     than the queue bound waits for one peer, that peer is disconnected.
//
// Both errors are reported to zmq4 as non-timeout network errors, so zmq4
// closes and forgets the connection; the socket goes on serving the others.

// Defaults for GuardLimits.
const (
	DefaultMaxMessageBytes = 1 << 30   // 1 GiB: more than any notebook output or request
	DefaultMaxQueuedBytes  = 256 << 20 // per peer: a viewer that lags by more is disconnected
)

// GuardLimits bound what one peer of the frontend's sockets may do.
type GuardLimits struct {
	// MaxMessageBytes bounds one incoming message (all its frames).
	MaxMessageBytes uint64
	// MaxQueuedBytes bounds the outgoing bytes waiting for one peer to read
	// them (a single message larger than it is still sent when nothing else waits).
	MaxQueuedBytes int
}

func (l GuardLimits) withDefaults() GuardLimits {
	if l.MaxMessageBytes == 0 {
		l.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if l.MaxQueuedBytes == 0 {
		l.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	return l
}

var (
	errMessageTooLarge = errors.New("a peer announced a message larger than the limit: connection dropped")
	errPeerTooSlow     = errors.New("a peer did not read what the kernel sent: connection dropped")
	guardedNetworks    sync.Map // GuardLimits -> registered network name
)

// guardedNetwork returns the zmq4 network name of the guarded transport with
// these limits, registering it the first time.
func guardedNetwork(l GuardLimits) (string, error) {
	if name, ok := guardedNetworks.Load(l); ok {
		return name.(string), nil
	}
	name := fmt.Sprintf("gorepro-tcp-%d-%d", l.MaxMessageBytes, l.MaxQueuedBytes)
	if err := zmq4.RegisterTransport(name, guardTransport{limits: l}); err != nil && !strings.Contains(err.Error(), "duplicate") {
		return "", fmt.Errorf("proxy: registering the guarded transport: %w", err)
	}
	guardedNetworks.Store(l, name)
	return name, nil
}

// guardTransport is TCP whose accepted connections are guarded.
type guardTransport struct{ limits GuardLimits }

func (g guardTransport) Dial(ctx context.Context, dialer transport.Dialer, addr string) (net.Conn, error) {
	c, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return newGuardedConn(c, g.limits), nil
}

func (g guardTransport) Listen(_ context.Context, addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return guardListener{l, g.limits}, nil
}

func (g guardTransport) Addr(ep string) (string, error) {
	if _, _, err := net.SplitHostPort(ep); err != nil {
		return "", fmt.Errorf("proxy: invalid endpoint %q: %w", ep, err)
	}
	return ep, nil
}

type guardListener struct {
	net.Listener
	limits GuardLimits
}

func (l guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newGuardedConn(c, l.limits), nil
}

// guardedConn is one guarded connection.
type guardedConn struct {
	net.Conn
	limits GuardLimits
	frames frameParser

	mu       sync.Mutex
	wake     *sync.Cond
	queue    [][]byte
	queued   int
	writeErr error
	closing  bool
	drained  chan struct{} // closed when the writer goroutine ends
}

func newGuardedConn(c net.Conn, l GuardLimits) *guardedConn {
	g := &guardedConn{Conn: c, limits: l, frames: frameParser{limit: l.MaxMessageBytes, greetingLeft: zmtpGreetingSize},
		drained: make(chan struct{})}
	g.wake = sync.NewCond(&g.mu)
	go g.writeLoop()
	return g
}

func (g *guardedConn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: g.LocalAddr(), Addr: g.RemoteAddr(), Err: err}
}

// Read passes the peer's bytes on after checking the frame sizes they announce.
func (g *guardedConn) Read(p []byte) (int, error) {
	n, err := g.Conn.Read(p)
	if n > 0 {
		if ferr := g.frames.feed(p[:n]); ferr != nil {
			g.Conn.Close()
			return 0, g.opError("read", ferr)
		}
	}
	return n, err
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
	if g.queued > 0 && g.queued+len(p) > g.limits.MaxQueuedBytes {
		g.writeErr = g.opError("write", errPeerTooSlow)
		g.queue, g.queued = nil, 0
		g.Conn.Close()
		g.wake.Broadcast()
		return 0, g.writeErr
	}
	g.queue = append(g.queue, append([]byte(nil), p...))
	g.queued += len(p)
	g.wake.Signal()
	return len(p), nil
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
		g.queue = g.queue[1:]
		g.mu.Unlock()
		_, err := g.Conn.Write(buf)
		g.mu.Lock()
		g.queued -= len(buf)
		if err != nil && g.writeErr == nil {
			g.writeErr = err
			g.queue, g.queued = nil, 0
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
	return g.Conn.Close()
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

// frameParser follows the ZMTP byte stream a peer sends and checks the size
// of each frame, and of each message (frames joined by the MORE flag),
// against limit as soon as the size is known: before the body is read.
type frameParser struct {
	limit        uint64
	greetingLeft int
	state        int // 0: flags byte, 1: size, 2: body
	flags        byte
	size         [8]byte
	sizeNeed     int
	sizeHave     int
	bodyLeft     uint64
	messageBytes uint64 // earlier frames of the message being read
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
			if size > f.limit || f.messageBytes+size > f.limit {
				return fmt.Errorf("%w (%d bytes announced, limit %d)", errMessageTooLarge, f.messageBytes+size, f.limit)
			}
			if f.flags&flagMore != 0 && f.flags&flagCommand == 0 {
				f.messageBytes += size
			} else {
				f.messageBytes = 0
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
