package problems

import (
	"math"
	"strings"
	"testing"
)

func check(t *testing.T, p Problem, n int) {
	t.Helper()
	if len(p.A) != n || len(p.B) != n || len(p.Cost) != n || len(p.Cost[0]) != n {
		t.Fatalf("%s: sizes %d %d %d", p.Name, len(p.A), len(p.B), len(p.Cost))
	}
	sa, sb, mx := 0.0, 0.0, 0.0
	for i := range p.A {
		sa += p.A[i]
		sb += p.B[i]
		if !(p.A[i] > 0) || !(p.B[i] > 0) {
			t.Fatalf("%s: empty bin %d", p.Name, i)
		}
		for _, c := range p.Cost[i] {
			mx = math.Max(mx, c)
		}
	}
	if !(math.Abs(sa-1) <= 1e-12 && math.Abs(sb-1) <= 1e-12) || mx != 1 {
		t.Errorf("%s: masses %v %v, max cost %v", p.Name, sa, sb, mx)
	}
}

func TestProblems(t *testing.T) {
	r, err := Random(1, 50, 3)
	if err != nil {
		t.Fatal(err)
	}
	check(t, r, 50)
	g, err := Gaussians(2, 10)
	if err != nil {
		t.Fatal(err)
	}
	check(t, g, 100)
	// On a 2×2 grid the L1 cost between opposite corners is 2 (the max) and
	// between neighbours 1: normalised 1 and 0.5; squared Euclidean 2 and 1 → 1 and 0.5.
	img := []uint8{255, 0, 0, 10}
	for _, p := range []int{1, 2} {
		pr, err := Images("tiny", img, img, 2, 2, p)
		if err != nil {
			t.Fatal(err)
		}
		check(t, pr, 4)
		if pr.Cost[0][3] != 1 || pr.Cost[0][1] != 0.5 || pr.Cost[2][2] != 0 {
			t.Errorf("p=%d: cost %v", p, pr.Cost)
		}
		if want := (255 + 0.0255) / (265 + 4*0.0255); !(math.Abs(pr.A[0]-want) <= 1e-15) {
			t.Errorf("p=%d: a[0] = %v, want %v", p, pr.A[0], want)
		}
	}
	for _, tc := range []struct {
		err    error
		errHas string
	}{
		{func() error { _, e := Random(1, 0, 2); return e }(), "both must be positive"},
		{func() error { _, e := Gaussians(1, 1); return e }(), "want 2..100"},
		{func() error { _, e := Images("x", img, img[:3], 2, 2, 1); return e }(), "pixels for a 2×2 grid"},
		{func() error { _, e := Images("x", img, img, 2, 2, 3); return e }(), "want 1 or 2"},
		{func() error { _, e := Images("x", make([]uint8, 4), img, 2, 2, 1); return e }(), "blank"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.errHas) {
			t.Errorf("error %v, want %q", tc.err, tc.errHas)
		}
	}
}

func TestAssignment(t *testing.T) {
	p, err := Assignment(3, 40)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.A) != 40 || len(p.B) != 40 || len(p.Cost) != 40 || len(p.Cost[0]) != 40 {
		t.Fatalf("sizes %d %d %d", len(p.A), len(p.B), len(p.Cost))
	}
	sum, mean, mx := 0.0, 0.0, 0.0
	for i := range p.A {
		sum += p.A[i]
		if p.A[i] != p.B[i] || p.A[i] != 1.0/40 {
			t.Fatalf("histograms not uniform at %d: %v %v", i, p.A[i], p.B[i])
		}
		for _, c := range p.Cost[i] {
			if !(c >= 0 && c < 1) {
				t.Fatalf("cost %v outside [0,1)", c)
			}
			mean += c / 1600
			mx = math.Max(mx, c)
		}
	}
	// Uniform on [0,1]: mean 1/2 (sd of the mean of 1 600 draws ≈ 0.007), not rescaled to max 1.
	if math.Abs(sum-1) > 1e-12 || math.Abs(mean-0.5) > 0.03 || mx == 1 {
		t.Errorf("mass %v, mean cost %v, max %v", sum, mean, mx)
	}
	again, _ := Assignment(3, 40)
	other, _ := Assignment(4, 40)
	if again.Cost[5][7] != p.Cost[5][7] || other.Cost[5][7] == p.Cost[5][7] {
		t.Errorf("seeding: %v %v %v", p.Cost[5][7], again.Cost[5][7], other.Cost[5][7])
	}
	if _, err := Assignment(1, 0); err == nil {
		t.Error("n = 0 accepted")
	}
}
