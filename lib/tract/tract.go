// Package tract is TrAct (Petersen, Borgelt & Ermon, NeurIPS 2024): the first
// layer's weight gradient xᵀg is replaced by (xᵀx/b + λI)⁻¹xᵀg, the
// solution of a ridge least-squares problem that moves the layer's
// pre-activations, instead of its weights, along the gradient. Input and
// bias gradients are unchanged. λ = 0.1 by default (the paper's).
//
// Layout is GoMLX's: z = x·W with x [b, d] (inputs, or unfolded patches for
// a convolution) and W [d, m]. The linear systems are solved with
// lib/linalg's Cholesky factorisation (solve, never invert).
package tract

import (
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
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
func WeightGradient(x, g *graph.Node, lambda float64) *graph.Node {
	checkFloat("tract.WeightGradient", "x", x)
	checkFloat("tract.WeightGradient", "g", g)
	if x.DType() != g.DType() {
		exceptions.Panicf("tract.WeightGradient: x is %s and g is %s: want one float dtype", x.DType(), g.DType())
	}
	if x.Rank() != 2 || g.Rank() != 2 || x.Shape().Dimensions[0] != g.Shape().Dimensions[0] {
		exceptions.Panicf("tract.WeightGradient: want x [b, d] and g [b, m], got %s and %s", x.Shape(), g.Shape())
	}
	if !(lambda > 0) {
		exceptions.Panicf("tract.WeightGradient: λ = %g must be positive", lambda)
	}
	b, d := x.Shape().Dimensions[0], x.Shape().Dimensions[1]
	if b >= d {
		a := ridgeGram(graph.Einsum("bi,bj->ij", x, x), b, lambda)
		return linalg.SolveSPD(a, graph.Einsum("bi,bm->im", x, g))
	}
	k := ridgeGram(graph.Einsum("id,jd->ij", x, x), b, lambda)
	return graph.Einsum("bd,bm->dm", x, linalg.SolveSPD(k, g))
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

// ridgeGram is gram/b + λI for a square gram.
func ridgeGram(gram *graph.Node, b int, lambda float64) *graph.Node {
	n := gram.Shape().Dimensions[0]
	eye := graph.DiagonalWithValue(graph.Scalar(gram.Graph(), gram.DType(), lambda), n)
	return graph.Add(graph.MulScalar(gram, 1/float64(b)), eye)
}

// Kernel returns w unchanged for the forward pass, with TrAct's gradient:
// for a layer z = x·w with x [b, d] (the rows the layer sees), the adjoint
// v = xᵀg of w becomes (xᵀx/b + λI)⁻¹ v. Wrap a first layer's kernel with it
// right before the product; any product (MatMul, Dense, a convolution on
// unfolded patches) then trains with TrAct.
func Kernel(w, x *graph.Node, lambda float64) *graph.Node {
	checkFloat("tract.Kernel", "w (the layer's weights)", w)
	checkFloat("tract.Kernel", "x", x)
	if x.Rank() != 2 || w.Rank() != 2 || x.Shape().Dimensions[1] != w.Shape().Dimensions[0] {
		exceptions.Panicf("tract.Kernel: want x [b, d] and w [d, m], got %s and %s", x.Shape(), w.Shape())
	}
	if !(lambda > 0) {
		exceptions.Panicf("tract.Kernel: λ = %g must be positive", lambda)
	}
	b := x.Shape().Dimensions[0]
	return graph.IdentityWithCustomGradient(w, func(_, v *graph.Node) *graph.Node {
		a := ridgeGram(graph.Einsum("bi,bj->ij", x, x), b, lambda)
		return linalg.SolveSPD(graph.ConvertDType(a, v.DType()), v)
	})
}

// Dense is layers.Dense for a first layer, trained with TrAct: the same
// variables ("dense/weights" [d, outputDim], "dense/biases"), the same
// forward pass and input/bias gradients, TrAct's weight gradient. The input
// is [..., d]; all leading axes are rows of x.
func Dense(scope *model.Scope, input *graph.Node, useBias bool, outputDim int, lambda float64) *graph.Node {
	checkFloat("tract.Dense", "input", input)
	if input.Rank() < 1 || outputDim < 1 {
		exceptions.Panicf("tract.Dense: want input [..., d] and outputDim ≥ 1, got %s, %d", input.Shape(), outputDim)
	}
	if !(lambda > 0) {
		exceptions.Panicf("tract.Dense: λ = %g must be positive", lambda)
	}
	scope = scope.In("dense")
	g := input.Graph()
	d := input.Shape().Dimensions[input.Rank()-1]
	w := scope.VariableWithShape("weights", shapes.Make(input.DType(), d, outputDim)).NodeValue(g)
	rows := graph.Reshape(input, -1, d)
	w = Kernel(w, graph.StopGradient(rows), lambda)
	var bias *graph.Node
	if useBias {
		bias = scope.VariableWithShape("biases", shapes.Make(input.DType(), outputDim)).NodeValue(g)
	}
	return nn.Dense(input, w, bias, compute.DenseLayoutInputOutputs)
}
