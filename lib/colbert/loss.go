package colbert

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// ContrastiveLoss is the in-batch-negatives loss: scores [n, n] with
// scores[i][j] = s(query i, document j), document i the positive of query
// i, every other document of the batch a negative; the mean over queries of
// the cross-entropy of softmax(scores[i] / temperature) at i.
func ContrastiveLoss(scores *graph.Node, temperature float64) *graph.Node {
	if scores.Rank() != 2 || scores.Shape().Dimensions[0] != scores.Shape().Dimensions[1] {
		exceptions.Panicf("colbert.ContrastiveLoss: want scores [n, n] (query i's positive is document i), got %s", scores.Shape())
	}
	if !(temperature > 0) {
		exceptions.Panicf("colbert.ContrastiveLoss: temperature %g must be positive", temperature)
	}
	n := scores.Shape().Dimensions[0]
	logp := graph.LogSoftmax(graph.MulScalar(scores, 1/temperature), -1)
	// The diagonal by selection, not by multiplying with the identity: a
	// document without a real token scores −Inf, and −Inf·0 would be NaN.
	eye := graph.Equal(graph.Iota(scores.Graph(), shapes.Make(dtypes.Int32, n, n), 0), graph.Iota(scores.Graph(), shapes.Make(dtypes.Int32, n, n), 1))
	zero := graph.ZerosLike(logp)
	return graph.Neg(graph.ReduceAllMean(graph.ReduceSum(graph.Where(eye, logp, zero), -1)))
}

// DistillationLoss is KL(teacher ‖ student) over n-way candidates, averaged
// over queries: student and teacher scores [nq, n] each turned into a
// distribution by a softmax over the candidates (the teacher's as given:
// scale it beforehand if its scores need a temperature).
func DistillationLoss(student, teacher *graph.Node) *graph.Node {
	if student.Rank() != 2 || !student.Shape().Equal(teacher.Shape()) {
		exceptions.Panicf("colbert.DistillationLoss: want student and teacher scores of one shape [nq, n], got %s and %s", student.Shape(), teacher.Shape())
	}
	logS := graph.LogSoftmax(student, -1)
	logT := graph.LogSoftmax(graph.StopGradient(teacher), -1)
	pT := graph.Exp(logT)
	// Candidates the teacher gives no mass contribute 0 (not 0·(−Inf − x) = NaN).
	terms := graph.Where(graph.GreaterThan(pT, graph.ZerosLike(pT)), graph.Mul(pT, graph.Sub(logT, logS)), graph.ZerosLike(pT))
	kl := graph.ReduceSum(terms, -1)
	return graph.ReduceAllMean(kl)
}
