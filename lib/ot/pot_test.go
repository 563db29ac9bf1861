package ot_test

import (
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/gorepro/gorepro/lib/backends/backendstest"
	"github.com/gorepro/gorepro/lib/ot"
	"github.com/gorepro/gorepro/lib/ot/pot"
	"github.com/gorepro/gorepro/lib/ot/problems"
)

// requirePOT skips without POT, unless $GOREPRO_REQUIRE_POT is set (make
// test sets it): then a missing POT fails.
func requirePOT(t *testing.T) {
	t.Helper()
	if err := pot.Available(); err != nil {
		if os.Getenv("GOREPRO_REQUIRE_POT") != "" {
			t.Fatalf("POT is required ($GOREPRO_REQUIRE_POT) but: %v", err)
		}
		t.Skipf("POT not available: %v", err)
	}
}

func marginalErr(p [][]float64, a, b []float64) float64 {
	cols := make([]float64, len(b))
	e := 0.0
	for i, row := range p {
		s := 0.0
		for j, v := range row {
			s += v
			cols[j] += v
		}
		e += math.Abs(s - a[i])
	}
	for j := range cols {
		e += math.Abs(cols[j] - b[j])
	}
	return e
}

// Sinkhorn and SNS against POT's sinkhorn_log at the same ε and the same
// marginal tolerance: our solvers stop at ‖P1 − a‖₁ + ‖Pᵀ1 − b‖₁ ≤ 1e-10;
// POT stops on the L2 norm of the column violation alone (its rows are exact
// after its last update), so it runs to 1e-10/√m, and its plan's error under
// our rule is checked to be ≤ 1e-10 too. Then the costs agree to 1e-9
// relative, the plans to 1e-6 in L1, and every plan is non-negative. On
// every backend.
func TestAgainstPOT(t *testing.T) {
	requirePOT(t)
	const tol = 1e-10
	for _, bk := range backendstest.Available(t) {
		for k, eps := range []float64{1e-1, 1e-2, 1e-3} {
			pr, err := problems.Random(uint64(100+k), 40, 2)
			if err != nil {
				t.Fatal(err)
			}
			a, b, cost := pr.A, pr.B, pr.Cost
			ref, err := pot.SinkhornLog(a, b, cost, eps, tol/math.Sqrt(float64(len(b))), 1_000_000)
			if err != nil {
				t.Fatal(err)
			}
			if len(ref.Warnings) > 0 {
				t.Fatalf("POT ε=%g: %v", eps, ref.Warnings)
			}
			if e := marginalErr(ref.Plan, a, b); !(e <= tol) {
				t.Fatalf("POT ε=%g: marginal error %.3g of its plan > %g: not the same tolerance", eps, e, tol)
			}
			opts := ot.Options{Epsilon: eps, Tol: tol, MaxIters: 200_000}
			for _, solve := range []struct {
				name string
				fn   func() (*ot.Result, error)
			}{
				{"Sinkhorn", func() (*ot.Result, error) { return ot.Sinkhorn(bk, a, b, cost, opts) }},
				{"SNS", func() (*ot.Result, error) { return ot.SinkhornNewtonSparse(bk, a, b, cost, opts) }},
			} {
				name := fmt.Sprintf("%s %s ε=%g", bk.Name(), solve.name, eps)
				res, err := solve.fn()
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if rel := math.Abs(res.Cost-ref.Cost) / ref.Cost; !(rel <= 1e-9) {
					t.Errorf("%s: cost %.15g, POT %.15g (relative %.2g > 1e-9)", name, res.Cost, ref.Cost, rel)
				}
				if e := marginalErr(res.Plan, a, b); !(e <= tol) {
					t.Errorf("%s: marginal error %.3g > %g", name, e, tol)
				}
				diff := 0.0
				for i := range res.Plan {
					for j, v := range res.Plan[i] {
						if !(v >= 0) || math.IsInf(v, 0) {
							t.Fatalf("%s: plan[%d][%d] = %g", name, i, j, v)
						}
						diff += math.Abs(v - ref.Plan[i][j])
					}
				}
				if !(diff <= 1e-6) {
					t.Errorf("%s: ‖P − P_POT‖₁ = %.3g > 1e-6", name, diff)
				}
			}
		}
	}
}
