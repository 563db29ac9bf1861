package proxy

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"
	"time"
)

func TestParseLogLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    slog.Level
		wantErr bool
	}{
		{"", slog.LevelInfo, false},
		{"debug", slog.LevelDebug, false},
		{"INFO", slog.LevelInfo, false},
		{" warn ", slog.LevelWarn, false},
		{"warning", slog.LevelWarn, false},
		{"error", slog.LevelError, false},
		{"verbose", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseLogLevel(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseLogLevel(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestLineHandler(t *testing.T) {
	tests := []struct {
		name  string
		level slog.Level
		log   func(*slog.Logger)
		want  string
	}{
		{"message unquoted", slog.LevelInfo, func(l *slog.Logger) {
			l.Warn(`dropped a message on shell: "execute_input" is not a message a frontend sends`)
		}, "T gorepro kernel: WARN dropped a message on shell: \"execute_input\" is not a message a frontend sends\n"},
		{"attributes", slog.LevelInfo, func(l *slog.Logger) {
			l.Error("relaying", "type", "execute_reply", "err", errors.New("socket closed"), "n", 3)
		}, "T gorepro kernel: ERROR relaying type=execute_reply err=\"socket closed\" n=3\n"},
		{"with attributes and a group", slog.LevelInfo, func(l *slog.Logger) {
			l.With("peer", "a").WithGroup("g").Info("x", "k", "")
		}, "T gorepro kernel: INFO x peer=a g.k=\"\"\n"},
		{"below the level", slog.LevelWarn, func(l *slog.Logger) { l.Info("starting") }, ""},
		{"debug on request", slog.LevelDebug, func(l *slog.Logger) { l.Debug("execute_request", "msg_id", "m1") },
			"T gorepro kernel: DEBUG execute_request msg_id=m1\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			l := newLogger(&out, tc.level)
			l.Handler().(*lineHandler).now = func() time.Time { return time.Time{} }
			h := l.Handler().(*lineHandler)
			h.prefix = "T " + h.prefix
			tc.log(l)
			if out.String() != tc.want {
				t.Errorf("got %q\nwant %q", out.String(), tc.want)
			}
		})
	}
}
