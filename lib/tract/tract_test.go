package tract

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
	"gonum.org/v1/gonum/mat"

	"github.com/gorepro/gorepro/lib/backends/backendstest"
)

func randMat(r *rand.Rand, rows, cols int, scale float64) [][]float64 {
	m := make([][]float64, rows)
	for i := range m {
		m[i] = make([]float64, cols)
		for j := range m[i] {
			m[i][j] = scale * r.NormFloat64()
		}
	}
	return m
}

func dense(x [][]float64) *mat.Dense {
	m := mat.NewDense(len(x), len(x[0]), nil)
	for i := range x {
		m.SetRow(i, x[i])
	}
	return m
}

func maxRelDiff(got [][]float64, want mat.Matrix) float64 {
	worst, scale := 0.0, 0.0
	for i := range got {
		for j := range got[i] {
			worst = math.Max(worst, math.Abs(got[i][j]-want.At(i, j)))
			scale = math.Max(scale, math.Abs(want.At(i, j)))
		}
	}
	return worst / scale
}

// reference is (XᵀX/b + λI)⁻¹Xᵀg in float64 by gonum (a d×d solve).
func reference(x, g [][]float64, lambda float64) *mat.Dense {
	X, G := dense(x), dense(g)
	b, d := X.Dims()
	var a mat.Dense
	a.Mul(X.T(), X)
	a.Scale(1/float64(b), &a)
	for i := range d {
		a.Set(i, i, a.At(i, i)+lambda)
	}
	var rhs, w mat.Dense
	rhs.Mul(X.T(), G)
	if err := w.Solve(&a, &rhs); err != nil {
		panic(err)
	}
	return &w
}

// WeightGradient against the float64 reference in both regimes (b ≥ d: the
// d×d system; b < d: the Woodbury b×b form), on every backend.
func TestWeightGradientReference(t *testing.T) {
	for _, bk := range backendstest.Available(t) {
		for _, c := range []struct{ b, d, m int }{{40, 6, 3}, {6, 6, 2}, {4, 9, 3}, {1, 5, 2}} {
			r := rand.New(rand.NewPCG(uint64(c.b), uint64(c.d)))
			x, g := randMat(r, c.b, c.d, 1), randMat(r, c.b, c.m, 1)
			out, err := graph.CallOnce(bk, func(x, g *graph.Node) *graph.Node { return WeightGradient(x, g, DefaultLambda) }, x, g)
			if err != nil {
				t.Fatal(err)
			}
			if e := maxRelDiff(out.Value().([][]float64), reference(x, g, DefaultLambda)); !(e <= 1e-11) {
				t.Errorf("%s b=%d d=%d: relative difference %.2g > 1e-11", bk.Name(), c.b, c.d, e)
			}
		}
	}
}

// TrAct's update is the closed-form ridge least-squares solution:
// W* = argmin ‖xW − (xW₀ − ηg)‖² + λb‖W − W₀‖², and W₀ − W* = (η/b)·WeightGradient.
// W* is computed independently by gonum's least squares on the stacked system.
func TestRidgeClosedForm(t *testing.T) {
	bk := backendstest.Available(t)[0]
	const b, d, m, eta, lambda = 12, 5, 3, 0.7, 0.3
	r := rand.New(rand.NewPCG(3, 4))
	x, g, w0 := randMat(r, b, d, 1), randMat(r, b, m, 1), randMat(r, d, m, 1)
	X, G, W0 := dense(x), dense(g), dense(w0)
	// [x; √(λb) I] W ≈ [xW₀ − ηg; √(λb) W₀]
	stackA, stackB := mat.NewDense(b+d, d, nil), mat.NewDense(b+d, m, nil)
	var target mat.Dense
	target.Mul(X, W0)
	var etaG mat.Dense
	etaG.Scale(eta, G)
	target.Sub(&target, &etaG)
	s := math.Sqrt(lambda * b)
	for i := range b {
		stackA.SetRow(i, x[i])
		stackB.SetRow(i, target.RawRowView(i))
	}
	for i := range d {
		stackA.Set(b+i, i, s)
		for j := range m {
			stackB.Set(b+i, j, s*W0.At(i, j))
		}
	}
	var wStar mat.Dense
	if err := wStar.Solve(stackA, stackB); err != nil {
		t.Fatal(err)
	}
	var want mat.Dense
	want.Sub(W0, &wStar)
	want.Scale(b/eta, &want)
	out, err := graph.CallOnce(bk, func(x, g *graph.Node) *graph.Node { return WeightGradient(x, g, lambda) }, x, g)
	if err != nil {
		t.Fatal(err)
	}
	if e := maxRelDiff(out.Value().([][]float64), &want); !(e <= 1e-10) {
		t.Errorf("(b/η)(W₀ − W*) vs WeightGradient: relative difference %.2g", e)
	}
}

// Through Kernel, autodiff gives TrAct's weight gradient, and the input and
// bias gradients are bit-equal to the plain layer's.
func TestKernelGradients(t *testing.T) {
	for _, bk := range backendstest.Available(t) {
		r := rand.New(rand.NewPCG(8, 9))
		const b, d, m = 16, 4, 3
		x, w, bias, up := randMat(r, b, d, 1), randMat(r, d, m, 1), randMat(r, 1, m, 1)[0], randMat(r, b, m, 1)
		grads := func(useTrAct bool) [][][]float64 {
			outs, err := graph.CallOnceN(bk, func(x, w, bias, up *graph.Node) []*graph.Node {
				k := w
				if useTrAct {
					k = Kernel(w, graph.StopGradient(x), DefaultLambda)
				}
				z := graph.Add(graph.MatMul(x, k), graph.ExpandAxes(bias, 0))
				loss := graph.ReduceAllSum(graph.Mul(z, up)) // ∂loss/∂z = up
				gs := graph.Gradient(loss, x, w, bias)
				return []*graph.Node{gs[0], gs[1], graph.ExpandAxes(gs[2], 0), z}
			}, x, w, bias, up)
			if err != nil {
				t.Fatal(err)
			}
			var res [][][]float64
			for _, o := range outs {
				res = append(res, o.Value().([][]float64))
			}
			return res
		}
		plain, tr := grads(false), grads(true)
		for k, name := range []string{"input gradient", "", "bias gradient", "output"} {
			if name != "" && fmt.Sprint(plain[k]) != fmt.Sprint(tr[k]) {
				t.Errorf("%s: %s differs from the plain layer's", bk.Name(), name)
			}
		}
		if e := maxRelDiff(tr[1], reference(x, up, DefaultLambda)); !(e <= 1e-11) {
			t.Errorf("%s: weight gradient differs from TrAct's formula by %.2g", bk.Name(), e)
		}
	}
}

// Dense uses layers.Dense's variables, so the same scope gives the same outputs.
func TestDenseMatchesLayersDense(t *testing.T) {
	bk := backendstest.Available(t)[0]
	store := model.NewStore()
	exec, err := model.NewExec(bk, store, func(scope *model.Scope, x *graph.Node) (*graph.Node, *graph.Node) {
		ours := Dense(scope.In("first"), x, true, 5, DefaultLambda)
		theirs := layers.Dense(scope.Shared("first"), x, true, 5)
		return ours, theirs
	})
	if err != nil {
		t.Fatal(err)
	}
	x := randMat(rand.New(rand.NewPCG(1, 1)), 2, 3, 1)
	x32 := [][]float32{{float32(x[0][0]), float32(x[0][1]), float32(x[0][2])}, {float32(x[1][0]), float32(x[1][1]), float32(x[1][2])}}
	outs, err := exec.Call(x32)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := fmt.Sprint(outs[0].Value()), fmt.Sprint(outs[1].Value()); a != b {
		t.Errorf("tract.Dense %s, layers.Dense %s", a, b)
	}
}
