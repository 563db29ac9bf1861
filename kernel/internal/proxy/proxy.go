// Package proxy is the gorepro kernel: a Jupyter-protocol proxy in front of
// an unmodified GoNB.
//
// The proxy owns the five sockets a Jupyter frontend connects to (shell,
// control, stdin, iopub, heartbeat). It starts GoNB as a subprocess with a
// connection file of its own on loopback, and relays every message both ways:
// checked against the frontend's key on the way in, re-signed with the other
// side's key on the way out, parent headers untouched. On top of GoNB it
//
//   - runs plugin cells (first line `%%name args…`, see kernel/plugin) itself,
//     or hands the Go code a plugin generates to GoNB;
//   - answers what GoNB ignores, so waiting clients do not hang:
//     is_complete_request (Go's parser) and history_request;
//   - answers kernel_info_request itself, naming gorepro and the backend;
//   - keeps one execution counter across plugin and Go cells;
//   - drops messages with a bad signature (GoNB stops answering after one);
//   - restarts GoNB if it dies, reporting it in the cell that was running.
//
// Execute requests run one at a time, in order; everything else (completion,
// inspection, comms, input replies) is relayed at once.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gorepro/gorepro/kernel/internal/wire"
)

// Config configures the proxy.
type Config struct {
	// ConnectionFile is the frontend's connection file.
	ConnectionFile string
	// GoNB is the command that starts GoNB, without its --kernel flag.
	GoNB []string
	// Supervisor, if set, is the gorepro executable: GoNB then runs under
	// `gorepro kernel-supervise`, so that nothing it started outlives the kernel.
	Supervisor string
	// Log receives the proxy's log lines and GoNB's output (stderr by default).
	Log io.Writer
	// LogLevel is the least level of the proxy's log lines that are written
	// (nil: info). At debug, GoNB's output is passed on unfiltered.
	LogLevel slog.Leveler
	// Version is gorepro's version, for kernel_info.
	Version string
	// DescribeBackend says which backend a choice ("" = default) resolves to, for kernel_info.
	DescribeBackend func(choice string) string
	// GoNBVersion is shown in the kernel_info banner.
	GoNBVersion string
	// Limits bound each peer of the frontend's sockets (zero fields: defaults).
	Limits GuardLimits
	// AllowUnsigned lets a connection file with an empty key (no message
	// signing) be used; otherwise the kernel refuses it.
	AllowUnsigned bool
}

// EnvAllowUnsigned names the variable that allows an empty key (Config.AllowUnsigned).
const EnvAllowUnsigned = "GOREPRO_ALLOW_UNSIGNED"

// Proxy is a running gorepro kernel.
type Proxy struct {
	cfg  Config
	conn *Connection
	key  []byte
	log  *slog.Logger
	// peerLog limits the log lines that frontend peers cause (see rateLog).
	peerLog *rateLog
	ctx     context.Context
	stop    context.CancelFunc

	shell, control, stdin, iopub, hb socket

	// stateDir is the kernel's private directory (0700, made by MkdirTemp,
	// removed on exit; by the supervisor if the proxy is killed): GoNB's
	// connection files and sessionDir, the cells' session values.
	stateDir, sessionDir string

	gonbMu  sync.Mutex
	gonb    *gonbProcess  // nil while none is started or when the kernel is down
	ready   chan struct{} // closed when the current launch ended: GoNB ready, or down
	downErr error         // why no GoNB could be started (set before ready is closed)

	queue   chan *wire.Message
	replays *wire.Replays // signatures of accepted frontend messages

	history history // the stored cells, for history_request (its own lock)

	mu        sync.Mutex
	routes    map[string]route // request msg_id -> who asked
	execCount int
	backend   string
	cancelRun context.CancelFunc
	waiting   map[string]chan execResult // execute msg_id -> executor waiting for GoNB's reply
	hinted    map[string]map[string]bool // execute msg_id -> modules a missing-module hint was shown for, until idle
	shutdown  bool
}

type execResult struct {
	status string
	died   error
}

// Run starts the proxy and serves until a shutdown_request or ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	if len(cfg.GoNB) == 0 {
		return errors.New("proxy: no GoNB command configured")
	}
	conn, err := ReadConnection(cfg.ConnectionFile)
	if err != nil {
		return err
	}
	if conn.Key == "" && !cfg.AllowUnsigned {
		return fmt.Errorf("proxy: the connection file %s has an empty key, which turns message signing off: "+
			"any local process could run code in this kernel; refusing (set %s=1 to allow it)", cfg.ConnectionFile, EnvAllowUnsigned)
	}
	logger := newLogger(cfg.Log, cfg.LogLevel)
	if conn.Key == "" {
		logger.Warn(fmt.Sprintf("message signing is off (empty key, allowed by %s=1): any local process can run code in this kernel", EnvAllowUnsigned))
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	p := &Proxy{
		cfg: cfg, conn: conn, key: []byte(conn.Key), ctx: ctx, stop: stop,
		log:     logger,
		queue:   make(chan *wire.Message, 1024),
		replays: wire.NewReplays(1 << 16),
		routes:  map[string]route{},
		waiting: map[string]chan execResult{},
		hinted:  map[string]map[string]bool{},
	}
	p.peerLog = newRateLog(p.log, peerLogBurst, peerLogInterval)
	if err := p.listen(); err != nil {
		return err
	}
	defer p.closeFrontend()
	if p.stateDir, err = os.MkdirTemp("", "gorepro-kernel-"); err != nil {
		return fmt.Errorf("proxy: creating the kernel's directory: %w", err)
	}
	defer os.RemoveAll(p.stateDir)
	p.sessionDir = filepath.Join(p.stateDir, "session")
	if err := os.Mkdir(p.sessionDir, 0o700); err != nil {
		return fmt.Errorf("proxy: creating the session directory: %w", err)
	}
	p.launch()
	go p.serveHeartbeat()
	go p.serveFrontend(p.shell, "shell")
	go p.serveFrontend(p.control, "control")
	go p.serveFrontend(p.stdin, "stdin")
	go p.executor()
	<-ctx.Done()
	p.gonbMu.Lock()
	g := p.gonb
	p.gonbMu.Unlock()
	if g != nil {
		g.terminate(5 * time.Second)
	}
	return nil
}
