package backends

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const (
	venvTPU  = "proj/.venv/lib/python3.11/site-packages/libtpu/libtpu.so"
	sysTPU   = "sys/lib/python3.12/site-packages/libtpu/libtpu.so"
	goxlaTPU = "goxla/pjrt_c_api_tpu_plugin.so"
	ownTPU   = "custom/libtpu.so"
)

// xla:tpu is discovered like the other plugins (fake files here: no TPU was
// available), and is refused on a machine without a TPU chip.
func TestTPUDiscovery(t *testing.T) {
	if !xlaCompiledIn {
		t.Skip("built without XLA")
	}
	projEnv := map[string]string{EnvRoot: "$ROOT/proj"}
	tests := []struct {
		name       string
		choice     string
		env        map[string]string
		files      []string
		chip       bool   // a TPU v5e on the fake PCI bus
		wantName   string // "" when an error is expected
		wantPlugin string // relative to the tree root
		wantErr    []string
	}{
		{name: "libtpu in the project venv", choice: "xla:tpu", env: projEnv, files: []string{venvTPU}, chip: true,
			wantName: XLATPU, wantPlugin: venvTPU},
		{name: "libtpu named by GOREPRO_XLA_TPU_PLUGIN wins over the venv", choice: "xla:tpu",
			env:   map[string]string{EnvRoot: "$ROOT/proj", EnvTPUPlugin: "$ROOT/" + ownTPU},
			files: []string{venvTPU, ownTPU}, chip: true, wantName: XLATPU, wantPlugin: ownTPU},
		{name: "libtpu in a system Python", choice: "xla:tpu", env: projEnv, files: []string{sysTPU}, chip: true,
			wantName: XLATPU, wantPlugin: sysTPU},
		{name: "go-xla's copy of libtpu in its directory", choice: "xla:tpu", env: projEnv, files: []string{goxlaTPU}, chip: true,
			wantName: XLATPU, wantPlugin: goxlaTPU},
		{name: "libtpu by absolute path gets its short name", choice: "xla:$ROOT/" + venvTPU, env: projEnv,
			files: []string{venvTPU}, chip: true, wantName: XLATPU, wantPlugin: venvTPU},
		{name: "TPU_ACCELERATOR_TYPE vouches for a TPU the PCI bus does not show", choice: "xla:tpu",
			env:   map[string]string{EnvRoot: "$ROOT/proj", envTPUAcceleratorType: "v5litepod-8"},
			files: []string{venvTPU}, wantName: XLATPU, wantPlugin: venvTPU},
		{name: "not found says where it looked and what to install", choice: "xla:tpu", env: projEnv, chip: true,
			wantErr: []string{"PJRT plugin for xla:tpu not found", "$GOREPRO_XLA_TPU_PLUGIN unset", "no project venv", "pip install libtpu==0.0.51", "has not run on a TPU"}},
		{name: "not found names the venv it searched", choice: "xla:tpu", env: projEnv, files: []string{"proj/.venv/bin/python"}, chip: true,
			wantErr: []string{"not found", "venv $ROOT/proj/.venv"}},
		{name: "GOREPRO_XLA_TPU_PLUGIN pointing to a missing file", choice: "xla:tpu",
			env: map[string]string{EnvTPUPlugin: "$ROOT/none/libtpu.so"}, files: []string{venvTPU}, chip: true,
			wantErr: []string{`$GOREPRO_XLA_TPU_PLUGIN="$ROOT/none/libtpu.so"`, "no such file"}},
		{name: "GOREPRO_XLA_TPU_PLUGIN must be absolute", choice: "xla:tpu", env: map[string]string{EnvTPUPlugin: "libtpu.so"},
			wantErr: []string{"must be absolute"}},
		{name: "libtpu found without a TPU chip is not loaded", choice: "xla:tpu", env: projEnv, files: []string{venvTPU},
			wantErr: []string{"found $ROOT/" + venvTPU, "no TPU chip", "TPU_ACCELERATOR_TYPE"}},
		{name: "libtpu by path without a TPU chip is not loaded", choice: "xla:$ROOT/" + ownTPU, files: []string{ownTPU},
			wantErr: []string{"no TPU chip"}},
		{name: "TF32 is refused on a TPU", choice: "xla:tpu,tf32=true", env: projEnv, files: []string{venvTPU}, chip: true,
			wantErr: []string{"TF32 exists only on CUDA GPUs"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, root := fakeTree(t, tc.env, tc.files...)
			if tc.chip {
				fakePCIDevice(t, root, "0000:00:05.0", googlePCIVendor, "0x0063")
			}
			choice := strings.ReplaceAll(tc.choice, "$ROOT", root)
			spec, err := l.Resolve(choice)
			if tc.wantName == "" {
				if err == nil {
					t.Fatalf("Resolve(%q) = %+v, want an error", choice, spec)
				}
				for _, want := range tc.wantErr {
					if want = strings.ReplaceAll(want, "$ROOT", root); !strings.Contains(err.Error(), want) {
						t.Errorf("Resolve(%q) error = %v\nwant it to contain %q", choice, err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve(%q): %v", choice, err)
			}
			if spec.Name != tc.wantName || spec.PluginPath != filepath.Join(root, tc.wantPlugin) {
				t.Errorf("Resolve(%q) = %s from %q, want %s from %q", choice, spec.Name, spec.PluginPath, tc.wantName, filepath.Join(root, tc.wantPlugin))
			}
			if !strings.HasPrefix(spec.Config(), "xla:/") {
				t.Errorf("Config() = %q: the plugin must go to go-xla by absolute path", spec.Config())
			}
		})
	}
}

func TestTPUChips(t *testing.T) {
	type device struct{ vendor, device string }
	tests := []struct {
		name    string
		devices []device
		want    int
		wantGen string
	}{
		{name: "no PCI devices"},
		{name: "a GCE VM: gVNIC and a Google NVMe disk share the vendor id", devices: []device{{googlePCIVendor, "0x0042"}, {googlePCIVendor, "0x001f"}}},
		{name: "another vendor's device with a TPU-like id", devices: []device{{"0x1af4", "0x0063"}}},
		{name: "four v5e chips beside a gVNIC", devices: []device{{googlePCIVendor, "0x0063"}, {googlePCIVendor, "0x0063"}, {googlePCIVendor, "0x0042"}, {googlePCIVendor, "0x0063"}, {googlePCIVendor, "0x0063"}},
			want: 4, wantGen: "v5e"},
		{name: "ids in upper case", devices: []device{{"0x1AE0", "0x006F"}}, want: 1, wantGen: "v6e"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, root := fakeTree(t, nil)
			for i, d := range tc.devices {
				fakePCIDevice(t, root, "0000:00:0"+string(rune('0'+i))+".0", d.vendor, d.device)
			}
			if got, gen := l.TPUChips(); got != tc.want || gen != tc.wantGen {
				t.Errorf("TPUChips() = %d, %q; want %d, %q", got, gen, tc.want, tc.wantGen)
			}
		})
	}
	if n, _ := (&Locator{}).TPUChips(); n != 0 {
		t.Errorf("a locator without a PCI directory saw %d TPU chips", n)
	}
}

// The doctor lists xla:tpu with found / not found and why, and never loads
// libtpu where there is no TPU.
func TestDiagnoseTPU(t *testing.T) {
	projEnv := map[string]string{EnvRoot: "$ROOT/proj"}
	tests := []struct {
		name       string
		env        map[string]string
		files      []string
		chip       bool
		wantPlugin string // relative to the tree root; "" = none reported
		wantReason []string
	}{
		{name: "not found", env: projEnv,
			wantReason: []string{"PJRT plugin for xla:tpu not found", "$GOREPRO_XLA_TPU_PLUGIN unset", "pip install libtpu==0.0.51"}},
		{name: "variable names a missing file", env: map[string]string{EnvTPUPlugin: "$ROOT/none.so"},
			wantReason: []string{`$GOREPRO_XLA_TPU_PLUGIN="$ROOT/none.so"`, "no such file"}},
		{name: "found, no TPU chip", env: projEnv, files: []string{venvTPU}, wantPlugin: venvTPU,
			wantReason: []string{"found $ROOT/" + venvTPU, "PyPI libtpu", "no TPU chip"}},
		{name: "found with a TPU chip, but not a real plugin", env: projEnv, files: []string{venvTPU}, chip: true, wantPlugin: venvTPU,
			wantReason: []string{"$ROOT/" + venvTPU}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, root := fakeTree(t, tc.env, tc.files...)
			if tc.chip {
				fakePCIDevice(t, root, "0000:00:05.0", googlePCIVendor, "0x0063")
			}
			var tpu *Status
			statuses := l.Diagnose()
			for i := range statuses {
				if statuses[i].Name == XLATPU {
					tpu = &statuses[i]
				}
			}
			if tpu == nil {
				t.Fatalf("Diagnose() = %+v: no xla:tpu entry", statuses)
			}
			if tpu.Available || tpu.Default {
				t.Errorf("xla:tpu = %+v: available or default on a fake file", *tpu)
			}
			wantPlugin := ""
			if tc.wantPlugin != "" {
				wantPlugin = filepath.Join(root, tc.wantPlugin)
			}
			if tpu.Plugin != wantPlugin {
				t.Errorf("Plugin = %q, want %q", tpu.Plugin, wantPlugin)
			}
			if !xlaCompiledIn {
				return
			}
			for _, want := range tc.wantReason {
				if want = strings.ReplaceAll(want, "$ROOT", root); !strings.Contains(tpu.Reason, want) {
					t.Errorf("Reason = %q\nwant it to contain %q", tpu.Reason, want)
				}
			}
		})
	}
}

// No backend, xla:tpu included, may ever download a plugin: go-xla's
// auto-installer (which would fetch libtpu from PyPI) is not linked in.
func TestNoAutoInstaller(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list the dependencies")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/gomlx/go-xla/") && (strings.Contains(pkg, "autoinstall") || strings.Contains(pkg, "/installer")) {
			t.Errorf("lib/backends depends on %s: go-xla's auto-installer must stay out", pkg)
		}
	}
}

// New (the entry point notebooks use) returns an error naming the file it
// looked for, not a panic, when asked for xla:tpu without its plugin.
func TestNewTPUWithoutPlugin(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "libtpu.so")
	t.Setenv(EnvTPUPlugin, missing)
	b, _, err := New(XLATPU)
	if err == nil || b != nil {
		t.Fatalf("New(xla:tpu) with $%s=%s = %v, %v; want an error", EnvTPUPlugin, missing, b, err)
	}
	if xlaCompiledIn && !strings.Contains(err.Error(), missing) {
		t.Errorf("error %q does not name %s", err, missing)
	}
}
