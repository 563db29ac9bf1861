package experiment

import (
	"fmt"
	"math"
)

// Curve is test accuracy against epoch over seeds: the mean and the
// lowest and highest seed at each epoch.
type Curve struct {
	Epochs         []float64
	Mean, Min, Max []float64
}

// MeanCurve summarises runs of equal length (one per seed).
func MeanCurve(runs []*Run) (Curve, error) {
	if len(runs) == 0 {
		return Curve{}, fmt.Errorf("experiment: MeanCurve of no runs")
	}
	n := len(runs[0].Curve)
	if n == 0 {
		return Curve{}, fmt.Errorf("experiment: MeanCurve: a run without epochs")
	}
	var c Curve
	for e := range n {
		sum, lo, hi := 0.0, math.Inf(1), math.Inf(-1)
		for _, r := range runs {
			if len(r.Curve) != n {
				return Curve{}, fmt.Errorf("experiment: MeanCurve: runs of %d and %d epochs", n, len(r.Curve))
			}
			a := r.Curve[e].TestAcc
			sum, lo, hi = sum+a, math.Min(lo, a), math.Max(hi, a)
		}
		c.Epochs = append(c.Epochs, float64(runs[0].Curve[e].Epoch))
		c.Mean, c.Min, c.Max = append(c.Mean, sum/float64(len(runs))), append(c.Min, lo), append(c.Max, hi)
	}
	return c, nil
}
