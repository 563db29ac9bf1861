package proxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// zmq4 runs the ZMTP handshake of each accepted connection inline in its
// accept loop, without a deadline, so one silent connection kept every
// later client out. The guard's listener accepts in a goroutine of its own
// and runs the start of the handshake per connection, with a deadline:
// it writes the greeting zmq4 would write (zmq4 writes it first, and libzmq
// peers wait for it after their 10-byte signature), reads the peer's
// greeting and its first frame, the READY command, and only then hands the
// connection to zmq4's Accept. zmq4 then reads those bytes again from the
// connection, and its own greeting, byte-identical, is swallowed.

// maxReadyBytes bounds the peer's READY command: a socket type and an
// identity (at most 255 bytes) and a few properties.
const maxReadyBytes = 64 << 10

// guardGreeting is the greeting zmq4 v0.17.0 sends (conn.go greet):
// signature 0xff, 8 zero bytes, 0x7f; version 3.0 (protocol.go
// majorVersion, minorVersion); mechanism "NULL" zero-padded to 20 bytes;
// as-server 0; 31 zero bytes.
func guardGreeting() []byte {
	g := make([]byte, zmtpGreetingSize)
	g[0], g[9] = 0xff, 0x7f
	g[10], g[11] = 3, 0
	copy(g[12:32], "NULL")
	return g
}

var errHandshake = errors.New("proxy: bad ZMTP handshake")

// peerHello is what the guard learned from a peer's READY command.
type peerHello struct {
	socketType string
	identity   string
}

// prestage runs the start of the handshake on c: it returns the bytes the
// peer sent (greeting and READY frame), for zmq4 to read again.
func prestage(c net.Conn) ([]byte, peerHello, error) {
	var hello peerHello
	if _, err := c.Write(guardGreeting()); err != nil {
		return nil, hello, err
	}
	buf := make([]byte, zmtpGreetingSize, zmtpGreetingSize+256)
	if _, err := io.ReadFull(c, buf); err != nil {
		return nil, hello, err
	}
	mine := guardGreeting()
	switch {
	case buf[0] != 0xff || buf[9] != 0x7f:
		return nil, hello, fmt.Errorf("%w: not a ZMTP 3 signature", errHandshake)
	case buf[10] < 3:
		return nil, hello, fmt.Errorf("%w: ZMTP version %d.%d", errHandshake, buf[10], buf[11])
	case !bytes.Equal(buf[12:32], mine[12:32]):
		return nil, hello, fmt.Errorf("%w: security mechanism %q (NULL only)", errHandshake, strings.TrimRight(string(buf[12:32]), "\x00"))
	}
	var hdr [9]byte
	if _, err := io.ReadFull(c, hdr[:2]); err != nil {
		return nil, hello, err
	}
	flags, size := hdr[0], uint64(hdr[1])
	hlen := 2
	if flags&flagLong != 0 {
		if _, err := io.ReadFull(c, hdr[2:9]); err != nil {
			return nil, hello, err
		}
		size, hlen = binary.BigEndian.Uint64(hdr[1:9]), 9
	}
	if flags&flagCommand == 0 || flags&flagMore != 0 {
		return nil, hello, fmt.Errorf("%w: the first frame is not a command (flags %#x)", errHandshake, flags)
	}
	if size > maxReadyBytes {
		return nil, hello, fmt.Errorf("%w: a %d-byte first command (at most %d)", errHandshake, size, maxReadyBytes)
	}
	buf = append(buf, hdr[:hlen]...)
	start := len(buf)
	buf = append(buf, make([]byte, size)...)
	if _, err := io.ReadFull(c, buf[start:]); err != nil {
		return nil, hello, err
	}
	hello, err := parseReady(buf[start:])
	return buf, hello, err
}

// parseReady reads a ZMTP 3 READY command: a name-length byte, "READY",
// then properties: a 1-byte name length, the name, a 4-byte big-endian
// value length, the value. Names are case-insensitive; a later property
// wins, as in zmq4's Metadata.
func parseReady(b []byte) (peerHello, error) {
	var hello peerHello
	if len(b) < 6 || b[0] != 5 || string(b[1:6]) != "READY" {
		return hello, fmt.Errorf("%w: the first command is not READY", errHandshake)
	}
	for b = b[6:]; len(b) > 0; {
		nlen := int(b[0])
		if len(b) < 1+nlen+4 {
			return hello, fmt.Errorf("%w: truncated READY property", errHandshake)
		}
		name := string(b[1 : 1+nlen])
		vlen := binary.BigEndian.Uint32(b[1+nlen:])
		b = b[1+nlen+4:]
		if uint64(vlen) > uint64(len(b)) {
			return hello, fmt.Errorf("%w: truncated READY property %q", errHandshake, name)
		}
		value := string(b[:vlen])
		b = b[vlen:]
		switch {
		case strings.EqualFold(name, "Identity"):
			hello.identity = value
		case strings.EqualFold(name, "Socket-Type"):
			hello.socketType = value
		}
	}
	return hello, nil
}

// guardListener accepts TCP connections in a goroutine of its own and hands
// zmq4 only those that completed the start of the handshake.
type guardListener struct {
	tcp       net.Listener
	t         *guardTransport
	ready     chan *guardedConn
	done      chan struct{}
	closeOnce sync.Once

	mu    sync.Mutex
	conns int             // handshaking or live: at most t.limits.MaxConnections
	ids   map[string]bool // identities of live connections
}

func newGuardListener(tcp net.Listener, t *guardTransport) *guardListener {
	l := &guardListener{tcp: tcp, t: t, ready: make(chan *guardedConn), done: make(chan struct{}), ids: map[string]bool{}}
	go l.acceptLoop()
	return l
}

// Accept returns the next connection whose handshake the guard started.
func (l *guardListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.tcp.Addr(), Err: net.ErrClosed}
	}
}

// Close stops accepting; connections zmq4 holds are zmq4's to close.
func (l *guardListener) Close() error {
	err := net.ErrClosed
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.tcp.Close()
	})
	return err
}

// Addr is the listening address.
func (l *guardListener) Addr() net.Addr { return l.tcp.Addr() }

func (l *guardListener) acceptLoop() {
	for {
		c, err := l.tcp.Accept()
		if err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				l.Close()
				return
			}
			time.Sleep(10 * time.Millisecond) // out of descriptors, say: let some close
			continue
		}
		if !l.admit() {
			c.Close()
			continue
		}
		go l.handshake(c)
	}
}

// admit counts a new connection in, if the cap allows.
func (l *guardListener) admit() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns >= l.t.limits.MaxConnections {
		return false
	}
	l.conns++
	return true
}

// claim records a live connection's identity; false when a live connection
// already holds it. zmq4's ROUTER sends a reply to every connection with the
// target identity, so a duplicate would receive another client's replies;
// libzmq refuses duplicates too.
func (l *guardListener) claim(id string) bool {
	if id == "" {
		return true // zmq4 gives it a random identity
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ids[id] {
		return false
	}
	l.ids[id] = true
	return true
}

// leave forgets a connection that ended.
func (l *guardListener) leave(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conns--
	if id != "" {
		delete(l.ids, id)
	}
}

func (l *guardListener) handshake(c net.Conn) {
	limits := l.t.limits.withDefaults()
	deadline := time.Now().Add(limits.HandshakeTimeout)
	c.SetDeadline(deadline)
	pre, hello, err := prestage(c)
	if err == nil && !l.claim(hello.identity) {
		err = fmt.Errorf("%w: identity %q is already connected", errHandshake, hello.identity)
		hello.identity = ""
	}
	if err != nil {
		c.Close()
		l.leave("")
		return
	}
	c.SetDeadline(time.Time{})
	g := newGuardedConn(c, limits, l.t.budget)
	g.pre, g.swallow, g.learnLocal = pre, guardGreeting(), true
	id := hello.identity
	g.onRelease = func() { l.leave(id) }
	g.startWriter()
	// zmq4 leaves a connection it refused during its handshake open: one it
	// has not adopted by then is dropped, so it holds no place and no identity.
	time.AfterFunc(time.Until(deadline)+limits.HandshakeTimeout, func() {
		if !g.adopted.Load() {
			g.drop(errNotAdopted)
		}
	})
	select {
	case l.ready <- g:
	case <-l.done:
		g.drop(net.ErrClosed)
	case <-time.After(time.Until(deadline)):
		g.drop(errNotAdopted)
	}
}
