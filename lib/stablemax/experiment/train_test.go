package experiment

import (
	"math"
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
		{Config{Method: "adam", P: 7, LR: 1, Epochs: 1, TrainFraction: 0.5}, `unknown method "adam"`},
		{Config{Method: Softmax32, P: 1, LR: 1, Epochs: 1, TrainFraction: 0.5}, "modulus p = 1"},
		{Config{Method: Softmax32, P: 7, LR: 0, Epochs: 1, TrainFraction: 0.5}, "learning rate"},
		{Config{Method: Softmax32, P: 7, LR: math.NaN(), Epochs: 1, TrainFraction: 0.5}, "learning rate NaN"},
		{Config{Method: Softmax32, P: 7, LR: math.Inf(1), Epochs: 1, TrainFraction: 0.5}, "learning rate +Inf"},
		{Config{Method: Softmax32, P: 7, LR: 1, Epochs: 1, TrainFraction: math.NaN()}, "train fraction NaN"},
		{Config{Method: Softmax32, P: 7, LR: 1, Epochs: 1, TrainFraction: 1}, "train fraction 1"},
		{Config{Method: Softmax32, P: 7, LR: 1, Epochs: 1, TrainFraction: 0.5, Beta2: math.NaN()}, "β₂ NaN"},
		{Config{Method: Softmax32, P: 7, LR: 1, Epochs: 0, TrainFraction: 0.5}, "epochs 0"},
	} {
		if _, err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	c, err := Config{Method: WeightDecay, P: 7, LR: 1, Epochs: 10, TrainFraction: 0.5}.Validate()
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
		if !(inRange(p.TrainAcc, 0, 1) && inRange(p.TestAcc, 0, 1) && inRange(p.Collapse, 0, 1) && inRange(p.Collapse32, 0, 1) &&
			inRange(p.NLM, -1, 1) && inRange(p.NLMOutput, -1, 1)) {
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
	if first.FromCache || !resumed.FromCache || resumed.ResumedAt != 20 {
		t.Errorf("FromCache: trained run %v, read-back run %v (resumed at %d)", first.FromCache, resumed.FromCache, resumed.ResumedAt)
	}
	if resumed.MsPerEpoch != first.MsPerEpoch || first.MsPerEpoch <= 0 {
		t.Errorf("ms/epoch: trained %g, read back %g; the cached run must report the time it took", first.MsPerEpoch, resumed.MsPerEpoch)
	}
}

// The cache is keyed by everything that changes the numbers: a run on
// another backend, or with another β₂ or steps per call, is not read back;
// raising Epochs resumes the shorter run instead of restarting.
func TestCacheKey(t *testing.T) {
	goB, _, err := backends.New("go")
	if err != nil {
		t.Fatal(err)
	}
	defer goB.Finalize()
	cfg := Config{Method: Softmax32, P: 7, TrainFraction: 0.6, Width: 16, LR: 0.01, Epochs: 20, EvalEvery: 5, StepsPerCall: 5, Seed: 3}
	key := cfg.CacheKey(goB)
	for name, other := range map[string]Config{
		"beta2":          func() Config { c := cfg; c.Beta2 = 0.999; return c }(),
		"steps per call": func() Config { c := cfg; c.StepsPerCall = 1; return c }(),
		"seed":           func() Config { c := cfg; c.Seed = 4; return c }(),
		"epsilon":        func() Config { c := cfg; c.Epsilon = 1e-8; return c }(),
	} {
		if other.CacheKey(goB) == key {
			t.Errorf("changing %s keeps the cache key %s", name, key)
		}
	}
	longer := cfg
	longer.Epochs, longer.EvalEvery = 40, 10
	if longer.CacheKey(goB) != key {
		t.Errorf("raising Epochs changes the cache key: %s vs %s", longer.CacheKey(goB), key)
	}
	if spec, err := backends.Resolve("xla:cpu"); err == nil {
		xb, err := backends.NewFromSpec(spec)
		if err != nil {
			t.Fatal(err)
		}
		defer xb.Finalize()
		if cfg.CacheKey(xb) == key {
			t.Errorf("go and xla:cpu share the cache key %s", key)
		}
	}

	dir := t.TempDir()
	short, err := Train(goB, cfg, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	long, err := Train(goB, longer, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if long.ResumedAt != 20 || long.FromCache || long.Final().Epoch != 40 {
		t.Errorf("the 40-epoch run resumed at %d (want 20), from cache %v, ended at %d", long.ResumedAt, long.FromCache, long.Final().Epoch)
	}
	if !reflect.DeepEqual(long.Curve[:len(short.Curve)], short.Curve) {
		t.Errorf("the resumed run's first points differ from the short run's")
	}
	again, err := Train(goB, cfg, dir, nil) // 20 epochs while the checkpoint holds 40
	if err != nil {
		t.Fatal(err)
	}
	if again.FromCache || again.Final().Epoch != 20 || !reflect.DeepEqual(again.Curve, short.Curve) {
		t.Errorf("a shorter run after a longer one: from cache %v, final epoch %d", again.FromCache, again.Final().Epoch)
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
	for _, m := range Methods() {
		run, err := Train(b, Config{Method: m, P: 5, TrainFraction: 0.6, Width: 8, LR: 0.01, Epochs: 4, EvalEvery: 2, Seed: 1}, "", nil)
		if err != nil {
			t.Errorf("%s: %v", m, err)
			continue
		}
		if f := run.Final(); f.Epoch != 4 || !inRange(f.TrainAcc, 0, 1) || !inRange(f.Collapse, 0, 1) || !inRange(f.Collapse32, 0, 1) {
			t.Errorf("%s: final point %+v", m, f)
		}
	}
}

// inRange is lo ≤ x ≤ hi; NaN is never in range.
func inRange(x, lo, hi float64) bool { return x >= lo && x <= hi }
