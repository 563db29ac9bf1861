package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
)

// Connection is a Jupyter connection file.
type Connection struct {
	Transport       string `json:"transport"`
	IP              string `json:"ip"`
	ShellPort       int    `json:"shell_port"`
	ControlPort     int    `json:"control_port"`
	StdinPort       int    `json:"stdin_port"`
	IOPubPort       int    `json:"iopub_port"`
	HBPort          int    `json:"hb_port"`
	Key             string `json:"key"`
	SignatureScheme string `json:"signature_scheme"`
	KernelName      string `json:"kernel_name,omitempty"`
}

// ReadConnection reads and checks a frontend's connection file: tcp only,
// which is what Jupyter gives kernels (GoNB's is built by NewIPCConnection).
func ReadConnection(path string) (*Connection, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading connection file: %w", err)
	}
	var c Connection
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("connection file %s: %w", path, err)
	}
	if c.Transport == "" {
		c.Transport = "tcp"
	}
	if c.Transport != "tcp" {
		return nil, fmt.Errorf("connection file %s: transport %q is not supported (tcp only)", path, c.Transport)
	}
	if c.SignatureScheme != "" && c.SignatureScheme != "hmac-sha256" {
		return nil, fmt.Errorf("connection file %s: signature scheme %q is not supported (hmac-sha256 only)", path, c.SignatureScheme)
	}
	for name, p := range map[string]int{"shell": c.ShellPort, "control": c.ControlPort, "stdin": c.StdinPort, "iopub": c.IOPubPort, "hb": c.HBPort} {
		if p <= 0 || p > 65535 {
			return nil, fmt.Errorf("connection file %s: bad %s port %d", path, name, p)
		}
	}
	if c.IP == "" {
		c.IP = "127.0.0.1"
	}
	return &c, nil
}

// Endpoint returns the ZeroMQ address of a port. For ipc, port only tells
// the five unix sockets apart: <IP>-<port> is GoNB's naming (it binds them).
func (c *Connection) Endpoint(port int) string {
	if c.Transport == "ipc" {
		return fmt.Sprintf("ipc://%s-%d", c.IP, port)
	}
	return fmt.Sprintf("%s://%s:%d", c.Transport, c.IP, port)
}

// maxSocketPath is the longest path a unix socket can have on Linux
// (sun_path is 108 bytes, NUL included); a longer one fails to bind.
const maxSocketPath = 107

// NewIPCConnection is the connection the proxy gives GoNB: unix sockets
// (ZeroMQ ipc) named prefix-1 … prefix-5, with a random key. Put in a
// private (0700) directory, they cannot be reached, flooded or bound first by
// another local user, as loopback TCP ports can.
func NewIPCConnection(prefix string) (*Connection, error) {
	if longest := prefix + "-5"; len(longest) > maxSocketPath {
		return nil, fmt.Errorf("the unix socket path %s is %d bytes long, over the limit of %d: "+
			"set TMPDIR to a shorter directory", longest, len(longest), maxSocketPath)
	}
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, err
	}
	return &Connection{
		Transport: "ipc", IP: prefix, ShellPort: 1, ControlPort: 2, StdinPort: 3, IOPubPort: 4, HBPort: 5,
		Key: hex.EncodeToString(key[:]), SignatureScheme: "hmac-sha256", KernelName: "gonb",
	}, nil
}

// Write saves the connection file (readable by the owner only).
func (c *Connection) Write(path string) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}
