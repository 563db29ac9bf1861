package proxy

import "encoding/binary"

// zmq4's REP socket (the heartbeat) fails Recv for a message that has no
// empty delimiter frame, and for a ZMTP command (PING, say), which it queues
// as a message; the kernel's heartbeat loop ended on that error, so one
// unauthenticated message stopped the heartbeat for every client. So the
// guard passes a REP socket only messages that start with an empty,
// non-command frame, as REQ peers send them; the rest is read and thrown
// away as it streams in.

// repFilter follows a REQ peer's frames and keeps only well-formed requests.
type repFilter struct {
	hdr       [9]byte
	hdrHave   int
	hdrNeed   int
	bodyLeft  uint64
	inMessage bool // the last frame had MORE
	pass      bool // the message being read goes to zmq4
}

func (r *repFilter) feed(in, out []byte) ([]byte, error) {
	for len(in) > 0 {
		if r.bodyLeft == 0 && r.hdrNeed == 0 {
			r.hdr[0], in = in[0], in[1:]
			r.hdrHave, r.hdrNeed = 1, 2
			if r.hdr[0]&flagLong != 0 {
				r.hdrNeed = 9
			}
			continue
		}
		if r.hdrNeed > 0 {
			k := copy(r.hdr[r.hdrHave:r.hdrNeed], in)
			r.hdrHave += k
			in = in[k:]
			if r.hdrHave < r.hdrNeed {
				continue
			}
			flags, size := r.hdr[0], uint64(r.hdr[1])
			if r.hdrNeed == 9 {
				size = binary.BigEndian.Uint64(r.hdr[1:9])
			}
			if !r.inMessage {
				r.pass = flags&flagCommand == 0 && size == 0
			}
			if r.pass {
				out = append(out, r.hdr[:r.hdrNeed]...)
			}
			r.inMessage = flags&flagMore != 0
			r.hdrNeed, r.bodyLeft = 0, size
			continue
		}
		k := min(uint64(len(in)), r.bodyLeft)
		if r.pass {
			out = append(out, in[:k]...)
		}
		in = in[k:]
		r.bodyLeft -= k
	}
	return out, nil
}
