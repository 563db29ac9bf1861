package train

import (
	"encoding/gob"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gorepro/gorepro/lib/backends/backendstest"
)

func testBackends(t *testing.T) []compute.Backend { return backendstest.Available(t) }

// linear is y ≈ x·w with a squared loss: simple enough for a float64 reference.
func linear(w0 []float64) Model {
	return Model{
		Params: []*tensors.Tensor{tensors.FromValue([][]float64{{w0[0]}, {w0[1]}})},
		Forward: func(p []*graph.Node, x *graph.Node) *graph.Node {
			return graph.Reshape(graph.MatMul(x, p[0]), -1)
		},
		Loss: func(pred, y *graph.Node) *graph.Node { return graph.Square(graph.Sub(pred, y)) },
	}
}

var (
	xs = [][]float64{{1, 2}, {3, -1}, {0.5, 0.5}, {-2, 1}}
	ys = []float64{1, 2, 0.25, -1}
)

// linearGradient is the gradient of the mean squared error of x·w against ys, in float64.
func linearGradient(w []float64) []float64 {
	grad := make([]float64, len(w))
	for i, x := range xs {
		pred := x[0]*w[0] + x[1]*w[1]
		for j := range w {
			grad[j] += 2 * (pred - ys[i]) * x[j] / float64(len(xs))
		}
	}
	return grad
}

// refAdamW runs AdamW in float64, as PyTorch defines it.
func refAdamW(w []float64, steps int, o Optimizer) []float64 {
	w = append([]float64{}, w...)
	m, v := make([]float64, len(w)), make([]float64, len(w))
	for t := 1; t <= steps; t++ {
		grad := linearGradient(w)
		for j := range w {
			w[j] *= 1 - o.LearningRate*o.WeightDecay
			m[j] = o.Beta1*m[j] + (1-o.Beta1)*grad[j]
			v[j] = o.Beta2*v[j] + (1-o.Beta2)*grad[j]*grad[j]
			mh := m[j] / (1 - math.Pow(o.Beta1, float64(t)))
			vh := v[j] / (1 - math.Pow(o.Beta2, float64(t)))
			w[j] -= o.LearningRate * mh / (math.Sqrt(vh) + o.Epsilon)
		}
	}
	return w
}

func params(t *testing.T, tr *Trainer) []float64 {
	t.Helper()
	return tensors.MustCopyFlatData[float64](tr.Params()[0])
}

// assertClose checks the trained parameters against a float64 reference.
func assertClose(t *testing.T, backend string, got, want []float64, tol float64) {
	t.Helper()
	for j := range want {
		if !(math.Abs(got[j]-want[j]) <= tol) {
			t.Errorf("%s: w[%d] = %.15g, want %.15g (tolerance %g)", backend, j, got[j], want[j], tol)
		}
	}
}

func TestAdamWMatchesFloat64Reference(t *testing.T) {
	opt := Optimizer{LearningRate: 0.05, Beta1: 0.9, Beta2: 0.99, Epsilon: 1e-8, WeightDecay: 0.1}
	want := refAdamW([]float64{0.5, -0.5}, 25, opt)
	for _, b := range testBackends(t) {
		tr, err := New(b, linear([]float64{0.5, -0.5}), opt, 5, tensors.FromValue(xs), tensors.FromValue(ys))
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Run(25); err != nil {
			t.Fatal(err)
		}
		assertClose(t, b.Name(), params(t, tr), want, 1e-12)
		if tr.Steps() != 25 {
			t.Errorf("Steps() = %d", tr.Steps())
		}
	}
}

// TestKStepsEqualSingleSteps: K unrolled steps per call give the same
// parameters as K calls of one step (exactly on go; within 1e-13 relative
// on XLA, whose fusion may reorder float operations).
func TestKStepsEqualSingleSteps(t *testing.T) {
	opt := Optimizer{LearningRate: 0.01}
	for _, b := range testBackends(t) {
		run := func(k, steps int) []float64 {
			tr, err := New(b, linear([]float64{0.1, 0.2}), opt, k, tensors.FromValue(xs), tensors.FromValue(ys))
			if err != nil {
				t.Fatal(err)
			}
			if err := tr.Run(steps); err != nil {
				t.Fatal(err)
			}
			return params(t, tr)
		}
		single, unrolled, mixed := run(1, 21), run(7, 21), run(8, 21) // 8: two calls of 8, then 5 single steps
		for j := range single {
			for _, got := range []float64{unrolled[j], mixed[j]} {
				if !(math.Abs(got-single[j]) <= 1e-13*math.Abs(single[j])) {
					t.Errorf("%s: w[%d] = %.17g with K steps per call, %.17g one step per call", b.Name(), j, got, single[j])
				}
			}
		}
	}
}

// TestResumeIsIdentical: save after 10 steps, load into a new trainer, run 10
// more: the parameters are bit-identical to 20 uninterrupted steps.
func TestResumeIsIdentical(t *testing.T) {
	opt := Optimizer{LearningRate: 0.02, Beta2: 0.99, Epsilon: 1e-25}
	for _, b := range testBackends(t) {
		path := filepath.Join(t.TempDir(), "ckpt")
		newTrainer := func() *Trainer {
			tr, err := New(b, linear([]float64{1, 1}), opt, 5, tensors.FromValue(xs), tensors.FromValue(ys))
			if err != nil {
				t.Fatal(err)
			}
			return tr
		}
		whole := newTrainer()
		if err := whole.Run(20); err != nil {
			t.Fatal(err)
		}
		first := newTrainer()
		if _, ok, err := first.Load(path); ok || err != nil {
			t.Fatalf("Load of a missing checkpoint = %v, %v; want a fresh start", ok, err)
		}
		if err := first.Run(10); err != nil {
			t.Fatal(err)
		}
		if err := first.Save(path, []byte("curve up to 10")); err != nil {
			t.Fatal(err)
		}
		second := newTrainer()
		extra, ok, err := second.Load(path)
		if !ok || err != nil {
			t.Fatalf("Load = %v, %v", ok, err)
		}
		if string(extra) != "curve up to 10" {
			t.Errorf("extra = %q", extra)
		}
		if second.Steps() != 10 {
			t.Fatalf("resumed at step %d, want 10", second.Steps())
		}
		if err := second.Run(10); err != nil {
			t.Fatal(err)
		}
		a, c := params(t, whole), params(t, second)
		for j := range a {
			if a[j] != c[j] {
				t.Errorf("%s: w[%d] resumed %.17g, uninterrupted %.17g", b.Name(), j, c[j], a[j])
			}
		}
	}
}

func TestBadConfiguration(t *testing.T) {
	b := testBackends(t)[0]
	x, y := tensors.FromValue(xs), tensors.FromValue(ys)
	for name, fn := range map[string]func() error{
		"no learning rate": func() error { _, err := New(b, linear([]float64{0, 0}), Optimizer{}, 1, x, y); return err },
		"zero K": func() error {
			_, err := New(b, linear([]float64{0, 0}), Optimizer{LearningRate: 1}, 0, x, y)
			return err
		},
		"bad beta": func() error {
			_, err := New(b, linear([]float64{0, 0}), Optimizer{LearningRate: 1, Beta1: 1}, 1, x, y)
			return err
		},
		"NaN beta1": func() error {
			_, err := New(b, linear([]float64{0, 0}), Optimizer{LearningRate: 1, Beta1: math.NaN()}, 1, x, y)
			return err
		},
		"NaN beta2": func() error {
			_, err := New(b, linear([]float64{0, 0}), Optimizer{LearningRate: 1, Beta2: math.NaN()}, 1, x, y)
			return err
		},
		"NaN learning rate": func() error {
			_, err := New(b, linear([]float64{0, 0}), Optimizer{LearningRate: math.NaN()}, 1, x, y)
			return err
		},
		"no model": func() error { _, err := New(b, Model{}, Optimizer{LearningRate: 1}, 1, x, y); return err },
	} {
		if err := fn(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// refSGD runs gradient descent with L2 decay in float64.
func refSGD(w []float64, steps int, lr, decay float64) []float64 {
	w = append([]float64{}, w...)
	for range steps {
		grad := linearGradient(w)
		for j := range w {
			w[j] -= lr * (grad[j] + decay*w[j])
		}
	}
	return w
}

func TestSGDMatchesFloat64Reference(t *testing.T) {
	want := refSGD([]float64{0.5, -0.5}, 30, 0.05, 0.1)
	for _, b := range testBackends(t) {
		tr, err := New(b, linear([]float64{0.5, -0.5}), Optimizer{SGD: true, LearningRate: 0.05, WeightDecay: 0.1}, 4, tensors.FromValue(xs), tensors.FromValue(ys))
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Run(30); err != nil {
			t.Fatal(err)
		}
		assertClose(t, b.Name(), params(t, tr), want, 1e-12)
	}
}

// Float32 parameters train in float32: within float32 rounding of the float64 reference.
func TestFloat32ParamsMatchFloat64Reference(t *testing.T) {
	opt := Optimizer{LearningRate: 0.05, Beta1: 0.9, Beta2: 0.99, Epsilon: 1e-8, WeightDecay: 0.1}
	want := refAdamW([]float64{0.5, -0.5}, 25, opt)
	xs32 := [][]float32{{1, 2}, {3, -1}, {0.5, 0.5}, {-2, 1}}
	ys32 := []float32{1, 2, 0.25, -1}
	for _, b := range testBackends(t) {
		m := linear([]float64{0, 0})
		m.Params = []*tensors.Tensor{tensors.FromValue([][]float32{{0.5}, {-0.5}})}
		tr, err := New(b, m, opt, 5, tensors.FromValue(xs32), tensors.FromValue(ys32))
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Run(25); err != nil {
			t.Fatal(err)
		}
		if dt := tr.Params()[0].DType().String(); dt != "Float32" {
			t.Fatalf("%s: parameters are %s after training", b.Name(), dt)
		}
		got := tensors.MustCopyFlatData[float32](tr.Params()[0])
		for j := range want {
			if !(math.Abs(float64(got[j])-want[j]) <= 1e-5) {
				t.Errorf("%s: w[%d] = %.8g, want %.8g (float32 tolerance 1e-5)", b.Name(), j, got[j], want[j])
			}
		}
	}
}

// A checkpoint that decodes but does not fit (lengths disagree) is an error, not a panic;
// a temporary file left by a crash is removed.
func TestLoadRejectsInconsistentCheckpoints(t *testing.T) {
	b := testBackends(t)[0]
	newTrainer := func() *Trainer {
		tr, err := New(b, linear([]float64{1, 1}), Optimizer{LearningRate: 0.01}, 1, tensors.FromValue(xs), tensors.FromValue(ys))
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	dir := t.TempDir()
	write := func(name string, c checkpoint) string {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := gob.NewEncoder(f).Encode(&c); err != nil {
			t.Fatal(err)
		}
		return path
	}
	shapes := [][]int{{}, {2, 1}, {2, 1}, {2, 1}}
	for name, c := range map[string]checkpoint{
		"missing tensors": {DType: "Float64", Shapes: shapes, F64: [][]float64{{0}, {1, 2}}},
		"short tensor":    {DType: "Float64", Shapes: shapes, F64: [][]float64{{0}, {1}, {1, 2}, {1, 2}}},
		"negative steps":  {Steps: -3, DType: "Float64", Shapes: shapes, F64: [][]float64{{0}, {1, 2}, {1, 2}, {1, 2}}},
		"wrong dtype":     {DType: "Float64", Shapes: shapes, F32: [][]float32{{0}, {1, 2}, {1, 2}, {1, 2}}},
	} {
		path := write(name, c)
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: Load panicked: %v", name, r)
				}
			}()
			if _, _, err := newTrainer().Load(path); err == nil || !strings.Contains(err.Error(), "inconsistent") {
				t.Errorf("%s: Load error = %v, want one saying the checkpoint is inconsistent", name, err)
			}
		}()
	}
	path := filepath.Join(dir, "good")
	if err := os.WriteFile(path+".tmp", []byte("half a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, found, err := newTrainer().Load(path); found || err != nil {
		t.Fatalf("Load = %v, %v", found, err)
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("the leftover temporary file is still there: %v", err)
	}
}

// The trainer donates its state to each call: the caller's initial
// parameters stay usable, and the results equal a trainer that never donates
// (the float64 reference).
func TestDonationKeepsCallerTensors(t *testing.T) {
	opt := Optimizer{LearningRate: 0.05, Beta1: 0.9, Beta2: 0.99, Epsilon: 1e-8}
	for _, b := range testBackends(t) {
		m := linear([]float64{0.5, -0.5})
		initial := m.Params[0]
		tr, err := New(b, m, opt, 3, tensors.FromValue(xs), tensors.FromValue(ys))
		if err != nil {
			t.Fatal(err)
		}
		for range 4 {
			if err := tr.Run(3); err != nil {
				t.Fatal(err)
			}
		}
		if got := tensors.MustCopyFlatData[float64](initial); got[0] != 0.5 || got[1] != -0.5 {
			t.Errorf("%s: the caller's initial parameters changed: %v", b.Name(), got)
		}
		want := refAdamW([]float64{0.5, -0.5}, 12, opt)
		assertClose(t, b.Name(), params(t, tr), want, 1e-12)
	}
}

// TestShuffledOrderPerStep: with NewShuffled, step s sees the examples in
// the order rand.NewPCG(seed, s).Perm(n). A loss weighted by position makes
// the order visible; the float64 reference applies the same permutations.
// K steps per call equal single steps, and another seed gives another run.
func TestShuffledOrderPerStep(t *testing.T) {
	const seed, steps, lr = 7, 9, 0.01
	weighted := func() Model {
		m := linear([]float64{0.3, -0.2})
		m.Loss = func(pred, y *graph.Node) *graph.Node {
			position := graph.AddScalar(graph.Iota(pred.Graph(), pred.Shape(), 0), 1)
			return graph.Mul(position, graph.Square(graph.Sub(pred, y)))
		}
		return m
	}
	reference := func(seed uint64) []float64 {
		w := []float64{0.3, -0.2}
		for s := 1; s <= steps; s++ {
			grad := make([]float64, 2)
			for pos, i := range rand.New(rand.NewPCG(seed, uint64(s))).Perm(len(xs)) {
				pred := xs[i][0]*w[0] + xs[i][1]*w[1]
				for j := range w {
					grad[j] += float64(pos+1) * 2 * (pred - ys[i]) * xs[i][j] / float64(len(xs))
				}
			}
			for j := range w {
				w[j] -= lr * grad[j]
			}
		}
		return w
	}
	want := reference(seed)
	if other := reference(seed + 1); math.Abs(other[0]-want[0]) < 1e-9 {
		t.Fatalf("the reference does not depend on the order: the test could not fail")
	}
	for _, b := range testBackends(t) {
		for _, k := range []int{1, 4} {
			tr, err := NewShuffled(b, weighted(), Optimizer{SGD: true, LearningRate: lr}, k, tensors.FromValue(xs), tensors.FromValue(ys), seed)
			if err != nil {
				t.Fatal(err)
			}
			if err := tr.Run(steps); err != nil {
				t.Fatal(err)
			}
			assertClose(t, fmt.Sprintf("%s K=%d", b.Name(), k), params(t, tr), want, 1e-12)
		}
	}
}
