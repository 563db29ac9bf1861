// Package ot solves entropic optimal transport between two histograms:
//
//	min over P ≥ 0 with P1 = a, Pᵀ1 = b of ⟨C, P⟩ − ε·H(P),   H(P) = −Σ P_ij (log P_ij − 1)
//
// (POT's `reg` is ε). Sinkhorn iterates in the log domain on the dual
// potentials f, g, so that ε down to 1e-4 on costs normalised to max 1 stays
// finite:
//
//	f_i = ε log a_i − ε LSE_j((g_j − C_ij)/ε),   g_j = ε log b_j − ε LSE_i((f_i − C_ij)/ε),
//	P_ij = exp((f_i + g_j − C_ij)/ε).
//
// Each device call runs Options.ItersPerCall iterations as one compiled graph
// (the per-call overhead lesson of lib/train) and returns the potentials and
// the marginal error ‖P1 − a‖₁ + ‖Pᵀ1 − b‖₁ after the last one; iteration
// stops once it is at most Options.Tol.
//
// Status: Sinkhorn is implemented and tested; SinkhornNewtonSparse (the
// paper's method) is not written yet (issue 17).
package ot

import (
	"fmt"
	"math"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Options configures a solve. Epsilon and Tol must be positive; the other
// zero values mean the defaults.
type Options struct {
	// Epsilon is the entropic regularisation ε in min ⟨C,P⟩ − ε·H(P) (POT's `reg`).
	Epsilon float64
	// Tol stops the iteration when ‖P1−a‖₁ + ‖Pᵀ1−b‖₁ ≤ Tol.
	Tol float64
	// MaxIters bounds the Sinkhorn iterations (default 10 000).
	MaxIters int
	// DType is the precision of the iteration: dtypes.Float64 (default) or dtypes.Float32.
	DType dtypes.DType
	// ItersPerCall is how many iterations one device call runs (default 10);
	// the marginal error is checked after each call.
	ItersPerCall int
}

// Result is a solve's outcome.
type Result struct {
	// Plan is the transport plan P (rows: a's support, columns: b's).
	Plan [][]float64
	// Cost is ⟨C, P⟩.
	Cost float64
	// Iterations counts Sinkhorn steps (one step updates f and g).
	Iterations int
	// MarginalError is ‖P1−a‖₁ + ‖Pᵀ1−b‖₁ of Plan.
	MarginalError float64
	// ErrorTrace is the marginal error after each device call, with the iteration it was measured at.
	ErrorTrace []TracePoint
	// Seconds is the wall time of the iteration (compilation included).
	Seconds float64
}

// TracePoint is the marginal error after a number of iterations.
type TracePoint struct {
	Iteration     int
	MarginalError float64
	Seconds       float64
}

// NotConvergedError is returned when MaxIters iterations did not reach Tol;
// Last holds the last iterate (plan, cost, error).
type NotConvergedError struct {
	Last *Result
	Tol  float64
}

func (e *NotConvergedError) Error() string {
	return fmt.Sprintf("ot: no convergence within %d iterations: marginal error %.3g > tol %.3g (the last iterate is in the error's Last)",
		e.Last.Iterations, e.Last.MarginalError, e.Tol)
}

func (o Options) withDefaults() (Options, error) {
	switch {
	case !(o.Epsilon > 0) || math.IsInf(o.Epsilon, 0):
		return o, fmt.Errorf("ot: Epsilon = %g: the regularisation must be a positive number", o.Epsilon)
	case !(o.Tol > 0) || math.IsInf(o.Tol, 0):
		return o, fmt.Errorf("ot: Tol = %g: the tolerance must be a positive number", o.Tol)
	case o.MaxIters < 0:
		return o, fmt.Errorf("ot: MaxIters = %d must not be negative", o.MaxIters)
	case o.ItersPerCall < 0:
		return o, fmt.Errorf("ot: ItersPerCall = %d must not be negative", o.ItersPerCall)
	}
	if o.MaxIters == 0 {
		o.MaxIters = 10000
	}
	if o.ItersPerCall == 0 {
		o.ItersPerCall = 10
	}
	if o.DType == dtypes.InvalidDType {
		o.DType = dtypes.Float64
	}
	if o.DType != dtypes.Float64 && o.DType != dtypes.Float32 {
		return o, fmt.Errorf("ot: DType %s: want Float64 or Float32", o.DType)
	}
	return o, nil
}

// checkProblem validates the histograms and the cost matrix.
func checkProblem(a, b []float64, cost [][]float64) error {
	if len(a) == 0 || len(b) == 0 {
		return fmt.Errorf("ot: empty histogram (len(a) = %d, len(b) = %d)", len(a), len(b))
	}
	sum := func(name string, h []float64) (float64, error) {
		s := 0.0
		for i, v := range h {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				return 0, fmt.Errorf("ot: %s[%d] = %g: histograms must be finite and non-negative", name, i, v)
			}
			s += v
		}
		if s <= 0 {
			return 0, fmt.Errorf("ot: %s has total mass 0", name)
		}
		return s, nil
	}
	sa, err := sum("a", a)
	if err != nil {
		return err
	}
	sb, err := sum("b", b)
	if err != nil {
		return err
	}
	if math.Abs(sa-sb) > 1e-9*math.Max(sa, sb) {
		return fmt.Errorf("ot: a and b have different masses (%.12g and %.12g): balanced transport needs equal masses", sa, sb)
	}
	if len(cost) != len(a) {
		return fmt.Errorf("ot: cost has %d rows, a has %d entries", len(cost), len(a))
	}
	for i, row := range cost {
		if len(row) != len(b) {
			return fmt.Errorf("ot: cost row %d has %d entries, b has %d", i, len(row), len(b))
		}
		for j, c := range row {
			if math.IsNaN(c) || math.IsInf(c, 0) {
				return fmt.Errorf("ot: cost[%d][%d] = %g: costs must be finite", i, j, c)
			}
		}
	}
	return nil
}

// logOrMinusInf is log(x), with log(0) = −Inf (an empty bin gets no mass).
func logOrMinusInf(h []float64) []float64 {
	out := make([]float64, len(h))
	for i, v := range h {
		out[i] = math.Log(v)
	}
	return out
}

// lse is ε·log Σ exp(x/ε) over axis, stable (the max is taken out first);
// a row of −Inf gives −Inf.
func lse(x *graph.Node, axis int, eps float64) *graph.Node {
	scaled := graph.MulScalar(x, 1/eps)
	m := graph.ReduceAndKeep(scaled, graph.ReduceMax, axis)
	safeM := graph.Where(graph.IsFinite(m), m, graph.ZerosLike(m))
	s := graph.ReduceSum(graph.Exp(graph.Sub(scaled, safeM)), axis)
	return graph.MulScalar(graph.Add(graph.Log(s), graph.Squeeze(safeM, axis)), eps)
}

// sinkhornSteps is the graph of k Sinkhorn steps: inputs (C [n,m], log a [n],
// log b [m], f [n], g [m]) → (f, g, marginal error after the last step).
func sinkhornSteps(k int, eps float64) func(in []*graph.Node) []*graph.Node {
	return func(in []*graph.Node) []*graph.Node {
		c, loga, logb, f, g := in[0], in[1], in[2], in[3], in[4]
		for range k {
			// f_i = ε log a_i − ε LSE_j((g_j − C_ij)/ε)
			f = graph.Sub(graph.MulScalar(loga, eps), lse(graph.Sub(graph.ExpandAxes(g, 0), c), 1, eps))
			// g_j = ε log b_j − ε LSE_i((f_i − C_ij)/ε)
			g = graph.Sub(graph.MulScalar(logb, eps), lse(graph.Sub(graph.ExpandAxes(f, 1), c), 0, eps))
		}
		logP := graph.MulScalar(graph.Sub(graph.Add(graph.ExpandAxes(f, 1), graph.ExpandAxes(g, 0)), c), 1/eps)
		p := graph.Exp(logP)
		rowErr := graph.ReduceAllSum(graph.Abs(graph.Sub(graph.ReduceSum(p, 1), graph.Exp(loga))))
		colErr := graph.ReduceAllSum(graph.Abs(graph.Sub(graph.ReduceSum(p, 0), graph.Exp(logb))))
		return []*graph.Node{f, g, graph.ConvertDType(graph.Add(rowErr, colErr), dtypes.Float64)}
	}
}

// planGraph computes P and ⟨C, P⟩ from the potentials.
func planGraph(eps float64) func(c, f, g *graph.Node) []*graph.Node {
	return func(c, f, g *graph.Node) []*graph.Node {
		p := graph.Exp(graph.MulScalar(graph.Sub(graph.Add(graph.ExpandAxes(f, 1), graph.ExpandAxes(g, 0)), c), 1/eps))
		p64 := graph.ConvertDType(p, dtypes.Float64)
		return []*graph.Node{p64, graph.ReduceAllSum(graph.Mul(p64, graph.ConvertDType(c, dtypes.Float64)))}
	}
}

// Sinkhorn solves the entropic transport problem between a and b (equal
// masses) for the cost matrix cost [len(a)][len(b)] on backend, in the log
// domain. It returns a NotConvergedError (carrying the last iterate) when
// MaxIters iterations do not reach Tol, and an error naming the argument for
// bad input; it never returns a NaN plan as a success.
func Sinkhorn(backend compute.Backend, a, b []float64, cost [][]float64, opts Options) (*Result, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkProblem(a, b, cost); err != nil {
		return nil, err
	}
	start := time.Now()
	vec, mat := hostTensors(opts.DType)
	c, loga, logb := mat(cost), vec(logOrMinusInf(a)), vec(logOrMinusInf(b))
	f, g := vec(make([]float64, len(a))), vec(make([]float64, len(b)))
	steps, err := graph.NewExec(backend, sinkhornSteps(opts.ItersPerCall, opts.Epsilon))
	if err != nil {
		return nil, fmt.Errorf("ot: %w", err)
	}
	res := &Result{MarginalError: math.Inf(1)}
	for res.Iterations < opts.MaxIters && !(res.MarginalError <= opts.Tol) {
		outs, err := steps.Call(c, loga, logb, f, g)
		if err != nil {
			return nil, fmt.Errorf("ot: Sinkhorn iteration %d: %w", res.Iterations+1, err)
		}
		f, g = outs[0], outs[1]
		res.Iterations += opts.ItersPerCall
		res.MarginalError = tensors.ToScalar[float64](outs[2])
		res.ErrorTrace = append(res.ErrorTrace, TracePoint{res.Iterations, res.MarginalError, time.Since(start).Seconds()})
		if math.IsNaN(res.MarginalError) {
			return nil, fmt.Errorf("ot: the marginal error became NaN after %d iterations (ε = %g in %s): try float64 or a larger ε",
				res.Iterations, opts.Epsilon, opts.DType)
		}
	}
	outs, err := graph.CallOnceN(backend, planGraph(opts.Epsilon), c, f, g)
	if err != nil {
		return nil, fmt.Errorf("ot: computing the plan: %w", err)
	}
	res.Plan = outs[0].Value().([][]float64)
	res.Cost = tensors.ToScalar[float64](outs[1])
	res.Seconds = time.Since(start).Seconds()
	if !(res.MarginalError <= opts.Tol) {
		return nil, &NotConvergedError{Last: res, Tol: opts.Tol}
	}
	return res, nil
}

// hostTensors builds vectors and matrices in dtype (float64 or float32).
func hostTensors(dtype dtypes.DType) (vec func([]float64) *tensors.Tensor, mat func([][]float64) *tensors.Tensor) {
	if dtype == dtypes.Float64 {
		return func(x []float64) *tensors.Tensor { return tensors.FromValue(x) },
			func(x [][]float64) *tensors.Tensor { return tensors.FromValue(x) }
	}
	to32 := func(x []float64) []float32 {
		y := make([]float32, len(x))
		for i, v := range x {
			y[i] = float32(v)
		}
		return y
	}
	return func(x []float64) *tensors.Tensor { return tensors.FromValue(to32(x)) },
		func(x [][]float64) *tensors.Tensor {
			rows := make([][]float32, len(x))
			for i, r := range x {
				rows[i] = to32(r)
			}
			return tensors.FromValue(rows)
		}
}
