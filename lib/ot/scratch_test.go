package ot_test

import (
	"testing"
	"time"

	"github.com/gorepro/gorepro/lib/backends/backendstest"
	"github.com/gorepro/gorepro/lib/data/mnist"
	"github.com/gorepro/gorepro/lib/ot"
	"github.com/gorepro/gorepro/lib/ot/problems"
)

func TestScratchFamilies(t *testing.T) {
	bk := backendstest.Available(t)[1]
	im, _, _ := mnist.Synthetic(10, 1)
	var ps []problems.Problem
	p, _ := problems.Random(1, 500, 2)
	ps = append(ps, p)
	p, _ = problems.Images("digits 3→8 L1", im.Pixels[3], im.Pixels[8], 28, 28, 1)
	ps = append(ps, p)
	p, _ = problems.Gaussians(1, 24)
	ps = append(ps, p)
	for _, pr := range ps {
		for _, eps := range []float64{1e-2, 3e-3, 1e-3} {
			opts := ot.Options{Epsilon: eps, Tol: 1e-8, MaxIters: 30000, ItersPerCall: 10}
			s, _ := ot.NewSolver(bk, opts)
			t0 := time.Now()
			r2, err := s.SinkhornNewtonSparse(pr.A, pr.B, pr.Cost)
			if err != nil {
				t.Logf("%s eps %g SNS: %.200v", pr.Name, eps, err)
			} else {
				t.Logf("%s eps %g SNS: it %d (S %d N %d CG %d fb %d drop %.2g) %.2fs (wall %.2fs)", pr.Name, eps, r2.Iterations, r2.SinkhornSteps, r2.NewtonSteps, r2.CGIterations, len(r2.Fallbacks), r2.MaxDroppedMass, r2.Seconds, time.Since(t0).Seconds())
			}
			r1, err := s.Sinkhorn(pr.A, pr.B, pr.Cost)
			if err != nil {
				t.Logf("%s eps %g Sinkhorn: %.200v", pr.Name, eps, err)
			} else {
				t.Logf("%s eps %g Sinkhorn: it %d %.2fs", pr.Name, eps, r1.Iterations, r1.Seconds)
			}
		}
	}
}
