package proxy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// EnvLogLevel names the variable that sets the kernel's log level when the
// --log-level flag is not given.
const EnvLogLevel = "GOREPRO_KERNEL_LOG_LEVEL"

// ParseLogLevel reads a log level: debug, info, warn or error (any case);
// "" is info.
func ParseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
}

// newLogger returns the kernel's logger: one line per record, written as
// `2006/01/02 15:04:05 gorepro kernel: LEVEL message key=value…` to w (the
// Jupyter server's log), the message as written. Records below level are
// dropped.
func newLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	if level == nil {
		level = slog.LevelInfo
	}
	return slog.New(&lineHandler{out: &lockedWriter{w: w}, level: level, prefix: "gorepro kernel: "})
}

// lineHandler is a slog.Handler that writes the message unquoted, so that a
// line reads as the log.Printf lines it replaced (and tests that look for a
// message's text find it): slog.TextHandler would quote the message.
type lineHandler struct {
	out    *lockedWriter
	level  slog.Leveler
	prefix string
	attrs  string // preformatted attributes of WithAttrs, each with its leading space
	group  string // key prefix of WithGroup ("a.b.")
	// now is the clock (nil: the record's time).
	now func() time.Time
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	t := r.Time
	if h.now != nil {
		t = h.now()
	}
	if !t.IsZero() {
		b.WriteString(t.Format("2006/01/02 15:04:05 "))
	}
	b.WriteString(h.prefix)
	b.WriteString(r.Level.String())
	b.WriteByte(' ')
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		writeAttr(&b, h.group, a)
		return true
	})
	b.WriteByte('\n')
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	_, err := io.WriteString(h.out.w, b.String())
	return err
}

func (h *lineHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	for _, a := range attrs {
		writeAttr(&b, h.group, a)
	}
	h2 := *h
	h2.attrs += b.String()
	return &h2
}

func (h *lineHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.group += name + "."
	return &h2
}

// writeAttr writes ` key=value`, the value quoted when it would not read as one word.
func writeAttr(b *strings.Builder, group string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		for _, g := range a.Value.Group() {
			writeAttr(b, group+a.Key+".", g)
		}
		return
	}
	v := a.Value.String()
	if v == "" || strings.ContainsAny(v, " \t\n\"=\\") || !strconv.CanBackquote(v) {
		v = strconv.Quote(v)
	}
	fmt.Fprintf(b, " %s%s=%s", group, a.Key, v)
}
