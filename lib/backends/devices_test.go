package backends

import (
	"os"
	"strconv"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// requireXLACPU skips a test when XLA's CPU plugin is not installed, unless
// $GOREPRO_REQUIRE_XLA_CPU makes that a failure (make test sets it).
func requireXLACPU(t *testing.T) {
	t.Helper()
	if _, err := Resolve(XLACPU); err != nil {
		if os.Getenv("GOREPRO_REQUIRE_XLA_CPU") != "" {
			t.Fatalf("xla:cpu is required ($GOREPRO_REQUIRE_XLA_CPU) but: %v", err)
		}
		t.Skipf("xla:cpu not found: %v", err)
	}
}

// devices=N reaches XLA's CPU plugin as cpu_device_count: the backend has
// exactly N devices (the plugin's own default is 4, whatever the machine),
// and the last of them computes.
func TestXLACPUDevicesMultiDevice(t *testing.T) {
	requireXLACPU(t)
	for _, n := range []int{1, 4, 8} {
		spec := XLACPU + ",devices=" + strconv.Itoa(n)
		b, resolved, err := New(spec)
		if err != nil {
			t.Fatalf("New(%q): %v", spec, err)
		}
		if got := b.NumDevices(); got != n {
			t.Errorf("%s: NumDevices() = %d, want %d", spec, got, n)
		}
		if resolved.String() != spec || resolved.Devices() != n {
			t.Errorf("spec %q: String() = %q, Devices() = %d", spec, resolved.String(), resolved.Devices())
		}
		exec := graph.MustNewExec(b, func(x *graph.Node) *graph.Node { return graph.MulScalar(x, 2) })
		out, err := exec.CallOnDevice(compute.DeviceNum(n-1), tensors.FromValue([]float32{1, 2}))
		if err != nil {
			t.Fatalf("%s: computing on device %d: %v", spec, n-1, err)
		}
		if got := out[0].Value().([]float32); got[0] != 2 || got[1] != 4 {
			t.Errorf("%s: 2·[1 2] on device %d = %v", spec, n-1, got)
		}
		b.Finalize()
	}
}

// Resolve takes %%backend's argument from a notebook cell: no spec makes it
// panic, and a resolved spec's device count is what devices= said, ≥ 1, or
// 0 when unset.
func FuzzResolveDevices(f *testing.F) {
	for _, seed := range []string{"xla:cpu,devices=4", "go,devices=1", "xla:cpu,devices=0", "xla:cpu,devices=-3",
		"xla:cpu,devices=1.5", "xla:cpu,devices=", "xla:cuda,devices=2,visible_devices=0;1", "xla:cpu,devices=4,devices=4",
		"xla:cpu,devices=99999999999999999999"} {
		f.Add(seed)
	}
	l, _ := fakeTree(f, nil, goxlaCPU, "sys/lib/python3.12/site-packages/jax_plugins/xla_cuda13/xla_cuda_plugin.so")
	f.Fuzz(func(t *testing.T, choice string) {
		spec, err := l.Resolve(choice)
		if err != nil {
			return
		}
		n, set, err := devicesOption(spec.Options)
		if err != nil || (set && n < 1) || (!set && n != 0) || spec.Devices() != n {
			t.Errorf("Resolve(%q) accepted devices=%d (set %v, err %v)", choice, n, set, err)
		}
		if set && spec.Name == Go {
			t.Errorf("Resolve(%q) gave the go backend %d devices", choice, n)
		}
	})
}
