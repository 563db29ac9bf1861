package backends

import (
	"math"
	"os"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// available returns the backends to exercise: go always; xla:cpu when its
// plugin is installed, and required when $GOREPRO_REQUIRE_XLA_CPU is set (make
// test sets it); xla:cuda at default and full float32 precision when a CUDA
// plugin is found (on a GPU machine: build with go test -c and run it there).
func available(t *testing.T) []string {
	names := []string{Go}
	if _, err := Resolve(XLACPU); err == nil {
		names = append(names, XLACPU)
	} else if os.Getenv("GOREPRO_REQUIRE_XLA_CPU") != "" {
		t.Fatalf("xla:cpu is required ($GOREPRO_REQUIRE_XLA_CPU) but: %v", err)
	} else {
		t.Logf("xla:cpu not tested: %v", err)
	}
	if _, err := Resolve(XLACUDA); err == nil {
		names = append(names, XLACUDA, XLACUDA+",tf32=true")
	}
	return names
}

// TestBackendsCompute runs the same float32 and float64 graphs (a matmul,
// softmax of huge logits, a gradient) on every available backend and checks
// them against float64 values computed here.
func TestBackendsCompute(t *testing.T) {
	x := [][]float64{{1, -2, 3}, {0.5, 1e-3, -7}}
	y := [][]float64{{2, 0}, {1, -1}, {-0.25, 4}}
	logits := []float64{-1000, 0, 1000, 999}
	for _, name := range available(t) {
		t.Run(name, func(t *testing.T) {
			b, spec, err := New(name)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Finalize()
			if spec.String() != name {
				t.Fatalf("spec = %q, want %q", spec, name)
			}
			// float64 matmul: exact up to rounding.
			out, err := graph.CallOnce(b, graph.MatMul, tensors.FromValue(x), tensors.FromValue(y))
			if err != nil {
				t.Fatal(err)
			}
			got := out.Value().([][]float64)
			for i := range x {
				for j := range y[0] {
					want := 0.0
					for k := range y {
						want += x[i][k] * y[k][j]
					}
					if !(math.Abs(got[i][j]-want) <= 1e-12*math.Max(1, math.Abs(want))) {
						t.Errorf("matmul[%d][%d] = %v, want %v", i, j, got[i][j], want)
					}
				}
			}
			// float32 softmax of logits beyond exp's range: tolerance 1e-6 absolute.
			f32 := make([]float32, len(logits))
			for i, v := range logits {
				f32[i] = float32(v)
			}
			sm, err := graph.CallOnce(b, func(l *graph.Node) *graph.Node { return graph.Softmax(l) }, tensors.FromValue(f32))
			if err != nil {
				t.Fatal(err)
			}
			gotSM := sm.Value().([]float32)
			den := math.Exp(0) + math.Exp(-1)
			want := []float64{0, 0, 1 / den, math.Exp(-1) / den}
			for i := range want {
				if !(math.Abs(float64(gotSM[i])-want[i]) <= 1e-6) {
					t.Errorf("softmax[%d] = %v, want %v", i, gotSM[i], want[i])
				}
			}
			// Gradient of sum(x^3) is 3x^2, float64.
			grad, err := graph.CallOnce(b, func(v *graph.Node) *graph.Node {
				return graph.Gradient(graph.ReduceAllSum(graph.Mul(v, graph.Square(v))), v)[0]
			}, tensors.FromValue([]float64{-2, 0.5, 3}))
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range []float64{-2, 0.5, 3} {
				if g := grad.Value().([]float64)[i]; !(math.Abs(g-3*v*v) <= 1e-12) {
					t.Errorf("gradient[%d] = %v, want %v", i, g, 3*v*v)
				}
			}
		})
	}
}

func TestDiagnose(t *testing.T) {
	statuses := Diagnose()
	if len(statuses) != 4 {
		t.Fatalf("Diagnose returned %d backends, want 4", len(statuses))
	}
	byName := map[string]Status{}
	for _, s := range statuses {
		byName[s.Name] = s
	}
	goStatus := byName[Go]
	if !goStatus.Available || goStatus.Devices < 1 || goStatus.Check == "" {
		t.Errorf("go backend: %+v, want available with a device and a passed check", goStatus)
	}
	for _, name := range available(t) {
		if !byName[name].Available {
			t.Errorf("%s: not available: %s", name, byName[name].Reason)
		}
	}
	if cpu := byName[XLACPU]; cpu.Available && (cpu.PJRTVersion == "" || cpu.Plugin == "" || !cpu.Default) {
		t.Errorf("xla:cpu available but %+v: want its PJRT version, plugin path, and to be the default", cpu)
	}
	for _, s := range statuses {
		if !s.Available && s.Reason == "" {
			t.Errorf("%s unavailable without a reason", s.Name)
		}
	}
}
