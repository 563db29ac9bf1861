package colbert

import (
	"math"

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
// scale it beforehand if its scores need a temperature). It is
// PyLateDistillation(student, teacher, false, true): PyLate's loss without
// its default min-max normalisation of the student scores.
func DistillationLoss(student, teacher *graph.Node) *graph.Node {
	if student.Rank() != 2 || !student.Shape().Equal(teacher.Shape()) {
		exceptions.Panicf("colbert.DistillationLoss: want student and teacher scores of one shape [nq, n], got %s and %s", student.Shape(), teacher.Shape())
	}
	// Candidates the teacher gives no mass contribute 0 (not 0·(−Inf − x) = NaN).
	return graph.ReduceAllMean(graph.ReduceSum(klTerms(student, teacher), -1))
}

// PyLate's reference code: github.com/lightonai/pylate at tag 1.3.2 (commit
// f63acba, 2025-09-23; the losses and scores are unchanged through 1.3.4,
// the releases current when the paper appeared) and at HEAD 1f1f47c
// (2026-04-30). Line numbers below are of 1.3.2 unless marked HEAD.

// PyLateContrastive is PyLate's Contrastive loss (pylate/losses/contrastive.py)
// for B (query, positive, negative₁ … negative_{N−1}) tuples with in-batch
// negatives: every query is scored against every document of the batch and
// the loss is the cross-entropy of softmax(scores[i] / temperature) at query
// i's own positive, averaged over the B queries when sizeAverage (PyLate's
// default, size_average=True, line 120: reduction "mean", line 207) or
// summed. PyLate's default temperature is 1.0 (line 122; HEAD line 131).
//
// scores is [B, N·B], group-major as PyLate 1.3.x concatenates the per-group
// score matrices along dim 1 (lines 190-201):
//
//	scores[i][k·B + j] = s(query i, document k of tuple j),
//
// k = 0 the positives, so query i's positive is column i (labels =
// arange(B), line 168) and N = 1 is ContrastiveLoss's [B, B]. PyLate at HEAD
// stacks the documents query-major instead (column j·N + k, labels i·N,
// HEAD lines 198 and 220): a permutation of the columns, which leaves the
// loss unchanged. Use GroupMajor to convert an [B, B, N] score tensor.
//
// PyLate masks nothing: a batch document with the same text as query i's
// positive (another tuple's positive or negative) is one of i's negatives.
// exclude, when not nil, is bool [B, N·B] in the same layout: true removes
// that column from query i's softmax (its logit becomes −Inf), for
// duplicates PyLate would keep (see ContrastiveExclusions); it is ignored on
// query i's positive column. PyLate's scores are finite (its masks multiply,
// see PyLateScores); −Inf scores (MaxSim's document without a real token)
// are allowed: a −Inf negative gets probability 0, a −Inf positive makes the
// loss +Inf; gradients stay finite.
func PyLateContrastive(scores, exclude *graph.Node, temperature float64, sizeAverage bool) *graph.Node {
	if scores == nil || scores.Rank() != 2 || !scores.DType().IsFloat() {
		exceptions.Panicf("colbert.PyLateContrastive: want float scores [B, N·B], got %v", shapeOf(scores))
	}
	b, cols := scores.Shape().Dimensions[0], scores.Shape().Dimensions[1]
	if b < 1 || cols < b || cols%b != 0 {
		exceptions.Panicf("colbert.PyLateContrastive: want scores [B, N·B] with N ≥ 1, got %s", scores.Shape())
	}
	if !(temperature > 0) || math.IsInf(temperature, 1) {
		exceptions.Panicf("colbert.PyLateContrastive: temperature %g must be positive and finite", temperature)
	}
	g := scores.Graph()
	logits := graph.MulScalar(scores, 1/temperature)
	iShape := shapes.Make(dtypes.Int32, b, cols)
	positive := graph.Equal(graph.Iota(g, iShape, 0), graph.Iota(g, iShape, 1))
	if exclude != nil {
		if !exclude.Shape().Equal(shapes.Make(dtypes.Bool, b, cols)) {
			exceptions.Panicf("colbert.PyLateContrastive: exclude must be bool %v like scores, got %s", []int{b, cols}, exclude.Shape())
		}
		drop := graph.LogicalAnd(exclude, graph.LogicalNot(positive))
		logits = graph.Where(drop, graph.BroadcastToShape(graph.Infinity(g, logits.DType(), -1), logits.Shape()), logits)
	}
	logp := graph.LogSoftmax(logits, -1)
	// Selection, not a product with the identity: −Inf·0 would be NaN.
	nll := graph.Neg(graph.ReduceSum(graph.Where(positive, logp, graph.ZerosLike(logp)), -1))
	if sizeAverage {
		return graph.ReduceAllMean(nll)
	}
	return graph.ReduceAllSum(nll)
}

// GroupMajor reshapes scores [B, B, N], scores[i][j][k] = s(query i,
// document k of tuple j), k = 0 the positive, into PyLateContrastive's
// group-major [B, N·B].
func GroupMajor(scores *graph.Node) *graph.Node {
	if scores == nil || scores.Rank() != 3 || scores.Shape().Dimensions[0] != scores.Shape().Dimensions[1] {
		exceptions.Panicf("colbert.GroupMajor: want scores [B, B, N], got %v", shapeOf(scores))
	}
	d := scores.Shape().Dimensions
	return graph.Reshape(graph.Transpose(scores, 1, 2), d[0], d[2]*d[0])
}

// PyLateDistillation is PyLate's Distillation loss
// (pylate/losses/distillation.py): student scores [B, n] (the model's
// ColBERT scores of each query's n candidates) against teacher logits [B, n]
// (the dataset's scores, PyLate's labels), torch.nn.KLDivLoss(log_target=True)
// of log_softmax(student) from log_softmax(teacher) (lines 64-66, 131-134):
//
//	Σ_i Σ_j p_t(i,j) · (log p_t(i,j) − log p_s(i,j)),
//
// divided by B when sizeAverage (reduction "batchmean", PyLate's default
// size_average=True, line 60) or not (reduction "sum").
//
// normalize is PyLate's normalize_scores (default True, line 61): the
// student scores, and only they, are min-max normalised per query across
// its n candidates, (s − min) / (max − min + 1e-8) (lines 121-130), with
// the gradient flowing through the min and the max (to their first index,
// as torch.max/min along a dimension). The teacher logits are used as given:
// no normalisation, no temperature. There is no normalisation by the number
// of query tokens.
//
// Beyond PyLate: the teacher is a constant (StopGradient); a candidate the
// teacher gives probability 0 (a −Inf logit) contributes 0 where torch's
// kl_div gives NaN; a −Inf student score stays −Inf through the
// normalisation, whose min and max are over the row's finite scores.
func PyLateDistillation(student, teacher *graph.Node, normalize, sizeAverage bool) *graph.Node {
	if student == nil || teacher == nil || student.Rank() != 2 || !student.DType().IsFloat() || !student.Shape().Equal(teacher.Shape()) {
		exceptions.Panicf("colbert.PyLateDistillation: want float student and teacher scores of one shape [B, n], got %v and %v", shapeOf(student), shapeOf(teacher))
	}
	if normalize {
		student = minMaxNormalize(student)
	}
	kl := graph.ReduceSum(klTerms(student, teacher), -1)
	if sizeAverage {
		return graph.ReduceAllMean(kl)
	}
	return graph.ReduceAllSum(kl)
}

// klTerms returns p_t · (log p_t − log p_s) [B, n] for logits student and
// teacher, 0 where p_t = 0.
func klTerms(student, teacher *graph.Node) *graph.Node {
	logS := graph.LogSoftmax(student, -1)
	logT := graph.LogSoftmax(graph.StopGradient(teacher), -1)
	pT := graph.Exp(logT)
	return graph.Where(graph.GreaterThan(pT, graph.ZerosLike(pT)), graph.Mul(pT, graph.Sub(logT, logS)), graph.ZerosLike(pT))
}

// minMaxNormalize is PyLate's normalize_scores on s [B, n]: (s − min) /
// (max − min + 1e-8) per row, min and max by index selection (gradient to
// the first extreme, as torch). −Inf entries are left out of the min and stay
// −Inf; a row without a finite entry is returned as it is.
func minMaxNormalize(s *graph.Node) *graph.Node {
	g := s.Graph()
	b, n := s.Shape().Dimensions[0], s.Shape().Dimensions[1]
	negInf := graph.BroadcastToShape(graph.Infinity(g, s.DType(), -1), s.Shape())
	posInf := graph.BroadcastToShape(graph.Infinity(g, s.DType(), 1), s.Shape())
	isNegInf := graph.Equal(s, negInf)
	at := func(idx *graph.Node) *graph.Node { // s[i][idx[i]], [B, 1]
		iota := graph.Iota(g, shapes.Make(dtypes.Int32, b, n), 1)
		sel := graph.Equal(iota, graph.BroadcastToDims(graph.Reshape(idx, b, 1), b, n))
		return graph.ReduceSum(graph.Where(sel, s, graph.ZerosLike(s)), -1)
	}
	hi := at(graph.ArgMax(s, -1))
	lo := at(graph.ArgMin(graph.Where(isNegInf, posInf, s), -1))
	finiteRow := graph.IsFinite(hi)
	zero := graph.ZerosLike(hi)
	hi = graph.BroadcastToDims(graph.Reshape(graph.Where(finiteRow, hi, zero), b, 1), b, n)
	lo = graph.BroadcastToDims(graph.Reshape(graph.Where(finiteRow, lo, zero), b, 1), b, n)
	// −Inf entries are replaced before the arithmetic so that the branch
	// Where discards has no Inf/NaN to poison the gradient.
	safe := graph.Where(isNegInf, lo, s)
	eps := graph.Scalar(g, s.DType(), 1e-8)
	norm := graph.Div(graph.Sub(safe, lo), graph.Add(graph.Sub(hi, lo), eps))
	return graph.Where(isNegInf, negInf, norm)
}

// shapeOf is x's shape for messages, "<nil>" for a nil node.
func shapeOf(x *graph.Node) any {
	if x == nil {
		return "<nil>"
	}
	return x.Shape()
}
