package proxy

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/gorepro/gorepro/kernel/internal/wire"
)

func frontendMessage(t *testing.T, msgType string) *wire.Message {
	t.Helper()
	header := fmt.Sprintf(`{"msg_id":%q,"session":"s","username":"u","date":"","msg_type":%q,"version":"5.3"}`, wire.NewID(), msgType)
	m, err := wire.Parse((&wire.Message{Header: []byte(header), Content: []byte("{}")}).Frames(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	m.Identities = [][]byte{[]byte("client")}
	return m
}

// Widget traffic (comm_open, comm_msg, comm_close) and input replies get no
// reply: remembering a route for them grew the table with every widget event.
func TestRoutesOnlyForRequests(t *testing.T) {
	p := &Proxy{routes: map[string]route{}, log: slog.New(slog.DiscardHandler)}
	for range 1000 {
		for _, typ := range []string{"comm_open", "comm_msg", "comm_close"} {
			p.onShell(frontendMessage(t, typ))
		}
		p.forward(frontendMessage(t, "input_reply"), "stdin", false)
	}
	if n := len(p.routes); n != 0 {
		t.Errorf("%d routes remembered for messages that get no reply", n)
	}
}
