package experiment

import (
	"math"
	"testing"
)

func runOf(seed uint64, accs ...float64) *Run {
	r := &Run{Config: Config{Seed: seed}}
	for i, a := range accs {
		r.Curve = append(r.Curve, Point{Epoch: i + 1, TestAcc: a})
	}
	return r
}

// MeanCurve against hand-computed means and bands.
func TestMeanCurve(t *testing.T) {
	base := []*Run{runOf(1, 0.5, 0.6, 0.7, 0.8), runOf(2, 0.4, 0.6, 0.8, 0.9)}
	bc, err := MeanCurve(base)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{0.45, 0.6, 0.75, 0.85}; !near(bc.Mean, want) || !near(bc.Min, []float64{0.4, 0.6, 0.7, 0.8}) || !near(bc.Max, []float64{0.5, 0.6, 0.8, 0.9}) {
		t.Errorf("mean curve %+v", bc)
	}
	if _, err := MeanCurve([]*Run{base[0], runOf(3, 0.1)}); err == nil {
		t.Error("runs of different lengths averaged")
	}
}

func near(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !(math.Abs(a[i]-b[i]) <= 1e-12) {
			return false
		}
	}
	return true
}
