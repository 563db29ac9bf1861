// Package linalg is dense linear algebra built from GoMLX graph ops, which
// v0.28.8 lacks: the Cholesky factorisation and triangular solves, batched
// over any leading axes, and the solve of a symmetric positive-definite
// system through them (solve, never invert). The loops are unrolled in the
// graph (d steps for a d×d matrix), which suits the small matrices it is for
// (TrAct's d = 27 or 48 patch dimensions); every step is vectorised over the
// batch and the right-hand sides. A matrix that is not positive definite
// gives NaN in the factor (the square root of a negative pivot), never a
// crash: check the result with IsFinite where that can happen.
//
// Known cost: XLA compiles the unrolled graph slowly — about 15 s for
// Cholesky plus both solves at d = 27 on this 2-core machine (the pure-Go
// backend: milliseconds). A model compiles it once; a While-loop version for
// XLA is the way to remove it if that matters.
package linalg

import (
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
// symmetric positive definite (only a's lower triangle is read).
func Cholesky(a *graph.Node) *graph.Node {
	d := a.Shape().Dimensions[a.Rank()-1]
	l := graph.ZerosLike(a)
	for j := range d {
		// v_i = a_ij − Σ_k<j L_ik L_jk (columns ≥ j of L are still zero).
		v := graph.Sub(col(a, j), graph.Squeeze(graph.MatMul(l, graph.ExpandAxes(row(l, j), -1)), -1))
		c := graph.Mul(graph.Div(v, graph.Sqrt(elem(v, j))), indexIs(v, v.Rank()-1, j, graph.GreaterOrEqual))
		l = graph.Add(l, graph.Mul(graph.ExpandAxes(c, -1), indexIs(a, a.Rank()-1, j, graph.Equal)))
	}
	return l
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
// B [..., d, m], through the Cholesky factor: L·Y = B, then Lᵀ·X = Y.
func SolveSPD(a, b *graph.Node) *graph.Node {
	l := Cholesky(a)
	return SolveLowerTransposed(l, SolveLower(l, b))
}
