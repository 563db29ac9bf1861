package built

import (
	"encoding/base64"
	"encoding/gob"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/janpfeifer/gonb/gonbui/protocol"
)

func init() {
	// What GoNB registers for the values a cell may send (jpyexec).
	gob.Register(map[string]any{})
	gob.Register([]any{})
}

// displayPipes are GoNB's two named pipes for one cell program: the program
// writes display data into out and reads acknowledgements of its Sync
// requests from back. Both are opened read-write here, so that neither open
// blocks whether or not the program ever displays anything.
type displayPipes struct {
	dir       string
	out, back *os.File
	mu        sync.Mutex
	displays  []map[string]any
	done      chan struct{}
}

// openDisplayPipes creates the pipes in a new directory under parent and
// starts reading the program's messages.
func openDisplayPipes(parent string) (*displayPipes, error) {
	dir, err := os.MkdirTemp(parent, "pipes-")
	if err != nil {
		return nil, fmt.Errorf("display pipes: %w", err)
	}
	p := &displayPipes{dir: dir, done: make(chan struct{})}
	for _, name := range []string{"out", "back"} {
		if err := syscall.Mkfifo(filepath.Join(dir, name), 0o600); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("display pipes: mkfifo %s: %w", name, err)
		}
	}
	if p.out, err = os.OpenFile(filepath.Join(dir, "out"), os.O_RDWR, 0); err == nil {
		p.back, err = os.OpenFile(filepath.Join(dir, "back"), os.O_RDWR, 0)
	}
	if err != nil {
		if p.out != nil {
			p.out.Close()
		}
		os.RemoveAll(dir)
		return nil, fmt.Errorf("display pipes: %w", err)
	}
	go p.read()
	return p, nil
}

// env is what the cell program needs to find the pipes (gonbui reads these).
func (p *displayPipes) env() []string {
	return []string{protocol.GONB_PIPE_ENV + "=" + filepath.Join(p.dir, "out"),
		protocol.GONB_PIPE_BACK_ENV + "=" + filepath.Join(p.dir, "back")}
}

// read records display data and acknowledges Sync requests, as GoNB does,
// until the pipe is closed.
func (p *displayPipes) read() {
	defer close(p.done)
	dec := gob.NewDecoder(p.out)
	enc := gob.NewEncoder(p.back)
	for {
		var msg protocol.DisplayData
		if err := dec.Decode(&msg); err != nil {
			return
		}
		if v, ok := msg.Data[protocol.MIMECommValue]; ok {
			if cv, ok := v.(protocol.CommValue); ok && cv.Address == protocol.GonbuiSyncAddress {
				_ = enc.Encode(&protocol.CommValue{Address: protocol.GonbuiSyncAckAddress, Value: cv.Value})
			}
			continue
		}
		bundle := map[string]any{}
		for mime, v := range msg.Data {
			switch v := v.(type) {
			case string:
				bundle[string(mime)] = v
			case []byte:
				if mime == protocol.MIMEImagePNG {
					bundle[string(mime)] = base64.StdEncoding.EncodeToString(v)
				} else {
					bundle[string(mime)] = string(v)
				}
			default:
				bundle[string(mime)] = v
			}
		}
		p.mu.Lock()
		p.displays = append(p.displays, bundle)
		p.mu.Unlock()
	}
}

// close stops reading and removes the pipes; it returns what was displayed.
func (p *displayPipes) close() []map[string]any {
	if p.out != nil {
		p.out.Close()
		<-p.done
	}
	if p.back != nil {
		p.back.Close()
	}
	os.RemoveAll(p.dir)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.displays
}
