package stablemax

import "github.com/gomlx/gomlx/core/graph"

// OrthogonalGradients is ⊥Grad: for each parameter w with gradient g it
// removes g's component along w,
//
//	g⊥ = g − (⟨g, w⟩ / (⟨w, w⟩ + 1e-30)) w,
//
// and, as the official code does, rescales g⊥ to the norm of g
// (g⊥ · ‖g‖ / (‖g⊥‖ + 1e-30)), so that the base optimiser's step size is
// unchanged. The projection stops the "naive loss minimisation" direction —
// scaling the weights along themselves — which lowers the loss without
// changing predictions. Use it as train.Optimizer.GradientTransform.
func OrthogonalGradients(grads, params []*graph.Node) []*graph.Node {
	out := make([]*graph.Node, len(grads))
	for i, g := range grads {
		w := params[i]
		dtype := g.DType()
		tiny := graph.Scalar(g.Graph(), dtype, 1e-30)
		proj := graph.Div(graph.ReduceAllSum(graph.Mul(g, w)), graph.Add(graph.ReduceAllSum(graph.Mul(w, w)), tiny))
		orth := graph.Sub(g, graph.Mul(proj, w))
		norm := graph.Sqrt(graph.ReduceAllSum(graph.Square(g)))
		orthNorm := graph.Sqrt(graph.ReduceAllSum(graph.Square(orth)))
		out[i] = graph.Mul(orth, graph.Div(norm, graph.Add(orthNorm, tiny)))
	}
	return out
}

// CollapseFraction is the fraction of examples in Softmax Collapse: whose
// softmax cross-entropy, computed in the logits' dtype, is exactly 0 — the
// correct class's probability rounded to 1, so the example's gradient is 0
// too. logits [batch, classes] (convert them to the training precision
// first), labels [batch]. Returns a float64 scalar.
func CollapseFraction(logits, labels *graph.Node) *graph.Node {
	return ZeroLossFraction(SoftmaxCrossEntropy(logits, labels))
}

// ZeroLossFraction is the fraction of per-example losses that are exactly 0
// in their dtype: Softmax Collapse measured on any loss (for StableMax, on
// its own cross-entropy). Returns a float64 scalar.
func ZeroLossFraction(losses *graph.Node) *graph.Node {
	zero := graph.ScalarZero(losses.Graph(), losses.DType())
	collapsed := graph.ConvertDType(graph.Equal(losses, zero), dtypeFloat64)
	return graph.ReduceAllMean(collapsed)
}

// NLMCosine is the cosine between the full gradient and −w, over all
// parameters flattened into one vector: 1 when the gradient only scales the
// weights up along themselves (naive loss minimisation). Returns a float64 scalar.
func NLMCosine(grads, params []*graph.Node) *graph.Node {
	g := grads[0].Graph()
	dot := graph.ScalarZero(g, dtypeFloat64)
	gg := graph.ScalarZero(g, dtypeFloat64)
	ww := graph.ScalarZero(g, dtypeFloat64)
	for i := range grads {
		gr := graph.ConvertDType(grads[i], dtypeFloat64)
		w := graph.ConvertDType(params[i], dtypeFloat64)
		dot = graph.Add(dot, graph.ReduceAllSum(graph.Mul(gr, graph.Neg(w))))
		gg = graph.Add(gg, graph.ReduceAllSum(graph.Square(gr)))
		ww = graph.Add(ww, graph.ReduceAllSum(graph.Square(w)))
	}
	return graph.Div(dot, graph.AddScalar(graph.Sqrt(graph.Mul(gg, ww)), 1e-300))
}
