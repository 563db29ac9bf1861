package experiment

import (
	"strings"
	"testing"

	"github.com/gorepro/gorepro/lib/backends/backendstest"
	"github.com/gorepro/gorepro/lib/data/digits"
)

// Both first layers train the CNN through GoMLX's Trainer on every backend.
func TestTrainBothMethods(t *testing.T) {
	data, err := digits.Load()
	if err != nil {
		t.Skip(err) // lib/data/digits' test fails under make test when the file is missing
	}
	for _, bk := range backendstest.Available(t) {
		for _, m := range []string{Baseline, TrAct} {
			cfg := Config{Method: m, Lambda: 0.1, Epochs: 2, BatchSize: 64, LR: 0.1, Optimizer: "sgd", Filters: 8, Spread: 4, Seed: 1}
			var seen int
			r, err := Train(bk, cfg, data, func(Point) { seen++ })
			if err != nil {
				t.Fatalf("%s %s: %v", bk.Name(), m, err)
			}
			if seen != 2 || len(r.Curve) != 2 || !(r.FinalAcc() > 0.5) || r.Steps != 2*(1438/64) || !(r.MsPerStep > 0) {
				t.Errorf("%s %s: curve %+v, steps %d, %.2f ms/step", bk.Name(), m, r.Curve, r.Steps, r.MsPerStep)
			}
			if r.EpochsTo(0) != 1 || r.EpochsTo(1.1) != -1 {
				t.Errorf("EpochsTo: %d, %d", r.EpochsTo(0), r.EpochsTo(1.1))
			}
		}
	}
}

func TestBadConfig(t *testing.T) {
	data := &digits.Set{Pixels: [][]float32{make([]float32, 64), make([]float32, 64)}, Labels: []int32{1, 2}}
	ok := Config{Method: TrAct, Lambda: 0.1, Epochs: 1, BatchSize: 1, LR: 0.1, Optimizer: "sgd", Filters: 2, Spread: 1}
	for _, tc := range []struct {
		mod    func(*Config)
		errHas string
	}{
		{func(c *Config) { c.Method = "lbfgs" }, `method "lbfgs"`},
		{func(c *Config) { c.Lambda = 0 }, "λ = 0"},
		{func(c *Config) { c.Optimizer = "rmsprop" }, `optimizer "rmsprop"`},
		{func(c *Config) { c.Epochs = 0 }, "must be positive"},
		{func(c *Config) { c.Spread = 0.5 }, "spread"},
	} {
		c := ok
		tc.mod(&c)
		if _, err := Train(backendstest.Available(t)[0], c, data, nil); err == nil || !strings.Contains(err.Error(), tc.errHas) {
			t.Errorf("%+v: %v, want %q", c, err, tc.errHas)
		}
	}
}
