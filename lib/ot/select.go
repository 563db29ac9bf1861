package ot

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
)

// The sparsified Hessian keeps a subset of P's entries: the KeepTotal largest
// over the whole matrix (the paper's rule), or the KeepPerRow largest of
// every row. Either way the kept entries travel as COO lists — values [K],
// row indices [K,1], column indices [K,1] — so that one sparse product
// serves both rules. Ties between equal entries go to the smaller flat index
// i·m + j (what GoMLX's stable TopK does), so the host and the graph select
// the same entries.

// selection says which entries of P the sparsified Hessian keeps.
type selection struct {
	perRow bool // keep the largest keep entries of every row; else the largest keep of the matrix
	keep   int
}

// before is the order of the selection: larger first, NaN last, ties to the
// smaller index. It is a strict total order on indices.
func before[T float32 | float64](x []T, i, j int32) bool {
	xi, xj := float64(x[i]), float64(x[j])
	if math.IsNaN(xi) {
		xi = math.Inf(-1)
	}
	if math.IsNaN(xj) {
		xj = math.Inf(-1)
	}
	return xi > xj || (xi == xj && i < j)
}

// nthElement reorders idx (indices into x) so that idx[:k] are its k first
// entries in the order before (in no particular order among themselves):
// quickselect with a median-of-three pivot, expected O(len(idx)).
func nthElement[T float32 | float64](x []T, idx []int32, k int) {
	lo, hi := 0, len(idx)-1
	if k <= 0 || k >= len(idx) {
		return
	}
	less := func(a, b int32) bool { return before(x, a, b) }
	for lo < hi {
		mid := lo + (hi-lo)/2
		if less(idx[mid], idx[lo]) {
			idx[mid], idx[lo] = idx[lo], idx[mid]
		}
		if less(idx[hi], idx[lo]) {
			idx[hi], idx[lo] = idx[lo], idx[hi]
		}
		if less(idx[hi], idx[mid]) {
			idx[hi], idx[mid] = idx[mid], idx[hi]
		}
		pivot := idx[mid]
		i, j := lo, hi
		for i <= j { // Hoare partition: the order is strict, so both scans stop at the pivot
			for less(idx[i], pivot) {
				i++
			}
			for less(pivot, idx[j]) {
				j--
			}
			if i <= j {
				idx[i], idx[j] = idx[j], idx[i]
				i++
				j--
			}
		}
		// Now idx[lo..j] come before idx[i..hi], and anything between equals the pivot.
		switch t := k - 1; {
		case t <= j:
			hi = j
		case t >= i:
			lo = i
		default:
			return
		}
	}
}

// sparsePlan is a selection of P's entries with what it drops: kept holds
// the flat indices i·m + j of the kept entries.
type sparsePlan struct {
	kept                     []int32
	dropped                  float64 // the fraction of P's mass outside the kept entries
	rowsWithout, colsWithout int     // rows and columns with no kept entry
}

// selectEntries picks the entries of the n×m plan p (row-major) that sel
// keeps. idx is scratch of length n·m (reused between calls; kept aliases it).
func selectEntries[T float32 | float64](p []T, n, m int, sel selection, idx []int32) sparsePlan {
	for i := range idx {
		idx[i] = int32(i)
	}
	var sp sparsePlan
	if sel.perRow {
		sp.kept = make([]int32, 0, n*sel.keep)
		for i := range n {
			row := idx[i*m : (i+1)*m]
			nthElement(p, row, sel.keep)
			sp.kept = append(sp.kept, row[:sel.keep]...)
		}
	} else {
		nthElement(p, idx, sel.keep)
		sp.kept = idx[:sel.keep]
	}
	rowHas, colHas := make([]bool, n), make([]bool, m)
	keptMass, total := 0.0, 0.0
	for _, e := range sp.kept {
		rowHas[int(e)/m], colHas[int(e)%m] = true, true
		keptMass += float64(p[e])
	}
	for _, v := range p {
		total += float64(v)
	}
	if total > 0 {
		sp.dropped = math.Max(0, 1-keptMass/total)
	}
	for _, h := range rowHas {
		if !h {
			sp.rowsWithout++
		}
	}
	for _, h := range colHas {
		if !h {
			sp.colsWithout++
		}
	}
	return sp
}

// hostSelection is the selection of the plan tensor p [n,m] (float32 or
// float64) as the Newton graph takes it: values [K] in p's dtype, row and
// column indices [K,1] (int32).
func hostSelection(p *tensors.Tensor, sel selection, idx []int32) (vals, rows, cols *tensors.Tensor, sp sparsePlan) {
	n, m := p.Shape().Dimensions[0], p.Shape().Dimensions[1]
	if p.DType() == dtypes.Float32 {
		tensors.MustConstFlatData(p, func(flat []float32) {
			sp = selectEntries(flat, n, m, sel, idx)
			vals = tensors.FromFlatDataAndDimensions(gatherFlat(flat, sp.kept), len(sp.kept))
		})
	} else {
		tensors.MustConstFlatData(p, func(flat []float64) {
			sp = selectEntries(flat, n, m, sel, idx)
			vals = tensors.FromFlatDataAndDimensions(gatherFlat(flat, sp.kept), len(sp.kept))
		})
	}
	r, c := make([]int32, len(sp.kept)), make([]int32, len(sp.kept))
	for k, e := range sp.kept {
		r[k], c[k] = e/int32(m), e%int32(m)
	}
	return vals, tensors.FromFlatDataAndDimensions(r, len(r), 1), tensors.FromFlatDataAndDimensions(c, len(c), 1), sp
}

// gatherFlat is x at the indices idx.
func gatherFlat[T float32 | float64](x []T, idx []int32) []T {
	out := make([]T, len(idx))
	for k, e := range idx {
		out[k] = x[e]
	}
	return out
}

// Sparsity measures what keeping only the keep largest entries of plan
// (ties to the smaller row-major index, as SinkhornNewtonSparse does with
// Options.KeepTotal) leaves out: the fraction of the plan's total mass
// outside them (0 for a plan of zero mass), and how many rows and columns
// have none of them. It is the quantity of the paper's sparsity theorem,
// for checking it on a solved plan. It returns an error naming keep when
// keep < 0 or keep > n·m, and one naming plan for a ragged, empty or
// non-finite or negative plan.
func Sparsity(plan [][]float64, keep int) (droppedMass float64, rowsWithout, colsWithout int, err error) {
	n := len(plan)
	if n == 0 || len(plan[0]) == 0 {
		return 0, 0, 0, fmt.Errorf("ot: Sparsity: plan is empty (%d rows)", n)
	}
	m := len(plan[0])
	flat := make([]float64, 0, n*m)
	for i, row := range plan {
		if len(row) != m {
			return 0, 0, 0, fmt.Errorf("ot: Sparsity: plan row %d has %d entries, row 0 has %d", i, len(row), m)
		}
		for j, v := range row {
			if !(v >= 0) || math.IsInf(v, 0) {
				return 0, 0, 0, fmt.Errorf("ot: Sparsity: plan[%d][%d] = %g: a plan is finite and non-negative", i, j, v)
			}
		}
		flat = append(flat, row...)
	}
	if keep < 0 || keep > n*m {
		return 0, 0, 0, fmt.Errorf("ot: Sparsity: keep = %d: want 0 ≤ keep ≤ n·m = %d", keep, n*m)
	}
	if n*m > math.MaxInt32 {
		return 0, 0, 0, fmt.Errorf("ot: Sparsity: plan has %d entries, more than int32 indices address", n*m)
	}
	sp := selectEntries(flat, n, m, selection{keep: keep}, make([]int32, n*m))
	return sp.dropped, sp.rowsWithout, sp.colsWithout, nil
}
