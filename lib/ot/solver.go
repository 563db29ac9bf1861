package ot

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Solver keeps the compiled graphs of one backend and one Options, so that
// solving many problems (or the same problem again, for timing) compiles once
// per problem shape. It is safe for use by one goroutine at a time.
type Solver struct {
	backend compute.Backend
	opts    Options

	mu             sync.Mutex
	sinkhorn, plan *graph.Exec
	// newton holds the whole Newton step (newtonStepGraph) by selection (XLA).
	newton map[selection]*graph.Exec
	// hostSelect: the Hessian's entries are selected on the host, between
	// system (newtonSystem) and solveStep (newtonSolveGraph): the go backend.
	hostSelect        bool
	system, solveStep *graph.Exec
	scratch           []int32 // the host selection's index buffer, reused between steps
	// failNewton, set only by tests, makes Newton attempt number n (from 1) fail with the returned reason ("" = no failure).
	failNewton func(n int) string
	// lineSearchTries is lineSearchSteps; tests lower it to make the line search fail.
	lineSearchTries int
}

// NewSolver validates opts and prepares a solver on backend.
func NewSolver(backend compute.Backend, opts Options) (*Solver, error) {
	if backend == nil {
		return nil, fmt.Errorf("ot: no backend")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := opts.checkSNS(); err != nil {
		return nil, err
	}
	s := &Solver{backend: backend, opts: opts, newton: map[selection]*graph.Exec{},
		hostSelect: !strings.HasPrefix(strings.ToLower(backend.Name()), "xla"), lineSearchTries: lineSearchSteps}
	for _, e := range []struct {
		exec **graph.Exec
		fn   func() (*graph.Exec, error)
	}{
		{&s.sinkhorn, func() (*graph.Exec, error) {
			return graph.NewExec(backend, sinkhornSteps(opts.ItersPerCall, opts.Epsilon))
		}},
		{&s.plan, func() (*graph.Exec, error) { return graph.NewExec(backend, planGraph(opts.Epsilon)) }},
		{&s.system, func() (*graph.Exec, error) { return graph.NewExec(backend, newtonSystem(opts.Epsilon, lmRidge)) }},
		{&s.solveStep, func() (*graph.Exec, error) { return graph.NewExec(backend, newtonSolveGraph(opts.Epsilon)) }},
	} {
		if *e.exec, err = e.fn(); err != nil {
			return nil, fmt.Errorf("ot: %w", err)
		}
	}
	return s, nil
}

// Options returns the solver's options with the defaults filled in.
func (s *Solver) Options() Options { return s.opts }

// solve is the state of one solve.
type solve struct {
	s                   *Solver
	opts                Options
	start               time.Time
	c, a, b, loga, logb *tensors.Tensor
	f, g                *tensors.Tensor
	dual                float64 // the dual objective at (f, g)
	res                 *Result
	scalar              func(float64) *tensors.Tensor
}

func (s *Solver) newSolve(a, b []float64, cost [][]float64) (*solve, error) {
	massA, massB, err := checkProblem(a, b, cost)
	if err != nil {
		return nil, err
	}
	b = rescaled(b, massB, massA)
	st := &solve{s: s, opts: s.opts, start: time.Now(), res: &Result{MarginalError: math.Inf(1)}}
	vec, mat := hostTensors(s.opts.DType)
	st.c, st.a, st.b = mat(cost), vec(a), vec(b)
	st.loga, st.logb = vec(logOrMinusInf(a)), vec(logOrMinusInf(b))
	st.f, st.g = vec(make([]float64, len(a))), vec(make([]float64, len(b)))
	st.scalar = func(x float64) *tensors.Tensor {
		if s.opts.DType == dtypes.Float64 {
			return tensors.FromValue(x)
		}
		return tensors.FromValue(float32(x))
	}
	return st, nil
}

func (st *solve) trace() {
	st.res.ErrorTrace = append(st.res.ErrorTrace, TracePoint{Iteration: st.res.Iterations, MarginalError: st.res.MarginalError,
		Seconds: time.Since(st.start).Seconds(), Dual: st.dual})
}

func (st *solve) nanError() error {
	return fmt.Errorf("ot: the marginal error became NaN after %d iterations (ε = %g in %s): try float64 or a larger ε",
		st.res.Iterations, st.opts.Epsilon, st.opts.DType)
}

// sinkhornChunk runs Options.ItersPerCall Sinkhorn steps.
func (st *solve) sinkhornChunk() error {
	outs, err := st.s.sinkhorn.Call(st.c, st.loga, st.logb, st.f, st.g)
	st.res.RoundTrips++
	if err != nil {
		return fmt.Errorf("ot: Sinkhorn step %d: %w", st.res.Iterations+1, err)
	}
	st.f, st.g = outs[0], outs[1]
	st.res.Iterations += st.opts.ItersPerCall
	st.res.SinkhornSteps += st.opts.ItersPerCall
	st.res.MarginalError = tensors.ToScalar[float64](outs[2])
	st.dual = tensors.ToScalar[float64](outs[3])
	st.trace()
	if math.IsNaN(st.res.MarginalError) {
		return st.nanError()
	}
	return nil
}

// finish computes the plan and its cost and checks convergence.
func (st *solve) finish() (*Result, error) {
	outs, err := st.s.plan.Call(st.c, st.f, st.g)
	st.res.RoundTrips++
	if err != nil {
		return nil, fmt.Errorf("ot: computing the plan: %w", err)
	}
	res := st.res
	res.Plan = outs[0].Value().([][]float64)
	res.Cost = tensors.ToScalar[float64](outs[1])
	res.Seconds = time.Since(st.start).Seconds()
	if !(res.MarginalError <= st.opts.Tol) {
		return nil, &NotConvergedError{Last: res, Tol: st.opts.Tol}
	}
	return res, nil
}

// Sinkhorn is the package's Sinkhorn with this solver's backend and options.
func (s *Solver) Sinkhorn(a, b []float64, cost [][]float64) (*Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.newSolve(a, b, cost)
	if err != nil {
		return nil, err
	}
	// The whole solve in one device call (resident.go) wherever the backend
	// has closures; otherwise one call per Options.ItersPerCall iterations.
	if r := s.resident(); r.err == nil {
		if err := st.sinkhornResident(r.exec); err != nil {
			return nil, err
		}
		return st.finish()
	}
	for st.res.Iterations < s.opts.MaxIters && !(st.res.MarginalError <= s.opts.Tol) {
		if err := st.sinkhornChunk(); err != nil {
			return nil, err
		}
	}
	return st.finish()
}

// SinkhornNewtonSparse is the package's SinkhornNewtonSparse with this
// solver's backend and options.
func (s *Solver) SinkhornNewtonSparse(a, b []float64, cost [][]float64) (*Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sns(a, b, cost, s.opts)
}

// Prepare compiles every graph of both solvers for problems of n×m (by
// solving a random problem of that shape for a few iterations), so that the
// Seconds of the solves that follow measure iterations, not compilation.
func (s *Solver) Prepare(n, m int) error {
	if n < 1 || m < 1 {
		return fmt.Errorf("ot: Prepare(%d, %d): sizes must be positive", n, m)
	}
	a, b, cost := make([]float64, n), make([]float64, m), make([][]float64, n)
	for i := range a {
		a[i] = 1 / float64(n)
		cost[i] = make([]float64, m)
		for j := range cost[i] {
			cost[i][j] = float64((i*7919+j*104729)%1000) / 1000 // fixed, irregular
		}
	}
	for j := range b {
		b[j] = 1 / float64(m)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	opts, _, err := s.opts.snsDefaults(n, m)
	if err != nil {
		return fmt.Errorf("ot: Prepare(%d, %d): %w", n, m, err)
	}
	opts.Tol = math.SmallestNonzeroFloat64 // never reached: every graph runs
	warm := (opts.WarmStartIters + opts.ItersPerCall - 1) / opts.ItersPerCall * opts.ItersPerCall
	opts.MaxIters = max(warm, opts.ItersPerCall) + 1
	var nc *NotConvergedError
	if _, err := s.sns(a, b, cost, opts); err != nil && !errors.As(err, &nc) {
		return fmt.Errorf("ot: Prepare(%d, %d): %w", n, m, err)
	}
	return s.prepareResident(n, m) // Sinkhorn's device-resident loop (resident.go)
}

func (s *Solver) sns(a, b []float64, cost [][]float64, opts Options) (*Result, error) {
	st, err := s.newSolve(a, b, cost)
	if err != nil {
		return nil, err
	}
	opts, sel, err := opts.snsDefaults(len(a), len(b))
	if err != nil {
		return nil, err
	}
	st.opts = opts
	if s.hostSelect && len(s.scratch) < len(a)*len(b) {
		s.scratch = make([]int32, len(a)*len(b))
	}
	res := st.res
	// Stage 1: the warm start.
	for res.SinkhornSteps < opts.WarmStartIters && res.Iterations < opts.MaxIters && !(res.MarginalError <= opts.Tol) {
		if err := st.sinkhornChunk(); err != nil {
			return nil, err
		}
	}
	// Stage 2: Newton steps, with Sinkhorn steps where one fails.
	for res.Iterations < opts.MaxIters && !(res.MarginalError <= opts.Tol) {
		step, err := st.newtonStep(sel)
		if err != nil {
			return nil, err
		}
		res.Newton = append(res.Newton, step)
		res.MaxDroppedMass = max(res.MaxDroppedMass, step.DroppedMass)
		if step.Failed != "" {
			res.Fallbacks = append(res.Fallbacks, Fallback{Iteration: res.Iterations, Reason: step.Failed})
			if err := st.sinkhornChunk(); err != nil {
				return nil, err
			}
			continue
		}
		st.trace()
		if math.IsNaN(res.MarginalError) {
			return nil, st.nanError()
		}
	}
	return st.finish()
}
