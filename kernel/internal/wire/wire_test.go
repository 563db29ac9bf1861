package wire

import (
	"bytes"
	"errors"
	"testing"
)

var key = []byte("secret-key")

func sample(t *testing.T) *Message {
	t.Helper()
	parent := &Message{Header: []byte(`{"msg_id":"p1","session":"s","username":"u","date":"","msg_type":"execute_request","version":"5.3"}`)}
	var err error
	parent, err = Parse(parent.Frames(key), key)
	if err != nil {
		t.Fatal(err)
	}
	parent.Identities = [][]byte{[]byte("client-1")}
	m, err := Reply(parent, "execute_reply", map[string]any{"status": "ok", "execution_count": 3})
	if err != nil {
		t.Fatal(err)
	}
	m.Buffers = [][]byte{{0, 1, 2}}
	return m
}

func TestRoundTrip(t *testing.T) {
	m := sample(t)
	got, err := Parse(m.Frames(key), key)
	if err != nil {
		t.Fatal(err)
	}
	if got.Type() != "execute_reply" || got.ParentID() != "p1" || got.ParentType() != "execute_request" || got.Session() != "s" {
		t.Errorf("parsed %q parent %q/%q session %q", got.Type(), got.ParentID(), got.ParentType(), got.Session())
	}
	if len(got.Identities) != 1 || string(got.Identities[0]) != "client-1" {
		t.Errorf("identities = %q", got.Identities)
	}
	if len(got.Buffers) != 1 || !bytes.Equal(got.Buffers[0], []byte{0, 1, 2}) {
		t.Errorf("buffers = %v", got.Buffers)
	}
	var content struct {
		Count int `json:"execution_count"`
	}
	if err := got.DecodeContent(&content); err != nil || content.Count != 3 {
		t.Errorf("content = %+v, %v", content, err)
	}
}

func TestParseErrors(t *testing.T) {
	good := sample(t).Frames(key)
	delim := 1 // one identity frame
	tampered := func(i int, b []byte) [][]byte {
		f := append([][]byte{}, good...)
		f[i] = b
		return f
	}
	tests := []struct {
		name   string
		frames [][]byte
		key    []byte
		want   error
	}{
		{"no delimiter", [][]byte{[]byte("a"), []byte("b")}, key, ErrNoDelimiter},
		{"short", good[:delim+4], key, ErrShort},
		{"wrong key", good, []byte("other"), ErrBadSignature},
		{"forged signature", tampered(delim+1, []byte("00ff")), key, ErrBadSignature},
		{"tampered content", tampered(delim+5, []byte(`{"status":"error"}`)), key, ErrBadSignature},
		{"tampered parent", tampered(delim+3, []byte(`{}`)), key, ErrBadSignature},
		{"bad header", (&Message{Header: []byte(`[1]`)}).Frames(key), key, ErrBadHeader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse(tc.frames, tc.key); !errors.Is(err, tc.want) {
				t.Errorf("Parse = %v, want %v", err, tc.want)
			}
		})
	}
	// Without a key nothing is checked.
	if _, err := Parse(tampered(delim+1, []byte("junk")), nil); err != nil {
		t.Errorf("unsigned parse: %v", err)
	}
}

// TestSignatureMatchesJupyter checks Sign against Python's
// hmac.new(b"key", b"{}" * 4, "sha256").hexdigest(), what jupyter_client computes.
func TestSignatureMatchesJupyter(t *testing.T) {
	got := Sign([]byte("key"), []byte("{}"), []byte("{}"), []byte("{}"), []byte("{}"))
	if want := "ca767b02c5bc061ed184a9a029e7f93a7f2f7ed4e8fe74120fc1212f0b008fa3"; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("id"), []byte(`{"msg_id":"1","msg_type":"kernel_info_request"}`), []byte(`{}`), []byte(`{"code":"x"}`), true)
	f.Add([]byte(""), []byte(`{`), []byte(`null`), []byte(`[]`), false)
	f.Fuzz(func(t *testing.T, id, header, parent, content []byte, sign bool) {
		m := &Message{Identities: [][]byte{id}, Header: header, ParentHeader: parent, Metadata: []byte("{}"), Content: content}
		frames := m.Frames(key)
		if !sign {
			frames[2] = []byte("forged")
		}
		got, err := Parse(frames, key)
		if !sign {
			if err == nil && string(id) != Delimiter {
				t.Fatal("a forged signature was accepted")
			}
			return
		}
		if err != nil {
			return
		}
		// What parses re-encodes to frames that parse again, identically.
		again, err := Parse(got.Frames(key), key)
		if err != nil {
			t.Fatalf("re-encoded message does not parse: %v", err)
		}
		if again.Type() != got.Type() || !bytes.Equal(again.Content, got.Content) {
			t.Fatal("round trip changed the message")
		}
	})
}

func TestSibling(t *testing.T) {
	m, err := Parse(sample(t).Frames(key), key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Sibling(m, "stream", map[string]any{"name": "stderr", "text": "hint\n"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(s.Frames(key), key)
	if err != nil {
		t.Fatal(err)
	}
	if got.Type() != "stream" || got.ParentID() != "p1" || got.ParentType() != "execute_request" || got.Session() != m.Session() {
		t.Errorf("sibling %q parent %q/%q session %q (want stream, p1/execute_request, %q)", got.Type(), got.ParentID(), got.ParentType(), got.Session(), m.Session())
	}
	if got.ID() == m.ID() {
		t.Error("the sibling reuses the message's msg_id")
	}
}

func TestReplays(t *testing.T) {
	r := NewReplays(3)
	for _, sig := range []string{"a", "b", "c"} {
		if err := r.Check(sig); err != nil {
			t.Fatalf("first %s: %v", sig, err)
		}
	}
	if err := r.Check("b"); !errors.Is(err, ErrReplay) {
		t.Errorf("replayed b: %v, want ErrReplay", err)
	}
	if err := r.Check(""); err != nil {
		t.Errorf("unsigned: %v", err)
	}
	if err := r.Check(""); err != nil {
		t.Errorf("unsigned again: %v (not tracked)", err)
	}
	// A fourth signature pushes out the oldest.
	if err := r.Check("d"); err != nil {
		t.Fatal(err)
	}
	if err := r.Check("a"); err != nil {
		t.Errorf("a after it was forgotten: %v", err)
	}
}

func TestParseKeepsTheSignature(t *testing.T) {
	frames := sample(t).Frames(key)
	m, err := Parse(frames, key)
	if err != nil {
		t.Fatal(err)
	}
	if want := string(frames[2]); m.Signature() != want || want == "" {
		t.Errorf("Signature() = %q, want %q", m.Signature(), want)
	}
}

// A signature frame of any length but 64 hex digits is refused, when a key is
// set, before it is copied or hashed against: an unauthenticated peer sends
// frames of its choosing size.
func TestParseChecksSignatureLengthFirst(t *testing.T) {
	good := (&Message{Header: []byte(`{"msg_id":"1","msg_type":"kernel_info_request"}`)}).Frames(key)
	delim := 0
	for string(good[delim]) != Delimiter {
		delim++
	}
	with := func(sig []byte) [][]byte {
		frames := append([][]byte(nil), good...)
		frames[delim+1] = sig
		return frames
	}
	sig := string(good[delim+1])
	for _, tc := range []struct {
		name string
		sig  []byte
		ok   bool
	}{
		{"the signature", []byte(sig), true},
		{"upper-case hex", bytes.ToUpper([]byte(sig)), true},
		{"empty", nil, false},
		{"63 digits", []byte(sig[:63]), false},
		{"65 digits", []byte(sig + "0"), false},
		{"twice", []byte(sig + sig), false},
		{"1 MiB", bytes.Repeat([]byte("a"), 1<<20), false},
	} {
		_, err := Parse(with(tc.sig), key)
		if (err == nil) != tc.ok || (!tc.ok && !errors.Is(err, ErrBadSignature)) {
			t.Errorf("%s: Parse error %v, want ok %v", tc.name, err, tc.ok)
		}
	}
	huge := with(bytes.Repeat([]byte("a"), 1<<20))
	if allocs := testing.AllocsPerRun(20, func() { Parse(huge, key) }); allocs != 0 {
		t.Errorf("refusing a 1 MiB signature frame allocated %v times; want none (no copy, no HMAC)", allocs)
	}
}
