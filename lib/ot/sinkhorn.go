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
// Solver.Sinkhorn runs the whole iteration on the device as one graph.While
// loop (resident.go) that checks the marginal error ‖P1 − a‖₁ + ‖Pᵀ1 − b‖₁
// every Options.ItersPerCall iterations inside the graph and stops once it is
// at most Options.Tol (or at MaxIters): a solve is two device calls, the
// loop and the plan. SinkhornNewtonSparse's warm start and fallbacks run
// ItersPerCall iterations per call.
//
// SinkhornNewtonSparse (sns.go) adds the paper's Newton stage. The graph
// pieces (SinkhornPotentials, TransportPlan, MarginalError) work inside any
// GoMLX graph.
package ot

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
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
	// ItersPerCall is how many iterations run between two checks of the
	// marginal error (default 10): inside the device loop of Sinkhorn, per
	// device call in SinkhornNewtonSparse, where it is also the number of
	// Sinkhorn steps of a fallback.
	ItersPerCall int

	// The fields below are SinkhornNewtonSparse's; Sinkhorn ignores them.

	// WarmStartIters is the number of Sinkhorn steps before the Newton stage
	// (the paper's N₁; default 20, rounded up to a multiple of ItersPerCall).
	WarmStartIters int
	// KeepTotal is how many of P's largest entries, over the whole matrix,
	// the sparsified Hessian keeps: the paper's ⌈λ·n²⌉ (ties go to the
	// smaller row-major index). When both KeepTotal and KeepPerRow are 0 it
	// is the paper's choice for the random assignment problem, λ = 2/n:
	// KeepTotal = 2·max(len(a), len(b)), at most len(a)·len(b). When
	// KeepTotal > 0, KeepPerRow is ignored; KeepTotal > len(a)·len(b) is an
	// error of the solve. The diagonal blocks diag(P1), diag(Pᵀ1) are always
	// exact; Result.Newton says how much of P each step dropped.
	KeepTotal int
	// KeepPerRow, when > 0 and KeepTotal is 0, selects the other rule: keep
	// the largest KeepPerRow entries of every row of P (at most len(b)).
	KeepPerRow int
	// CGTol fixes the relative residual at which conjugate gradient stops; by default
	// it is min(0.1, √marginal error), at least 1e-12 (inexact Newton).
	CGTol float64
	// MaxCG bounds the conjugate-gradient iterations of one Newton step
	// (default max(500, 10·(n+m))). CG needs at most n+m iterations in exact
	// arithmetic, many more in floating point on the ill-conditioned systems of
	// small ε: on the random assignment problem (n = 200, η = 1200, 2n entries
	// kept) a cap of 500 cut most steps short and SNS took 162 Newton steps
	// (76 520 CG iterations, 7.1 s); a cap of 2 000 or 8 000 took 39 (23 030, 2.3–4.4 s);
	// with the exact Hessian, 164 against 16.
	MaxCG int
}

// Result is a solve's outcome.
type Result struct {
	// Plan is the transport plan P (rows: a's support, columns: b's).
	Plan [][]float64
	// Cost is ⟨C, P⟩.
	Cost float64
	// Iterations counts Sinkhorn steps (one step updates f and g) plus
	// Newton steps (the paper's count).
	Iterations int
	// SinkhornSteps and NewtonSteps split Iterations (NewtonSteps is 0 for Sinkhorn).
	SinkhornSteps, NewtonSteps int
	// CGIterations is the total number of conjugate-gradient iterations of the Newton steps.
	CGIterations int
	// MaxDroppedMass is the largest fraction of P's mass that the Hessian's
	// sparsification dropped over the Newton steps (0: the Hessian was exact).
	MaxDroppedMass float64
	// Fallbacks lists the Newton steps that failed and were replaced by Sinkhorn steps, with why.
	Fallbacks []Fallback
	// Newton lists every Newton step attempted, in order (a failed one too).
	Newton []NewtonStep
	// RoundTrips counts the device calls (graph executions) of the solve,
	// the final plan's included: one per Sinkhorn call of ItersPerCall
	// steps, one per Newton step on XLA (two on the go backend).
	RoundTrips int
	// MarginalError is ‖P1−a‖₁ + ‖Pᵀ1−b‖₁ of Plan.
	MarginalError float64
	// ErrorTrace is the marginal error (and the dual) at each check, with the
	// iteration it was measured at: every ItersPerCall Sinkhorn iterations and
	// after every Newton step.
	ErrorTrace []TracePoint
	// Seconds is the wall time of the iteration (compilation included).
	Seconds float64
}

// Fallback records a Newton step that failed: at Iteration, for Reason,
// SinkhornNewtonSparse took Options.ItersPerCall Sinkhorn steps instead.
type Fallback struct {
	Iteration int
	Reason    string
}

// NewtonStep is one Newton step of SinkhornNewtonSparse.
type NewtonStep struct {
	// Iteration is Result.Iterations after the step (before it, for a failed step).
	Iteration int
	// DroppedMass is the fraction of P's total mass outside the kept entries at this step.
	DroppedMass float64
	// RowsWithoutOffDiagonal counts the rows of P with no kept entry: their
	// Hessian row is the diagonal alone.
	RowsWithoutOffDiagonal int
	// ColsWithoutOffDiagonal is the same for columns.
	ColsWithoutOffDiagonal int
	// CGIterations is the number of conjugate-gradient iterations of the step.
	CGIterations int
	// StepSize is the accepted line-search α (0 when the step failed).
	StepSize float64
	// MarginalError is ‖P1−a‖₁ + ‖Pᵀ1−b‖₁ after the step.
	MarginalError float64
	// Dual is the dual objective L(f, g) after the step.
	Dual float64
	// Failed is "" or why the step failed and fell back to Sinkhorn steps.
	Failed string
}

// TracePoint is the state of the iteration after a number of iterations.
type TracePoint struct {
	Iteration     int
	MarginalError float64
	Seconds       float64
	// Dual is the dual objective L(f, g) = −ε Σ_ij P_ij + ⟨a, f⟩ + ⟨b, g⟩
	// (computed in float64), which both solvers increase towards its maximum
	// L*: log(L* − L) against Iteration or Seconds is the convergence curve.
	Dual float64
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

// massTolerance is the relative difference of the histograms' masses that
// is taken for rounding (of histograms normalised to 1, say) rather than an
// unbalanced problem.
const massTolerance = 1e-13

// checkProblem validates the histograms and the cost matrix and returns the
// histograms' masses.
func checkProblem(a, b []float64, cost [][]float64) (massA, massB float64, err error) {
	sa, sb, err := checkHistograms(a, b)
	if err != nil {
		return 0, 0, err
	}
	if len(cost) != len(a) {
		return 0, 0, fmt.Errorf("ot: cost has %d rows, a has %d entries", len(cost), len(a))
	}
	for i, row := range cost {
		if len(row) != len(b) {
			return 0, 0, fmt.Errorf("ot: cost row %d has %d entries, b has %d", i, len(row), len(b))
		}
		for j, c := range row {
			if math.IsNaN(c) || math.IsInf(c, 0) {
				return 0, 0, fmt.Errorf("ot: cost[%d][%d] = %g: costs must be finite", i, j, c)
			}
		}
	}
	return sa, sb, nil
}

// checkHistograms validates a and b and returns their masses.
func checkHistograms(a, b []float64) (massA, massB float64, err error) {
	if len(a) == 0 || len(b) == 0 {
		return 0, 0, fmt.Errorf("ot: empty histogram (len(a) = %d, len(b) = %d)", len(a), len(b))
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
		if math.IsInf(s, 0) { // finite entries whose sum overflows: Inf would pass the mass comparison below
			return 0, fmt.Errorf("ot: %s's total mass overflows float64", name)
		}
		return s, nil
	}
	if massA, err = sum("a", a); err != nil {
		return 0, 0, err
	}
	if massB, err = sum("b", b); err != nil {
		return 0, 0, err
	}
	if !(math.Abs(massA-massB) <= massTolerance*math.Max(massA, massB)) {
		return 0, 0, fmt.Errorf("ot: a and b have different masses (Σa = %.17g, Σb = %.17g, relative difference %.2g > %g): balanced transport needs equal masses",
			massA, massB, math.Abs(massA-massB)/math.Max(massA, massB), massTolerance)
	}
	return massA, massB, nil
}

// rescaled is h scaled to total mass to (from mass from); h itself when equal.
func rescaled(h []float64, from, to float64) []float64 {
	if from == to {
		return h
	}
	out := make([]float64, len(h))
	for i, v := range h {
		out[i] = v * (to / from)
	}
	return out
}

// logOrMinusInf is log(x), with log(0) = −Inf (an empty bin gets no mass).
func logOrMinusInf(h []float64) []float64 {
	out := make([]float64, len(h))
	for i, v := range h {
		out[i] = math.Log(v)
	}
	return out
}

// Sinkhorn solves the entropic transport problem between a and b (equal
// masses) for the cost matrix cost [len(a)][len(b)] on backend, in the log
// domain. Masses that differ by more than 1e-13 relative are an error; a
// smaller difference (the rounding of normalised histograms) is accepted, and
// b is rescaled to a's mass. It returns a NotConvergedError (carrying the last iterate) when
// MaxIters iterations do not reach Tol, and an error naming the argument for
// bad input; it never returns a NaN plan as a success. It compiles its graphs
// for this one call: a Solver keeps them for many problems.
func Sinkhorn(backend compute.Backend, a, b []float64, cost [][]float64, opts Options) (*Result, error) {
	s, err := NewSolver(backend, opts)
	if err != nil {
		return nil, err
	}
	return s.Sinkhorn(a, b, cost)
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
