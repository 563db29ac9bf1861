package grokking

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gorepro/gorepro/lib/backends"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Method: "adam", P: 7, LR: 1, Epochs: 1}, `unknown method "adam"`},
		{Config{Method: Softmax32, P: 1, LR: 1, Epochs: 1}, "modulus p = 1"},
		{Config{Method: Softmax32, P: 7, LR: 0, Epochs: 1}, "learning rate"},
		{Config{Method: Softmax32, P: 7, LR: 1, Epochs: 0}, "epochs 0"},
	} {
		if _, err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	c, err := Config{Method: WeightDecay, P: 7, LR: 1, Epochs: 10}.Validate()
	if err != nil || c.Width != 200 || c.Epsilon != 1e-25 || c.WeightDecay != 1 || c.EvalEvery != 1 {
		t.Errorf("defaults: %+v, %v", c, err)
	}
}

// TestSmallRunReadsBack trains a tiny task, then the same configuration with a
// checkpoint directory twice: the second call reads the finished run back
// instead of training, and all three curves are identical. (Resuming mid-way
// is tested, bit for bit, in lib/train.)
func TestSmallRunReadsBack(t *testing.T) {
	b, _, err := backends.New("")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	cfg := Config{Method: OrthoGrad, P: 7, TrainFraction: 0.6, Width: 16, LR: 0.01, Epochs: 20, EvalEvery: 5, Seed: 3}
	whole, err := Train(b, cfg, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(whole.Curve) != 5 || whole.Final().Epoch != 20 {
		t.Fatalf("curve has %d points, last at epoch %d; want 5 points to epoch 20", len(whole.Curve), whole.Final().Epoch)
	}
	for _, p := range whole.Curve {
		if p.TrainAcc < 0 || p.TrainAcc > 1 || p.TestAcc < 0 || p.TestAcc > 1 || p.Collapse < 0 || p.Collapse > 1 || p.NLM < -1 || p.NLM > 1 {
			t.Errorf("metrics out of range: %+v", p)
		}
	}
	dir := t.TempDir()
	first, err := Train(b, cfg, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(first.Curve, whole.Curve) {
		t.Errorf("checkpointed run differs from the plain one:\n%+v\n%+v", first.Curve, whole.Curve)
	}
	resumed, err := Train(b, cfg, dir, nil) // finished: read back, not trained again
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(resumed.Curve, whole.Curve) {
		t.Errorf("read-back curve differs:\n%+v\n%+v", resumed.Curve, whole.Curve)
	}
}

// TestEveryMethodTrains runs each method for a few epochs on a tiny task: the
// graphs build and the metrics stay in range (float16 included).
func TestEveryMethodTrains(t *testing.T) {
	b, _, err := backends.New("")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	for _, m := range Methods {
		run, err := Train(b, Config{Method: m, P: 5, TrainFraction: 0.6, Width: 8, LR: 0.01, Epochs: 4, EvalEvery: 2, Seed: 1}, "", nil)
		if err != nil {
			t.Errorf("%s: %v", m, err)
			continue
		}
		if f := run.Final(); f.Epoch != 4 || f.TrainAcc < 0 || f.TrainAcc > 1 || f.Collapse < 0 || f.Collapse > 1 {
			t.Errorf("%s: final point %+v", m, f)
		}
	}
}
