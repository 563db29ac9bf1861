package proxy

import (
	"bytes"
	"fmt"
	"log"
	"log/slog"
	"strings"
	"testing"
	"time"
)

type fakeClock struct {
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at time.Time
	f  func()
}

func (c *fakeClock) afterFunc(d time.Duration, f func()) {
	c.timers = append(c.timers, fakeTimer{c.now.Add(d), f})
}

// advance moves the clock, firing the timers that are due.
func (c *fakeClock) advance(d time.Duration) {
	c.now = c.now.Add(d)
	var left []fakeTimer
	due := c.timers
	c.timers = nil
	for _, tm := range due {
		if !tm.at.After(c.now) {
			tm.f()
		} else {
			left = append(left, tm)
		}
	}
	c.timers = append(c.timers, left...)
}

func fakeRateLog(burst int, interval time.Duration) (*rateLog, *bytes.Buffer, *fakeClock) {
	var out bytes.Buffer
	clock := &fakeClock{now: time.Unix(1e9, 0)}
	r := newRateLog(slog.New(&lineHandler{out: &lockedWriter{w: &out}, level: slog.LevelDebug, now: func() time.Time { return time.Time{} }}), burst, interval)
	r.now = func() time.Time { return clock.now }
	r.afterFunc = clock.afterFunc
	return r, &out, clock
}

func lines(b *bytes.Buffer) []string {
	s := strings.TrimSpace(b.String())
	if s == "" {
		return nil
	}
	var out []string
	for _, l := range strings.Split(s, "\n") {
		out = append(out, strings.TrimPrefix(l, "WARN "))
	}
	return out
}

func TestRateLogBoundsAFlood(t *testing.T) {
	r, out, clock := fakeRateLog(3, 10*time.Second)
	for i := range 1000 {
		r.Printf("dropped messages", "dropped %d", i)
	}
	got := lines(out)
	if want := []string{"dropped 0", "dropped 1", "dropped 2"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("during the flood: %q, want %q", got, want)
	}
	// Another kind has a budget of its own.
	r.Printf("duplicate msg_ids", "duplicate")
	clock.advance(10 * time.Second)
	got = lines(out)
	if len(got) != 5 || got[3] != "duplicate" || !strings.HasPrefix(got[4], "… 997 more dropped messages suppressed") {
		t.Fatalf("after the interval: %q", got)
	}
	// The flood goes on: each interval adds the burst and one summary line.
	out.Reset()
	for range 10 {
		for range 100 {
			r.Printf("dropped messages", "dropped")
			clock.advance(100 * time.Millisecond)
		}
	}
	clock.advance(10 * time.Second)
	if n := len(lines(out)); n > 10*(3+1) {
		t.Errorf("%d lines for 1000 messages over 100 s, want at most 40:\n%s", n, out)
	}
	// Quiet again: lines pass and no summary is added.
	out.Reset()
	clock.advance(time.Minute)
	r.Printf("dropped messages", "one")
	clock.advance(time.Minute)
	if got := lines(out); fmt.Sprint(got) != "[one]" {
		t.Errorf("after the flood: %q", got)
	}
}

func TestRateWriterForZMQ(t *testing.T) {
	r, out, _ := fakeRateLog(2, time.Minute)
	l := log.New(r.writer("zmq4 log lines on shell"), "zmq4: ", 0)
	for range 50 {
		l.Printf("could not open a ZMTP connection")
	}
	if got := lines(out); len(got) != 2 || got[0] != "zmq4: could not open a ZMTP connection" {
		t.Errorf("%q", got)
	}
}
