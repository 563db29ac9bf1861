package stablemax

import (
	"math"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gorepro/gorepro/lib/backends/backendstest"
)

// Float64 references, written from the paper's definitions.

func refS(x float64) float64 {
	if x >= 0 {
		return x + 1
	}
	return 1 / (1 - x)
}

func refLogStableMax(row []float64) []float64 {
	sum := 0.0
	for _, x := range row {
		sum += refS(x)
	}
	out := make([]float64, len(row))
	for i, x := range row {
		out[i] = math.Log(refS(x)) - math.Log(sum)
	}
	return out
}

// refGradCE is d(−LogStableMax(x)_label)/dx, by hand: s'(x) = 1 for x ≥ 0, 1/(1−x)² for x < 0;
// d/dx_j [log Σ s − log s(x_label)] = s'(x_j)/Σs − [j = label] s'(x_j)/s(x_j).
func refGradCE(row []float64, label int) []float64 {
	sum := 0.0
	for _, x := range row {
		sum += refS(x)
	}
	out := make([]float64, len(row))
	for j, x := range row {
		ds := 1.0
		if x < 0 {
			ds = 1 / ((1 - x) * (1 - x))
		}
		out[j] = ds / sum
		if j == label {
			out[j] -= ds / refS(x)
		}
	}
	return out
}

var rows = [][]float64{
	{1, 2, 3, 4},
	{-1, -2, -3, -4},
	{0, 0, 0, 0},
	{-1e30, 0, 1e30, 5},       // huge
	{1e-30, -1e-30, 0, 2e-30}, // tiny
	{-7.5, 3.25, 0.5, -0.125},
	{1e6, 1e6 + 1, -1e6, 0},
}

var labels = []int32{3, 0, 2, 2, 1, 1, 1}

func testBackends(t *testing.T) []compute.Backend { return backendstest.Available(t) }

func toF32(rows [][]float64) [][]float32 {
	out := make([][]float32, len(rows))
	for i, r := range rows {
		out[i] = make([]float32, len(r))
		for j, v := range r {
			out[i][j] = float32(v)
		}
	}
	return out
}

// TestAgainstFloat64 checks StableMax, LogStableMax, CrossEntropy and its
// gradient against the float64 references. Tolerances: relative 1e-12 in
// float64; in float32, 2e-6 relative for values and gradients of order one
// (computed from float32-rounded inputs, so the reference uses those too).
func TestAgainstFloat64(t *testing.T) {
	for _, b := range testBackends(t) {
		for _, f32 := range []bool{false, true} {
			name := b.Name() + "/float64"
			tol := 1e-12
			input := tensors.FromValue(rows)
			ref := rows
			if f32 {
				name, tol = b.Name()+"/float32", 2e-6
				r32 := toF32(rows)
				input = tensors.FromValue(r32)
				ref = make([][]float64, len(r32))
				for i, r := range r32 {
					ref[i] = make([]float64, len(r))
					for j, v := range r {
						ref[i][j] = float64(v)
					}
				}
			}
			t.Run(name, func(t *testing.T) {
				outs, err := graph.CallOnceN(b, func(logits, lbl *graph.Node) []*graph.Node {
					ce := CrossEntropy(logits, lbl)
					grad := graph.Gradient(graph.ReduceAllSum(ce), logits)[0]
					return []*graph.Node{StableMax(logits), LogStableMax(logits), ce, grad}
				}, input, tensors.FromValue(labels))
				if err != nil {
					t.Fatal(err)
				}
				got := make([][][]float64, 4)
				for k := range got {
					got[k] = asFloat64(t, outs[k])
				}
				for i, row := range ref {
					logp := refLogStableMax(row)
					grad := refGradCE(row, int(labels[i]))
					for j := range row {
						check(t, "StableMax", i, j, got[0][i][j], math.Exp(logp[j]), tol)
						check(t, "LogStableMax", i, j, got[1][i][j], logp[j], tol)
						check(t, "gradient", i, j, got[3][i][j], grad[j], tol)
					}
					check(t, "CrossEntropy", i, 0, got[2][0][i], -logp[labels[i]], tol)
				}
			})
		}
	}
}

func asFloat64(t *testing.T, x *tensors.Tensor) [][]float64 {
	t.Helper()
	switch v := x.Value().(type) {
	case [][]float64:
		return v
	case []float64:
		return [][]float64{v}
	case [][]float32:
		out := make([][]float64, len(v))
		for i, r := range v {
			out[i] = make([]float64, len(r))
			for j, e := range r {
				out[i][j] = float64(e)
			}
		}
		return out
	case []float32:
		out := make([]float64, len(v))
		for i, e := range v {
			out[i] = float64(e)
		}
		return [][]float64{out}
	}
	t.Fatalf("unexpected value type %T", x.Value())
	return nil
}

func check(t *testing.T, what string, i, j int, got, want, tol float64) {
	t.Helper()
	if math.IsNaN(got) || math.IsInf(got, 0) {
		t.Errorf("%s[%d][%d] = %v, want %v", what, i, j, got, want)
		return
	}
	if diff := math.Abs(got - want); !(diff <= tol*math.Max(1, math.Abs(want))) {
		t.Errorf("%s[%d][%d] = %.10g, want %.10g (diff %.3g > tol %.1g)", what, i, j, got, want, diff, tol)
	}
}

func TestLabelOutOfRangeIsNaN(t *testing.T) {
	for _, b := range testBackends(t) {
		out, err := graph.CallOnce(b, CrossEntropy, tensors.FromValue([][]float32{{1, 2}, {3, 4}, {0, 0}}), tensors.FromValue([]int32{1, 2, -1}))
		if err != nil {
			t.Fatal(err)
		}
		got := out.Value().([]float32)
		if math.IsNaN(float64(got[0])) || !math.IsNaN(float64(got[1])) || !math.IsNaN(float64(got[2])) {
			t.Errorf("%s: losses %v, want a number then NaN for labels 2 and -1 of 2 classes", b.Name(), got)
		}
	}
}

func TestBadInputsFailAtGraphBuild(t *testing.T) {
	b := testBackends(t)[0]
	tests := []struct {
		name   string
		fn     func(l, y *graph.Node) *graph.Node
		logits *tensors.Tensor
		labels *tensors.Tensor
		want   string
	}{
		{"int logits", CrossEntropy, tensors.FromValue([][]int32{{1, 2}}), tensors.FromValue([]int32{0}), "logits must be float"},
		{"rank-1 logits", CrossEntropy, tensors.FromValue([]float32{1, 2}), tensors.FromValue([]int32{0}), "shape [batch, classes]"},
		{"float labels", CrossEntropy, tensors.FromValue([][]float32{{1, 2}}), tensors.FromValue([]float32{0}), "labels must be integer"},
		{"batch mismatch", CrossEntropy, tensors.FromValue([][]float32{{1, 2}, {3, 4}}), tensors.FromValue([]int32{0}), "labels must have shape [batch] = [2]"},
		{"scalar to StableMax", func(l, _ *graph.Node) *graph.Node { return StableMax(graph.ReduceAllSum(l)) }, tensors.FromValue([][]float32{{1}}), tensors.FromValue([]int32{0}), "rank >= 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := graph.CallOnce(b, tc.fn, tc.logits, tc.labels)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestSoftmaxCollapse shows the paper's point in one example: at a logit gap
// of 120, float32 softmax rounds the correct class to probability 1 and the
// others to 0 (e^-120 is below float32's smallest subnormal), so the loss and
// its gradient are exactly 0, while StableMax's are not.
func TestSoftmaxCollapse(t *testing.T) {
	b := testBackends(t)[0]
	logits := tensors.FromValue([][]float32{{0, 120, 0}})
	lbl := tensors.FromValue([]int32{1})
	outs, err := graph.CallOnceN(b, func(l, y *graph.Node) []*graph.Node {
		soft := SoftmaxCrossEntropy(l, y)
		stable := CrossEntropy(l, y)
		return []*graph.Node{soft, graph.Gradient(graph.ReduceAllSum(soft), l)[0], stable}
	}, logits, lbl)
	if err != nil {
		t.Fatal(err)
	}
	soft := outs[0].Value().([]float32)[0]
	grad := outs[1].Value().([][]float32)[0]
	stable := outs[2].Value().([]float32)[0]
	if soft != 0 || grad[0] != 0 || grad[1] != 0 || grad[2] != 0 {
		t.Errorf("float32 softmax CE at logit gap 120: loss %g gradient %v, want exactly 0 (collapse)", soft, grad)
	}
	// StableMax: −log(121/123).
	if want := -math.Log(121.0 / 123.0); !(math.Abs(float64(stable)-want) <= 1e-6) {
		t.Errorf("StableMax CE = %g, want %g", stable, want)
	}
}
