package ot

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
)

// Sinkhorn-Newton-Sparse (Tang et al., ICLR 2024). The dual objective
//
//	L(f, g) = −ε Σ_ij P_ij + ⟨a, f⟩ + ⟨b, g⟩,   P_ij = exp((f_i + g_j − C_ij)/ε),
//
// is concave with ∇L = (a − P1, b − Pᵀ1) and ∇²L = −(1/ε)·M,
// M = [[diag(P1), P], [Pᵀ, diag(Pᵀ1)]]. After a warm start of Sinkhorn
// steps, each Newton step keeps the largest KeepTotal entries of P (Ps; the
// paper's rule) or the largest KeepPerRow of every row, solves
// [[diag(P1), Ps], [Psᵀ, diag(Pᵀ1)]]·Δ = ε∇L by Jacobi-preconditioned
// conjugate gradient (the diagonal is exact, so the matrix is diagonally
// dominant, hence positive semi-definite, and its only null direction
// (1, −1) of a connected support is orthogonal to ∇L), with a small
// Levenberg–Marquardt ridge on the diagonal (lmRidge), and moves along Δ
// with a backtracking (Armijo) line search on L. L(z + αΔ) − L(z) is
// computed directly, with expm1, so the line search stays meaningful when
// the step changes L by less than L's rounding error. The whole step is one
// compiled graph (newton_graph.go).

// snsDefaults fills in the SNS-specific zero values for an n×m problem and
// returns the Hessian's selection rule; KeepTotal > n·m is an error.
func (o Options) snsDefaults(n, m int) (Options, selection, error) {
	if o.WarmStartIters == 0 {
		o.WarmStartIters = 20
	}
	if o.MaxCG == 0 {
		o.MaxCG = max(500, 10*(n+m))
	}
	if n*m > math.MaxInt32 {
		return o, selection{}, fmt.Errorf("ot: the plan has %d×%d entries, more than the int32 indices of the sparse Hessian address", n, m)
	}
	if o.KeepTotal > n*m {
		return o, selection{}, fmt.Errorf("ot: KeepTotal = %d is more than the plan's %d×%d = %d entries", o.KeepTotal, n, m, n*m)
	}
	if o.KeepTotal == 0 && o.KeepPerRow > 0 {
		o.KeepPerRow = min(o.KeepPerRow, m)
		return o, selection{perRow: true, keep: o.KeepPerRow}, nil
	}
	if o.KeepTotal == 0 {
		o.KeepTotal = min(2*max(n, m), n*m) // the paper's λ = 2/n
	}
	return o, selection{keep: o.KeepTotal}, nil
}

func (o Options) checkSNS() error {
	switch {
	case o.WarmStartIters < 0:
		return fmt.Errorf("ot: WarmStartIters = %d must not be negative", o.WarmStartIters)
	case o.KeepTotal < 0:
		return fmt.Errorf("ot: KeepTotal = %d must not be negative", o.KeepTotal)
	case o.KeepPerRow < 0:
		return fmt.Errorf("ot: KeepPerRow = %d must not be negative", o.KeepPerRow)
	case o.CGTol < 0 || math.IsNaN(o.CGTol) || o.CGTol >= 1:
		return fmt.Errorf("ot: CGTol = %g: want a relative residual in [0, 1)", o.CGTol)
	case o.MaxCG < 0:
		return fmt.Errorf("ot: MaxCG = %d must not be negative", o.MaxCG)
	}
	return nil
}

// lmRidge scales the Levenberg–Marquardt safeguard: the Newton system's
// diagonal is multiplied by 1 + lmRidge·min(1, marginal error). Far from the
// solution it bounds the step along the nearly singular directions of a
// plan whose support has almost split in pieces (small ε); near the solution
// it vanishes, so the fast local convergence is kept. Measured on random
// problems (50×60 points, ε = 1e-4, xla:cpu): no ridge 347 iterations with 23 fallbacks,
// 0.1 → 150 with none, 1 → 809 (too damped).
const lmRidge = 0.1

// armijo is the sufficient-increase constant of the line search, and
// lineSearchSteps the number of step halvings tried before a fallback.
const (
	armijo          = 1e-4
	lineSearchSteps = 40
)

// systemNodes builds, at (f, g), what a Newton step starts from: log P, P,
// the right-hand side ε∇L = ε(a − P1, b − Pᵀ1), the system's diagonal
// (1 + τ)·P1 and (1 + τ)·Pᵀ1 with the Levenberg–Marquardt τ = ridge·min(1,
// error), and the marginal error (float64). P's sums are float64 dot
// products, not ReduceSum: see newton_graph.go for why.
func systemNodes(c, a, b, f, g *graph.Node, eps, ridge float64) newtonInputs {
	logP := logPlan(c, f, g, eps)
	p := graph.Exp(logP)
	n, m := p.Shape().Dimensions[0], p.Shape().Dimensions[1]
	onesN, onesM := filled(p.Graph(), dtypes.Float64, n, 1), filled(p.Graph(), dtypes.Float64, m, 1)
	r, col := dot64(p, onesM), dot64(onesN, p)
	gf, gg := graph.Sub(to64(a), r), graph.Sub(to64(b), col)
	errSum := graph.Add(dot64(graph.Abs(gf), onesN), dot64(graph.Abs(gg), onesM))
	scale := graph.OnePlus(graph.MulScalar(graph.MinScalar(errSum, 1), ridge))
	dt := func(x *graph.Node) *graph.Node { return graph.ConvertDType(x, p.DType()) }
	return newtonInputs{a: a, b: b, f: f, g: g, logP: logP, p: p,
		rhsU: dt(graph.MulScalar(gf, eps)), rhsV: dt(graph.MulScalar(gg, eps)), dr: dt(graph.Mul(r, scale)), dc: dt(graph.Mul(col, scale)),
		errNow: errSum, mass: dot64(r, onesN)}
}

// newtonSystem is the first graph of a Newton step on the go backend:
// (C, a, b, f, g) → (rhs_f, rhs_g, the diagonal's two halves, the marginal
// error, P) of systemNodes; the Solver selects P's entries on the host
// (hostSelection) and passes all of it to newtonSolveGraph.
//
// GoMLX's TopK is a full sort with a comparator closure: XLA compiles it
// (newtonStepGraph selects in the graph), but the go backend interprets the
// closure per comparison, which costs about a second per Newton step at
// n = 100, so the go backend selects on the host.
func newtonSystem(eps, ridge float64) func(in []*graph.Node) []*graph.Node {
	return func(in []*graph.Node) []*graph.Node {
		s := systemNodes(in[0], in[1], in[2], in[3], in[4], eps, ridge)
		return []*graph.Node{s.rhsU, s.rhsV, s.dr, s.dc, s.errNow, s.p}
	}
}

// selectInGraph is sel applied to the plan p [n,m] of total mass mass
// (float64) with GoMLX's TopK: (values [K], row indices [K,1], column
// indices [K,1], the fraction of P's mass dropped (float64), rows and
// columns without a kept entry (int32)).
func selectInGraph(p, mass *graph.Node, sel selection) []*graph.Node {
	n, m := p.Shape().Dimensions[0], p.Shape().Dimensions[1]
	var vals, rows, cols *graph.Node
	if sel.perRow {
		v, j := graph.TopK(p, sel.keep, 1)
		k := n * sel.keep
		vals = graph.Reshape(v, k)
		cols = graph.Reshape(graph.ConvertDType(j, dtypes.Int32), k, 1)
		rows = graph.Reshape(graph.Iota(p.Graph(), shapes.Make(dtypes.Int32, n, sel.keep), 0), k, 1)
	} else {
		v, e := graph.TopK(graph.Reshape(p, n*m), sel.keep, 0)
		e = graph.ConvertDType(e, dtypes.Int32)
		width := graph.Scalar(p.Graph(), dtypes.Int32, m)
		vals = v
		rows = graph.ExpandAxes(graph.Div(e, width), -1)
		cols = graph.ExpandAxes(graph.Sub(e, graph.Mul(graph.Div(e, width), width)), -1)
	}
	dropped := graph.MaxScalar(graph.OneMinus(graph.Div(sum64(vals), mass)), 0)
	without := func(idx *graph.Node, size int) *graph.Node {
		ones := graph.OnesLike(graph.Squeeze(idx, -1))
		counts := graph.ScatterSum(graph.Zeros(p.Graph(), shapes.Make(dtypes.Int32, size)), idx, ones, false, false)
		return graph.ReduceAllSum(graph.ConvertDType(graph.Equal(counts, graph.ZerosLike(counts)), dtypes.Int32))
	}
	return []*graph.Node{vals, rows, cols, dropped, without(rows, n), without(cols, m)}
}

// SinkhornNewtonSparse solves the same problem as Sinkhorn with the paper's
// two stages: Options.WarmStartIters Sinkhorn steps, then Newton steps on the
// dual with the Hessian sparsified to the Options.KeepTotal largest entries
// of P (or the Options.KeepPerRow largest of each row), solved by conjugate
// gradient, with a backtracking line search. When a Newton step fails (CG breaks down, or the line search finds
// no increase of the dual objective) the solver takes Options.ItersPerCall
// Sinkhorn steps instead and records why in Result.Fallbacks. Iterations
// counts Sinkhorn steps plus Newton steps, the paper's count. It compiles its
// graphs for this one call: a Solver keeps them for many problems.
func SinkhornNewtonSparse(backend compute.Backend, a, b []float64, cost [][]float64, opts Options) (*Result, error) {
	s, err := NewSolver(backend, opts)
	if err != nil {
		return nil, err
	}
	return s.SinkhornNewtonSparse(a, b, cost)
}
