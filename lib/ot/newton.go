package ot

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// newtonStep takes one sparse Newton step from (f, g) and records it; a
// failed step (Failed ≠ "") leaves f and g unchanged. On XLA it is one
// device call (newtonStepGraph); on the go backend two, with the selection
// of P's entries on the host between them.
func (st *solve) newtonStep(sel selection) (NewtonStep, error) {
	res, opts, s := st.res, st.opts, st.s
	rec := NewtonStep{Iteration: res.Iterations, MarginalError: res.MarginalError, Dual: st.dual}
	if s.failNewton != nil {
		if rec.Failed = s.failNewton(len(res.Newton) + 1); rec.Failed != "" {
			return rec, nil
		}
	}
	call := func(e *graph.Exec, args ...any) ([]*tensors.Tensor, error) {
		outs, err := e.Call(args...)
		res.RoundTrips++
		if err != nil {
			return nil, fmt.Errorf("ot: Newton step %d: %w", len(res.Newton)+1, err)
		}
		return outs, nil
	}
	limits := []any{tensors.FromValue(int32(opts.MaxCG)), tensors.FromValue(opts.CGTol), tensors.FromValue(int32(s.lineSearchTries))}
	var outs []*tensors.Tensor
	if s.hostSelect {
		sys, err := call(s.system, st.c, st.a, st.b, st.f, st.g)
		if err != nil {
			return rec, err
		}
		vals, rows, cols, sp := hostSelection(sys[5], sel, s.scratch)
		rec.DroppedMass, rec.RowsWithoutOffDiagonal, rec.ColsWithoutOffDiagonal = sp.dropped, sp.rowsWithout, sp.colsWithout
		args := append([]any{st.c, st.a, st.b, st.f, st.g, sys[5], sys[0], sys[1], sys[2], sys[3], sys[4], vals, rows, cols}, limits...)
		if outs, err = call(s.solveStep, args...); err != nil {
			return rec, err
		}
	} else {
		exec, err := s.newtonExec(sel)
		if err != nil {
			return rec, err
		}
		if outs, err = call(exec, append([]any{st.c, st.a, st.b, st.f, st.g}, limits...)...); err != nil {
			return rec, err
		}
		rec.DroppedMass = tensors.ToScalar[float64](outs[10])
		rec.RowsWithoutOffDiagonal, rec.ColsWithoutOffDiagonal = int(tensors.ToScalar[int32](outs[11])), int(tensors.ToScalar[int32](outs[12]))
	}
	f64 := func(k int) float64 { return tensors.ToScalar[float64](outs[k]) }
	rec.CGIterations = int(tensors.ToScalar[int32](outs[3]))
	res.CGIterations += rec.CGIterations
	slope, norm, rhsNorm := f64(7), f64(8), f64(9)
	switch tensors.ToScalar[int32](outs[2]) {
	case newtonOK:
		st.f, st.g, st.dual = outs[0], outs[1], f64(6)
		res.Iterations++
		res.NewtonSteps++
		res.MarginalError = f64(5)
		rec.Iteration, rec.StepSize, rec.MarginalError, rec.Dual = res.Iterations, f64(4), res.MarginalError, st.dual
	case newtonCGBreakdown:
		rec.Failed = fmt.Sprintf("conjugate gradient broke down (residual %g)", norm)
	case newtonNotAscent:
		rec.Failed = fmt.Sprintf("the Newton direction is not an ascent direction (slope %.3g; CG residual %.3g of %.3g)", slope, norm, rhsNorm)
	default:
		rec.Failed = fmt.Sprintf("the line search found no sufficient increase of the dual objective down to step %.3g",
			math.Ldexp(1, 1-s.lineSearchTries))
	}
	return rec, nil
}

// newtonExec is the compiled Newton step for sel (XLA), built on first use.
func (s *Solver) newtonExec(sel selection) (*graph.Exec, error) {
	if e, ok := s.newton[sel]; ok {
		return e, nil
	}
	e, err := graph.NewExec(s.backend, newtonStepGraph(s.opts.Epsilon, sel, lmRidge))
	if err != nil {
		return nil, fmt.Errorf("ot: %w", err)
	}
	s.newton[sel] = e
	return e, nil
}
