package resnet

import (
	"math"
	"math/rand"
	"testing"

	"github.com/gomlx/compute"
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
// TrAct's: 40 Adam steps on XLA (measured: loss 2.30 → 1.40 plain, 1.24
// TrAct); on the pure-Go backend, whose convolutions are far slower (40
// steps did not finish in 10 minutes), 2 steps on 8×8 images at width 2
// must give a finite, falling loss. Shapes are checked on the way.
func TestResNet18Trains(t *testing.T) {
	for _, bk := range backendstest.Available(t) {
		side, width, steps, maxLoss := 16, 4, 40, 0.7*math.Log(10)
		if bk.Name() == "Go Backend" {
			side, width, steps, maxLoss = 8, 2, 2, math.Log(10)
		}
		trainResNet(t, bk, side, width, steps, maxLoss)
	}
}

func trainResNet(t *testing.T, bk compute.Backend, side, width, steps int, maxLoss float64) {
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
			metrics, err := train.NewLoop(trainer).RunSteps(ds, steps)
			if err != nil {
				t.Fatalf("%s %s: %v", bk.Name(), name, err)
			}
			final := float64(tensors.ToScalar[float32](metrics[0]))
			t.Logf("%s %s: batch loss after %d Adam steps %.4f (from ln 10 = %.4f)", bk.Name(), name, steps, final, math.Log(10))
			if !(final < maxLoss) {
				t.Errorf("%s %s: loss %.4f after %d steps, want < %.4f", bk.Name(), name, final, steps, maxLoss)
			}
		}
	}
}
