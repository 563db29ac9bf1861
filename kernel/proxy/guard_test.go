package proxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"
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

func TestFrameParser(t *testing.T) {
	greeting := bytes.Repeat([]byte{0x7f}, zmtpGreetingSize)
	big := bytes.Repeat([]byte("x"), 600)
	for _, tc := range []struct {
		name   string
		stream []byte
		limit  uint64
		fail   bool
	}{
		{"greeting only", greeting, 10, false},
		{"short frames", concat(greeting, frame(flagCommand, []byte("READY")), frame(0, []byte("hello"))), 10, false},
		{"long frame within the limit", concat(greeting, frame(0, big)), 1000, false},
		{"long frame over the limit", concat(greeting, frame(0, big)), 500, true},
		{"1 TiB announced", concat(greeting, announce(flagCommand, 1<<40)), 1 << 30, true},
		{"multi-frame message over the limit", concat(greeting, frame(flagMore, big), frame(0, big)), 1000, true},
		{"two messages each within the limit", concat(greeting, frame(flagMore, big[:300]), frame(0, big[:300]), frame(0, big)), 1000, false},
		{"size byte in the greeting is not a frame", concat(bytes.Repeat([]byte{0xff}, zmtpGreetingSize), frame(0, nil)), 1, false},
	} {
		// Fed whole, and one byte at a time (a TCP read may split anywhere).
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

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// A peer that never reads: Write never blocks, and past the bound the peer
// is disconnected with a non-timeout network error (zmq4 then drops it).
func TestGuardedConnSlowPeer(t *testing.T) {
	server, client := net.Pipe() // synchronous: nothing is buffered unless read
	defer client.Close()
	g := newGuardedConn(server, GuardLimits{MaxMessageBytes: 1 << 20, MaxQueuedBytes: 1 << 20})
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

// A peer that reads gets every byte, in order.
func TestGuardedConnDeliversInOrder(t *testing.T) {
	server, client := net.Pipe()
	g := newGuardedConn(server, GuardLimits{}.withDefaults())
	var want bytes.Buffer
	for i := range 200 {
		msg := bytes.Repeat([]byte{byte(i)}, 1000+i)
		want.Write(msg)
		if _, err := g.Write(msg); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]byte, want.Len())
	read := make(chan error, 1)
	go func() {
		_, err := ioReadFull(client, got)
		read <- err
	}()
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Error("bytes arrived out of order or changed")
	}
	g.Close()
	client.Close()
}

func ioReadFull(c net.Conn, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := c.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
