// Package stablemax implements the StableMax activation and cross-entropy of
// "Grokking at the Edge of Numerical Stability" (Prieto et al., ICLR 2025).
//
// Softmax exponentiates logits; once training scales them up, float32 rounds
// the correct class's probability to exactly 1 and the loss and gradient of
// that example to exactly 0 (Softmax Collapse). StableMax replaces exp with
//
//	s(x) = x + 1        for x ≥ 0
//	s(x) = 1 / (1 − x)  for x < 0
//
// which grows linearly instead of exponentially:
//
//	StableMax(x)_i    = s(x_i) / Σ_j s(x_j)
//	LogStableMax(x)_i = log s(x_i) − log Σ_j s(x_j)
//	CrossEntropy      = −LogStableMax(x)_label
//
// The functions work in the logits' dtype (float32 or float64; the paper
// evaluates the loss in float64: convert the logits first to do the same).
// s is computed so that neither branch ever divides by zero — the negative
// branch sees min(x, 0) — so gradients stay finite everywhere, where the
// official code adds 1e-30 to the denominator instead.
package stablemax

import (
	"math"

	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
)

const dtypeFloat64 = dtypes.Float64

// RationalExp is s(x), the elementwise stand-in for exp that StableMax
// normalises: x + 1 for x ≥ 0 and 1/(1 − x) for x < 0 — rational, positive,
// continuous with its first derivative at 0 (s(0) = s'(0) = 1, like eˣ), and
// linear rather than exponential in x. x must be a float tensor; the output
// has its shape and dtype.
func RationalExp(x *graph.Node) *graph.Node {
	checkFloat("RationalExp", x)
	zero := graph.ScalarZero(x.Graph(), x.DType())
	positive := graph.OnePlus(graph.Max(x, zero))
	negative := graph.Reciprocal(graph.OneMinus(graph.Min(x, zero)))
	return graph.Where(graph.GreaterOrEqual(x, zero), positive, negative)
}

// logRationalExp is log s(x), computed as log1p(x) for x ≥ 0 and −log1p(−x) for x < 0.
func logRationalExp(x *graph.Node) *graph.Node {
	zero := graph.ScalarZero(x.Graph(), x.DType())
	return graph.Where(graph.GreaterOrEqual(x, zero), graph.Log1p(graph.Max(x, zero)), graph.Neg(graph.Log1p(graph.Neg(graph.Min(x, zero)))))
}

// StableMax is s(x) normalised along the last axis. logits must be a float
// tensor of rank ≥ 1; the output has its shape and sums to 1 along the last axis.
func StableMax(logits *graph.Node) *graph.Node {
	checkFloat("StableMax", logits)
	checkRank("StableMax", logits, 1)
	s := RationalExp(logits)
	return graph.Div(s, graph.ReduceAndKeep(s, graph.ReduceSum, -1))
}

// LogStableMax is log StableMax(logits) along the last axis, computed without
// forming the ratio: log s(x_i) − log Σ_j s(x_j).
func LogStableMax(logits *graph.Node) *graph.Node {
	checkFloat("LogStableMax", logits)
	checkRank("LogStableMax", logits, 1)
	return graph.Sub(logRationalExp(logits), graph.Log(graph.ReduceAndKeep(RationalExp(logits), graph.ReduceSum, -1)))
}

// CrossEntropy is the StableMax cross-entropy of logits [batch, classes]
// against integer class ids labels [batch]: per-example losses of shape
// [batch], in the logits' dtype. A label outside [0, classes) gives NaN for
// that example, never a plausible number.
func CrossEntropy(logits, labels *graph.Node) *graph.Node {
	return crossEntropy("CrossEntropy", LogStableMax, logits, labels)
}

// SoftmaxCrossEntropy is the ordinary softmax cross-entropy with the same
// shapes and label checks, evaluated in the logits' dtype: convert the logits
// to float16, float32 or float64 first to study the precision (the paper's
// Figure 2).
func SoftmaxCrossEntropy(logits, labels *graph.Node) *graph.Node {
	return crossEntropy("SoftmaxCrossEntropy", func(x *graph.Node) *graph.Node { return graph.LogSoftmax(x, -1) }, logits, labels)
}

func crossEntropy(name string, logProb func(*graph.Node) *graph.Node, logits, labels *graph.Node) *graph.Node {
	checkFloat(name, logits)
	if logits.Rank() != 2 {
		panicf("%s: logits must have shape [batch, classes], got %s", name, logits.Shape())
	}
	if !labels.DType().IsInt() {
		panicf("%s: labels must be integer class ids, got dtype %s", name, labels.DType())
	}
	if labels.Rank() != 1 || labels.Shape().Dimensions[0] != logits.Shape().Dimensions[0] {
		panicf("%s: labels must have shape [batch] = [%d], got %s", name, logits.Shape().Dimensions[0], labels.Shape())
	}
	batch, classes := logits.Shape().Dimensions[0], logits.Shape().Dimensions[1]
	g := logits.Graph()
	dtype := logits.DType()
	inRange := graph.LogicalAnd(
		graph.GreaterOrEqual(labels, graph.ScalarZero(g, labels.DType())),
		graph.LessThan(labels, graph.Scalar(g, labels.DType(), classes)))
	// Select the target's log-probability: a one-hot product would compute
	// 0·(−∞) = NaN wherever another class's log-probability underflows
	// (float16 at a large logit gap); a select never reads the others. (A
	// Gather does the same, but its gradient is a scatter: slower on CPU.)
	target := graph.Equal(graph.Iota(g, shapes.Make(labels.DType(), batch, classes), 1), graph.ExpandAxes(labels, -1))
	picked := graph.ReduceSum(graph.Where(target, logProb(logits), graph.ZerosLike(logits)), -1)
	return graph.Where(inRange, graph.Neg(picked), graph.Scalar(g, dtype, math.NaN()))
}

func checkFloat(name string, x *graph.Node) {
	if !x.DType().IsFloat() {
		panicf("%s: logits must be float (float16, float32 or float64), got dtype %s", name, x.DType())
	}
}

func checkRank(name string, x *graph.Node, min int) {
	if x.Rank() < min {
		panicf("%s: logits must have rank >= %d (classes on the last axis), got shape %s", name, min, x.Shape())
	}
}

// panicf reports a graph-building error the way GoMLX does: a panic with an
// error, which graph.Exec turns into the error its callers get.
func panicf(format string, args ...any) {
	panic(fmt.Errorf(format, args...))
}
