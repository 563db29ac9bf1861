package ot

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"
	"weak"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// The device-resident Sinkhorn loop: one graph runs the whole solve with
// graph.While, checking the marginal error every Options.ItersPerCall
// iterations inside the graph, so a solve is one device call instead of one
// per check. The loop's state is (checks done, f, g, the last marginal error,
// the traces of the errors and of the dual objective); a trace is a buffer of
// one slot per possible check, filled with Where(iota == i, value, trace)
// (the go backend has no DynamicUpdateSlice), and returned at the end. It runs on the go backend
// too (with GoMLX v0.28.8; lib/train's note that While failed there predates
// it), with the same iterates bit for bit as the chunked loop.
//
// XLA shapes the graph: the loop's counter, its limit, the tolerance and
// the initial state are graph inputs, not constants, and everything the body
// and the condition read is carried in the loop's state (the cost matrix and
// the log-histograms come back unchanged from each pass), because the XLA
// backend does not let a closure use a value of the main function (the go
// backend would). GoMLX also caches scalar constants per graph, not per
// closure: a constant first made in one closure and then asked for in
// another (or in the main function) would belong to the wrong scope, so only
// the body makes constants; the condition and the main function use inputs.
// The same holds for go-xla's reduction computations (cached per graph as a
// closure of the first function that reduces): only the body reduces. See
// newton_graph.go for the same rules in the Newton step.

// resident loop state, in order.
const (
	rsI     = iota // checks done (int32)
	rsF            // f [n]
	rsG            // g [m]
	rsErr          // the error at the last check (float64)
	rsTrace        // the error after each check [checks] (float64)
	rsDuals        // the dual objective after each check [checks] (float64)
	rsC            // C [n,m]
	rsLogA         // log a [n]
	rsLogB         // log b [m]
	rsTol          // the tolerance (float64)
	rsLimit        // the maximum number of checks (int32)
	rsCount
)

// residentSinkhorn is the graph of a whole Sinkhorn solve, k steps per check:
// inputs (C [n,m], log a [n], log b [m], f [n], g [m], tol (float64), the
// maximum number of checks (int32), the initial check count (int32, 0), the
// initial error (float64, +Inf), the initial traces of the error and of the
// dual [checks] (float64, zeros)) →
// (f, g, the error at the last check, the checks done, the traces: the error
// and the dual objective after check j in slot j; the last two float64).
//
// The loop runs while checks < limit and error > tol: a NaN error stops it,
// as it stops the chunked loop.
func residentSinkhorn(k int, eps float64) func(in []*graph.Node) []*graph.Node {
	return func(in []*graph.Node) []*graph.Node {
		state := make([]*graph.Node, rsCount)
		state[rsC], state[rsLogA], state[rsLogB], state[rsF], state[rsG] = in[0], in[1], in[2], in[3], in[4]
		state[rsTol], state[rsLimit], state[rsI], state[rsErr], state[rsTrace] = in[5], in[6], in[7], in[8], in[9]
		state[rsDuals] = in[10]
		cond := func(p []*graph.Node) *graph.Node {
			return graph.LogicalAnd(graph.LessThan(p[rsI], p[rsLimit]), graph.GreaterThan(p[rsErr], p[rsTol]))
		}
		body := func(p []*graph.Node) []*graph.Node {
			c, loga, logb, f, gp := p[rsC], p[rsLogA], p[rsLogB], p[rsF], p[rsG]
			for range k {
				f, gp = SinkhornStep(c, loga, logb, f, gp, eps)
			}
			// The error and the dual as sinkhornSteps computes them.
			plan, a, b := TransportPlan(c, f, gp, eps), graph.Exp(loga), graph.Exp(logb)
			errSum := graph.ConvertDType(MarginalError(plan, a, b), dtypes.Float64)
			dual := dualObjective(plan, a, b, f, gp, eps)
			slot := graph.Equal(graph.Iota(c.Graph(), shapes.Make(dtypes.Int32, p[rsTrace].Shape().Dimensions[0]), 0), p[rsI])
			out := append([]*graph.Node(nil), p...)
			out[rsI], out[rsF], out[rsG], out[rsErr] = graph.AddScalar(p[rsI], 1), f, gp, errSum
			out[rsTrace], out[rsDuals] = graph.Where(slot, errSum, p[rsTrace]), graph.Where(slot, dual, p[rsDuals])
			return out
		}
		out := whileLoop(state, cond, body)
		return []*graph.Node{out[rsF], out[rsG], out[rsErr], out[rsI], out[rsTrace], out[rsDuals]}
	}
}

// residentExecs holds each Solver's resident-loop executable, keyed weakly
// so that a Solver that is no longer used is collected with its entry (the
// Solver struct is shared with the SNS code and keeps only its own graphs).
var residentExecs sync.Map // weak.Pointer[Solver] → *residentEntry

// residentEntry is the resident loop of one Solver, or why it cannot run.
type residentEntry struct {
	exec *graph.Exec
	err  error // why the backend cannot build the loop (it has no closures): Sinkhorn uses the chunked loop
}

// resident returns s's resident-loop entry, making it on first use.
func (s *Solver) resident() *residentEntry {
	key := weak.Make(s)
	if e, ok := residentExecs.Load(key); ok {
		return e.(*residentEntry)
	}
	e := &residentEntry{}
	if !s.backend.Capabilities().Functions {
		e.err = fmt.Errorf("backend %s has no closures (graph.While)", s.backend.Name())
	} else {
		e.exec, e.err = graph.NewExec(s.backend, residentSinkhorn(s.opts.ItersPerCall, s.opts.Epsilon))
	}
	actual, loaded := residentExecs.LoadOrStore(key, e)
	if loaded && e.exec != nil {
		e.exec.Finalize()
	} else if !loaded {
		runtime.AddCleanup(s, func(key weak.Pointer[Solver]) {
			if v, ok := residentExecs.LoadAndDelete(key); ok && v.(*residentEntry).exec != nil {
				v.(*residentEntry).exec.Finalize()
			}
		}, key)
	}
	return actual.(*residentEntry)
}

// residentChecks is the number of checks the resident loop may make: as
// many as the chunked loop makes before Iterations reaches MaxIters.
func (o Options) residentChecks() int {
	return (o.MaxIters + o.ItersPerCall - 1) / o.ItersPerCall
}

// sinkhornResident runs the whole Sinkhorn solve in one device call. The
// iterations, the potentials and the trace's errors are those of the chunked
// loop (the same steps, checked at the same iterations, with the same dual
// objective); since the checks happen inside the device call, the trace's
// Seconds are interpolated: check j of J gets t₀ + (t₁ − t₀)·j/J, where t₀ and
// t₁ are the times (since the solve started) at which the call began and
// returned.
func (st *solve) sinkhornResident(exec *graph.Exec) error {
	checks := st.opts.residentChecks()
	t0 := time.Since(st.start).Seconds()
	outs, err := exec.Call(st.c, st.loga, st.logb, st.f, st.g, st.opts.Tol, int32(checks), int32(0), math.Inf(1),
		tensors.FromValue(make([]float64, checks)), tensors.FromValue(make([]float64, checks)))
	st.res.RoundTrips++
	if err != nil {
		return fmt.Errorf("ot: Sinkhorn (device-resident loop, up to %d iterations): %w", checks*st.opts.ItersPerCall, err)
	}
	t1 := time.Since(st.start).Seconds()
	st.f, st.g = outs[0], outs[1]
	done := int(tensors.ToScalar[int32](outs[3]))
	trace, duals := outs[4].Value().([]float64), outs[5].Value().([]float64)
	for j := range done {
		st.res.Iterations += st.opts.ItersPerCall
		st.res.SinkhornSteps += st.opts.ItersPerCall
		st.res.MarginalError, st.dual = trace[j], duals[j]
		st.res.ErrorTrace = append(st.res.ErrorTrace, TracePoint{Iteration: st.res.Iterations, MarginalError: trace[j],
			Seconds: t0 + (t1-t0)*float64(j+1)/float64(done), Dual: duals[j]})
	}
	if done > 0 {
		st.res.MarginalError = tensors.ToScalar[float64](outs[2])
	}
	if math.IsNaN(st.res.MarginalError) {
		return st.nanError()
	}
	return nil
}

// prepareResident compiles the device-resident Sinkhorn loop for n×m
// problems (Prepare calls it with s.mu held); on a backend without closures
// there is nothing to compile: Sinkhorn uses the chunked loop, whose graph
// Prepare's SNS solve has compiled.
func (s *Solver) prepareResident(n, m int) error {
	r := s.resident()
	if r.err != nil {
		return nil
	}
	dt, checks := s.opts.DType, s.opts.residentChecks()
	if _, err := r.exec.Compile(shapes.Make(dt, n, m), shapes.Make(dt, n), shapes.Make(dt, m), shapes.Make(dt, n), shapes.Make(dt, m),
		shapes.Make(dtypes.Float64), shapes.Make(dtypes.Int32), shapes.Make(dtypes.Int32), shapes.Make(dtypes.Float64),
		shapes.Make(dtypes.Float64, checks), shapes.Make(dtypes.Float64, checks)); err != nil {
		return fmt.Errorf("ot: Prepare(%d, %d): compiling the resident Sinkhorn loop: %w", n, m, err)
	}
	return nil
}
