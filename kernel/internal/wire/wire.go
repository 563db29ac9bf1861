// Package wire reads and writes Jupyter messages as they travel on ZeroMQ
// sockets (messaging protocol v5.x): routing identities, the `<IDS|MSG>`
// delimiter, an HMAC-SHA256 signature, then four JSON frames (header, parent
// header, metadata, content) and optional binary buffers.
//
// The JSON frames are kept as raw bytes, so a relayed message keeps its
// parent header and content exactly as they came; only what a caller changes
// is re-encoded. Every parse verifies the signature first.
package wire

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// signatureHexLen is the length of a signature frame: HMAC-SHA256 in hex.
const signatureHexLen = 2 * sha256.Size

// Delimiter separates routing identities from the message.
const Delimiter = "<IDS|MSG>"

// ProtocolVersion is the messaging protocol version of messages we create.
const ProtocolVersion = "5.3"

// Errors returned by Parse.
var (
	ErrNoDelimiter  = errors.New("wire: no <IDS|MSG> delimiter")
	ErrShort        = errors.New("wire: fewer than 5 frames after the delimiter")
	ErrBadSignature = errors.New("wire: bad HMAC signature")
	ErrBadHeader    = errors.New("wire: header is not a JSON object with msg_id and msg_type")
	ErrReplay       = errors.New("wire: a message with this signature was seen before (replayed)")
)

// Header is a message header (and parent header).
type Header struct {
	MsgID    string `json:"msg_id"`
	Session  string `json:"session"`
	Username string `json:"username"`
	Date     string `json:"date"`
	MsgType  string `json:"msg_type"`
	Version  string `json:"version"`
}

// Message is one Jupyter message.
type Message struct {
	// Identities are the ZeroMQ routing frames before the delimiter.
	Identities [][]byte
	// Header, ParentHeader, Metadata and Content are the raw JSON frames.
	Header, ParentHeader, Metadata, Content json.RawMessage
	// Buffers are the binary frames after the content.
	Buffers [][]byte

	header    Header
	parent    Header
	signature string
}

// Parse splits frames into a Message, verifying the signature with key (an
// empty key means no signing, as the protocol allows).
func Parse(frames [][]byte, key []byte) (*Message, error) {
	i := 0
	for i < len(frames) && string(frames[i]) != Delimiter {
		i++
	}
	if i == len(frames) {
		return nil, ErrNoDelimiter
	}
	rest := frames[i+1:]
	if len(rest) < 5 {
		return nil, ErrShort
	}
	if len(key) > 0 && len(rest[0]) != signatureHexLen {
		// Checked before any copy or hash: the frame's size is the sender's
		// choice, and nothing about it is authenticated yet.
		return nil, ErrBadSignature
	}
	sig := bytes.ToLower(rest[0])
	if len(key) > 0 {
		want := Sign(key, rest[1], rest[2], rest[3], rest[4])
		if !hmac.Equal([]byte(want), sig) {
			return nil, ErrBadSignature
		}
	}
	m := &Message{
		signature:    string(sig),
		Identities:   frames[:i],
		Header:       json.RawMessage(rest[1]),
		ParentHeader: json.RawMessage(rest[2]),
		Metadata:     json.RawMessage(rest[3]),
		Content:      json.RawMessage(rest[4]),
		Buffers:      rest[5:],
	}
	if err := json.Unmarshal(m.Header, &m.header); err != nil || m.header.MsgType == "" {
		return nil, ErrBadHeader
	}
	// An empty parent header is "{}"; anything unparsable is treated as none.
	_ = json.Unmarshal(m.ParentHeader, &m.parent)
	return m, nil
}

// Sign returns the hex HMAC-SHA256 of the parts.
func Sign(key []byte, parts ...[]byte) string {
	mac := hmac.New(sha256.New, key)
	for _, p := range parts {
		mac.Write(p)
	}
	return hex.EncodeToString(mac.Sum(nil))
}

// Frames encodes the message for sending, signed with key.
func (m *Message) Frames(key []byte) [][]byte {
	frames := make([][]byte, 0, len(m.Identities)+6+len(m.Buffers))
	frames = append(frames, m.Identities...)
	sig := ""
	if len(key) > 0 {
		sig = Sign(key, m.Header, orEmpty(m.ParentHeader), orEmpty(m.Metadata), orEmpty(m.Content))
	}
	frames = append(frames, []byte(Delimiter), []byte(sig), m.Header,
		orEmpty(m.ParentHeader), orEmpty(m.Metadata), orEmpty(m.Content))
	return append(frames, m.Buffers...)
}

func orEmpty(raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return []byte("{}")
	}
	return raw
}

// Signature is the signature the message arrived with (lower-case hex; empty
// when unsigned or built here).
func (m *Message) Signature() string { return m.signature }

// Replays remembers the signatures of accepted messages so that a message
// seen before is refused, as jupyter_client's digest history does: an
// observer of a signed message cannot make the kernel act on it again. It
// holds at most max signatures, forgetting the oldest.
type Replays struct {
	mu    sync.Mutex
	seen  map[string]struct{}
	order []string
	next  int
}

// NewReplays returns a history of at most max signatures.
func NewReplays(max int) *Replays {
	return &Replays{seen: make(map[string]struct{}, max), order: make([]string, max)}
}

// Check records sig and reports an error if it was recorded before. An empty
// signature (an unsigned session) is not tracked.
func (r *Replays) Check(sig string) error {
	if sig == "" {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.seen[sig]; dup {
		return ErrReplay
	}
	if old := r.order[r.next]; old != "" {
		delete(r.seen, old)
	}
	r.order[r.next] = sig
	r.seen[sig] = struct{}{}
	r.next = (r.next + 1) % len(r.order)
	return nil
}

// Type is the header's msg_type.
func (m *Message) Type() string { return m.header.MsgType }

// ID is the header's msg_id.
func (m *Message) ID() string { return m.header.MsgID }

// Session is the header's session.
func (m *Message) Session() string { return m.header.Session }

// ParentID is the parent header's msg_id ("" if none).
func (m *Message) ParentID() string { return m.parent.MsgID }

// ParentType is the parent header's msg_type ("" if none).
func (m *Message) ParentType() string { return m.parent.MsgType }

// DecodeContent unmarshals the content into v.
func (m *Message) DecodeContent(v any) error {
	if err := json.Unmarshal(orEmpty(m.Content), v); err != nil {
		return fmt.Errorf("wire: %s content: %w", m.Type(), err)
	}
	return nil
}

// SetContent replaces the content with v encoded as JSON.
func (m *Message) SetContent(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("wire: encoding %s content: %w", m.Type(), err)
	}
	m.Content = data
	return nil
}

// NewID returns a random message id.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Reply creates a message of msgType whose parent is parent, in the parent's
// session, with content v. Identities are the parent's (for ROUTER replies).
func Reply(parent *Message, msgType string, v any) (*Message, error) {
	h := Header{
		MsgID: NewID(), Session: parent.header.Session, Username: "gorepro",
		Date: time.Now().UTC().Format(time.RFC3339Nano), MsgType: msgType, Version: ProtocolVersion,
	}
	if h.Session == "" {
		h.Session = NewID()
	}
	header, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	m := &Message{
		Identities: parent.Identities, Header: header, ParentHeader: parent.Header,
		Metadata: json.RawMessage("{}"), header: h, parent: parent.header,
	}
	if err := m.SetContent(v); err != nil {
		return nil, err
	}
	return m, nil
}

// Sibling creates a message of msgType with the same parent and session as m
// (for an output of the proxy's own inside a request GoNB is answering), with
// content v.
func Sibling(m *Message, msgType string, v any) (*Message, error) {
	parent := &Message{Header: m.ParentHeader, header: m.parent}
	if len(parent.Header) == 0 {
		parent.Header = json.RawMessage("{}")
	}
	out, err := Reply(parent, msgType, v)
	if err != nil {
		return nil, err
	}
	if m.header.Session != "" {
		out.header.Session = m.header.Session
		header, err := json.Marshal(out.header)
		if err != nil {
			return nil, err
		}
		out.Header = header
	}
	return out, nil
}
