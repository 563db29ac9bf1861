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

func TestSpeedup(t *testing.T) {
	base := []*Run{runOf(1, 0.5, 0.6, 0.7, 0.8), runOf(2, 0.4, 0.6, 0.8, 0.9)}
	tr := []*Run{runOf(1, 0.7, 0.85, 0.9, 0.9), runOf(2, 0.6, 0.8, 0.9, 0.95)}
	bc, err := MeanCurve(base)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{0.45, 0.6, 0.75, 0.85}; !near(bc.Mean, want) || !near(bc.Min, []float64{0.4, 0.6, 0.7, 0.8}) || !near(bc.Max, []float64{0.5, 0.6, 0.8, 0.9}) {
		t.Errorf("mean curve %+v", bc)
	}
	tc, _ := MeanCurve(tr)
	// Target 0.85; TrAct's mean: 0.65, 0.825, 0.9 → epoch 3; 4/3.
	ratio, target, epochs := Speedup(bc, tc)
	if !(math.Abs(target-0.85) <= 1e-12) || epochs != 3 || !(math.Abs(ratio-4.0/3) <= 1e-12) {
		t.Errorf("Speedup = %g, %g, %d", ratio, target, epochs)
	}
	// Seed 1: target 0.8 reached at 2 → 2; seed 2: 0.9 at 3 → 4/3.
	if low, err := SeedSpeedup(base, tr); err != nil || !(math.Abs(low-4.0/3) <= 1e-12) {
		t.Errorf("SeedSpeedup = %g, %v", low, err)
	}
	// Never reaching the target: NaN, not a made-up number.
	if r, _, e := Speedup(tc, bc); !math.IsNaN(r) || e != -1 {
		t.Errorf("unreached target: %g, %d", r, e)
	}
	if low, err := SeedSpeedup(tr, base); err != nil || !math.IsNaN(low) {
		t.Errorf("unreached seed target: %g, %v", low, err)
	}
	if _, err := SeedSpeedup(base, tr[:1]); err == nil {
		t.Error("unpaired runs accepted")
	}
	if _, err := SeedSpeedup(base, []*Run{tr[1], tr[0]}); err == nil {
		t.Error("runs of different seeds paired")
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
