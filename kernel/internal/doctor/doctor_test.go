package doctor

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

func TestReportJSON(t *testing.T) {
	r := Run()
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	// Read it back as a tool would, without our types.
	var doc struct {
		Backends []struct {
			Name      string `json:"name"`
			Available bool   `json:"available"`
			Reason    string `json:"reason"`
			Devices   int    `json:"devices"`
		} `json:"backends"`
		Default  string            `json:"default"`
		Versions map[string]string `json:"versions"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("doctor JSON does not parse: %v\n%s", err, buf.String())
	}
	var names []string
	for _, b := range doc.Backends {
		names = append(names, b.Name)
		if !b.Available && b.Reason == "" {
			t.Errorf("%s unavailable without a reason", b.Name)
		}
	}
	if strings.Join(names, ",") != "go,xla:cpu,xla:cuda,xla:tpu" {
		t.Errorf("backends = %v", names)
	}
	if !doc.Backends[0].Available || doc.Backends[0].Devices < 1 {
		t.Errorf("go backend not available: %+v", doc.Backends[0])
	}
	if doc.Default == "" {
		t.Errorf("no default backend: %+v", doc)
	}
	// Test binaries carry no module build info: the module versions are
	// checked on the real binary by tests/TestDoctorJSON.
	if got := doc.Versions["go (this binary)"]; got != runtime.Version() {
		t.Errorf("go (this binary) = %q, want %q", got, runtime.Version())
	}
	if !strings.HasPrefix(doc.Versions["go (toolchain)"], "go version go") {
		t.Errorf("go (toolchain) = %q", doc.Versions["go (toolchain)"])
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "BACKEND") || !strings.Contains(text.String(), "default backend:") {
		t.Errorf("text report:\n%s", text.String())
	}
}

// The text report has a row for xla:tpu saying whether libtpu was found and,
// when it cannot be used, why; a found file is named.
func TestTextReportListsTPU(t *testing.T) {
	r := Run()
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	tpu := r.Backends[len(r.Backends)-1]
	if tpu.Name != "xla:tpu" {
		t.Fatalf("last backend = %q, want xla:tpu", tpu.Name)
	}
	var row string
	for line := range strings.Lines(text.String()) {
		if strings.HasPrefix(line, "xla:tpu ") {
			row = line // the table's row comes before the plugin lines
			break
		}
	}
	switch {
	case row == "":
		t.Errorf("no xla:tpu row in the text report:\n%s", text.String())
	case tpu.Available && !strings.Contains(row, "yes"):
		t.Errorf("xla:tpu available but its row says %q", row)
	case !tpu.Available && (tpu.Reason == "" || !strings.Contains(row, " no ") || !strings.Contains(row, tpu.Reason)):
		t.Errorf("xla:tpu row %q does not say no, with the reason %q", row, tpu.Reason)
	}
	if tpu.Plugin != "" && !strings.Contains(text.String(), "xla:tpu plugin: "+tpu.Plugin) {
		t.Errorf("libtpu found at %s but the report does not name it:\n%s", tpu.Plugin, text.String())
	}
}
