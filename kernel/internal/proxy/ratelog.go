package proxy

import (
	"fmt"
	"log"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Defaults of the limit on log lines a peer causes: a peer that floods the
// kernel with bad messages must not flood its log (and the disk under it),
// while the first few lines of each kind stay, to show what happened.
const (
	peerLogBurst    = 10
	peerLogInterval = 10 * time.Second
)

// rateLog writes log lines caused by peers (at level warn), at most burst lines of one kind
// per interval; the lines over that are counted, and one line at the end of
// the interval says how many were suppressed. Kinds are fixed strings chosen
// by the caller (never peer data), so the table of kinds stays small.
type rateLog struct {
	out      *slog.Logger
	burst    int
	interval time.Duration
	// now and afterFunc are the clock (a fake one in tests).
	now       func() time.Time
	afterFunc func(time.Duration, func())

	mu    sync.Mutex
	kinds map[string]*rateWindow
}

// rateWindow is one kind's current interval.
type rateWindow struct {
	start      time.Time
	printed    int
	suppressed int
	flushing   bool // a summary is scheduled for the end of the interval
}

func newRateLog(out *slog.Logger, burst int, interval time.Duration) *rateLog {
	return &rateLog{
		out: out, burst: burst, interval: interval,
		now:       time.Now,
		afterFunc: func(d time.Duration, f func()) { time.AfterFunc(d, f) },
		kinds:     map[string]*rateWindow{},
	}
}

// Printf logs a line of kind (at level warn) unless burst lines of that kind were logged in
// the current interval.
func (r *rateLog) Printf(kind, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	w := r.kinds[kind]
	if w == nil {
		w = &rateWindow{start: now}
		r.kinds[kind] = w
	}
	if now.Sub(w.start) >= r.interval {
		r.summaryLocked(kind, w)
		w.start, w.printed = now, 0
	}
	if w.printed < r.burst {
		w.printed++
		r.out.Warn(fmt.Sprintf(format, args...))
		return
	}
	w.suppressed++
	if !w.flushing {
		// Without it, the count of the last burst of a flood that then
		// stops would only be logged with the next line of its kind.
		w.flushing = true
		r.afterFunc(w.start.Add(r.interval).Sub(now), func() { r.summary(kind) })
	}
}

func (r *rateLog) summary(kind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if w := r.kinds[kind]; w != nil {
		w.flushing = false
		r.summaryLocked(kind, w)
	}
}

func (r *rateLog) summaryLocked(kind string, w *rateWindow) {
	if w.suppressed > 0 {
		r.out.Warn(fmt.Sprintf("… %d more %s suppressed (at most %d logged per %v)", w.suppressed, kind, r.burst, r.interval))
		w.suppressed = 0
	}
}

// writer is an io.Writer whose every write is one line of kind, for a
// library that logs through a *log.Logger of its own (zmq4).
func (r *rateLog) writer(kind string) rateWriter { return rateWriter{r, kind} }

type rateWriter struct {
	r    *rateLog
	kind string
}

func (w rateWriter) Write(p []byte) (int, error) {
	w.r.Printf(w.kind, "%s", strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// peerLogf logs a line caused by a peer's message through the limiter.
func (p *Proxy) peerLogf(kind, format string, args ...any) {
	if p.peerLog == nil { // a Proxy built by a test
		p.log.Warn(fmt.Sprintf(format, args...))
		return
	}
	p.peerLog.Printf(kind, format, args...)
}

// zmqLogger is the logger of a frontend socket: zmq4 logs a line for each
// connection whose handshake fails, which any local process can cause.
func (p *Proxy) zmqLogger(name string) *log.Logger {
	return log.New(p.peerLog.writer(fmt.Sprintf("zmq4 log lines on %s", name)), "zmq4 ("+name+"): ", 0)
}
