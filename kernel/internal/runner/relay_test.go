package runner

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

// A line longer than any buffer must not stop the relay: papermill would
// block on a full pipe and `gorepro run` would hang forever.
func TestRelayDrainsLinesOfAnyLength(t *testing.T) {
	huge := strings.Repeat("x", 100<<20) // 100 MiB on one line
	pr, pw := io.Pipe()
	var logFile, shown bytes.Buffer
	done := make(chan struct{})
	go func() {
		relayCellOutput(pr, &logFile, &shown, "nb")
		close(done)
	}()
	wrote := make(chan error, 1)
	go func() {
		_, err := io.WriteString(pw, "before\n"+huge+"\nafter\n")
		pw.Close()
		wrote <- err
	}()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the writer is still blocked after 60 s: the relay stopped reading")
	}
	<-done
	if logFile.Len() != len("before\n")+len(huge)+len("\nafter\n") {
		t.Errorf("log has %d bytes, want every byte written", logFile.Len())
	}
	lines := strings.Split(strings.TrimRight(shown.String(), "\n"), "\n")
	if len(lines) != 3 || lines[0] != "  [nb] before" || lines[2] != "  [nb] after" {
		t.Fatalf("shown %d lines; first %q, last %q", len(lines), lines[0][:min(len(lines[0]), 40)], lines[len(lines)-1][:min(len(lines[len(lines)-1]), 40)])
	}
	if len(lines[1]) > maxShownLine+200 || !strings.HasSuffix(lines[1], "(line cut here; the whole line is in the log)") {
		t.Errorf("the long line is shown with %d bytes, ending %q", len(lines[1]), lines[1][len(lines[1])-60:])
	}
}

func TestRelayLastLineWithoutNewline(t *testing.T) {
	var logFile, shown bytes.Buffer
	relayCellOutput(strings.NewReader("one\ntwo"), &logFile, &shown, "nb")
	if shown.String() != "  [nb] one\n  [nb] two\n" || logFile.String() != "one\ntwo" {
		t.Errorf("shown %q, log %q", shown.String(), logFile.String())
	}
}
