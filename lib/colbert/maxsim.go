// Package colbert is late-interaction retrieval as in ColBERT, for the paper
// "Simple Projection Variants Improve ColBERT Performance" (Clavié et al.
// 2025): MaxSim scoring with document padding masks, the projection heads
// that map encoder token vectors to the k-dimensional MaxSim space (the
// linear baseline and the paper's variants), L2 normalisation, the
// contrastive and distillation losses, and retrieval metrics with
// trec_eval's conventions (NDCG@k as BEIR reports it, Recall@k, MRR@k).
package colbert

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// MaxSim scores queries [nq, Lq, k] against docs [nd, Ld, k] with docMask
// bool [nd, Ld] (false = padding): s(q, d) = Σ_i max_{j real} ⟨q_i, d_j⟩,
// [nq, nd]. Padding is never selected, even when every real similarity is
// negative; a document with no real token scores −Inf. Every query token
// counts (ColBERT's query augmentation tokens are real tokens of the query).
//
// The gradient goes, per query token, to one winning document token — the
// first maximal one — as PyTorch's max does (GoMLX's ReduceMax would give
// the full gradient to every tied maximum): the max is taken by ArgMax and a
// one-hot selection.
func MaxSim(queries, docs, docMask *graph.Node) *graph.Node {
	sim, mask := similarities(queries, docs, docMask)
	g := sim.Graph()
	ld := docs.Shape().Dimensions[1]
	masked := graph.Where(mask, sim, graph.BroadcastToShape(graph.Infinity(g, sim.DType(), -1), sim.Shape()))
	winner := graph.OneHot(graph.ArgMax(masked, -1), ld, sim.DType()) // [nq, nd, Lq, Ld]
	best := graph.ReduceSum(graph.Mul(sim, graph.StopGradient(winner)), -1)
	return graph.ReduceSum(noRealToken(best, docMask), -1)
}

// MaxSimScores is MaxSim's value by a plain masked max (faster; its
// gradient would reach every tied maximum): for scoring, not training.
func MaxSimScores(queries, docs, docMask *graph.Node) *graph.Node {
	sim, mask := similarities(queries, docs, docMask)
	masked := graph.Where(mask, sim, graph.BroadcastToShape(graph.Infinity(sim.Graph(), sim.DType(), -1), sim.Shape()))
	return graph.ReduceSum(graph.ReduceMax(masked, -1), -1)
}

// similarities returns ⟨q_i, d_j⟩ [nq, nd, Lq, Ld] and the mask broadcast
// to it, after checking the arguments.
func similarities(queries, docs, docMask *graph.Node) (sim, mask *graph.Node) {
	if queries == nil || docs == nil || docMask == nil {
		exceptions.Panicf("colbert.MaxSim: queries, docs and docMask are required")
	}
	if queries.Rank() != 3 || docs.Rank() != 3 {
		exceptions.Panicf("colbert.MaxSim: want queries [nq, Lq, k] and docs [nd, Ld, k], got %s and %s", queries.Shape(), docs.Shape())
	}
	if !queries.DType().IsFloat() || queries.DType() != docs.DType() {
		exceptions.Panicf("colbert.MaxSim: queries (%s) and docs (%s) must have one float dtype", queries.DType(), docs.DType())
	}
	qd, dd := queries.Shape().Dimensions, docs.Shape().Dimensions
	if qd[2] != dd[2] {
		exceptions.Panicf("colbert.MaxSim: embedding dimensions differ: queries %s, docs %s", queries.Shape(), docs.Shape())
	}
	if md := docMask.Shape().Dimensions; docMask.Rank() != 2 || md[0] != dd[0] || md[1] != dd[1] || docMask.DType().String() != "Bool" {
		exceptions.Panicf("colbert.MaxSim: docMask must be bool [nd, Ld] = [%d, %d], got %s", dd[0], dd[1], docMask.Shape())
	}
	sim = graph.Einsum("qik,djk->qdij", queries, docs)
	mask = graph.BroadcastToDims(graph.Reshape(docMask, 1, dd[0], 1, dd[1]), qd[0], dd[0], qd[1], dd[1])
	return sim, mask
}

// noRealToken sets best [nq, nd, Lq] to −Inf for documents without a real token.
func noRealToken(best, docMask *graph.Node) *graph.Node {
	anyReal := graph.ReduceLogicalOr(docMask, -1) // [nd]
	d := best.Shape().Dimensions
	anyReal = graph.BroadcastToDims(graph.Reshape(anyReal, 1, d[1], 1), d...)
	return graph.Where(anyReal, best, graph.BroadcastToShape(graph.Infinity(best.Graph(), best.DType(), -1), best.Shape()))
}
