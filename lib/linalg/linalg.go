// Package linalg is dense linear algebra built from GoMLX graph ops, which
// v0.28.8 lacks: the Cholesky factorisation and triangular solves, batched
// over any leading axes, and the solve of a symmetric positive-definite
// system through them (solve, never invert). The loops are unrolled in the
// graph (d steps for a d×d matrix), which suits the small matrices it is for
// (TrAct's d = 27 or 48 patch dimensions); every step is vectorised over the
// batch and the right-hand sides.
//
// Breakdown contract. A matrix that is not (numerically) positive definite
// has a pivot a_jj − Σ_k<j L_jk² ≤ 0 somewhere; that never crashes and never
// gives Inf or a partly finite factor: the whole factor of that matrix (each
// batch element separately) is NaN, and so is every solution through it
// (SolveSPD). The same holds when a non-finite value (NaN or ±Inf in a, or
// an overflow) stops the factorisation. CholeskyMinPivot and
// SolveSPDMinPivot also return the smallest pivot, so that a caller can tell
// which: > 0 exactly when the factor is finite, ≤ 0 the pivot at which a
// broke down as not positive definite, NaN a non-finite value. For a with
// smallest eigenvalue μ the exact pivots are all ≥ μ, so a reported pivot
// far below a known lower bound on μ signals rounding damage even when it is
// positive.
//
// Known cost: XLA compiles the unrolled graph slowly — about 15 s for
// Cholesky plus both solves at d = 27 on this 2-core machine (the pure-Go
// backend: milliseconds). A model compiles it once; a While-loop version for
// XLA is the way to remove it if that matters.
package linalg

import (
	"math"

	"github.com/gomlx/gomlx/core/graph"
)

// row returns x[..., i, :] of a [..., d, k] tensor, as [..., k].
func row(x *graph.Node, i int) *graph.Node {
	return graph.Squeeze(graph.SliceAxis(x, x.Rank()-2, graph.AxisElem(i)), x.Rank()-2)
}

// col returns x[..., :, j] of a [..., d, k] tensor, as [..., d].
func col(x *graph.Node, j int) *graph.Node {
	return graph.Squeeze(graph.SliceAxis(x, x.Rank()-1, graph.AxisElem(j)), x.Rank()-1)
}

// elem returns x[..., i] of a [..., d] tensor, as [..., 1].
func elem(x *graph.Node, i int) *graph.Node {
	return graph.SliceAxis(x, x.Rank()-1, graph.AxisElem(i))
}

// indexIs is a tensor of x's shape and dtype that is 1 where the index along
// axis equals i (op Equal) or is at least i (op GreaterOrEqual), else 0.
func indexIs(x *graph.Node, axis, i int, op func(a, b *graph.Node) *graph.Node) *graph.Node {
	idx := graph.Iota(x.Graph(), x.Shape().Clone(), axis)
	return graph.ConvertDType(op(idx, graph.Scalar(x.Graph(), x.DType(), i)), x.DType())
}

// strictlyLower keeps the entries of l [..., d, d] below the diagonal and
// zeroes the rest (so that the upper triangle, which is never read, cannot
// bring NaN or Inf into a product).
func strictlyLower(l *graph.Node) *graph.Node {
	rows := graph.Iota(l.Graph(), l.Shape().Clone(), l.Rank()-2)
	cols := graph.Iota(l.Graph(), l.Shape().Clone(), l.Rank()-1)
	return graph.Where(graph.GreaterThan(rows, cols), l, graph.ZerosLike(l))
}

// Every step below has the same shapes: the factor and the solutions are
// full [..., d, ·] tensors filled one column (row) per step by adding an outer
// product with a one-hot vector, so the graph grows by O(1) ops per step
// (Stack-ing the finished columns made XLA compile for ~20 s at d = 27).

// Cholesky returns the lower-triangular L with a = L·Lᵀ for a [..., d, d]
// symmetric positive definite (only a's lower triangle is read); NaN where a
// is not (see CholeskyMinPivot).
func Cholesky(a *graph.Node) *graph.Node {
	l, _ := CholeskyMinPivot(a)
	return l
}

// CholeskyMinPivot returns Cholesky's factor L of a [..., d, d] together
// with its smallest pivot [...]: pivot j is a_jj − Σ_k<j L_jk² (= L_jj²), and
// a symmetric matrix is positive definite exactly when all d pivots are
// positive. The contract (see the package doc): minPivot > 0 exactly when L
// is finite; otherwise every entry of L (for that batch element) is NaN and
// minPivot says why — ≤ 0 is the pivot at which the factorisation broke down
// (a is not numerically positive definite; the pivots after it are never
// looked at), NaN means a non-finite value (NaN or ±Inf in a, or an overflow)
// stopped it. Only a's lower triangle is read.
func CholeskyMinPivot(a *graph.Node) (l, minPivot *graph.Node) {
	d := a.Shape().Dimensions[a.Rank()-1]
	l = graph.ZerosLike(a)
	var m *graph.Node // [..., 1]
	for j := range d {
		// v_i = a_ij − Σ_k<j L_ik L_jk (columns ≥ j of L are still zero).
		v := graph.Sub(col(a, j), graph.Squeeze(graph.MatMul(l, graph.ExpandAxes(row(l, j), -1)), -1))
		p := elem(v, j)
		if m == nil {
			m = p
		} else {
			// m is frozen once it is ≤ 0 or NaN (the breakdown); before that
			// it takes p when p < m or p is NaN.
			m = graph.Where(graph.LogicalAnd(graph.GreaterThan(m, graph.ZerosLike(m)), graph.LogicalNot(graph.GreaterOrEqual(p, m))), p, m)
		}
		c := graph.Mul(graph.Div(v, graph.Sqrt(p)), indexIs(v, v.Rank()-1, j, graph.GreaterOrEqual))
		l = graph.Add(l, graph.Mul(graph.ExpandAxes(c, -1), indexIs(a, a.Rank()-1, j, graph.Equal)))
	}
	m = graph.Squeeze(m, -1)
	positive := graph.GreaterThan(m, graph.ZerosLike(m))
	ok := graph.LogicalAnd(positive, graph.LogicalAll(graph.IsFinite(l), -1, -2))
	nan := graph.Scalar(a.Graph(), a.DType(), math.NaN())
	l = graph.Where(graph.BroadcastToDims(graph.ExpandAxes(ok, -2, -1), l.Shape().Dimensions...), l, nan)
	// An overflow or an infinite entry with every pivot positive: NaN.
	minPivot = graph.Where(graph.LogicalAnd(positive, graph.LogicalNot(ok)), nan, m)
	return l, minPivot
}

// SolveLower solves L·X = B by forward substitution for L [..., d, d] lower
// triangular and B [..., d, m] (only L's lower triangle is read).
func SolveLower(l, b *graph.Node) *graph.Node {
	d := l.Shape().Dimensions[l.Rank()-1]
	below := strictlyLower(l)
	x := graph.ZerosLike(b)
	for i := range d {
		// x_i = (b_i − Σ_k<i L_ik x_k) / L_ii (rows ≥ i of x are still zero).
		s := graph.Sub(row(b, i), graph.Squeeze(graph.MatMul(graph.ExpandAxes(row(below, i), -2), x), -2))
		xi := graph.Div(s, elem(row(l, i), i))
		x = graph.Add(x, graph.Mul(indexIs(b, b.Rank()-2, i, graph.Equal), graph.ExpandAxes(xi, -2)))
	}
	return x
}

// SolveLowerTransposed solves Lᵀ·X = B by back substitution for L [..., d, d]
// lower triangular and B [..., d, m] (only L's lower triangle is read).
func SolveLowerTransposed(l, b *graph.Node) *graph.Node {
	d := l.Shape().Dimensions[l.Rank()-1]
	below := strictlyLower(l)
	x := graph.ZerosLike(b)
	for i := d - 1; i >= 0; i-- {
		// x_i = (b_i − Σ_k>i L_ki x_k) / L_ii (rows ≤ i of x are still zero).
		s := graph.Sub(row(b, i), graph.Squeeze(graph.MatMul(graph.ExpandAxes(col(below, i), -2), x), -2))
		xi := graph.Div(s, elem(row(l, i), i))
		x = graph.Add(x, graph.Mul(indexIs(b, b.Rank()-2, i, graph.Equal), graph.ExpandAxes(xi, -2)))
	}
	return x
}

// SolveSPD solves A·X = B for A [..., d, d] symmetric positive definite and
// B [..., d, m], through the Cholesky factor: L·Y = B, then Lᵀ·X = Y. X is
// NaN (all of it, for that batch element) where A is not positive definite;
// SolveSPDMinPivot also says so.
func SolveSPD(a, b *graph.Node) *graph.Node {
	x, _ := SolveSPDMinPivot(a, b)
	return x
}

// SolveSPDMinPivot is SolveSPD that also returns the smallest pivot [...] of
// A's Cholesky factorisation (see CholeskyMinPivot): where minPivot is not
// > 0, X is all NaN.
func SolveSPDMinPivot(a, b *graph.Node) (x, minPivot *graph.Node) {
	l, minPivot := CholeskyMinPivot(a)
	return SolveLowerTransposed(l, SolveLower(l, b)), minPivot
}
