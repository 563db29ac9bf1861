package ot

import (
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
)

// Graph-level pieces: usable inside any GoMLX graph (a model's loss, a
// layer), in the graph's dtype. They are differentiable where their ops are.

// lse is ε·log Σ exp(x/ε) over axis, stable (the max is taken out first);
// a row of −Inf gives −Inf.
func lse(x *graph.Node, axis int, eps float64) *graph.Node {
	scaled := graph.MulScalar(x, 1/eps)
	m := graph.ReduceAndKeep(scaled, graph.ReduceMax, axis)
	safeM := graph.Where(graph.IsFinite(m), m, graph.ZerosLike(m))
	s := graph.ReduceSum(graph.Exp(graph.Sub(scaled, safeM)), axis)
	return graph.MulScalar(graph.Add(graph.Log(s), graph.Squeeze(safeM, axis)), eps)
}

// SinkhornStep is one log-domain Sinkhorn step on the potentials f [n], g [m]
// for the cost c [n,m] and log-histograms logA [n], logB [m] (log 0 = −Inf):
//
//	f_i = ε log a_i − ε LSE_j((g_j − C_ij)/ε),   g_j = ε log b_j − ε LSE_i((f_i − C_ij)/ε).
func SinkhornStep(c, logA, logB, f, g *graph.Node, eps float64) (fNew, gNew *graph.Node) {
	fNew = graph.Sub(graph.MulScalar(logA, eps), lse(graph.Sub(graph.ExpandAxes(g, 0), c), 1, eps))
	gNew = graph.Sub(graph.MulScalar(logB, eps), lse(graph.Sub(graph.ExpandAxes(fNew, 1), c), 0, eps))
	return fNew, gNew
}

// SinkhornPotentials runs iters Sinkhorn steps from zero potentials (unrolled
// in the graph) and returns the potentials f, g.
func SinkhornPotentials(c, logA, logB *graph.Node, eps float64, iters int) (f, g *graph.Node) {
	f, g = graph.ZerosLike(logA), graph.ZerosLike(logB)
	for range iters {
		f, g = SinkhornStep(c, logA, logB, f, g, eps)
	}
	return f, g
}

// logPlan is (f_i + g_j − C_ij)/ε.
func logPlan(c, f, g *graph.Node, eps float64) *graph.Node {
	return graph.MulScalar(graph.Sub(graph.Add(graph.ExpandAxes(f, 1), graph.ExpandAxes(g, 0)), c), 1/eps)
}

// TransportPlan is P_ij = exp((f_i + g_j − C_ij)/ε).
func TransportPlan(c, f, g *graph.Node, eps float64) *graph.Node {
	return graph.Exp(logPlan(c, f, g, eps))
}

// MarginalError is ‖P1 − a‖₁ + ‖Pᵀ1 − b‖₁ for the plan p [n,m] and
// histograms a [n], b [m] (a scalar in p's dtype).
func MarginalError(p, a, b *graph.Node) *graph.Node {
	return graph.Add(graph.ReduceAllSum(graph.Abs(graph.Sub(graph.ReduceSum(p, 1), a))),
		graph.ReduceAllSum(graph.Abs(graph.Sub(graph.ReduceSum(p, 0), b))))
}

// dualObjective is L(f, g) = −ε Σ_ij P_ij + ⟨a, f⟩ + ⟨b, g⟩ in float64 for
// the plan p; an empty bin (a_i = 0, where f_i = −Inf) adds nothing.
func dualObjective(p, a, b, f, g *graph.Node, eps float64) *graph.Node {
	return dualFromMass(graph.ReduceAllSum(graph.ConvertDType(p, dtypes.Float64)), a, b, f, g, eps)
}

// dualFromMass is dualObjective given Σ_ij P_ij (float64). Its sums are dot
// products, so that it serves the Newton graph too (see newton_graph.go).
func dualFromMass(mass, a, b, f, g *graph.Node, eps float64) *graph.Node {
	inner := func(h, pot *graph.Node) *graph.Node {
		h, pot = to64(h), to64(pot)
		return sum64(graph.Where(graph.GreaterThan(h, graph.ZerosLike(h)), graph.Mul(h, pot), graph.ZerosLike(h)))
	}
	return graph.Add(graph.MulScalar(mass, -eps), graph.Add(inner(a, f), inner(b, g)))
}

// sinkhornSteps is the graph of k Sinkhorn steps: inputs (C [n,m], log a [n],
// log b [m], f [n], g [m]) → (f, g, marginal error after the last step,
// dual objective there; both float64).
func sinkhornSteps(k int, eps float64) func(in []*graph.Node) []*graph.Node {
	return func(in []*graph.Node) []*graph.Node {
		c, loga, logb, f, g := in[0], in[1], in[2], in[3], in[4]
		for range k {
			f, g = SinkhornStep(c, loga, logb, f, g, eps)
		}
		p, a, b := TransportPlan(c, f, g, eps), graph.Exp(loga), graph.Exp(logb)
		errSum := MarginalError(p, a, b)
		return []*graph.Node{f, g, graph.ConvertDType(errSum, dtypes.Float64), dualObjective(p, a, b, f, g, eps)}
	}
}

// planGraph computes P and ⟨C, P⟩ (float64) from the potentials.
func planGraph(eps float64) func(c, f, g *graph.Node) []*graph.Node {
	return func(c, f, g *graph.Node) []*graph.Node {
		p64 := graph.ConvertDType(TransportPlan(c, f, g, eps), dtypes.Float64)
		return []*graph.Node{p64, graph.ReduceAllSum(graph.Mul(p64, graph.ConvertDType(c, dtypes.Float64)))}
	}
}
