package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
)

func frame(flags byte, body []byte) []byte {
	if len(body) > 255 {
		hdr := make([]byte, 9)
		hdr[0] = flags | flagLong
		binary.BigEndian.PutUint64(hdr[1:], uint64(len(body)))
		return append(hdr, body...)
	}
	return append([]byte{flags, byte(len(body))}, body...)
}

func announce(flags byte, size uint64) []byte {
	hdr := make([]byte, 9)
	hdr[0] = flags | flagLong
	binary.BigEndian.PutUint64(hdr[1:], size)
	return hdr
}

func repeatFrames(n int, f []byte) []byte { return bytes.Repeat(f, n) }

func TestFrameParser(t *testing.T) {
	greeting := bytes.Repeat([]byte{0x7f}, zmtpGreetingSize)
	big := bytes.Repeat([]byte("x"), 600)
	const o = frameOverhead
	for _, tc := range []struct {
		name   string
		stream []byte
		limit  uint64
		fail   bool
	}{
		{"greeting only", greeting, 10, false},
		{"short frames", concat(greeting, frame(flagCommand, []byte("READY")), frame(0, []byte("hello"))), 5 + o, false},
		{"long frame within the limit", concat(greeting, frame(0, big)), 600 + o, false},
		{"long frame over the limit", concat(greeting, frame(0, big)), 500, true},
		{"frame over the limit once its overhead counts", concat(greeting, frame(0, big)), 600 + o - 1, true},
		{"1 TiB announced", concat(greeting, announce(flagCommand, 1<<40)), 1 << 30, true},
		{"2^64-1 announced", concat(greeting, announce(0, ^uint64(0))), 1 << 30, true},
		{"multi-frame message over the limit", concat(greeting, frame(flagMore, big), frame(0, big)), 1000, true},
		{"two messages each within the limit", concat(greeting, frame(flagMore, big[:300]), frame(0, big[:300]), frame(0, big)), 600 + 2*o, false},
		{"size byte in the greeting is not a frame", concat(bytes.Repeat([]byte{0xff}, zmtpGreetingSize), frame(0, nil)), o, false},
		// zmq4 appends a slice per frame while MORE is set: empty frames count.
		{"zero-length MORE frames", concat(greeting, repeatFrames(100, frame(flagMore, nil))), 50 * o, true},
		{"zero-length frames, each a message", concat(greeting, repeatFrames(100, frame(0, nil))), o, false},
		// zmq4 keeps collecting a message across a command frame with MORE.
		{"command frame with MORE continues the message", concat(greeting, frame(flagMore, big[:300]), frame(flagCommand|flagMore, nil), frame(0, big[:300])), 600 + 2*o, true},
		{"a command frame without MORE ends the message", concat(greeting, frame(flagMore, big[:300]), frame(flagCommand, nil), frame(0, big[:300])), 300 + 2*o, false},
	} {
		// Fed whole, and in small pieces (a TCP read may split anywhere).
		for _, chunk := range []int{len(tc.stream), 1, 7} {
			f := frameParser{limit: tc.limit, greetingLeft: zmtpGreetingSize}
			var err error
			for i := 0; i < len(tc.stream) && err == nil; i += chunk {
				err = f.feed(tc.stream[i:min(i+chunk, len(tc.stream))])
			}
			if got := err != nil; got != tc.fail {
				t.Errorf("%s (chunks of %d): error = %v, want failure %v", tc.name, chunk, err, tc.fail)
			}
			if err != nil && !errors.Is(err, errMessageTooLarge) {
				t.Errorf("%s: error %v is not errMessageTooLarge", tc.name, err)
			}
		}
	}
}

// The budget is charged as each frame is announced, keeps a complete
// message's charge until the next message starts, and is refunded when a
// connection ends.
func TestFrameParserBudget(t *testing.T) {
	const o = frameOverhead
	b := &inboundBudget{max: 1000 + 3*o}
	a := frameParser{limit: 1 << 20, budget: b}
	c := frameParser{limit: 1 << 20, budget: b}
	// a reads a whole 600-byte message: its charge stays (zmq4 may queue it).
	if err := a.feed(concat(frame(flagMore, make([]byte, 300)), frame(0, make([]byte, 300)))); err != nil {
		t.Fatal(err)
	}
	if got := b.used.Load(); got != 600+2*o {
		t.Fatalf("after a's message: %d bytes charged, want %d", got, 600+2*o)
	}
	// c announces 500 bytes: over what is left; refused before its body comes.
	err := c.feed(announce(0, 500))
	if !errors.Is(err, errInboundBudget) {
		t.Fatalf("c's 500-byte frame: error %v, want errInboundBudget", err)
	}
	if got := b.used.Load(); got != 600+2*o {
		t.Fatalf("a refused frame was charged: %d bytes in use", got)
	}
	// a's next message starts: its previous one is refunded.
	if err := a.feed(frame(0, make([]byte, 10))); err != nil {
		t.Fatal(err)
	}
	if got := b.used.Load(); got != 10+o {
		t.Fatalf("after a's second message: %d bytes charged, want %d", got, 10+o)
	}
	// A budget spent by a stream of empty MORE frames.
	d := frameParser{limit: 1 << 20, budget: b}
	err = d.feed(repeatFrames(100, frame(flagMore, nil)))
	if !errors.Is(err, errInboundBudget) {
		t.Fatalf("100 empty MORE frames against a %d-byte budget: error %v", b.max, err)
	}
	d.release()
	a.release()
	if got := b.used.Load(); got != 0 {
		t.Fatalf("after every connection ended: %d bytes still charged", got)
	}
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// A peer that never reads: Write never blocks, and past the bound the peer
// is disconnected with a non-timeout network error (zmq4 then drops it).
func TestGuardedConnSlowPeer(t *testing.T) {
	server, client := net.Pipe() // synchronous: nothing is buffered unless read
	defer client.Close()
	g := newGuardedConn(server, GuardLimits{MaxMessageBytes: 1 << 20, MaxQueuedBytes: 1 << 20}, nil)
	g.startWriter()
	defer g.Close()
	chunk := bytes.Repeat([]byte("y"), 64<<10)
	done := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < 100 && err == nil; i++ {
			_, err = g.Write(chunk)
		}
		done <- err
	}()
	select {
	case err := <-done:
		var netErr net.Error
		if !errors.As(err, &netErr) || netErr.Timeout() || !errors.Is(err, errPeerTooSlow) {
			t.Fatalf("writes to a peer that never reads ended with %v; want errPeerTooSlow as a non-timeout net.Error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Write blocked on a peer that never reads")
	}
}

// A peer that reads nothing within the write timeout is dropped, with a
// non-timeout error, though its queue is far from the bound.
func TestGuardedConnWriteTimeout(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	g := newGuardedConn(server, GuardLimits{WriteTimeout: 200 * time.Millisecond}, nil)
	g.startWriter()
	defer g.Close()
	if _, err := g.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	var err error
	for err == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		_, err = g.Write([]byte("ping"))
	}
	var netErr net.Error
	if !errors.As(err, &netErr) || netErr.Timeout() || !errors.Is(err, errWriteTimeout) {
		t.Fatalf("writes to a peer that reads nothing ended with %v; want errWriteTimeout as a non-timeout net.Error", err)
	}
	if g.queued != 0 || g.queue != nil {
		t.Errorf("the dropped peer's queue holds %d bytes", g.queued)
	}
}

// A peer that reads gets every byte, in order, however the writer chunks it.
func TestGuardedConnDeliversInOrder(t *testing.T) {
	server, client := net.Pipe()
	g := newGuardedConn(server, GuardLimits{}, nil)
	g.startWriter()
	var want bytes.Buffer
	for i := range 200 {
		msg := bytes.Repeat([]byte{byte(i)}, 1000+i*700)
		want.Write(msg)
		if _, err := g.Write(msg); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]byte, want.Len())
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Error("bytes arrived out of order or changed")
	}
	g.Close()
	client.Close()
}

// zmq4's greeting, once the guard sent it, is swallowed if identical and
// fails the connection otherwise.
func TestGuardedConnSwallowsGreeting(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	g := newGuardedConn(server, GuardLimits{}, nil)
	g.swallow = guardGreeting()
	g.startWriter()
	if n, err := g.Write(guardGreeting()); err != nil || n != zmtpGreetingSize {
		t.Fatalf("zmq4's greeting: %d, %v", n, err)
	}
	if _, err := g.Write([]byte("next")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(client, got); err != nil || string(got) != "next" {
		t.Fatalf("after the greeting the peer read %q, %v", got, err)
	}
	g.Close()

	server2, client2 := net.Pipe()
	defer client2.Close()
	g2 := newGuardedConn(server2, GuardLimits{}, nil)
	g2.swallow = guardGreeting()
	g2.startWriter()
	other := guardGreeting()
	other[32] = 1 // as-server
	if _, err := g2.Write(other); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Fatalf("a different greeting from zmq4: error %v", err)
	}
	g2.Close()
}

func TestParseReady(t *testing.T) {
	ready := func(props ...string) []byte {
		b := []byte("\x05READY")
		for i := 0; i+1 < len(props); i += 2 {
			b = append(b, byte(len(props[i])))
			b = append(b, props[i]...)
			b = binary.BigEndian.AppendUint32(b, uint32(len(props[i+1])))
			b = append(b, props[i+1]...)
		}
		return b
	}
	h, err := parseReady(ready("Socket-Type", "DEALER", "identity", "abc"))
	if err != nil || h.socketType != "DEALER" || h.identity != "abc" {
		t.Fatalf("parseReady = %+v, %v", h, err)
	}
	for _, bad := range [][]byte{nil, []byte("\x05HELLO"), append(ready("Identity", "abc"), 3, 'x'), ready("Identity", "abc")[:12]} {
		if _, err := parseReady(bad); err == nil {
			t.Errorf("parseReady(%q) accepted", bad)
		}
	}
}

func TestSubFilter(t *testing.T) {
	sub := frame(0, []byte("\x01"))
	subX := frame(0, []byte("\x01topic"))
	unsub := frame(0, []byte("\x00topic"))
	stream := concat(
		sub,
		frame(0, []byte("not a subscription")),
		frame(flagMore, []byte("\x01looks like one")), frame(0, []byte("\x01but is multi-frame")),
		frame(flagCommand, []byte("\x04PING")),
		frame(0, nil),
		frame(0, bytes.Repeat([]byte{1}, maxSubscriptionFrame+1)),
		announce(flagMore, 5000), make([]byte, 5000), frame(0, []byte("\x01end of a dropped message")),
		subX, unsub,
	)
	want := concat(sub, subX, unsub)
	for _, chunk := range []int{len(stream), 1, 5} {
		var s subFilter
		var out []byte
		var err error
		for i := 0; i < len(stream) && err == nil; i += chunk {
			out, err = s.feed(stream[i:min(i+chunk, len(stream))], out)
		}
		if err != nil || !bytes.Equal(out, want) {
			t.Errorf("chunks of %d: passed %q, %v; want %q", chunk, out, err, want)
		}
	}
	var s subFilter
	_, err := s.feed(repeatFrames(maxSubscribedBytes/100+1, frame(0, bytes.Repeat([]byte{1}, 100))), nil)
	if !errors.Is(err, errTooManySubscriptions) {
		t.Errorf("a flood of subscriptions: error %v", err)
	}
}

// --- zmq4 sockets on the guarded transport, over loopback ---

var quiet = zmq4.WithLogger(log.New(io.Discard, "", 0))

// listenGuarded starts a zmq4 socket listening on the guarded transport.
func listenGuarded(t *testing.T, s zmq4.Socket, limits GuardLimits) string {
	t.Helper()
	network, err := guardedNetwork(limits)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(network + "://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return "tcp://" + s.Addr().String()
}

// dialWithin dials s to ep, failing the test when it takes longer than d.
func dialWithin(t *testing.T, s zmq4.Socket, ep string, d time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Dial(ep) }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("dialing %s took more than %v", ep, d)
		return nil
	}
}

func recvWithin(s zmq4.Socket, d time.Duration) (zmq4.Msg, error) {
	type res struct {
		m   zmq4.Msg
		err error
	}
	done := make(chan res, 1)
	go func() {
		m, err := s.Recv()
		done <- res{m, err}
	}()
	select {
	case r := <-done:
		return r.m, r.err
	case <-time.After(d):
		return zmq4.Msg{}, context.DeadlineExceeded
	}
}

// echoRouter answers every message with "re:" + its last frame.
func echoRouter(t *testing.T, ctx context.Context, limits GuardLimits) string {
	r := zmq4.NewRouter(ctx, quiet)
	ep := listenGuarded(t, r, limits)
	go func() {
		for {
			m, err := r.Recv()
			if err != nil {
				return
			}
			last := m.Frames[len(m.Frames)-1]
			r.Send(zmq4.NewMsgFrom(m.Frames[0], append([]byte("re:"), last...)))
		}
	}()
	return ep
}

func roundTrip(t *testing.T, d zmq4.Socket, text string) {
	t.Helper()
	if err := d.Send(zmq4.NewMsgString(text)); err != nil {
		t.Fatal(err)
	}
	m, err := recvWithin(d, 5*time.Second)
	if err != nil || string(m.Frames[0]) != "re:"+text {
		t.Fatalf("reply to %q: %q, %v", text, m.Frames, err)
	}
}

// The guard runs the start of the handshake for zmq4: a zmq4 client gets
// through, both ways.
func TestGuardHandshakeWithZMQ4(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ep := echoRouter(t, ctx, GuardLimits{HandshakeTimeout: 2 * time.Second})
	d := zmq4.NewDealer(ctx, quiet)
	defer d.Close()
	if err := dialWithin(t, d, ep, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, d, "hello")
	roundTrip(t, d, strings.Repeat("z", 100000))
}

// A silent TCP connection does not keep later clients out, and is closed at
// the handshake deadline.
func TestSilentConnectionDoesNotBlockAccept(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ep := echoRouter(t, ctx, GuardLimits{HandshakeTimeout: time.Second})
	silent, err := net.Dial("tcp", strings.TrimPrefix(ep, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	time.Sleep(100 * time.Millisecond) // accepted first
	d := zmq4.NewDealer(ctx, quiet)
	defer d.Close()
	if err := dialWithin(t, d, ep, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, d, "after a silent connection")
	// The silent peer got the greeting, then its connection closed at the deadline.
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(silent)
	if err != nil || !bytes.Equal(got, guardGreeting()) {
		t.Errorf("the silent peer read %x, %v; want the greeting then EOF", got, err)
	}
}

// More connections than the cap are closed at once; a place frees when a
// connection ends.
func TestConnectionCap(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ep := echoRouter(t, ctx, GuardLimits{MaxConnections: 2, HandshakeTimeout: 5 * time.Second})
	addr := strings.TrimPrefix(ep, "tcp://")
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		greet := make([]byte, zmtpGreetingSize)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, greet); err != nil {
			t.Fatalf("an admitted connection got no greeting: %v", err)
		}
		held = append(held, c)
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetReadDeadline(time.Now().Add(3 * time.Second))
	if got, err := io.ReadAll(extra); err != nil || len(got) != 0 {
		t.Fatalf("a connection over the cap read %x, %v; want EOF at once", got, err)
	}
	held[0].Close()
	d := zmq4.NewDealer(ctx, quiet)
	defer d.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := dialWithin(t, d, ep, 5*time.Second); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("no place freed after a connection closed: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	roundTrip(t, d, "in the freed place")
}

// A second peer presenting a connected peer's identity is refused, and gets
// none of its replies; the identity is free again once its holder leaves.
func TestDuplicateIdentityRefused(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ep := echoRouter(t, ctx, GuardLimits{HandshakeTimeout: 2 * time.Second})
	id := zmq4.WithID(zmq4.SocketIdentity("session-abc"))
	first := zmq4.NewDealer(ctx, quiet, id)
	if err := dialWithin(t, first, ep, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, first, "one")
	second := zmq4.NewDealer(ctx, quiet, id, zmq4.WithDialerMaxRetries(0))
	defer second.Close()
	if err := dialWithin(t, second, ep, 5*time.Second); err == nil {
		// Refused after its READY: zmq4 may see the close only later.
		roundTrip(t, first, "two")
		if m, err := recvWithin(second, 500*time.Millisecond); err == nil {
			t.Fatalf("the duplicate peer received %q, meant for the first", m.Frames)
		}
	}
	first.Close()
	third := zmq4.NewDealer(ctx, quiet, id)
	defer third.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := dialWithin(t, third, ep, 5*time.Second); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the identity was not released when its holder left: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	roundTrip(t, third, "three")
}

// A subscriber's non-subscription messages are dropped before zmq4's PUB
// socket, which would otherwise queue them where nothing reads, then block
// that connection's reader: later subscriptions would never take effect.
func TestPubDropsSubscriberTraffic(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub := zmq4.NewPub(ctx, quiet)
	ep := listenGuarded(t, pub, GuardLimits{HandshakeTimeout: 2 * time.Second})
	c, err := net.Dial("tcp", strings.TrimPrefix(ep, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := concat([]byte("\x05READY\x0bSocket-Type"), binary.BigEndian.AppendUint32(nil, 3), []byte("SUB"))
	var msgs []byte
	for i := range 30 {
		msgs = append(msgs, frame(flagMore, []byte("junk"))...)
		msgs = append(msgs, frame(0, bytes.Repeat([]byte{byte(i)}, 1000))...)
	}
	if _, err := c.Write(concat(guardGreeting(), frame(flagCommand, body), msgs, frame(0, []byte("\x01news")))); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []byte
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			mu.Lock()
			got = append(got, buf[:n]...)
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		pub.Send(zmq4.NewMsgString("news: still subscribed"))
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		ok := bytes.Contains(got, []byte("news: still subscribed"))
		mu.Unlock()
		if ok {
			return
		}
	}
	t.Fatal("a subscription sent after 30 other messages did not take effect")
}

func TestRepFilter(t *testing.T) {
	good := concat(frame(flagMore, nil), frame(0, []byte("ping")))
	long := concat(frame(flagMore, nil), frame(0, bytes.Repeat([]byte("p"), 1000)))
	stream := concat(
		good,
		frame(0, []byte("no delimiter")),
		frame(flagCommand, []byte("\x04PING")),
		frame(flagMore, []byte("x")), frame(flagMore, nil), frame(0, []byte("delimiter not first")),
		long,
		frame(0, nil), // an empty request: valid
	)
	want := concat(good, long, frame(0, nil))
	for _, chunk := range []int{len(stream), 1, 3} {
		var r repFilter
		var out []byte
		for i := 0; i < len(stream); i += chunk {
			out, _ = r.feed(stream[i:min(i+chunk, len(stream))], out)
		}
		if !bytes.Equal(out, want) {
			t.Errorf("chunks of %d: passed %q; want %q", chunk, out, want)
		}
	}
}

// A request without a delimiter, or a command, made zmq4's REP fail Recv,
// which ended the kernel's heartbeat loop: the guard keeps them from it.
func TestRepSurvivesMalformedRequests(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rep := zmq4.NewRep(ctx, quiet)
	ep := listenGuarded(t, rep, GuardLimits{HandshakeTimeout: 2 * time.Second})
	go func() { // like the kernel's heartbeat: any error ends it
		for {
			m, err := rep.Recv()
			if err != nil {
				return
			}
			if err := rep.Send(m); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("tcp", strings.TrimPrefix(ep, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := concat([]byte("\x05READY\x0bSocket-Type"), binary.BigEndian.AppendUint32(nil, 3), []byte("REQ"))
	if _, err := c.Write(concat(guardGreeting(), frame(flagCommand, body), frame(0, []byte("oops")), frame(flagCommand, []byte("\x04PING")))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	req := zmq4.NewReq(ctx, quiet)
	defer req.Close()
	if err := dialWithin(t, req, ep, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := req.Send(zmq4.NewMsgString("beat")); err != nil {
		t.Fatal(err)
	}
	if m, err := recvWithin(req, 5*time.Second); err != nil || string(m.Frames[0]) != "beat" {
		t.Fatalf("after malformed requests from another peer, the echo was %q, %v", m.Frames, err)
	}
}
