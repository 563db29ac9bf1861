package parallel

import (
	"math"
	"math/rand"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/dataset"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/gorepro/gorepro/lib/backends"
)

// xlaCPU creates xla:cpu with n devices, skipping the test when the plugin is
// not installed unless $GOREPRO_REQUIRE_XLA_CPU makes that a failure.
func xlaCPU(tb testing.TB, n int) compute.Backend {
	tb.Helper()
	spec := backends.XLACPU + ",devices=" + strconv.Itoa(n)
	b, _, err := backends.New(spec)
	if err != nil {
		if os.Getenv("GOREPRO_REQUIRE_XLA_CPU") != "" {
			tb.Fatalf("xla:cpu is required ($GOREPRO_REQUIRE_XLA_CPU) but %s: %v", spec, err)
		}
		tb.Skipf("%s not available: %v", spec, err)
	}
	tb.Cleanup(b.Finalize)
	return b
}

const (
	examples    = 256 // a whole number of global batches: both runs wrap epochs at the same step
	inputDim    = 16
	hidden      = 32
	globalBatch = 64
	steps       = 20
	seed        = 7
)

// regression is a fixed synthetic problem: y = sin(x·w) + x₀x₁ with Gaussian x.
func regression() (x, y [][]float32) {
	r := rand.New(rand.NewSource(1))
	w := make([]float64, inputDim)
	for j := range w {
		w[j] = r.NormFloat64() / 4
	}
	x, y = make([][]float32, examples), make([][]float32, examples)
	for i := range x {
		x[i] = make([]float32, inputDim)
		dot := 0.0
		for j := range x[i] {
			x[i][j] = float32(r.NormFloat64())
			dot += float64(x[i][j]) * w[j]
		}
		y[i] = []float32{float32(math.Sin(dot) + float64(x[i][0]*x[i][1]))}
	}
	return x, y
}

func mlp(scope *model.Scope, _ any, inputs []*graph.Node) []*graph.Node {
	h := activation.Relu(layers.Dense(scope.In("hidden"), inputs[0], true, hidden))
	return []*graph.Node{layers.Dense(scope.In("out"), h, true, 1)}
}

// setup is a training run as a notebook would write it: GoMLX's Trainer and
// Loop, Adam, shuffled minibatches of batch examples (a fixed order), made
// data parallel over backend's devices.
func setup(tb testing.TB, backend compute.Backend, batch int) (*train.Loop, train.Dataset) {
	tb.Helper()
	x, y := regression()
	data, err := dataset.InMemoryFromData(backend, "regression", []any{x}, []any{y})
	if err != nil {
		tb.Fatal(err)
	}
	shard, err := ShardBatchSize(backend, batch)
	if err != nil {
		tb.Fatal(err)
	}
	data.BatchSize(shard, true).Shuffle().WithRand(rand.New(rand.NewSource(seed))).Infinite(true)
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(seed); err != nil {
		tb.Fatal(err)
	}
	ds, err := DataParallel(backend, store, data)
	if err != nil {
		tb.Fatal(err)
	}
	trainer := train.NewTrainer(backend, store, mlp, loss.MeanSquaredError,
		optimizer.Adam().LearningRate(1e-2).Done(), nil, nil)
	return train.NewLoop(trainer), ds
}

// run is what a training run gave.
type run struct {
	// losses are the training loss of each step.
	losses []float64
	// params are the trained parameters by path.
	params map[string][]float32
	// evalLoss is the trained model's mean loss over the whole dataset, evaluated on one device.
	evalLoss float64
	// step is the mean time of a step after the first (which compiles).
	step time.Duration
}

func trainRun(tb testing.TB, backend compute.Backend, batch int) run {
	tb.Helper()
	loop, ds := setup(tb, backend, batch)
	var r run
	var started time.Time
	loop.OnStep("record", 0, func(loop *train.Loop, metrics []*tensors.Tensor) error {
		r.losses = append(r.losses, float64(tensors.ToScalar[float32](metrics[0])))
		if len(r.losses) == 1 {
			started = time.Now()
		}
		return nil
	})
	if _, err := loop.RunSteps(ds, steps); err != nil {
		tb.Fatal(err)
	}
	r.step = time.Since(started) / (steps - 1)

	x, y := regression()
	whole, err := dataset.InMemoryFromData(backend, "regression-eval", []any{x}, []any{y})
	if err != nil {
		tb.Fatal(err)
	}
	metrics, err := loop.Trainer.Eval(whole.BatchSize(examples, false))
	if err != nil {
		tb.Fatalf("evaluating after training: %v", err)
	}
	r.evalLoss = float64(tensors.ToScalar[float32](metrics[0]))

	r.params = map[string][]float32{}
	for v := range loop.Trainer.Store().IterVariables() {
		if !v.Trainable || v.DType() != dtypes.Float32 {
			continue
		}
		value, err := v.Value()
		if err != nil {
			tb.Fatalf("reading %s: %v", v.Path(), err)
		}
		r.params[v.Path()] = tensors.MustCopyFlatData[float32](value)
	}
	return r
}

// maxDiffs is the largest relative difference between two runs: of the
// losses step by step, and of the parameters, each tensor's largest
// difference relative to its largest entry (an entry near zero has no
// meaningful relative error of its own; a tensor of zeros gives its absolute
// difference). A NaN anywhere makes the difference NaN, which fails the
// checks.
func maxDiffs(t *testing.T, a, b run) (lossDiff, paramDiff float64) {
	t.Helper()
	if len(a.losses) != len(b.losses) || len(a.params) != len(b.params) || len(a.params) == 0 {
		t.Fatalf("runs differ in shape: %d vs %d losses, %d vs %d parameters", len(a.losses), len(b.losses), len(a.params), len(b.params))
	}
	for i := range a.losses {
		lossDiff = math.Max(lossDiff, math.Abs(a.losses[i]-b.losses[i])/math.Abs(a.losses[i]))
	}
	for path, pa := range a.params {
		pb, ok := b.params[path]
		if !ok || len(pa) != len(pb) {
			t.Fatalf("parameter %s missing or reshaped in the other run", path)
		}
		scale, diff := 0.0, 0.0
		for i := range pa {
			scale = math.Max(scale, math.Abs(float64(pa[i])))
			diff = math.Max(diff, math.Abs(float64(pa[i])-float64(pb[i])))
		}
		if scale > 0 {
			diff /= scale
		}
		paramDiff = math.Max(paramDiff, diff) // a NaN entry makes scale and diff NaN, which math.Max keeps
	}
	return lossDiff, paramDiff
}

// tolerance bounds the relative difference between 1- and 4-device training.
// The 4-device gradient is four partial sums added by an all-reduce, a
// different float32 summation order from one device's: each step differs in
// the last bits (~1e-7 relative, measured), and 20 Adam steps of this small
// model do not amplify that much. A real mistake is far larger: training on
// one device's quarter of the batch, which is what a missing all-reduce would
// amount to, moves the loss curve by more than 1e-2 (checked below).
const tolerance = 1e-5

// Training on 4 devices follows training on 1 device with the same global batch.
func TestTrainerDataParallel(t *testing.T) {
	one := trainRun(t, xlaCPU(t, 1), globalBatch)
	four := trainRun(t, xlaCPU(t, 4), globalBatch)
	lossDiff, paramDiff := maxDiffs(t, one, four)
	evalDiff := math.Abs(one.evalLoss-four.evalLoss) / one.evalLoss
	t.Logf("1 vs 4 devices, %d Adam steps, global batch %d: loss %.4g → %.4g; largest relative difference: "+
		"training loss %.2g, parameters %.2g, evaluation loss %.2g", steps, globalBatch, one.losses[0], one.losses[steps-1],
		lossDiff, paramDiff, evalDiff)
	t.Logf("step time on %d cores: 1 device %v, 4 devices %v (virtual devices share the cores: no speed-up expected)",
		runtime.NumCPU(), one.step, four.step)
	if !(lossDiff <= tolerance && paramDiff <= tolerance && evalDiff <= tolerance) {
		t.Errorf("4-device training differs from 1-device: training loss %.3g, parameters %.3g, evaluation loss %.3g relative (tolerance %g)",
			lossDiff, paramDiff, evalDiff, tolerance)
	}
	if !(one.losses[steps-1] <= one.losses[0]/2) {
		t.Errorf("loss %.4g → %.4g: the model did not train, so the comparison says little", one.losses[0], one.losses[steps-1])
	}

	// The tolerance separates: a quarter of the batch on one device is what
	// each device would train on if the gradients were not summed.
	quarter := trainRun(t, xlaCPU(t, 1), globalBatch/4)
	quarterDiff, _ := maxDiffs(t, one, quarter)
	t.Logf("a quarter of the batch on 1 device: training loss differs by %.2g", quarterDiff)
	if !(quarterDiff >= 1e-2) {
		t.Errorf("training on a quarter of the batch differs only %.3g from the full batch: the check cannot see a missing all-reduce", quarterDiff)
	}
}

// BenchmarkTrainerDataParallel times a training step of the test's MLP at the
// same global batch on 1 and on 4 devices (virtual CPU devices share the
// machine's cores: this measures the overhead of distribution, not a speed-up).
func BenchmarkTrainerDataParallel(b *testing.B) {
	for _, n := range []int{1, 4} {
		b.Run("devices="+strconv.Itoa(n), func(b *testing.B) {
			loop, ds := setup(b, xlaCPU(b, n), globalBatch)
			if _, err := loop.RunSteps(ds, 1); err != nil { // compiles
				b.Fatal(err)
			}
			b.ResetTimer()
			if _, err := loop.RunSteps(ds, b.N); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// On one device DataParallel changes nothing, so notebooks read the same on the go backend.
func TestDataParallelOneDevice(t *testing.T) {
	b, _, err := backends.New(backends.Go)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	x, y := regression()
	data, err := dataset.InMemoryFromData(b, "regression", []any{x}, []any{y})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := DataParallel(b, model.NewStore(), data)
	if err != nil || ds != train.Dataset(data) {
		t.Errorf("DataParallel on one device = %v, %v; want the dataset itself", ds, err)
	}
}

func TestShardBatchSizeMultiDevice(t *testing.T) {
	b := xlaCPU(t, 4)
	for global, want := range map[int]int{64: 16, 4: 1, 66: 0, 2: 0} {
		got, err := ShardBatchSize(b, global)
		if got != want || (err != nil) != (want == 0) {
			t.Errorf("ShardBatchSize(4 devices, %d) = %d, %v; want %d", global, got, err, want)
		}
	}
}
