package ot

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// newtonStep takes one sparse Newton step from (f, g) and records it; a
// failed step (Failed ≠ "") leaves f and g unchanged.
func (st *solve) newtonStep(system *graph.Exec, sel selection) (NewtonStep, error) {
	res, opts := st.res, st.opts
	rec := NewtonStep{Iteration: res.Iterations, MarginalError: res.MarginalError, Dual: st.dual}
	step := res.NewtonSteps + 1
	if st.s.failNewton != nil {
		if rec.Failed = st.s.failNewton(len(res.Newton) + 1); rec.Failed != "" {
			return rec, nil
		}
	}
	call := func(e *graph.Exec, what string, args ...any) ([]*tensors.Tensor, error) {
		outs, err := e.Call(args...)
		res.RoundTrips++
		if err != nil {
			return nil, fmt.Errorf("ot: Newton step %d, %s: %w", step, what, err)
		}
		return outs, nil
	}
	sys, err := call(system, "system", st.c, st.a, st.b, st.f, st.g)
	if err != nil {
		return rec, err
	}
	bu, bv, r, col := sys[0], sys[1], sys[2], sys[3]
	errNow := tensors.ToScalar[float64](sys[4])
	var vals, rows, cols *tensors.Tensor
	if st.s.hostSelect {
		var sp sparsePlan[float64]
		vals, rows, cols, sp = hostSelection(sys[5], sel, st.s.scratch)
		rec.DroppedMass, rec.RowsWithoutOffDiagonal, rec.ColsWithoutOffDiagonal = sp.dropped, sp.rowsWithout, sp.colsWithout
	} else {
		vals, rows, cols = sys[5], sys[6], sys[7]
		rec.DroppedMass = tensors.ToScalar[float64](sys[8])
		rec.RowsWithoutOffDiagonal, rec.ColsWithoutOffDiagonal = int(tensors.ToScalar[int32](sys[9])), int(tensors.ToScalar[int32](sys[10]))
	}
	state, err := call(st.s.cgInit, "CG", r, col, bu, bv)
	if err != nil {
		return rec, err
	}
	// Inexact Newton: the CG tolerance tightens as the marginal error falls
	// (forcing term min(0.1, √error)), unless Options.CGTol fixes it.
	cgTol := opts.CGTol
	if cgTol == 0 {
		cgTol = math.Max(1e-12, math.Min(0.1, math.Sqrt(errNow)))
	}
	rhsNorm := tensors.ToScalar[float64](state[7])
	norm := rhsNorm
	for it := 0; it < opts.MaxCG && norm > cgTol*rhsNorm; it += cgItersPerCall {
		args := []any{r, col, vals, rows, cols}
		for _, t := range state[:7] {
			args = append(args, t)
		}
		outs, err := call(st.s.cg, "CG", args...)
		if err != nil {
			return rec, err
		}
		state, norm = outs, tensors.ToScalar[float64](outs[7])
		res.CGIterations += cgItersPerCall
		rec.CGIterations += cgItersPerCall
		if math.IsNaN(norm) || math.IsInf(norm, 0) {
			rec.Failed = fmt.Sprintf("conjugate gradient broke down (residual %g)", norm)
			return rec, nil
		}
	}
	du, dv := state[0], state[1]
	alpha := 1.0
	for range lineSearchSteps {
		outs, err := call(st.s.line, "line search", st.c, st.a, st.b, st.f, st.g, du, dv, st.scalar(alpha))
		if err != nil {
			return rec, err
		}
		dL, slope, errNew := tensors.ToScalar[float64](outs[2]), tensors.ToScalar[float64](outs[3]), tensors.ToScalar[float64](outs[4])
		if !(slope > 0) {
			rec.Failed = fmt.Sprintf("the Newton direction is not an ascent direction (slope %.3g; CG residual %.3g of %.3g)", slope, norm, rhsNorm)
			return rec, nil
		}
		if dL >= armijo*alpha*slope && !math.IsNaN(errNew) {
			st.f, st.g, st.dual = outs[0], outs[1], tensors.ToScalar[float64](outs[5])
			res.Iterations++
			res.NewtonSteps++
			res.MarginalError = errNew
			rec.Iteration, rec.StepSize, rec.MarginalError, rec.Dual = res.Iterations, alpha, errNew, st.dual
			return rec, nil
		}
		alpha /= 2
	}
	rec.Failed = fmt.Sprintf("the line search found no sufficient increase of the dual objective down to step %.3g", 2*alpha)
	return rec, nil
}
