package ot

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/gomlx/compute/dtypes"
)

// chunkedSinkhorn is Solver.Sinkhorn with the host loop: one device call per
// check (the reference the resident loop must reproduce).
func chunkedSinkhorn(s *Solver, a, b []float64, cost [][]float64) (*Result, error) {
	st, err := s.newSolve(a, b, cost)
	if err != nil {
		return nil, err
	}
	for st.res.Iterations < s.opts.MaxIters && !(st.res.MarginalError <= s.opts.Tol) {
		if err := st.sinkhornChunk(); err != nil {
			return nil, err
		}
	}
	return st.finish()
}

// lastIterate is the result of a solve, or the last iterate of one that did not converge.
func lastIterate(t *testing.T, what string, res *Result, err error) (*Result, bool) {
	t.Helper()
	var nc *NotConvergedError
	if errors.As(err, &nc) {
		return nc.Last, false
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return res, true
}

// closeRel reports whether x and y agree to rel, relative to max(|x|, |y|, floor).
func closeRel(x, y, rel, floor float64) bool {
	return math.Abs(x-y) <= rel*math.Max(floor, math.Max(math.Abs(x), math.Abs(y)))
}

// sameError reports whether two marginal errors agree up to rounding: the
// error ‖P1 − a‖₁ + ‖Pᵀ1 − b‖₁ is a sum of differences of numbers of order
// 1/n, so the potentials' last bits move it by ~1e-16 absolute; XLA may fuse
// and order the reductions in the loop body differently from the chunked
// graph's.
func sameError(x, y float64) bool {
	return math.Abs(x-y) <= 1e-9*math.Max(math.Abs(x), math.Abs(y))+1e-13
}

// The resident loop against the chunked loop, on every backend: the same
// iterations (both check every ItersPerCall steps), the same trace of errors
// and dual objectives (bit for bit on the go backend, to rounding on XLA,
// which fuses the loop body differently), the same plan and cost, converged
// or not, for ItersPerCall 1, 7 and 10 and a MaxIters that is not a multiple
// of it; the whole solve is two device calls (the loop and the plan).
func TestResidentSinkhornMatchesChunked(t *testing.T) {
	for _, be := range testBackends(t) {
		for _, tc := range []struct {
			eps, tol      float64
			k, maxIters   int
			wantConverged bool
		}{
			{1e-2, 1e-9, 10, 100000, true},
			{1e-3, 1e-7, 7, 100000, true},
			{1e-2, 1e-6, 1, 100000, true},
			{1e-3, 1e-12, 10, 45, false}, // 5 checks, 50 iterations: the chunked loop overshoots MaxIters to the check
		} {
			name := fmt.Sprintf("%s ε=%g k=%d MaxIters=%d", be.Name(), tc.eps, tc.k, tc.maxIters)
			a, b, cost := problem(11, 23, 31)
			s, err := NewSolver(be, Options{Epsilon: tc.eps, Tol: tc.tol, MaxIters: tc.maxIters, ItersPerCall: tc.k})
			if err != nil {
				t.Fatal(err)
			}
			if r := s.resident(); r.err != nil {
				t.Fatalf("%s: the resident loop is not available: %v", name, r.err)
			}
			res, err := s.Sinkhorn(a, b, cost)
			got, gotOK := lastIterate(t, name+" resident", res, err)
			res, err = chunkedSinkhorn(s, a, b, cost)
			want, wantOK := lastIterate(t, name+" chunked", res, err)
			if gotOK != tc.wantConverged || wantOK != tc.wantConverged {
				t.Fatalf("%s: converged resident %v, chunked %v; want %v", name, gotOK, wantOK, tc.wantConverged)
			}
			if got.RoundTrips != 2 {
				t.Errorf("%s: %d device calls, want 2 (the loop and the plan)", name, got.RoundTrips)
			}
			if got.Iterations != want.Iterations || got.SinkhornSteps != want.SinkhornSteps || len(got.ErrorTrace) != len(want.ErrorTrace) {
				t.Fatalf("%s: resident %d iterations (%d steps), %d trace points; chunked %d (%d), %d", name,
					got.Iterations, got.SinkhornSteps, len(got.ErrorTrace), want.Iterations, want.SinkhornSteps, len(want.ErrorTrace))
			}
			if !tc.wantConverged && got.Iterations != (tc.maxIters+tc.k-1)/tc.k*tc.k {
				t.Errorf("%s: %d iterations, want MaxIters rounded up to the check", name, got.Iterations)
			}
			// The go backend runs the same operations in the same order in both loops: bit-identical errors.
			exact := !strings.HasPrefix(strings.ToLower(be.Name()), "xla")
			prev, maxDiff := 0.0, 0.0
			for j, p := range got.ErrorTrace {
				w := want.ErrorTrace[j]
				maxDiff = math.Max(maxDiff, math.Abs(p.MarginalError-w.MarginalError))
				if p.Iteration != w.Iteration || !sameError(p.MarginalError, w.MarginalError) || exact && p.MarginalError != w.MarginalError {
					t.Fatalf("%s: trace point %d: resident (%d, %.17g), chunked (%d, %.17g)", name, j, p.Iteration, p.MarginalError, w.Iteration, w.MarginalError)
				}
				if !closeRel(p.Dual, w.Dual, 1e-12, 1e-12) || exact && p.Dual != w.Dual || p.Dual == 0 {
					t.Fatalf("%s: trace point %d: dual objective resident %.17g, chunked %.17g", name, j, p.Dual, w.Dual)
				}
				if !(p.Seconds >= prev) || !(p.Seconds <= got.Seconds) {
					t.Fatalf("%s: trace point %d at %g s (previous %g s, solve %g s): not interpolated in order", name, j, p.Seconds, prev, got.Seconds)
				}
				prev = p.Seconds
			}
			t.Logf("%s: %d iterations, trace errors differ by at most %.3g", name, got.Iterations, maxDiff)
			if got.MarginalError != got.ErrorTrace[len(got.ErrorTrace)-1].MarginalError {
				t.Errorf("%s: MarginalError %g is not the last trace point's %g", name, got.MarginalError, got.ErrorTrace[len(got.ErrorTrace)-1].MarginalError)
			}
			if !closeRel(got.Cost, want.Cost, 1e-12, 0) || !sameError(got.MarginalError, want.MarginalError) {
				t.Errorf("%s: cost %.17g, error %.6g; chunked %.17g, %.6g", name, got.Cost, got.MarginalError, want.Cost, want.MarginalError)
			}
			for i := range got.Plan {
				for j := range got.Plan[i] {
					if !closeRel(got.Plan[i][j], want.Plan[i][j], 1e-9, 1e-14) {
						t.Fatalf("%s: plan[%d][%d] = %.17g, chunked %.17g", name, i, j, got.Plan[i][j], want.Plan[i][j])
					}
				}
			}
		}
	}
}

// The potentials themselves (not only the plan they give) agree, and a
// second solve on the same Solver reuses the compiled loop and gives the same
// result.
func TestResidentSinkhornPotentials(t *testing.T) {
	for _, be := range testBackends(t) {
		a, b, cost := problem(12, 17, 19)
		s, err := NewSolver(be, Options{Epsilon: 1e-2, Tol: 1e-8})
		if err != nil {
			t.Fatal(err)
		}
		r := s.resident()
		if r.err != nil {
			t.Fatalf("%s: %v", be.Name(), r.err)
		}
		run := func(resident bool) (f, g []float64) {
			st, err := s.newSolve(a, b, cost)
			if err != nil {
				t.Fatal(err)
			}
			if resident {
				err = st.sinkhornResident(r.exec)
			} else {
				for st.res.Iterations < s.opts.MaxIters && !(st.res.MarginalError <= s.opts.Tol) && err == nil {
					err = st.sinkhornChunk()
				}
			}
			if err != nil {
				t.Fatalf("%s resident=%v: %v", be.Name(), resident, err)
			}
			return st.f.Value().([]float64), st.g.Value().([]float64)
		}
		f1, g1 := run(true)
		f2, g2 := run(false)
		f3, g3 := run(true)
		for _, pair := range [][2][]float64{{f1, f2}, {g1, g2}, {f1, f3}, {g1, g3}} {
			for i := range pair[0] {
				if !closeRel(pair[0][i], pair[1][i], 1e-12, 1e-3) {
					t.Fatalf("%s: potential %d: %.17g vs %.17g", be.Name(), i, pair[0][i], pair[1][i])
				}
			}
		}
		if s.resident() != r {
			t.Errorf("%s: the resident loop was rebuilt for the same Solver", be.Name())
		}
	}
}

// At MaxIters the resident loop returns a NotConvergedError that carries the
// last iterate: its plan, cost, error and trace.
func TestResidentSinkhornNotConverged(t *testing.T) {
	for _, be := range testBackends(t) {
		a, b, cost := problem(5, 20, 30)
		s, err := NewSolver(be, Options{Epsilon: 1e-3, Tol: 1e-12, MaxIters: 20})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Sinkhorn(a, b, cost)
		var nc *NotConvergedError
		if !errors.As(err, &nc) || nc.Last == nil {
			t.Fatalf("%s: error = %v; want a NotConvergedError", be.Name(), err)
		}
		last := nc.Last
		if last.Iterations != 20 || len(last.ErrorTrace) != 2 || !(last.MarginalError > 1e-12) || last.Plan == nil ||
			math.IsNaN(last.Cost) || last.MarginalError != last.ErrorTrace[1].MarginalError {
			t.Fatalf("%s: last iterate %d iterations, error %g, trace %v, cost %g", be.Name(), last.Iterations, last.MarginalError, last.ErrorTrace, last.Cost)
		}
		// The plan is that of the potentials reached: its marginal error is the one reported.
		if e := planMarginalError(last.Plan, a, b); !closeRel(e, last.MarginalError, 1e-6, 0) {
			t.Errorf("%s: the plan's marginal error %g, reported %g", be.Name(), e, last.MarginalError)
		}
	}
}

// A tolerance that is never reached: the loop stops at the limit, MaxIters
// (a multiple of ItersPerCall here), with one trace point per check.
func TestResidentSinkhornRunsToMaxIters(t *testing.T) {
	for _, be := range testBackends(t) {
		a, b, cost := problem(3, 8, 9)
		s, err := NewSolver(be, Options{Epsilon: 0.5, Tol: 1e-300, MaxIters: 30, ItersPerCall: 10})
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.Sinkhorn(a, b, cost)
		res, _ = lastIterate(t, be.Name(), res, err)
		if res.Iterations != 30 || len(res.ErrorTrace) != 3 {
			t.Errorf("%s: %d iterations, %d trace points; want the 3 checks of MaxIters", be.Name(), res.Iterations, len(res.ErrorTrace))
		}
	}
}

// The resident loop's cache does not keep a Solver alive: once the Solver is
// collected, its entry goes (and its executable is finalised).
func TestResidentCacheReleasesSolver(t *testing.T) {
	be := testBackends(t)[0]
	s, err := NewSolver(be, Options{Epsilon: 0.1, Tol: 1e-6})
	if err != nil {
		t.Fatal(err)
	}
	if r := s.resident(); r.err != nil {
		t.Fatal(r.err)
	}
	key := weak.Make(s)
	if _, ok := residentExecs.Load(key); !ok {
		t.Fatal("no cache entry for a Solver whose loop was built")
	}
	s = nil // the last strong reference: now only the cache could keep the Solver alive
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		runtime.GC()
		if _, ok := residentExecs.Load(key); !ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the cache entry of a collected Solver is still there after 10 s")
		}
	}
}

// Prepare compiles the resident loop for exactly the shapes a solve uses:
// with the loop's executable limited to the one graph Prepare made, solves
// in float64 and float32 still run.
func TestResidentPrepareCompilesTheLoop(t *testing.T) {
	for _, be := range testBackends(t) {
		for _, dt := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
			a, b, cost := problem(4, 12, 15)
			s, err := NewSolver(be, Options{Epsilon: 0.05, Tol: 1e-5, DType: dt})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Prepare(12, 15); err != nil {
				t.Fatalf("%s %s: %v", be.Name(), dt, err)
			}
			s.resident().exec.SetMaxCache(1)
			if _, err := s.Sinkhorn(a, b, cost); err != nil {
				t.Fatalf("%s %s: a solve after Prepare needed another graph: %v", be.Name(), dt, err)
			}
		}
	}
}
