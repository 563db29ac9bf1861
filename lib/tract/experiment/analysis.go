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

// Final is the mean curve's last value.
func (c Curve) Final() float64 { return c.Mean[len(c.Mean)-1] }

// EpochsTo is the first epoch at which the mean reaches acc, or −1.
func (c Curve) EpochsTo(acc float64) int {
	for i, m := range c.Mean {
		if m >= acc {
			return int(c.Epochs[i])
		}
	}
	return -1
}

// Speedup is the paper's measure: the baseline's epoch budget over the
// epochs TrAct's mean curve takes to reach the baseline's mean final
// accuracy (the target). It is NaN when TrAct never reaches the target
// within the budget (a speedup below 1 cannot be measured then).
func Speedup(baseline, tract Curve) (ratio, target float64, epochs int) {
	target = baseline.Final()
	epochs = tract.EpochsTo(target)
	if epochs < 1 {
		return math.NaN(), target, epochs
	}
	return baseline.Epochs[len(baseline.Epochs)-1] / float64(epochs), target, epochs
}

// SeedSpeedup is Speedup seed by seed (runs paired by index: the same
// seed, hence the same split, initialisation and order): each TrAct run
// against its own baseline's final accuracy. It returns the lowest ratio
// (NaN if some TrAct run never reached its target).
func SeedSpeedup(baselines, tracts []*Run) (lowest float64, err error) {
	if len(baselines) != len(tracts) || len(baselines) == 0 {
		return math.NaN(), fmt.Errorf("experiment: SeedSpeedup: %d baseline and %d TrAct runs", len(baselines), len(tracts))
	}
	lowest = math.Inf(1)
	for i, b := range baselines {
		if b.Config.Seed != tracts[i].Config.Seed {
			return math.NaN(), fmt.Errorf("experiment: SeedSpeedup: run %d pairs seeds %d and %d", i, b.Config.Seed, tracts[i].Config.Seed)
		}
		e := tracts[i].EpochsTo(b.FinalAcc())
		if e < 1 {
			return math.NaN(), nil
		}
		lowest = math.Min(lowest, float64(len(b.Curve))/float64(e))
	}
	return lowest, nil
}
