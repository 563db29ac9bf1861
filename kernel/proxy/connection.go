package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
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

// ReadConnection reads and checks a connection file.
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

// Endpoint returns the ZeroMQ address of a port.
func (c *Connection) Endpoint(port int) string {
	return fmt.Sprintf("%s://%s:%d", c.Transport, c.IP, port)
}

// NewLoopbackConnection picks five free loopback ports and a random key: the
// connection the proxy gives GoNB.
func NewLoopbackConnection() (*Connection, error) {
	ports := make([]int, 5)
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, err
	}
	return &Connection{
		Transport: "tcp", IP: "127.0.0.1", ShellPort: ports[0], ControlPort: ports[1], StdinPort: ports[2],
		IOPubPort: ports[3], HBPort: ports[4], Key: hex.EncodeToString(key[:]), SignatureScheme: "hmac-sha256",
		KernelName: "gonb",
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
