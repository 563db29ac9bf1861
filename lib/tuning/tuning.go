// Package tuning gives every arm of a comparison the same tuning budget.
//
// A comparison is only fair when each arm had the same chance: the same
// grid of a hyperparameter (a learning-rate grid, say), each value scored on
// a validation split — never on the test set, which is used once, after the
// choice — and the best value kept by one rule for all arms. Grid does that
// and returns what was tried and chosen as notebook.Tuned records, which
// the notebook puts in its RESULT line. Two protocols use the choices:
//   - Paper: the method is dropped into the baseline's tuned recipe (both
//     arms at the value chosen for the baseline), as papers such as TrAct
//     evaluate a drop-in change;
//   - OwnBest: each arm at the value chosen for it, a robustness check.
//
// Claims name the protocol they use (claims.Claim.Protocol).
package tuning

import (
	"errors"
	"fmt"
	"math"

	"github.com/gorepro/gorepro/lib/notebook"
)

// Protocol names how the tuned values are used in a comparison.
type Protocol string

// The protocols.
const (
	Paper   Protocol = "paper: the method in the baseline's tuned recipe"
	OwnBest Protocol = "each arm at its own best value"
)

// Search is one hyperparameter's grid, searched for every arm alike.
type Search struct {
	// Param names the hyperparameter, e.g. "learning rate".
	Param string
	// Values are the values tried, the same for every arm.
	Values []float64
	// Split names the data the scores come from; it must be a validation
	// split ("validation (10 % of the training set)"), which Grid records.
	Split string
	// HigherIsBetter is whether a larger score is better (accuracy), else
	// smaller (loss).
	HigherIsBetter bool
}

// Score evaluates one arm at one value on the validation split.
type Score func(arm string, value float64) (float64, error)

// Grid scores every arm at every value of s and chooses, for each arm, the
// best value. A NaN or ±Inf score (a diverged run) is recorded and never
// chosen; ties go to the value listed first. An arm whose every score is
// non-finite is an error naming it. The records come back in the arms'
// order.
func Grid(arms []string, s Search, score Score) ([]notebook.Tuned, error) {
	switch {
	case len(arms) == 0:
		return nil, errors.New("tuning: no arms to tune")
	case len(s.Values) == 0:
		return nil, fmt.Errorf("tuning: the grid of %q is empty", s.Param)
	case s.Split == "":
		return nil, fmt.Errorf("tuning: name the validation split the %q scores come from", s.Param)
	case score == nil:
		return nil, errors.New("tuning: no score function")
	}
	for _, v := range s.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("tuning: the grid of %q holds %g", s.Param, v)
		}
	}
	out := make([]notebook.Tuned, 0, len(arms))
	for _, arm := range arms {
		t := notebook.Tuned{Arm: arm, Param: s.Param, Grid: append([]float64{}, s.Values...), Split: s.Split}
		best := -1
		for i, v := range s.Values {
			sc, err := score(arm, v)
			if err != nil {
				return nil, fmt.Errorf("tuning %s at %s = %g: %w", arm, s.Param, v, err)
			}
			t.Scores = append(t.Scores, sc)
			if math.IsNaN(sc) || math.IsInf(sc, 0) {
				continue
			}
			if best < 0 || (s.HigherIsBetter && sc > t.Scores[best]) || (!s.HigherIsBetter && sc < t.Scores[best]) {
				best = i
			}
		}
		if best < 0 {
			return nil, fmt.Errorf("tuning: every %s value diverged for %s (scores %v)", s.Param, arm, t.Scores)
		}
		t.Chosen = s.Values[best]
		out = append(out, t)
	}
	return out, nil
}

// Chosen returns the value chosen for arm under the protocol: its own
// (OwnBest) or the baseline's (Paper).
func Chosen(tuned []notebook.Tuned, p Protocol, arm, baseline string) (float64, error) {
	pick := arm
	if p == Paper {
		pick = baseline
	} else if p != OwnBest {
		return 0, fmt.Errorf("tuning: unknown protocol %q", p)
	}
	for _, t := range tuned {
		if t.Arm == pick {
			return t.Chosen, nil
		}
	}
	return 0, fmt.Errorf("tuning: arm %q was not tuned", pick)
}
