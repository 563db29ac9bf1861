package stablemax

import (
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// TestSoftmaxCrossEntropyPrecisions evaluates softmax cross-entropy with the
// logits cast to float16, float32 and float64 (the paper's Figure 2): each
// matches the float64 reference within its precision (float16: 2e-3, float32:
// 1e-6, float64: 1e-12), and a gap that collapses float16 (1 + e^-10 rounds to
// 1 in float16) does not collapse float32 or float64.
func TestSoftmaxCrossEntropyPrecisions(t *testing.T) {
	logits := [][]float32{{0.5, -1, 2}, {0, 10, 0}}
	labels := []int32{2, 1}
	ref := func(row []float32, label int) float64 {
		sum := 0.0
		for _, v := range row {
			sum += math.Exp(float64(v))
		}
		return -(float64(row[label]) - math.Log(sum))
	}
	for _, b := range testBackends(t) {
		for _, tc := range []struct {
			dtype dtypes.DType
			tol   float64
			zero  bool // whether the second row's loss is exactly 0
		}{{dtypes.Float16, 2e-3, true}, {dtypes.Float32, 1e-6, false}, {dtypes.Float64, 1e-12, false}} {
			out, err := graph.CallOnce(b, func(l, y *graph.Node) *graph.Node {
				return graph.ConvertDType(SoftmaxCrossEntropy(graph.ConvertDType(l, tc.dtype), y), dtypes.Float64)
			}, tensors.FromValue(logits), tensors.FromValue(labels))
			if err != nil {
				t.Errorf("%s %s: %v", b.Name(), tc.dtype, err)
				continue
			}
			got := out.Value().([]float64)
			if want := ref(logits[0], 2); !(math.Abs(got[0]-want) <= tc.tol*math.Max(1, want)) {
				t.Errorf("%s %s: loss %v, want %v", b.Name(), tc.dtype, got[0], want)
			}
			if (got[1] == 0) != tc.zero {
				t.Errorf("%s %s: loss at logit gap 10 = %g; collapsed (exactly 0) should be %v", b.Name(), tc.dtype, got[1], tc.zero)
			}
		}
	}
}

// TestCrossEntropyAtFloat16WithAHugeGap: in float16 the log-probability of a
// class far below the top one underflows to -Inf. The target's loss must not
// become NaN through 0·(-Inf) (a one-hot product); it is 0 when the target is
// the top class, +Inf when it is the underflowed one, and finite for StableMax.
func TestCrossEntropyAtFloat16WithAHugeGap(t *testing.T) {
	logits := [][]float32{{60000, -60000, 0}, {60000, -60000, 0}}
	labels := []int32{0, 1}
	for _, b := range testBackends(t) {
		for name, loss := range map[string]func(l, y *graph.Node) *graph.Node{"softmax": SoftmaxCrossEntropy, "StableMax": CrossEntropy} {
			out, err := graph.CallOnce(b, func(l, y *graph.Node) *graph.Node {
				return graph.ConvertDType(loss(graph.ConvertDType(l, dtypes.Float16), y), dtypes.Float64)
			}, tensors.FromValue(logits), tensors.FromValue(labels))
			if err != nil {
				t.Fatalf("%s %s: %v", b.Name(), name, err)
			}
			got := out.Value().([]float64)
			if math.IsNaN(got[0]) || math.IsNaN(got[1]) {
				t.Errorf("%s %s float16: losses %v contain NaN", b.Name(), name, got)
				continue
			}
			if got[0] != 0 {
				t.Errorf("%s %s float16: loss of the top class = %v, want 0", b.Name(), name, got[0])
			}
			if name == "softmax" && !math.IsInf(got[1], 1) {
				t.Errorf("%s softmax float16: loss of the underflowed class = %v, want +Inf", b.Name(), got[1])
			}
		}
	}
}
