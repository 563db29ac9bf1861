package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/gorepro/gorepro/kernel/plugin"
	"github.com/gorepro/gorepro/lib/backends"
)

func fakeDiagnose(context.Context) ([]backends.Status, error) {
	return []backends.Status{
		{Name: "go", Available: true, Devices: 1, Description: "SimpleGo", Check: "64x64 f32 matmul ok", Precision: "float32"},
		{Name: "xla:cpu", Available: true, Default: true, Devices: 1, PJRTVersion: "0.115", Plugin: "/venv/pjrt_c_api_cpu_plugin.so", PluginSource: "project venv", Precision: "float32"},
		{Name: "xla:cuda", Reason: "PJRT plugin for xla:cuda not found | install jax-cuda13-plugin"},
	}, nil
}

func TestTable(t *testing.T) {
	diagnose = fakeDiagnose
	defer func() { diagnose = diagnoseInChild }()
	t.Setenv(backends.EnvBackend, "go")
	tests := []struct {
		backend string
		want    []string
	}{
		{"", []string{
			"| `go` | yes | **yes** | 1 |  | float32 | SimpleGo; 64x64 f32 matmul ok |",
			"| `xla:cpu` (default) | yes |  | 1 | 0.115 | float32 | plugin /venv/pjrt_c_api_cpu_plugin.so (project venv) |",
			`| ` + "`xla:cuda`" + ` | no |  |  |  |  | PJRT plugin for xla:cuda not found \| install jax-cuda13-plugin |`,
			"The current backend is `go` (chosen by $GOMLX_BACKEND).",
		}},
		{"go", []string{"| `go` | yes | **yes** |", "The current backend is `go`, set by `%%backend`."}},
		{"nosuch", []string{"The session's backend `nosuch` does not resolve: unknown backend"}},
	}
	for _, tc := range tests {
		t.Run(tc.backend, func(t *testing.T) {
			resp, err := Handle(context.Background(), &plugin.Request{Name: "backend", Backend: tc.backend})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Outputs) != 1 || resp.Code != "" || resp.Backend != "" {
				t.Fatalf("response = %+v, want one output and nothing else", resp)
			}
			md := resp.Outputs[0].Data["text/markdown"].(string)
			for _, w := range tc.want {
				if !strings.Contains(md, w) {
					t.Errorf("table lacks %q:\n%s", w, md)
				}
			}
		})
	}
}

func TestChoose(t *testing.T) {
	t.Setenv(backends.EnvBackend, "go")
	type want struct {
		backend string
		output  string
		err     string
	}
	type testCase struct {
		args []string
		want want
	}
	tests := []testCase{
		{[]string{"go"}, want{backend: "go", output: "Later cells use backend **`go`**: GoMLX's pure-Go backend, no plugin; float32 matrix products at **float32** precision."}},
		{[]string{"default"}, want{backend: "go", output: "chosen by $GOMLX_BACKEND"}},
		{[]string{"nosuch"}, want{err: `%%backend: unknown backend "nosuch": choose one of go, xla:cpu, xla:cuda`}},
		{[]string{"go,tf32=false"}, want{err: `%%backend: backend "go,tf32=false": unknown option "tf32=false" for the go backend`}},
		{[]string{"go xla:cpu"}, want{err: `%%backend: backend spec "go xla:cpu" contains white space`}},
		{[]string{"go", "xla:cpu"}, want{err: "%%backend takes one backend spec (e.g. go, xla:cpu, xla:cuda,tf32=false), got 2 arguments: go xla:cpu"}},
	}
	// xla:cpu resolves where its plugin is installed (make setup), and must fail clearly elsewhere.
	if _, err := backends.Resolve("xla:cpu"); err == nil {
		tests = append(tests, testCase{[]string{"xla:cpu,tf32=true"}, want{err: `%%backend: backend "xla:cpu,tf32=true": TF32 exists only on CUDA GPUs`}})
	}
	if spec, err := backends.Resolve("xla:cpu,tf32=false"); err == nil {
		tests = append(tests, testCase{[]string{"xla:cpu,tf32=false"}, want{backend: "xla:cpu,tf32=false", output: "PJRT plugin `" + spec.PluginPath + "`"}})
	} else {
		tests = append(tests, testCase{[]string{"xla:cpu,tf32=false"}, want{err: "%%backend: " + err.Error()}})
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			resp, err := Handle(context.Background(), &plugin.Request{Name: "backend", Args: tc.args})
			if tc.want.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.want.err) {
					t.Fatalf("error = %v, want %q", err, tc.want.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.Backend != tc.want.backend {
				t.Errorf("Backend = %q, want %q", resp.Backend, tc.want.backend)
			}
			if want := "%env GOMLX_BACKEND " + tc.want.backend + "\n"; resp.Code != want {
				t.Errorf("Code = %q, want %q", resp.Code, want)
			}
			if md := resp.Outputs[0].Data["text/markdown"].(string); !strings.Contains(md, tc.want.output) {
				t.Errorf("output lacks %q:\n%s", tc.want.output, md)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		resp, err := Handle(context.Background(), &plugin.Request{Name: "backend", Args: []string{arg}})
		if err != nil || resp.Code != "" || resp.Backend != "" || resp.Outputs[0].Data["text/markdown"] != usage {
			t.Errorf("%%%%backend %s = %+v, %v; want the usage", arg, resp, err)
		}
	}
}

// The test binary doubles as `gorepro doctor --backends` for diagnoseInChild:
// GOREPRO_TEST_FAKE_DOCTOR=ok prints fakeDiagnose's statuses, =crash dies as
// a crashing PJRT plugin would.
func TestMain(m *testing.M) {
	if mode := os.Getenv("GOREPRO_TEST_FAKE_DOCTOR"); mode != "" && len(os.Args) > 2 && os.Args[1] == "doctor" && os.Args[2] == "--backends" {
		if mode == "crash" {
			fmt.Fprintln(os.Stderr, "SIGSEGV: segmentation violation (in the PJRT plugin)")
			os.Exit(139)
		}
		st, _ := fakeDiagnose(context.Background())
		_ = json.NewEncoder(os.Stdout).Encode(st)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The table is computed in a child process: a plugin that crashes there is
// an error in the cell, and the kernel (here, the test) lives on.
func TestDiagnoseRunsInAChildProcess(t *testing.T) {
	t.Setenv(backends.EnvBackend, "go")
	t.Setenv("GOREPRO_TEST_FAKE_DOCTOR", "ok")
	resp, err := Handle(context.Background(), &plugin.Request{Name: "backend"})
	if err != nil {
		t.Fatal(err)
	}
	if md := resp.Outputs[0].Data["text/markdown"].(string); !strings.Contains(md, "| `xla:cpu` (default) | yes |") {
		t.Errorf("the child's diagnosis is not in the table:\n%s", md)
	}
	t.Setenv("GOREPRO_TEST_FAKE_DOCTOR", "crash")
	_, err = Handle(context.Background(), &plugin.Request{Name: "backend"})
	if err == nil || !strings.Contains(err.Error(), "in its own process") || !strings.Contains(err.Error(), "SIGSEGV") {
		t.Errorf("a crashing diagnosis gave %v; want an error naming the crash", err)
	}
}
