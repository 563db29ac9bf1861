package tuning

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestGrid(t *testing.T) {
	lrs := []float64{0.3, 0.1, 0.03, 0.01}
	// Validation accuracy: the baseline peaks at 0.1, the method at 0.03,
	// the method diverges at 0.3.
	scores := map[string][]float64{
		"baseline": {0.70, 0.80, 0.78, 0.60},
		"method":   {math.NaN(), 0.82, 0.90, 0.90},
	}
	calls := map[string]int{}
	tuned, err := Grid([]string{"baseline", "method"}, Search{Param: "learning rate", Values: lrs, Split: "validation", HigherIsBetter: true},
		func(arm string, v float64) (float64, error) {
			calls[arm]++
			for i, x := range lrs {
				if x == v {
					return scores[arm][i], nil
				}
			}
			return 0, errors.New("not in the grid")
		})
	if err != nil {
		t.Fatal(err)
	}
	if calls["baseline"] != len(lrs) || calls["method"] != len(lrs) {
		t.Errorf("budgets %v, want %d evaluations per arm", calls, len(lrs))
	}
	if tuned[0].Chosen != 0.1 || tuned[1].Chosen != 0.03 {
		t.Errorf("chosen %g and %g, want 0.1 and 0.03 (a tie goes to the first listed; NaN never chosen)", tuned[0].Chosen, tuned[1].Chosen)
	}
	if !math.IsNaN(tuned[1].Scores[0]) || tuned[1].Split != "validation" {
		t.Errorf("the diverged score or the split was not recorded: %+v", tuned[1])
	}
	for _, tc := range []struct {
		p         Protocol
		arm, want string
		value     float64
	}{{Paper, "method", "", 0.1}, {OwnBest, "method", "", 0.03}, {OwnBest, "baseline", "", 0.1}, {"mine", "method", "unknown protocol", 0}} {
		v, err := Chosen(tuned, tc.p, tc.arm, "baseline")
		if tc.want != "" {
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: %v", tc.p, err)
			}
			continue
		}
		if err != nil || v != tc.value {
			t.Errorf("%s %s: %g, %v; want %g", tc.p, tc.arm, v, err, tc.value)
		}
	}
}

func TestGridBadInput(t *testing.T) {
	ok := func(string, float64) (float64, error) { return 1, nil }
	nan := func(string, float64) (float64, error) { return math.NaN(), nil }
	for _, tc := range []struct {
		name  string
		arms  []string
		s     Search
		score Score
		want  string
	}{
		{"no arms", nil, Search{Param: "lr", Values: []float64{1}, Split: "v"}, ok, "no arms"},
		{"empty grid", []string{"a"}, Search{Param: "lr", Split: "v"}, ok, "empty"},
		{"no split", []string{"a"}, Search{Param: "lr", Values: []float64{1}}, ok, "validation split"},
		{"NaN in grid", []string{"a"}, Search{Param: "lr", Values: []float64{math.NaN()}, Split: "v"}, ok, "holds NaN"},
		{"all diverged", []string{"a"}, Search{Param: "lr", Values: []float64{1, 2}, Split: "v"}, nan, "every lr value diverged for a"},
		{"score error", []string{"a"}, Search{Param: "lr", Values: []float64{1}, Split: "v"}, func(string, float64) (float64, error) { return 0, errors.New("boom") }, "tuning a at lr = 1: boom"},
	} {
		if _, err := Grid(tc.arms, tc.s, tc.score); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
