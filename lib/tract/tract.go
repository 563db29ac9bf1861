// Package tract is TrAct (Petersen, Borgelt & Ermon, NeurIPS 2024): the first
// layer's weight gradient xᵀg is replaced by (xᵀx/b + λI)⁻¹xᵀg, the
// solution of a ridge least-squares problem that moves the layer's
// pre-activations, instead of its weights, along the gradient. Input and
// bias gradients are unchanged. λ = 0.1 by default (the paper's).
//
// Layout is GoMLX's: z = x·W with x [b, d] (inputs, or unfolded patches for
// a convolution) and W [d, m]. The linear systems are solved with
// lib/linalg's Cholesky factorisation (solve, never invert). With b ≥ d
// the d×d system xᵀx/b + λI is solved; with b < d (few rows of many inputs,
// e.g. an MLP on images with a small batch) the equal Woodbury form
// xᵀ(x xᵀ/b + λI_b)⁻¹g, a b×b system, is cheaper. WeightGradient, MatMul,
// Dense and Conv2D make that choice, one shared rule (MatMul describes how
// a layer trains with the b×b form); Kernel only sees xᵀg and always solves
// the d×d system.
//
// Breakdown. Both systems are positive definite with every Cholesky pivot
// ≥ λ in exact arithmetic, but rounding (float32 with huge inputs, or a tiny
// λ) can make a pivot ≤ 0. Then the weight gradient is NaN — all of it,
// never Inf or partly finite (lib/linalg's contract) — so the loss and the
// weights become NaN and the run shows up as diverged instead of training
// on a wrong gradient. SystemPivot gives the smallest pivot of the system
// for a batch, to tell that cause from others: ≤ 0 is a breakdown, and a
// positive pivot well below λ means rounding already damaged the solve.
//
// Dense and Conv2D apply the scope's regulariser (regularizer.FromScope:
// L2 and L1 weight decay set as scope params) to their weights exactly as
// layers.Dense and layers.Convolution do; its gradient reaches the weights
// as is, not through TrAct's solve.
package tract

import (
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers/regularizer"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/nn"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/gorepro/gorepro/lib/linalg"
)

// DefaultLambda is the paper's λ.
const DefaultLambda = 0.1

// WeightGradient returns (xᵀx/b + λI)⁻¹ xᵀ g for x [b, d] and g [b, m]
// (the result is [d, m]). For b ≥ d it solves the d×d system; for b < d the
// equal Woodbury form xᵀ (x xᵀ/b + λI_b)⁻¹ g, a b×b system. λ must be > 0.
// Where the system breaks down (a pivot ≤ 0, see SystemPivot) the result is
// all NaN.
func WeightGradient(x, g *graph.Node, lambda float64) *graph.Node {
	checkFloat("tract.WeightGradient", "x", x)
	checkFloat("tract.WeightGradient", "g", g)
	if x.DType() != g.DType() {
		exceptions.Panicf("tract.WeightGradient: x is %s and g is %s: want one float dtype", x.DType(), g.DType())
	}
	if x.Rank() != 2 || g.Rank() != 2 || x.Shape().Dimensions[0] != g.Shape().Dimensions[0] {
		exceptions.Panicf("tract.WeightGradient: want x [b, d] and g [b, m], got %s and %s", x.Shape(), g.Shape())
	}
	checkLambda("tract.WeightGradient", lambda)
	a, woodbury := system(x, lambda)
	if woodbury {
		return graph.Einsum("bd,bm->dm", x, linalg.SolveSPD(a, g))
	}
	return linalg.SolveSPD(a, graph.Einsum("bi,bm->im", x, g))
}

// SystemPivot returns the smallest Cholesky pivot (a scalar of x's dtype) of
// the system TrAct solves for the rows x [..., d] (all leading axes are
// rows, b of them): xᵀx/b + λI when b ≥ d, x xᵀ/b + λI_b when b < d — the
// choice WeightGradient, MatMul, Dense and Conv2D make, computed the same
// way. Every pivot is ≥ λ in exact arithmetic; ≤ 0 means the system broke
// down in rounding and TrAct's weight gradient for these rows is NaN; NaN
// means x has a non-finite value (or x xᵀ overflowed); a positive pivot
// well below λ means rounding has damaged the solve. For a Dense layer pass
// its input; for Conv2D, Patches(x, k, stride, padding).
func SystemPivot(x *graph.Node, lambda float64) *graph.Node {
	checkFloat("tract.SystemPivot", "x", x)
	if x.Rank() < 1 {
		exceptions.Panicf("tract.SystemPivot: want x [..., d], got %s", x.Shape())
	}
	checkLambda("tract.SystemPivot", lambda)
	a, _ := system(rowsOf(x), lambda)
	_, p := linalg.CholeskyMinPivot(a)
	return p
}

// checkFloat panics, naming fn and the argument, when n is missing or not
// a float.
func checkFloat(fn, arg string, n *graph.Node) {
	if n == nil {
		exceptions.Panicf("%s: %s is missing (nil)", fn, arg)
	}
	if !n.DType().IsFloat() {
		exceptions.Panicf("%s: %s is %s, want a float dtype", fn, arg, n.DType())
	}
}

// checkLambda panics, naming fn, unless λ > 0.
func checkLambda(fn string, lambda float64) {
	if !(lambda > 0) {
		exceptions.Panicf("%s: λ = %g must be positive", fn, lambda)
	}
}

// rowsOf reshapes x [..., d] to [b, d].
func rowsOf(x *graph.Node) *graph.Node {
	return graph.Reshape(x, -1, x.Shape().Dimensions[x.Rank()-1])
}

// system is the matrix TrAct solves for the rows x [b, d]: x xᵀ/b + λI_b
// (woodbury) when b < d, else xᵀx/b + λI.
func system(x *graph.Node, lambda float64) (a *graph.Node, woodbury bool) {
	b, d := x.Shape().Dimensions[0], x.Shape().Dimensions[1]
	if b < d {
		return ridgeGram(graph.Einsum("id,jd->ij", x, x), b, lambda), true
	}
	return ridgeGram(graph.Einsum("bi,bj->ij", x, x), b, lambda), false
}

// ridgeGram is gram/b + λI for a square gram.
func ridgeGram(gram *graph.Node, b int, lambda float64) *graph.Node {
	n := gram.Shape().Dimensions[0]
	eye := graph.DiagonalWithValue(graph.Scalar(gram.Graph(), gram.DType(), lambda), n)
	return graph.Add(graph.MulScalar(gram, 1/float64(b)), eye)
}

// Kernel returns w unchanged for the forward pass, with TrAct's gradient:
// for a layer z = x·w with x [b, d] (the rows the layer sees), the adjoint
// v = xᵀg of w becomes (xᵀx/b + λI)⁻¹ v (NaN where that system breaks
// down). Wrap a first layer's kernel with it right before the product; any
// product (MatMul, Dense, a convolution on unfolded patches) then trains
// with TrAct. It only sees v, so it always solves the d×d system; MatMul
// (and Dense, Conv2D) use the b×b Woodbury form when b < d.
func Kernel(w, x *graph.Node, lambda float64) *graph.Node {
	checkFloat("tract.Kernel", "w (the layer's weights)", w)
	checkFloat("tract.Kernel", "x", x)
	if x.Rank() != 2 || w.Rank() != 2 || x.Shape().Dimensions[1] != w.Shape().Dimensions[0] {
		exceptions.Panicf("tract.Kernel: want x [b, d] and w [d, m], got %s and %s", x.Shape(), w.Shape())
	}
	checkLambda("tract.Kernel", lambda)
	b := x.Shape().Dimensions[0]
	return graph.IdentityWithCustomGradient(w, func(_, v *graph.Node) *graph.Node {
		a := ridgeGram(graph.Einsum("bi,bj->ij", x, x), b, lambda)
		return linalg.SolveSPD(graph.ConvertDType(a, v.DType()), v)
	})
}

// MatMul returns x·w for x [b, d] and w [d, m] with TrAct's weight
// gradient (x's gradient is the plain g·wᵀ). For b ≥ d it is
// x·Kernel(w, x, λ), the d×d system. For b < d the weight gradient is the
// Woodbury form xᵀ(x xᵀ/b + λI_b)⁻¹g, which needs g = ∂L/∂z itself: the
// result is x·StopGradient(w) − (StopGradient(u) − u′), where u = x·w on
// StopGradient(x) and u′ is u whose incoming gradient g becomes
// (x xᵀ/b + λI_b)⁻¹g before it reaches w. StopGradient(u) − u′ is exactly
// +0 for finite u, so the value is exactly x·w (the product is computed
// twice, which XLA can merge). Dense and Conv2D go through the same choice.
func MatMul(x, w *graph.Node, lambda float64) *graph.Node {
	checkFloat("tract.MatMul", "x", x)
	checkFloat("tract.MatMul", "w (the layer's weights)", w)
	if x.DType() != w.DType() {
		exceptions.Panicf("tract.MatMul: x is %s and w is %s: want one float dtype", x.DType(), w.DType())
	}
	if x.Rank() != 2 || w.Rank() != 2 || x.Shape().Dimensions[1] != w.Shape().Dimensions[0] {
		exceptions.Panicf("tract.MatMul: want x [b, d] and w [d, m], got %s and %s", x.Shape(), w.Shape())
	}
	checkLambda("tract.MatMul", lambda)
	return firstLayer(x, w, lambda, func(w *graph.Node) *graph.Node { return graph.MatMul(x, w) })
}

// firstLayer returns product(w) with TrAct's gradient for w [d, m], where
// product is a layer linear in w whose w-part is rows·w, reshaped, for
// rows [b, d] (so that product(w) has b·m entries in the order of rows·w;
// bias and input terms are free). Gradients other than w's are product's
// own. This is where the system is chosen: the d×d one through Kernel for
// b ≥ d, the b×b Woodbury one (see MatMul) for b < d.
func firstLayer(rows, w *graph.Node, lambda float64, product func(w *graph.Node) *graph.Node) *graph.Node {
	rows = graph.StopGradient(rows)
	b, d, m := rows.Shape().Dimensions[0], rows.Shape().Dimensions[1], w.Shape().Dimensions[1]
	if b >= d {
		return product(Kernel(w, rows, lambda))
	}
	out := product(graph.StopGradient(w))
	if out.Shape().Size() != b*m {
		exceptions.Panicf("tract: the layer's output %s is not rows·w [%d, %d] reshaped", out.Shape(), b, m)
	}
	u := graph.MatMul(rows, w)
	solved := graph.IdentityWithCustomGradient(u, func(_, g *graph.Node) *graph.Node {
		a, _ := system(rows, lambda)
		return linalg.SolveSPD(graph.ConvertDType(a, g.DType()), g)
	})
	// zero is +0 for finite u, and out − (+0) is out bit for bit (−0 too);
	// ∂z/∂solved = +1, so g reaches solved unchanged.
	zero := graph.Sub(graph.StopGradient(u), solved)
	return graph.Sub(out, graph.Reshape(zero, out.Shape().Dimensions...))
}

// Dense is layers.Dense for a first layer, trained with TrAct: the same
// variables ("dense/weights" [d, outputDim], "dense/biases"), the same
// regularisation of the weights (regularizer.FromScope; not the biases),
// the same forward pass and input/bias gradients, TrAct's weight gradient
// (b×b Woodbury form when b < d, see MatMul). The input is [..., d]; all
// leading axes are rows of x.
func Dense(scope *model.Scope, input *graph.Node, useBias bool, outputDim int, lambda float64) *graph.Node {
	checkFloat("tract.Dense", "input", input)
	if input.Rank() < 1 || outputDim < 1 {
		exceptions.Panicf("tract.Dense: want input [..., d] and outputDim ≥ 1, got %s, %d", input.Shape(), outputDim)
	}
	checkLambda("tract.Dense", lambda)
	scope = scope.In("dense")
	reg := regularizer.FromScope(scope)
	g := input.Graph()
	d := input.Shape().Dimensions[input.Rank()-1]
	wVar := scope.VariableWithShape("weights", shapes.Make(input.DType(), d, outputDim))
	if reg != nil {
		reg(g, wVar)
	}
	w := wVar.NodeValue(g)
	var bias *graph.Node
	if useBias {
		bias = scope.VariableWithShape("biases", shapes.Make(input.DType(), outputDim)).NodeValue(g)
	}
	return firstLayer(rowsOf(input), w, lambda, func(w *graph.Node) *graph.Node {
		return nn.Dense(input, w, bias, compute.DenseLayoutInputOutputs)
	})
}
