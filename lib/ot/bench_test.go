package ot

import (
	"sort"
	"testing"
)

// BenchmarkSNSAssignment500 solves the paper's random assignment problem
// (n = 500, ε = 1/1200, tol 1e-9, KeepTotal = 2n) on the last test backend
// (xla:cpu where installed), compiled beforehand, and reports the median
// wall time of a Newton step (from the trace), the iterations and the
// device calls of a solve. "hostSelect" selects P's entries on the host
// (quickselect) instead of GoMLX's TopK, as on the go backend.
//
//	go test -run '^$' -bench SNSAssignment500 ./lib/ot/
func BenchmarkSNSAssignment500(b *testing.B) {
	bk := testBackends(b)[len(testBackends(b))-1]
	const n = 500
	a, h, cost := assignmentProblem(1, n)
	for _, hostSelect := range []bool{false, true} {
		name := "TopK"
		if hostSelect {
			name = "hostSelect"
		}
		b.Run(name, func(b *testing.B) {
			s, err := NewSolver(bk, Options{Epsilon: 1.0 / 1200, Tol: 1e-9, MaxIters: 2000, KeepTotal: 2 * n})
			if err != nil {
				b.Fatal(err)
			}
			s.hostSelect = s.hostSelect || hostSelect
			if err := s.Prepare(n, n); err != nil {
				b.Fatal(err)
			}
			var steps []float64
			var res *Result
			b.ResetTimer()
			for range b.N {
				if res, err = s.SinkhornNewtonSparse(a, h, cost); err != nil {
					b.Fatal(err)
				}
				tr := res.ErrorTrace
				for k := 1; k < len(tr); k++ {
					if tr[k].Iteration == tr[k-1].Iteration+1 {
						steps = append(steps, tr[k].Seconds-tr[k-1].Seconds)
					}
				}
			}
			sort.Float64s(steps)
			b.ReportMetric(1e3*steps[len(steps)/2], "ms/newton-step")
			b.ReportMetric(float64(res.Iterations), "iterations")
			b.ReportMetric(float64(res.NewtonSteps), "newton-steps")
			b.ReportMetric(float64(res.RoundTrips), "device-calls")
		})
	}
}
