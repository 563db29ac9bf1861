package ot

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
)

// A Newton step stays on the device: the conjugate gradient and the line
// search are graph.While loops inside one compiled graph, so that a step
// costs one device call on XLA (two on the go backend, which selects the
// Hessian's entries on the host between them: see newtonSystem) instead of
// 3 + ⌈CG/10⌉ + line-search trials.
//
// Measured with BenchmarkSNSAssignment500 (random assignment, n = 500,
// ε = 1/1200, tol 1e-9, KeepTotal = 2n: 58 iterations, 38 of them Newton
// steps) on xla:cpu, 2 shared cores, alternating runs: the host loop took
// 435 device calls and 31–35 ms per Newton step, this graph 41 calls and
// 27–32 ms. The step's cost is GoMLX's TopK, a full sort of the n·m
// entries (≈ 20 ms of it); selecting on the host instead (hostSelect, two
// calls per step) takes 15 ms per step with the host loop and 11–14 ms
// with this graph.
//
// While runs on the go backend too (lib/train saw it fail there; these
// loops pass every SNS test on go and xla:cpu). Three rules of GoMLX v0.28.8
// / go-xla v0.4.5's While on XLA that this file lives by:
//   - A closure cannot read a node of the enclosing function: all it
//     reads (the plan, the Hessian's entries, the loop limits) travels in the
//     loop state. The limits are inputs of the graph, not constants.
//   - Scalar constants (MulScalar, OnesLike, ZerosLike, ScalarZero…) are
//     cached per graph, not per function: one made in the main function and
//     asked for again inside a closure is the main function's node, which XLA
//     refuses. Closures build their constants with constLike and filled
//     (graph.ConstAsDType, never cached).
//   - go-xla caches the reduction computation of Reduce* and Scatter* per
//     (dtype, operation) for the whole graph, as a closure of the first
//     function that asked for it: the same reduction in another function then
//     fails ("… is not a StableHLO closure of …"). The conjugate gradient's
//     sparse products need ScatterSum, so it owns the (float, sum) reduction:
//     everywhere else in the Newton graph, float sums are dot products
//     (DotGeneral, in float64, which XLA never runs in TF32). Integer sums
//     (the empty-row counts of selectInGraph) do not collide. A segmented
//     scan over sorted entries avoids the scatter too, but cost 5× as much
//     per product (90 µs against 18 µs at K = 1000, xla:cpu).

// Status codes of a Newton step, as the graph returns them.
const (
	newtonOK             = 0
	newtonCGBreakdown    = 1
	newtonNotAscent      = 2
	newtonLineSearchFail = 3
)

// constLike is the scalar v in x's dtype, made in the current function
// (safe inside a While closure).
func constLike(x *graph.Node, v float64) *graph.Node {
	return graph.ConstAsDType(x.Graph(), x.DType(), v)
}

// filled is a vector [size] of v in dtype, made in the current function.
func filled(g *graph.Graph, dtype dtypes.DType, size int, v float64) *graph.Node {
	return graph.BroadcastToShape(graph.ConstAsDType(g, dtype, v), shapes.Make(dtype, size))
}

func to64(x *graph.Node) *graph.Node { return graph.ConvertDType(x, dtypes.Float64) }

// dot64 is ⟨x, y⟩ in float64 for vectors, or the matrix–vector product.
func dot64(x, y *graph.Node) *graph.Node { return graph.Dot(to64(x), to64(y)).Product() }

// dot2 is ⟨(x1, x2), (y1, y2)⟩ in float64.
func dot2(x1, x2, y1, y2 *graph.Node) *graph.Node { return graph.Add(dot64(x1, y1), dot64(x2, y2)) }

// sum64 is the sum of a vector's entries in float64.
func sum64(x *graph.Node) *graph.Node {
	return dot64(x, filled(x.Graph(), dtypes.Float64, x.Shape().Dimensions[0], 1))
}

// whileLoop runs graph.While from state: cond and body see the loop's
// parameters (same shapes as state, in order); body returns the next state.
func whileLoop(state []*graph.Node, cond func(s []*graph.Node) *graph.Node, body func(s []*graph.Node) []*graph.Node) []*graph.Node {
	g := state[0].Graph()
	params := func(g *graph.Graph) []*graph.Node {
		ps := make([]*graph.Node, len(state))
		for i, x := range state {
			ps[i] = graph.Parameter(g, fmt.Sprintf("s%d", i), x.Shape())
		}
		return ps
	}
	c := graph.NewClosure(g, func(g *graph.Graph) []*graph.Node { return []*graph.Node{cond(params(g))} })
	b := graph.NewClosure(g, func(g *graph.Graph) []*graph.Node { return body(params(g)) })
	return graph.While(c, b, state...)
}

// sparseApply is M·(u, v) for M = [[diag(dr), Ps], [Psᵀ, diag(dc)]], Ps given
// in COO form by its values vals [K] at rows [K,1] and cols [K,1]. Safe
// inside a While closure, which then owns the (dtype, sum) reduction.
func sparseApply(dr, dc, vals, rows, cols, u, v *graph.Node) (mu, mv *graph.Node) {
	zerosU, zerosV := filled(u.Graph(), u.DType(), u.Shape().Dimensions[0], 0), filled(v.Graph(), v.DType(), v.Shape().Dimensions[0], 0)
	psv := graph.ScatterSum(zerosU, rows, graph.Mul(vals, graph.Gather(v, cols)), false, false)  // (Ps v)_i = Σ_{k: row k = i} vals_k v_col(k)
	pstu := graph.ScatterSum(zerosV, cols, graph.Mul(vals, graph.Gather(u, rows)), false, false) // (Psᵀ u)_j
	return graph.Add(graph.Mul(dr, u), psv), graph.Add(graph.Mul(dc, v), pstu)
}

// newtonInputs is what the device-resident part of a Newton step starts from.
type newtonInputs struct {
	a, b, f, g             *graph.Node
	logP, p                *graph.Node // log P and P at (f, g)
	rhsU, rhsV             *graph.Node // ε∇L = ε(a − P1, b − Pᵀ1)
	dr, dc                 *graph.Node // the system's diagonal (with the ridge)
	errNow, mass           *graph.Node // the marginal error and Σ P at (f, g), float64
	vals, rows, cols       *graph.Node // the kept entries of P (COO: [K], [K,1], [K,1])
	maxCG, cgTol, maxTries *graph.Node // int32, float64 (0: the forcing term), int32
}

// conjugateGradient solves M·(du, dv) = (rhsU, rhsV) by Jacobi-preconditioned
// CG from 0, until the residual's norm is at most stop (float64) or after
// maxCG iterations, or once it is not finite. It returns du, dv, the
// iterations run (int32) and the residual's norm (float64).
func conjugateGradient(in newtonInputs, stop *graph.Node) (du, dv, iters, norm *graph.Node) {
	ir, ic := jacobi(in.dr), jacobi(in.dc)
	zu, zv := graph.Mul(ir, in.rhsU), graph.Mul(ic, in.rhsV)
	state := []*graph.Node{
		graph.ScalarZero(in.a.Graph(), dtypes.Int32),       // 0: iteration
		graph.ZerosLike(in.rhsU), graph.ZerosLike(in.rhsV), // 1, 2: du, dv
		in.rhsU, in.rhsV, // 3, 4: the residual
		zu, zv, // 5, 6: the search direction
		dot2(in.rhsU, in.rhsV, zu, zv),                       // 7: ⟨res, z⟩ (float64)
		graph.Sqrt(dot2(in.rhsU, in.rhsV, in.rhsU, in.rhsV)), // 8: ‖res‖ (float64)
		stop, in.maxCG, in.dr, in.dc, ir, ic, in.vals, in.rows, in.cols, // 9–17: read only
	}
	out := whileLoop(state, func(s []*graph.Node) *graph.Node {
		return graph.LogicalAnd(graph.LessThan(s[0], s[10]),
			graph.LogicalAnd(graph.GreaterThan(s[8], s[9]), graph.IsFinite(s[8])))
	}, func(s []*graph.Node) []*graph.Node {
		du, dv, ru, rv, pu, pv, rz := s[1], s[2], s[3], s[4], s[5], s[6], s[7]
		dr, dc, ir, ic, vals, rows, cols := s[11], s[12], s[13], s[14], s[15], s[16], s[17]
		zero, one := constLike(rz, 0), constLike(rz, 1)
		qu, qv := sparseApply(dr, dc, vals, rows, cols, pu, pv)
		pq := dot2(pu, pv, qu, qv)
		// Once the residual is exactly zero (or the curvature vanishes), the state stops moving.
		ok := graph.GreaterThan(pq, zero)
		alpha := graph.ConvertDType(graph.Where(ok, graph.Div(rz, graph.Where(ok, pq, one)), zero), du.DType())
		du, dv = graph.Add(du, graph.Mul(alpha, pu)), graph.Add(dv, graph.Mul(alpha, pv))
		ru, rv = graph.Sub(ru, graph.Mul(alpha, qu)), graph.Sub(rv, graph.Mul(alpha, qv))
		zu, zv := graph.Mul(ir, ru), graph.Mul(ic, rv)
		rzNew := dot2(ru, rv, zu, zv)
		okRz := graph.GreaterThan(rz, zero)
		beta := graph.ConvertDType(graph.Where(okRz, graph.Div(rzNew, graph.Where(okRz, rz, one)), zero), du.DType())
		pu, pv = graph.Add(zu, graph.Mul(beta, pu)), graph.Add(zv, graph.Mul(beta, pv))
		next := []*graph.Node{graph.Add(s[0], constLike(s[0], 1)), du, dv, ru, rv, pu, pv, rzNew, graph.Sqrt(dot2(ru, rv, ru, rv))}
		return append(next, s[9:]...)
	})
	return out[1], out[2], out[0], out[8]
}

// jacobi is the Jacobi preconditioner 1/d; an empty row or column (zero
// mass, d = 0) gets 1 and keeps its residual.
func jacobi(d *graph.Node) *graph.Node {
	pos := graph.GreaterThan(d, graph.ZerosLike(d))
	return graph.Where(pos, graph.Reciprocal(graph.Where(pos, d, graph.OnesLike(d))), graph.OnesLike(d))
}

// lineSearch backtracks from α = 1, halving α up to maxTries times, until
// ΔL = L(z + αΔ) − L(z) ≥ armijo·α·slope with a finite marginal error at the
// new point. ΔL = α·slope − ε Σ P·(e^δ − 1 − δ), δ = α(du_i + dv_j)/ε, is
// computed with expm1 so that it does not cancel when the step is large and
// the slope small. P is the one the system was built from: no trial
// recomputes it. skip starts the loop exhausted (a failed CG, no ascent).
// It returns whether a step was accepted, α, and at the new point the
// marginal error and Σ P (all float64 but the first).
func lineSearch(in newtonInputs, du, dv, slope, skip *graph.Node, eps float64) (accepted, alpha, errNew, mass *graph.Node) {
	g := in.a.Graph()
	zero64 := graph.ScalarZero(g, dtypes.Float64)
	state := []*graph.Node{
		graph.Where(skip, in.maxTries, graph.ZerosLike(in.maxTries)), // 0: trial
		graph.ScalarOne(g, dtypes.Float64),                           // 1: α
		graph.ScalarZero(g, dtypes.Bool),                             // 2: accepted
		zero64, zero64,                                               // 3, 4: marginal error and mass at the trial point
		in.logP, in.p, to64(in.a), to64(in.b), du, dv, slope, in.maxTries, // 5–12: read only
	}
	out := whileLoop(state, func(s []*graph.Node) *graph.Node {
		return graph.LogicalAnd(graph.LogicalNot(s[2]), graph.LessThan(s[0], s[12]))
	}, func(s []*graph.Node) []*graph.Node {
		alpha, logP, p, a, b, du, dv, slope := s[1], s[5], s[6], s[7], s[8], s[9], s[10], s[11]
		n, m := p.Shape().Dimensions[0], p.Shape().Dimensions[1]
		onesN, onesM := filled(p.Graph(), dtypes.Float64, n, 1), filled(p.Graph(), dtypes.Float64, m, 1)
		step := graph.ConvertDType(graph.Mul(alpha, constLike(alpha, 1/eps)), p.DType())
		delta := graph.Mul(step, graph.Add(graph.ExpandAxes(du, 1), graph.ExpandAxes(dv, 0)))
		pNew := graph.Exp(graph.Add(logP, delta))
		small := graph.LessThan(graph.Abs(delta), constLike(delta, 1))
		curv := graph.Where(small, graph.Mul(p, graph.Sub(graph.Expm1(delta), delta)),
			graph.Sub(pNew, graph.Mul(p, graph.Add(constLike(delta, 1), delta))))
		dL := graph.Sub(graph.Mul(alpha, slope), graph.Mul(constLike(slope, eps), dot64(dot64(curv, onesM), onesN)))
		rowSums, colSums := dot64(pNew, onesM), dot64(onesN, pNew)
		errNew := graph.Add(dot64(graph.Abs(graph.Sub(rowSums, a)), onesN), dot64(graph.Abs(graph.Sub(colSums, b)), onesM))
		ok := graph.LogicalAnd(graph.GreaterOrEqual(dL, graph.Mul(constLike(alpha, armijo), graph.Mul(alpha, slope))),
			graph.LogicalNot(graph.IsNaN(errNew)))
		next := []*graph.Node{graph.Add(s[0], constLike(s[0], 1)),
			graph.Where(ok, alpha, graph.Mul(alpha, constLike(alpha, 0.5))), ok, errNew, dot64(rowSums, onesN)}
		return append(next, s[5:]...)
	})
	return out[2], out[1], out[3], out[4]
}

// newtonSolve is the device-resident part of a Newton step: CG, then the
// line search. Its outputs: (f, g) after the step (unchanged when it
// failed), the status (int32, newtonOK…), the CG iterations (int32), α, the
// marginal error and the dual objective after the step, the slope ⟨∇L, Δ⟩,
// the CG residual's norm and the right-hand side's (all float64).
func newtonSolve(in newtonInputs, eps float64) []*graph.Node {
	g := in.a.Graph()
	// Inexact Newton: the CG tolerance tightens as the marginal error falls
	// (forcing term min(0.1, √error), at least 1e-12), unless Options.CGTol fixes it.
	forcing := graph.MaxScalar(graph.MinScalar(graph.Sqrt(in.errNow), 0.1), 1e-12)
	cgTol := graph.Where(graph.GreaterThan(in.cgTol, graph.ZerosLike(in.cgTol)), in.cgTol, forcing)
	rhsNorm := graph.Sqrt(dot2(in.rhsU, in.rhsV, in.rhsU, in.rhsV))
	du, dv, iters, norm := conjugateGradient(in, graph.Mul(cgTol, rhsNorm))
	broke := graph.LogicalNot(graph.IsFinite(norm))
	// slope = ⟨a − P1, du⟩ + ⟨b − Pᵀ1, dv⟩ = ⟨rhs, Δ⟩/ε.
	slope := graph.MulScalar(dot2(in.rhsU, in.rhsV, du, dv), 1/eps)
	notAscent := graph.LogicalNot(graph.GreaterThan(slope, graph.ZerosLike(slope)))
	accepted, alpha, errNew, mass := lineSearch(in, du, dv, slope, graph.LogicalOr(broke, notAscent), eps)
	code := func(c int) *graph.Node { return graph.Scalar(g, dtypes.Int32, c) }
	status := graph.Where(broke, code(newtonCGBreakdown), graph.Where(notAscent, code(newtonNotAscent),
		graph.Where(accepted, code(newtonOK), code(newtonLineSearchFail))))
	step := graph.ConvertDType(alpha, in.f.DType())
	fNew := graph.Where(accepted, graph.Add(in.f, graph.Mul(step, du)), in.f)
	gNew := graph.Where(accepted, graph.Add(in.g, graph.Mul(step, dv)), in.g)
	return []*graph.Node{fNew, gNew, status, iters, graph.Where(accepted, alpha, graph.ZerosLike(alpha)), errNew,
		dualFromMass(mass, in.a, in.b, fNew, gNew, eps), slope, norm, rhsNorm}
}

// newtonStepGraph is one whole Newton step as one graph (XLA): inputs (C, a,
// b, f, g, maxCG int32, CG tolerance float64 (0: the forcing term), maxTries
// int32); outputs those of newtonSolve, then the dropped mass (float64) and
// the rows and columns without a kept entry (int32).
func newtonStepGraph(eps float64, sel selection, ridge float64) func(in []*graph.Node) []*graph.Node {
	return func(in []*graph.Node) []*graph.Node {
		sys := systemNodes(in[0], in[1], in[2], in[3], in[4], eps, ridge)
		kept := selectInGraph(sys.p, sys.mass, sel)
		sys.vals, sys.rows, sys.cols = kept[0], kept[1], kept[2]
		sys.maxCG, sys.cgTol, sys.maxTries = in[5], in[6], in[7]
		return append(newtonSolve(sys, eps), kept[3:]...)
	}
}

// newtonSolveGraph is newtonSolve as a graph of its own (the go backend,
// after newtonSystem and the host's selection): inputs (C, a, b, f, g, P,
// rhs_f, rhs_g, the diagonal's two halves, the marginal error, the kept
// values, row and column indices, maxCG, CG tolerance, maxTries).
func newtonSolveGraph(eps float64) func(in []*graph.Node) []*graph.Node {
	return func(in []*graph.Node) []*graph.Node {
		c, f, g := in[0], in[3], in[4]
		return newtonSolve(newtonInputs{a: in[1], b: in[2], f: f, g: g, logP: logPlan(c, f, g, eps), p: in[5],
			rhsU: in[6], rhsV: in[7], dr: in[8], dc: in[9], errNow: in[10], vals: in[11], rows: in[12], cols: in[13],
			maxCG: in[14], cgTol: in[15], maxTries: in[16]}, eps)
	}
}
