package resnet

import (
	"math"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/dataset"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/gorepro/gorepro/lib/backends/backendstest"
	"github.com/gorepro/gorepro/lib/tract"
)

// A narrow ResNet-18 (width 4, 16×16 images) fits 16 random images with
// random labels through GoMLX's Trainer, with the plain first layer and with
// TrAct's, in 40 Adam steps on every backend (measured, batch loss at the
// first step → at the last: pure-Go backend 4.02 → 1.29 plain, 1.34 TrAct, 6 s
// for both; xla:cpu 2.79 → 1.42 plain, 1.25 TrAct). Each step's batch loss is
// recorded (it is computed before that step's update); the last one must be
// below 0.7·ln 10 and at least 30% below the first, so an optimiser that does
// nothing fails (checked on the Go backend: with learning rate 0 the loss
// stays at 4.02; with 1e-5 it ends at 3.76).
// Shapes are checked on the way.
func TestResNet18Trains(t *testing.T) {
	for _, bk := range backendstest.Available(t) {
		trainResNet(t, bk, 16, 4, 40, 0.7*math.Log(10), 0.3)
	}
}

// trainResNet runs steps Adam steps and checks that the batch loss of the
// last step is below maxLoss and at most (1−minDrop) times that of the first.
func trainResNet(t *testing.T, bk compute.Backend, side, width, steps int, maxLoss, minDrop float64) {
	r := rand.New(rand.NewSource(1))
	x := make([][][][]float32, 16)
	y := make([][]int32, 16)
	for i := range x {
		x[i] = make([][][]float32, side)
		for j := range x[i] {
			x[i][j] = make([][]float32, side)
			for k := range x[i][j] {
				x[i][j][k] = []float32{float32(r.NormFloat64()), float32(r.NormFloat64()), float32(r.NormFloat64())}
			}
		}
		y[i] = []int32{int32(r.Intn(10))}
	}
	firsts := map[string]FirstLayer{
		"plain": nil,
		"tract": func(scope *model.Scope, x *graph.Node, width int) *graph.Node {
			return tract.Conv2D(scope, x, width, 3, 1, 1, false, tract.DefaultLambda)
		},
	}
	{
		for name, first := range firsts {
			ds, err := dataset.InMemoryFromData(bk, "random", []any{x}, []any{y})
			if err != nil {
				t.Fatal(err)
			}
			ds.BatchSize(16, true).Infinite(true)
			store := model.NewStore()
			if err := store.SetRNGStateFromSeed(3); err != nil {
				t.Fatal(err)
			}
			modelFn := func(scope *model.Scope, _ any, inputs []*graph.Node) []*graph.Node {
				logits := ResNet18(scope, inputs[0], 10, width, first)
				if d := logits.Shape().Dimensions; len(d) != 2 || d[0] != 16 || d[1] != 10 {
					t.Errorf("logits shape %s", logits.Shape())
				}
				return []*graph.Node{logits}
			}
			trainer := train.NewTrainer(bk, store, modelFn, loss.SparseCategoricalCrossEntropyLogits,
				optimizer.Adam().LearningRate(0.01).Done(), nil, nil)
			loop := train.NewLoop(trainer)
			var losses []float64 // batch loss of each step, before its update
			loop.OnStep("losses", 0, func(_ *train.Loop, metrics []*tensors.Tensor) error {
				losses = append(losses, float64(tensors.ToScalar[float32](metrics[0])))
				return nil
			})
			if _, err := loop.RunSteps(ds, steps); err != nil {
				t.Fatalf("%s %s: %v", bk.Name(), name, err)
			}
			if len(losses) != steps {
				t.Fatalf("%s %s: %d losses recorded for %d steps", bk.Name(), name, len(losses), steps)
			}
			first, final := losses[0], losses[steps-1]
			t.Logf("%s %s: batch loss %.4f at the first of %d Adam steps, %.4f at the last (ln 10 = %.4f)",
				bk.Name(), name, first, steps, final, math.Log(10))
			if !(final < maxLoss) {
				t.Errorf("%s %s: loss %.4f after %d steps, want < %.4f", bk.Name(), name, final, steps, maxLoss)
			}
			if want := (1 - minDrop) * first; !(final <= want) {
				t.Errorf("%s %s: loss %.4f → %.4f over %d steps, want ≤ %.4f (a drop of at least %.0f%%)",
					bk.Name(), name, first, final, steps, want, 100*minDrop)
			}
		}
	}
}

// Without the stem max-pool a stage-4 feature map is side/8 (rounded up);
// with it, side/16: 32×32 images end at 4×4 and 2×2, 8×8 at 1×1 either
// way, 9×9 at 2×2 and 1×1. The logits are [b, classes] in every case.
func TestShapes(t *testing.T) {
	bk := backendstest.Available(t)[0]
	for _, tc := range []struct {
		side    int
		pool    bool
		feature int
	}{{32, false, 4}, {32, true, 2}, {8, false, 1}, {8, true, 1}, {9, false, 2}, {9, true, 1}, {17, true, 2}} {
		var feat, logits shapes.Shape
		exec, err := model.NewExec(bk, model.NewStore(), func(scope *model.Scope, x *graph.Node) []*graph.Node {
			opts := Options{MaxPoolStem: tc.pool, TorchInit: tc.pool}
			f := features(scope, x, 2, nil, opts)
			l := ResNet18With(scope.In("net"), x, 7, 2, nil, opts)
			feat, logits = f.Shape(), l.Shape()
			return []*graph.Node{l}
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := exec.Compile(shapes.Make(dtypes.Float32, 3, tc.side, tc.side, 3)); err != nil {
			t.Fatalf("side %d, max-pool %v: %v", tc.side, tc.pool, err)
		}
		if want := []int{3, tc.feature, tc.feature, 16}; !slices.Equal(feat.Dimensions, want) || !slices.Equal(logits.Dimensions, []int{3, 7}) {
			t.Errorf("side %d, max-pool %v: features %s (want %v), logits %s (want [3 7])", tc.side, tc.pool, feat, want, logits)
		}
	}
}

// The stem max-pool is PyTorch's nn.MaxPool2d(3, stride=2, padding=1):
// output (i, j) is the maximum over rows 2i−1 … 2i+1 and columns 2j−1 …
// 2j+1 that exist, per channel (checked on non-negative inputs, which is
// what follows the ReLU).
func TestMaxPoolStem(t *testing.T) {
	bk := backendstest.Available(t)[0]
	r := rand.New(rand.NewSource(2))
	for _, side := range []int{4, 5, 8} {
		const ch = 2
		in := make([]float32, side*side*ch)
		for i := range in {
			in[i] = float32(r.Intn(100))
		}
		pool, err := graph.NewExec(bk, func(x *graph.Node) *graph.Node { return maxPoolStem(x) })
		if err != nil {
			t.Fatal(err)
		}
		out, err := pool.Call(tensors.FromFlatDataAndDimensions(in, 1, side, side, ch))
		if err != nil {
			t.Fatal(err)
		}
		o := (side+2-3)/2 + 1
		if d := out[0].Shape().Dimensions; !slices.Equal(d, []int{1, o, o, ch}) {
			t.Fatalf("side %d: output %v, want [1 %d %d %d]", side, d, o, o, ch)
		}
		got := tensors.MustCopyFlatData[float32](out[0])
		for i := range o {
			for j := range o {
				for c := range ch {
					want := float32(-1)
					for y := max(2*i-1, 0); y <= min(2*i+1, side-1); y++ {
						for x := max(2*j-1, 0); x <= min(2*j+1, side-1); x++ {
							want = max(want, in[(y*side+x)*ch+c])
						}
					}
					if g := got[(i*o+j)*ch+c]; g != want {
						t.Errorf("side %d: output (%d, %d, %d) = %g, want %g", side, i, j, c, g, want)
					}
				}
			}
		}
	}
}

// TorchInit draws convolution kernels with std √(2/(k·k·out)) — the first
// layer's (3 → 8 channels: 0.167, against He fan-in's 0.272) and a
// stage-2 one (8 → 16: 0.118, against 0.167) — and the head uniformly in
// ±1/√64 with non-zero biases; without it the first layer has GoMLX's He
// fan-in std and the head zero biases. Sample stds within 15%.
func TestTorchInit(t *testing.T) {
	bk := backendstest.Available(t)[0]
	for _, torch := range []bool{true, false} {
		store := model.NewStore()
		if err := store.SetRNGStateFromSeed(5); err != nil {
			t.Fatal(err)
		}
		exec, err := model.NewExec(bk, store, func(scope *model.Scope, x *graph.Node) *graph.Node {
			return ResNet18With(scope, x, 10, 8, nil, Options{TorchInit: torch})
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := exec.Exec(tensors.FromFlatDataAndDimensions(make([]float32, 2*8*8*3), 2, 8, 8, 3)); err != nil {
			t.Fatal(err)
		}
		values := map[string][]float32{}
		for v := range store.IterVariables() {
			if value, err := v.Value(); err == nil && v.DType() == dtypes.Float32 {
				values[v.Path()] = tensors.MustCopyFlatData[float32](value)
			}
		}
		get := func(suffix string) []float32 {
			for p, v := range values {
				if strings.HasSuffix(p, suffix) {
					return v
				}
			}
			t.Fatalf("no variable …%s among %d", suffix, len(values))
			return nil
		}
		sd := func(v []float32) float64 {
			var s, sq float64
			for _, x := range v {
				s += float64(x)
				sq += float64(x) * float64(x)
			}
			n := float64(len(v))
			return math.Sqrt(sq/n - (s/n)*(s/n))
		}
		first, stage2 := sd(get("/first/conv/weights")), sd(get("/stage2_block1/conv1/conv/weights"))
		wantFirst, wantStage2 := math.Sqrt(2.0/27), math.Sqrt(2.0/72)
		if torch {
			wantFirst, wantStage2 = math.Sqrt(2.0/72), math.Sqrt(2.0/144)
		}
		t.Logf("TorchInit %v: first-layer std %.4f (want %.4f), stage-2 std %.4f (want %.4f)", torch, first, wantFirst, stage2, wantStage2)
		if math.Abs(first/wantFirst-1) > 0.15 || math.Abs(stage2/wantStage2-1) > 0.15 {
			t.Errorf("TorchInit %v: first-layer std %.4f (want %.4f), stage-2 std %.4f (want %.4f)", torch, first, wantFirst, stage2, wantStage2)
		}
		w, b := get("/head/dense/weights"), get("/head/dense/biases")
		var maxW, maxB float64
		for _, x := range w {
			maxW = max(maxW, math.Abs(float64(x)))
		}
		for _, x := range b {
			maxB = max(maxB, math.Abs(float64(x)))
		}
		if torch && (maxW > 0.125 || maxW < 0.1 || maxB > 0.125 || maxB == 0) {
			t.Errorf("head: |w| ≤ %.4f, |b| ≤ %.4f, want both within ±1/8, not all zero", maxW, maxB)
		}
		if !torch && maxB != 0 {
			t.Errorf("GoMLX's head biases start at zero, got up to %g", maxB)
		}
	}
}

// The official network (stem max-pool, PyTorch initialisation) trains on
// the Go backend at width 2 on 8×8 images, with the plain and TrAct's
// first layer: three Adam steps on one fixed batch of 16 give finite batch
// losses that fall.
func TestOfficialTrainsAStep(t *testing.T) {
	bk := backendstest.Available(t)[0]
	r := rand.New(rand.NewSource(4))
	x := make([]float32, 16*8*8*3)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	y := make([][]int32, 16)
	for i := range y {
		y[i] = []int32{int32(r.Intn(10))}
	}
	for name, first := range map[string]FirstLayer{
		"plain": nil,
		"tract": func(scope *model.Scope, x *graph.Node, width int) *graph.Node {
			return tract.Conv2D(scope, x, width, 3, 1, 1, false, tract.DefaultLambda)
		},
	} {
		ds, err := dataset.InMemoryFromData(bk, "random", []any{tensors.FromFlatDataAndDimensions(x, 16, 8, 8, 3)}, []any{y})
		if err != nil {
			t.Fatal(err)
		}
		ds.BatchSize(16, true).Infinite(true)
		store := model.NewStore()
		if err := store.SetRNGStateFromSeed(3); err != nil {
			t.Fatal(err)
		}
		modelFn := func(scope *model.Scope, _ any, inputs []*graph.Node) []*graph.Node {
			return []*graph.Node{ResNet18With(scope, inputs[0], 10, 2, first, Official())}
		}
		loop := train.NewLoop(train.NewTrainer(bk, store, modelFn, loss.SparseCategoricalCrossEntropyLogits,
			optimizer.Adam().LearningRate(0.01).Done(), nil, nil))
		var losses []float64
		loop.OnStep("losses", 0, func(_ *train.Loop, metrics []*tensors.Tensor) error {
			losses = append(losses, float64(tensors.ToScalar[float32](metrics[0])))
			return nil
		})
		if _, err := loop.RunSteps(ds, 3); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Logf("%s: batch losses %.4f", name, losses)
		if len(losses) != 3 || math.IsNaN(losses[2]) || math.IsInf(losses[2], 0) || !(losses[2] < losses[0]) {
			t.Errorf("%s: batch losses %v over 3 steps, want finite and falling", name, losses)
		}
	}
}
