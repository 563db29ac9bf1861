package data

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestModularArithmetic(t *testing.T) {
	for _, tc := range []struct {
		op   Op
		want func(a, b, p int) int
	}{
		{Add, func(a, b, p int) int { return (a + b) % p }},
		{Subtract, func(a, b, p int) int { return ((a - b) + p) % p }},
		{Multiply, func(a, b, p int) int { return a * b % p }},
	} {
		t.Run(string(tc.op), func(t *testing.T) {
			const p = 7
			s, err := ModularArithmetic(tc.op, p, 0.4, 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.XTrain) != 19 || len(s.XTest) != 30 || s.Classes != p {
				t.Fatalf("split %d/%d classes %d, want 19/30 (⌊0.4·49⌋) and 7", len(s.XTrain), len(s.XTest), s.Classes)
			}
			seen := map[[2]int]bool{}
			check := func(xs [][]float32, ys []int32) {
				for i, x := range xs {
					a, b, ones := -1, -1, 0
					for j, v := range x {
						if v == 1 {
							ones++
							if j < p {
								a = j
							} else {
								b = j - p
							}
						}
					}
					if ones != 2 || a < 0 || b < 0 {
						t.Fatalf("row %v is not two one-hot halves", x)
					}
					if int(ys[i]) != tc.want(a, b, p) {
						t.Errorf("(%d %s %d) mod %d labelled %d", a, tc.op, b, p, ys[i])
					}
					seen[[2]int{a, b}] = true
				}
			}
			check(s.XTrain, s.YTrain)
			check(s.XTest, s.YTest)
			if len(seen) != p*p {
				t.Errorf("%d distinct pairs, want all %d", len(seen), p*p)
			}
		})
	}
}

// TestPaperTrainingSetSize: the paper's Figure 1 split (p = 113, fraction
// 0.4) has int(0.4·12769) = 5 107 training pairs, as the official code.
func TestPaperTrainingSetSize(t *testing.T) {
	for _, tc := range []struct {
		p        int
		fraction float64
		train    int
	}{{113, 0.4, 5107}, {31, 0.8, 768}, {113, 0.7, 8938}} {
		s, err := ModularArithmetic(Add, tc.p, tc.fraction, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.XTrain) != tc.train || len(s.XTrain)+len(s.XTest) != tc.p*tc.p {
			t.Errorf("p = %d, fraction %g: %d training pairs of %d, want %d", tc.p, tc.fraction, len(s.XTrain), len(s.XTrain)+len(s.XTest), tc.train)
		}
	}
}

func TestDeterministicBySeed(t *testing.T) {
	a, _ := ModularArithmetic(Add, 11, 0.5, 3)
	b, _ := ModularArithmetic(Add, 11, 0.5, 3)
	c, _ := ModularArithmetic(Add, 11, 0.5, 4)
	if !reflect.DeepEqual(a, b) {
		t.Error("same seed, different data")
	}
	if reflect.DeepEqual(a.YTrain, c.YTrain) {
		t.Error("different seeds, same split")
	}
}

func TestSparseParity(t *testing.T) {
	s, err := SparseParity(3, 40, 2000, 0.5, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.XTrain) != 1000 || len(s.XTrain[0]) != 43 {
		t.Fatalf("shape %d×%d", len(s.XTrain), len(s.XTrain[0]))
	}
	ones := 0
	for i, x := range s.XTrain {
		parity := 0
		for _, v := range x[:3] {
			if v == 1 {
				parity ^= 1
			}
		}
		if int32(parity) != s.YTrain[i] {
			t.Fatalf("row %d labelled %d, parity %d", i, s.YTrain[i], parity)
		}
		ones += int(s.YTrain[i])
	}
	if ones < 400 || ones > 600 {
		t.Errorf("%d of 1000 labels are 1: not balanced", ones)
	}
}

func TestBadArguments(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{func() error { _, err := ModularArithmetic("divide", 7, 0.4, 1); return err }(), "unknown operation"},
		{func() error { _, err := ModularArithmetic(Add, 1, 0.4, 1); return err }(), "out of range"},
		{func() error { _, err := ModularArithmetic(Add, 7, 1, 1); return err }(), "must be in (0, 1)"},
		{func() error { _, err := ModularArithmetic(Add, 7, math.NaN(), 1); return err }(), "must be in (0, 1)"},
		{func() error { _, err := SparseParity(3, 4, 10, 0, 1); return err }(), "must be in (0, 1)"},
		{func() error { _, err := SparseParity(3, 4, 10, math.NaN(), 1); return err }(), "must be in (0, 1)"},
		{func() error { _, err := ModularArithmetic(Add, 2, 0.01, 1); return err }(), "empty split"},
		{func() error { _, err := SparseParity(0, 4, 10, 0.5, 1); return err }(), "parity bits"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("error %v, want %q", tc.err, tc.want)
		}
	}
}
