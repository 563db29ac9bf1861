package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// zmq4's PUB socket reads every connection's incoming messages: a
// one-frame message starting with 0 or 1 is an (un)subscription, kept in
// the connection's topic set; anything else goes into a 10-slot channel
// that nothing ever reads (pub.go pubQReader.listen), after which that
// connection's reader blocks forever holding one more message, up to the
// message limit each. So from a subscriber the guard passes on nothing but
// small subscriptions, and only so many bytes of them: everything else is
// read and thrown away as it streams in.

// maxSubscriptionFrame bounds one (un)subscription passed to zmq4 (a
// topic prefix; Jupyter frontends subscribe to "").
const maxSubscriptionFrame = 1 << 10

// maxSubscribedBytes bounds all the (un)subscriptions one connection may
// pass to zmq4, which keeps each distinct topic.
const maxSubscribedBytes = 64 << 10

var errTooManySubscriptions = errors.New("a subscriber sent more subscriptions than the limit: connection dropped")

// subFilter follows a subscriber's frames and keeps only subscriptions.
type subFilter struct {
	hdr        [9]byte
	hdrHave    int
	hdrNeed    int
	bodyLeft   uint64
	keep       bool   // the frame being read may be a subscription: it is buffered
	frame      []byte // the buffered frame, header included
	dropping   bool   // the frames up to one without MORE belong to a message thrown away
	subscribed int
}

// feed filters in, appending what zmq4 may read to out.
func (s *subFilter) feed(in, out []byte) ([]byte, error) {
	for len(in) > 0 {
		if s.bodyLeft == 0 && s.hdrNeed == 0 {
			// A frame header starts.
			s.hdr[0], in = in[0], in[1:]
			s.hdrHave, s.hdrNeed = 1, 2
			if s.hdr[0]&flagLong != 0 {
				s.hdrNeed = 9
			}
			continue
		}
		if s.hdrNeed > 0 {
			k := copy(s.hdr[s.hdrHave:s.hdrNeed], in)
			s.hdrHave += k
			in = in[k:]
			if s.hdrHave < s.hdrNeed {
				continue
			}
			flags, size := s.hdr[0], uint64(s.hdr[1])
			if s.hdrNeed == 9 {
				size = binary.BigEndian.Uint64(s.hdr[1:9])
			}
			s.keep = !s.dropping && flags&(flagMore|flagCommand) == 0 && size >= 1 && size <= maxSubscriptionFrame
			s.dropping = flags&flagMore != 0
			if s.keep {
				s.frame = append(s.frame[:0], s.hdr[:s.hdrNeed]...)
			}
			s.hdrNeed, s.bodyLeft = 0, size
			if size == 0 {
				continue
			}
		}
		k := min(uint64(len(in)), s.bodyLeft)
		if s.keep {
			s.frame = append(s.frame, in[:k]...)
		}
		in = in[k:]
		s.bodyLeft -= k
		if s.bodyLeft == 0 && s.keep {
			s.keep = false
			body := s.frame[headerLen(s.frame):]
			if body[0] == 0 || body[0] == 1 {
				s.subscribed += len(body)
				if s.subscribed > maxSubscribedBytes {
					return out, fmt.Errorf("%w (%d bytes)", errTooManySubscriptions, s.subscribed)
				}
				out = append(out, s.frame...)
			}
		}
	}
	return out, nil
}

func headerLen(frame []byte) int {
	if frame[0]&flagLong != 0 {
		return 9
	}
	return 2
}

// inboundFilter passes on the part of a peer's byte stream (after the
// handshake) that zmq4's socket may see.
type inboundFilter interface {
	feed(in, out []byte) ([]byte, error)
}

// filterFor returns the filter the local socket type needs (nil: none).
func filterFor(localType string) inboundFilter {
	switch localType {
	case "PUB", "XPUB":
		return &subFilter{}
	case "REP":
		return &repFilter{}
	}
	return nil
}

// readFiltered is Read for a connection with a filter; what passes is
// checked against the limits like any other connection's bytes.
func (g *guardedConn) readFiltered(p []byte) (int, error) {
	if g.scratch == nil {
		g.scratch = make([]byte, 32<<10)
	}
	for len(g.out) == 0 && g.readErr == nil {
		n, err := g.Conn.Read(g.scratch)
		if n > 0 {
			old := len(g.out)
			g.rmu.Lock()
			var ferr error
			if g.out, ferr = g.filter.feed(g.scratch[:n], g.out); ferr == nil {
				ferr = g.frames.feed(g.out[old:])
			}
			g.rmu.Unlock()
			if ferr != nil {
				g.drop(ferr)
				return 0, g.opError("read", ferr)
			}
		}
		if err != nil {
			g.readErr = err
			if !isTimeout(err) {
				g.release()
			}
		}
	}
	if len(g.out) == 0 {
		err := g.readErr
		g.readErr = nil
		return 0, err
	}
	n := copy(p, g.out)
	g.out = g.out[n:]
	if len(g.out) == 0 {
		g.out = nil
	}
	return n, nil
}
