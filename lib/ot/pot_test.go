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

// Sinkhorn and SNS against POT's sinkhorn_log at the same ε: cost to 1e-6
// relative, marginals to 1e-8, the plan feasible, non-negative and equal to
// POT's to 1e-6 in L1; SNS and Sinkhorn agree to 1e-8. On every backend.
func TestAgainstPOT(t *testing.T) {
	requirePOT(t)
	for _, bk := range backendstest.Available(t) {
		for k, eps := range []float64{1e-1, 1e-2, 1e-3} {
			pr, err := problems.Random(uint64(100+k), 40, 2)
			if err != nil {
				t.Fatal(err)
			}
			a, b, cost := pr.A, pr.B, pr.Cost
			ref, err := pot.SinkhornLog(a, b, cost, eps, 1e-13, 1_000_000)
			if err != nil {
				t.Fatal(err)
			}
			if len(ref.Warnings) > 0 {
				t.Fatalf("POT ε=%g: %v", eps, ref.Warnings)
			}
			opts := ot.Options{Epsilon: eps, Tol: 1e-10, MaxIters: 200_000}
			var costs []float64
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
				if rel := math.Abs(res.Cost-ref.Cost) / ref.Cost; !(rel <= 1e-6) {
					t.Errorf("%s: cost %.12g, POT %.12g (relative %.2g > 1e-6)", name, res.Cost, ref.Cost, rel)
				}
				if e := marginalErr(res.Plan, a, b); !(e <= 1e-8) {
					t.Errorf("%s: marginal error %.3g > 1e-8", name, e)
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
				costs = append(costs, res.Cost)
			}
			if rel := math.Abs(costs[0]-costs[1]) / costs[0]; !(rel <= 1e-8) {
				t.Errorf("%s ε=%g: Sinkhorn %.14g and SNS %.14g differ by %.2g relative", bk.Name(), eps, costs[0], costs[1], rel)
			}
		}
	}
}
