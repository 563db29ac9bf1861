package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/gorepro/gorepro/kernel/internal/install"
	"github.com/gorepro/gorepro/kernel/internal/project"
	"github.com/gorepro/gorepro/kernel/internal/proxy"
	"github.com/gorepro/gorepro/lib/backends"
)

// version is gorepro's version, shown by kernel_info.
const version = "0.1.0"

// envGoNB, if set, names the GoNB executable the kernel starts instead of
// the venv's (to debug GoNB, or to test how the kernel copes with a broken one).
const envGoNB = "GOREPRO_GONB"

// kernelLimits reads the limits of the kernel's sockets (kernel/internal/proxy's
// guard) from the environment; unset or empty means the proxy.Default*:
//
//   - $GOREPRO_KERNEL_MAX_MESSAGE_BYTES: one incoming message, all frames
//     (each counted at its size plus a 128-byte overhead); default 128 MiB;
//   - $GOREPRO_KERNEL_MAX_INBOUND_BYTES: the incoming messages all
//     connections together may hold; default 512 MiB;
//   - $GOREPRO_KERNEL_MAX_QUEUED_BYTES: output waiting for one peer; default 64 MiB;
//   - $GOREPRO_KERNEL_MAX_CONNECTIONS: connections per socket; default 64;
//   - $GOREPRO_KERNEL_WRITE_TIMEOUT: how long one 64 KiB chunk of output may
//     wait for its peer to read, a Go duration ("30s", "500ms"); default 30s.
//
// A peer past a limit is disconnected; the kernel goes on serving the others.
func kernelLimits() (proxy.GuardLimits, error) {
	var l proxy.GuardLimits
	read := func(name string) (uint64, error) {
		v := os.Getenv(name)
		if v == "" {
			return 0, nil
		}
		n, err := strconv.ParseUint(v, 10, 63)
		if err != nil || n == 0 {
			return 0, fmt.Errorf("$%s = %q: want a positive integer", name, v)
		}
		return n, nil
	}
	var err error
	if l.MaxMessageBytes, err = read("GOREPRO_KERNEL_MAX_MESSAGE_BYTES"); err != nil {
		return l, err
	}
	if l.MaxInboundBytes, err = read("GOREPRO_KERNEL_MAX_INBOUND_BYTES"); err != nil {
		return l, err
	}
	queued, err := read("GOREPRO_KERNEL_MAX_QUEUED_BYTES")
	if err != nil {
		return l, err
	}
	l.MaxQueuedBytes = int(queued)
	conns, err := read("GOREPRO_KERNEL_MAX_CONNECTIONS")
	if err != nil {
		return l, err
	}
	l.MaxConnections = int(conns)
	if v := os.Getenv("GOREPRO_KERNEL_WRITE_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return l, fmt.Errorf("$GOREPRO_KERNEL_WRITE_TIMEOUT = %q: want a positive Go duration such as 30s", v)
		}
		l.WriteTimeout = d
	}
	return l, nil
}

// kernelCmd runs the gorepro kernel: the Jupyter-protocol proxy in front of GoNB.
func kernelCmd(args []string) error {
	fs := newFlagSet("kernel", "")
	connFile := fs.String("connection-file", "", "Jupyter connection file (given by the frontend)")
	levelFlag := fs.String("log-level", os.Getenv(proxy.EnvLogLevel), "least level of the kernel's log lines: debug, info, warn or error (default info, or $"+proxy.EnvLogLevel+")")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *connFile == "" {
		return usageError{"kernel: --connection-file is required"}
	}
	level, err := proxy.ParseLogLevel(*levelFlag)
	if err != nil {
		return usageError{"kernel: --log-level: " + err.Error()}
	}
	p, err := project.Find()
	if err != nil {
		return err
	}
	if err := p.NeedVenv("gonb"); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	// Interrupts arrive as interrupt_request messages; a stray SIGINT must not kill the kernel.
	signal.Ignore(syscall.SIGINT)
	ctx = stopWithParent(ctx)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	limits, err := kernelLimits()
	if err != nil {
		return err
	}
	gonb := p.Bin("gonb")
	if alt := os.Getenv(envGoNB); alt != "" {
		gonb = alt
	}
	return proxy.Run(ctx, proxy.Config{
		ConnectionFile: *connFile,
		Supervisor:     self,
		GoNB:           append([]string{gonb}, install.GoNBArgs(p)...),
		AllowUnsigned:  os.Getenv(proxy.EnvAllowUnsigned) == "1",
		Limits:         limits,
		Log:            os.Stderr,
		LogLevel:       level,
		Version:        version,
		GoNBVersion:    moduleVersion("github.com/janpfeifer/gonb"),
		DescribeBackend: func(choice string) string {
			spec, err := backends.Resolve(choice)
			if err != nil {
				return "error: " + err.Error()
			}
			return spec.String()
		},
	})
}

// stopWithParent ends the kernel when the process that started it is gone
// (Jupyter sets $JPY_PARENT_PID), so a crashed server leaves no orphan kernels.
func stopWithParent(ctx context.Context) context.Context {
	startPPID := os.Getppid()
	parent, err := strconv.Atoi(os.Getenv("JPY_PARENT_PID"))
	if err != nil || parent <= 0 {
		parent = startPPID
	}
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			// Reparented (the parent died) or the named parent is gone.
			if syscall.Kill(parent, 0) != nil || os.Getppid() != startPPID {
				cancel()
				return
			}
		}
	}()
	return ctx
}

func moduleVersion(path string) string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == path {
				return dep.Version
			}
		}
	}
	return "unknown"
}

// superviseCmd runs GoNB for the proxy; see proxy.Supervise.
func superviseCmd(args []string) error {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return usageError{proxy.SuperviseCommand + ": no command given"}
	}
	os.Exit(proxy.Supervise(args))
	return nil
}
