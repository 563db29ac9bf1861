package ot

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"

	"github.com/gorepro/gorepro/lib/backends/backendstest"
)

func testBackends(t testing.TB) []compute.Backend { return backendstest.Available(t) }

// problem is a random problem: points in the unit square, squared Euclidean
// cost normalised to max 1, random histograms of equal mass.
func problem(seed uint64, n, m int) (a, b []float64, cost [][]float64) {
	r := rand.New(rand.NewPCG(seed, 1))
	hist := func(k int) []float64 {
		h, s := make([]float64, k), 0.0
		for i := range h {
			h[i] = 0.1 + r.Float64()
			s += h[i]
		}
		for i := range h {
			h[i] /= s
		}
		return h
	}
	a, b = hist(n), hist(m)
	xs, ys := make([][2]float64, n), make([][2]float64, m)
	for i := range xs {
		xs[i] = [2]float64{r.Float64(), r.Float64()}
	}
	for j := range ys {
		ys[j] = [2]float64{r.Float64(), r.Float64()}
	}
	cost, maxC := make([][]float64, n), 0.0
	for i := range cost {
		cost[i] = make([]float64, m)
		for j := range cost[i] {
			dx, dy := xs[i][0]-ys[j][0], xs[i][1]-ys[j][1]
			cost[i][j] = dx*dx + dy*dy
			maxC = math.Max(maxC, cost[i][j])
		}
	}
	for i := range cost {
		for j := range cost[i] {
			cost[i][j] /= maxC
		}
	}
	return a, b, cost
}

// assignmentProblem is the paper's random assignment problem: C_ij iid
// uniform on [0, 1], uniform marginals 1/n.
func assignmentProblem(seed uint64, n int) (a, b []float64, cost [][]float64) {
	r := rand.New(rand.NewPCG(seed, 2))
	a, b, cost = make([]float64, n), make([]float64, n), make([][]float64, n)
	for i := range n {
		a[i], b[i] = 1/float64(n), 1/float64(n)
		cost[i] = make([]float64, n)
		for j := range cost[i] {
			cost[i][j] = r.Float64()
		}
	}
	return a, b, cost
}

// referenceSinkhorn is log-domain Sinkhorn written with plain float64 loops,
// independent of GoMLX: it runs until the marginal error is below tol.
func referenceSinkhorn(a, b []float64, cost [][]float64, eps, tol float64) (plan [][]float64, cst float64) {
	n, m := len(a), len(b)
	f, g := make([]float64, n), make([]float64, m)
	// lse is ε·log Σ_k exp(term(k)/ε) over k < count, with the max taken out.
	lse := func(count int, term func(k int) float64) float64 {
		mx := math.Inf(-1)
		for k := range count {
			mx = math.Max(mx, term(k)/eps)
		}
		s := 0.0
		for k := range count {
			s += math.Exp(term(k)/eps - mx)
		}
		return eps * (math.Log(s) + mx)
	}
	lseRow := func(i int) float64 { return lse(m, func(j int) float64 { return g[j] - cost[i][j] }) }
	lseCol := func(j int) float64 { return lse(n, func(i int) float64 { return f[i] - cost[i][j] }) }
	for iter := 0; iter < 1_000_000; iter++ {
		for i := range n {
			f[i] = eps*math.Log(a[i]) - lseRow(i)
		}
		for j := range m {
			g[j] = eps*math.Log(b[j]) - lseCol(j)
		}
		errRow := 0.0
		for i := range n {
			s := 0.0
			for j := range m {
				s += math.Exp((f[i] + g[j] - cost[i][j]) / eps)
			}
			errRow += math.Abs(s - a[i])
		}
		if errRow <= tol {
			break
		}
	}
	plan = make([][]float64, n)
	for i := range n {
		plan[i] = make([]float64, m)
		for j := range m {
			plan[i][j] = math.Exp((f[i] + g[j] - cost[i][j]) / eps)
			cst += plan[i][j] * cost[i][j]
		}
	}
	return plan, cst
}

// planMarginalError is ‖P1 − a‖₁ + ‖Pᵀ1 − b‖₁ recomputed from the plan in float64.
func planMarginalError(p [][]float64, a, b []float64) float64 {
	rows, cols := marginals(p)
	e := 0.0
	for i := range rows {
		e += math.Abs(rows[i] - a[i])
	}
	for j := range cols {
		e += math.Abs(cols[j] - b[j])
	}
	return e
}

func marginals(p [][]float64) (rows, cols []float64) {
	rows, cols = make([]float64, len(p)), make([]float64, len(p[0]))
	for i := range p {
		for j, v := range p[i] {
			rows[i] += v
			cols[j] += v
		}
	}
	return rows, cols
}

// Sinkhorn against the float64 reference: cost to 1e-6 relative, marginals
// to Tol, a plan that is finite and non-negative; ε from 1e-1 down to 1e-3,
// on every backend.
func TestSinkhornMatchesFloat64Reference(t *testing.T) {
	for _, b := range testBackends(t) {
		for k, eps := range []float64{1e-1, 1e-2, 1e-3} {
			a, bb, cost := problem(uint64(k+1), 30, 40)
			const tol = 1e-9
			res, err := Sinkhorn(b, a, bb, cost, Options{Epsilon: eps, Tol: tol, MaxIters: 100000})
			if err != nil {
				t.Fatalf("%s ε=%g: %v", b.Name(), eps, err)
			}
			checkSolution(t, fmt.Sprintf("%s ε=%g", b.Name(), eps), res, a, bb, cost, eps, tol)
			if len(res.ErrorTrace) == 0 || res.Iterations%10 != 0 {
				t.Errorf("%s ε=%g: %d iterations, trace %d points", b.Name(), eps, res.Iterations, len(res.ErrorTrace))
			}
			checkDualTrace(t, fmt.Sprintf("%s ε=%g", b.Name(), eps), res, eps)
		}
	}
}

// checkDualTrace checks that the trace's dual objective never decreases
// (Sinkhorn is block-coordinate ascent on it; up to float64 rounding) and
// ends at the primal objective ⟨C, P⟩ − ε·H(P): their gap is
// ⟨a − P1, f⟩ + ⟨b − Pᵀ1, g⟩, at most the marginal error times the
// potentials' range, which is about max C = 1 here (10× for the ε·log terms).
func checkDualTrace(t *testing.T, name string, res *Result, eps float64) {
	t.Helper()
	for k := 1; k < len(res.ErrorTrace); k++ {
		if prev, d := res.ErrorTrace[k-1].Dual, res.ErrorTrace[k].Dual; !(d >= prev-1e-15*math.Abs(prev)) {
			t.Errorf("%s: dual %.17g at iteration %d after %.17g", name, d, res.ErrorTrace[k].Iteration, prev)
		}
	}
	entropy := 0.0
	for i := range res.Plan {
		for _, p := range res.Plan[i] {
			if p > 0 {
				entropy -= p * (math.Log(p) - 1)
			}
		}
	}
	primal, dual := res.Cost-eps*entropy, res.ErrorTrace[len(res.ErrorTrace)-1].Dual
	if !(math.Abs(primal-dual) <= 10*res.MarginalError) {
		t.Errorf("%s: final dual %.15g, primal %.15g", name, dual, primal)
	}
}

// Small ε (1e-4 on costs normalised to 1) stays finite in the log domain.
func TestSinkhornSmallEpsilonIsFinite(t *testing.T) {
	b := testBackends(t)[0]
	a, bb, cost := problem(7, 20, 20)
	res, err := Sinkhorn(b, a, bb, cost, Options{Epsilon: 1e-4, Tol: 1e-6, MaxIters: 200000, ItersPerCall: 50})
	var nc *NotConvergedError
	if errors.As(err, &nc) {
		res = nc.Last
	} else if err != nil {
		t.Fatal(err)
	}
	if math.IsNaN(res.Cost) || math.IsNaN(res.MarginalError) {
		t.Fatalf("NaN at ε = 1e-4: cost %v, error %v", res.Cost, res.MarginalError)
	}
}

// Both solvers in float32 (the iteration's precision, ε = 1e-2): cost to
// 1e-4 of the float64 reference, on every backend.
func TestFloat32(t *testing.T) {
	for _, b := range testBackends(t) {
		for _, solve := range []struct {
			name string
			fn   func(compute.Backend, []float64, []float64, [][]float64, Options) (*Result, error)
		}{{"Sinkhorn", Sinkhorn}, {"SNS", SinkhornNewtonSparse}} {
			a, bb, cost := problem(3, 25, 25)
			res, err := solve.fn(b, a, bb, cost, Options{Epsilon: 1e-2, Tol: 1e-5, DType: dtypes.Float32})
			if err != nil {
				t.Fatalf("%s %s: %v", b.Name(), solve.name, err)
			}
			_, want := referenceSinkhorn(a, bb, cost, 1e-2, 1e-12)
			if rel := math.Abs(res.Cost-want) / want; !(rel <= 1e-4) {
				t.Errorf("%s %s float32: cost %.8g, reference %.8g (relative %.2g > 1e-4)", b.Name(), solve.name, res.Cost, want, rel)
			}
		}
	}
}

// Non-convergence is an error that carries the last iterate.
func TestSinkhornNotConverged(t *testing.T) {
	b := testBackends(t)[0]
	a, bb, cost := problem(5, 20, 30)
	_, err := Sinkhorn(b, a, bb, cost, Options{Epsilon: 1e-3, Tol: 1e-12, MaxIters: 20})
	var nc *NotConvergedError
	if !errors.As(err, &nc) || nc.Last == nil || nc.Last.Iterations != 20 || !(nc.Last.MarginalError > 1e-12) || nc.Last.Plan == nil {
		t.Fatalf("error = %v; want a NotConvergedError with the last iterate", err)
	}
}

func scaled(h []float64, by float64) []float64 {
	out := make([]float64, len(h))
	for i, v := range h {
		out[i] = v * by
	}
	return out
}

// Masses that differ by rounding (≤ 1e-13 relative) are accepted, and b is
// rescaled to a's mass.
func TestNearlyEqualMasses(t *testing.T) {
	bk := testBackends(t)[0]
	a, b, cost := problem(2, 5, 6)
	b = scaled(b, 1+5e-14)
	for _, solve := range []func(compute.Backend, []float64, []float64, [][]float64, Options) (*Result, error){Sinkhorn, SinkhornNewtonSparse} {
		if _, err := solve(bk, a, b, cost, Options{Epsilon: 0.1, Tol: 1e-9}); err != nil {
			t.Errorf("masses 5e-14 apart refused: %v", err)
		}
	}
	sa, sb := 0.0, 0.0
	for _, v := range a {
		sa += v
	}
	for _, v := range b {
		sb += v
	}
	if got := rescaled(b, sb, sa); !(math.Abs(got[0]-b[0]*sa/sb) <= 1e-18) || &rescaled(a, sa, sa)[0] != &a[0] {
		t.Errorf("rescaled: %v from %v", got, b)
	}
}

func TestSinkhornBadInput(t *testing.T) {
	b := testBackends(t)[0]
	a, bb, cost := problem(1, 3, 4)
	ok := Options{Epsilon: 0.1, Tol: 1e-6}
	withCost := func(i, j int, v float64) [][]float64 {
		c := make([][]float64, len(cost))
		for k := range cost {
			c[k] = append([]float64{}, cost[k]...)
		}
		c[i][j] = v
		return c
	}
	for _, tc := range []struct {
		name   string
		a, b   []float64
		cost   [][]float64
		opts   Options
		errHas string
	}{
		{"ε = 0", a, bb, cost, Options{Tol: 1e-6}, "Epsilon = 0"},
		{"ε < 0", a, bb, cost, Options{Epsilon: -1, Tol: 1e-6}, "Epsilon = -1"},
		{"ε NaN", a, bb, cost, Options{Epsilon: math.NaN(), Tol: 1e-6}, "Epsilon = NaN"},
		{"tol = 0", a, bb, cost, Options{Epsilon: 0.1}, "Tol = 0"},
		{"tol < 0", a, bb, cost, Options{Epsilon: 0.1, Tol: -1}, "Tol = -1"},
		{"float16", a, bb, cost, Options{Epsilon: 0.1, Tol: 1e-6, DType: dtypes.Float16}, "want Float64 or Float32"},
		{"different masses", []float64{0.5, 0.5, 0.5}, bb, cost, ok, "different masses"},
		{"masses 2e-13 apart", scaled(a, 1+2e-13), bb, cost, ok, "different masses (Σa = 1.0000000000002"},
		{"masses 1e-9 apart", a, scaled(bb, 1-1e-9), cost, ok, "Σb = 0.999999999"},
		{"negative entry", []float64{1.2, -0.4, 0.2}, bb, cost, ok, "a[1] = -0.4"},
		{"mass overflows", []float64{math.MaxFloat64, math.MaxFloat64, 0}, bb, cost, ok, "a's total mass overflows"},
		{"NaN in b", a, []float64{0.5, math.NaN(), 0.25, 0.25}, cost, ok, "b[1] = NaN"},
		{"NaN cost", a, bb, withCost(1, 2, math.NaN()), ok, "cost[1][2] = NaN"},
		{"Inf cost", a, bb, withCost(0, 0, math.Inf(1)), ok, "cost[0][0] = +Inf"},
		{"cost rows", a, bb, cost[:2], ok, "cost has 2 rows, a has 3"},
		{"cost columns", a, bb, withCost(0, 0, 0)[:3:3], ok, ""},
		{"empty", nil, bb, cost, ok, "empty histogram"},
	} {
		if tc.name == "cost columns" {
			c := withCost(0, 0, 0)
			c[2] = c[2][:3]
			tc.cost, tc.errHas = c, "cost row 2 has 3 entries, b has 4"
		}
		for _, solve := range []struct {
			name string
			fn   func(compute.Backend, []float64, []float64, [][]float64, Options) (*Result, error)
		}{{"Sinkhorn", Sinkhorn}, {"SinkhornNewtonSparse", SinkhornNewtonSparse}} {
			res, err := solve.fn(b, tc.a, tc.b, tc.cost, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.errHas) || res != nil {
				t.Errorf("%s: %s = %v, %v; want an error containing %q", tc.name, solve.name, res, err, tc.errHas)
			}
		}
	}
}
