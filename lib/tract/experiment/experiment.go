// Package experiment trains TrAct against the plain first layer on a small
// image task with GoMLX's own training stack (model.Store, layers,
// dataset.InMemory batching and shuffling, train.Trainer + Loop, Adam): the
// one minibatch path gorepro's notebooks use. The task is scikit-learn's
// 8×8 digits with varied contrast and brightness (lib/data/digits), the
// model a small CNN whose first convolution is either GoMLX's or
// tract.Conv2D.
package experiment

import (
	"fmt"
	"math/rand"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/dataset"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/metric"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/gorepro/gorepro/lib/data/digits"
	"github.com/gorepro/gorepro/lib/tract"
)

// Methods.
const (
	Baseline = "baseline" // GoMLX's convolution as the first layer
	TrAct    = "tract"    // tract.Conv2D as the first layer
)

// Config is one training run.
type Config struct {
	Method     string
	Lambda     float64 // TrAct's λ (ignored by the baseline)
	Epochs     int
	BatchSize  int
	LR         float64 // learning rate
	Optimizer  string  // "sgd" (plain SGD, the paper's ResNet setting without momentum) or "adam"
	Filters    int     // first layer's filters; the second has twice as many
	Spread     float64 // contrast varies log-uniformly in [1/Spread, Spread]
	Brightness float64 // brightness varies uniformly in [−Brightness, Brightness]
	Seed       uint64  // split, shuffling and initialisation
}

// Point is the state after an epoch.
type Point struct {
	Epoch     int
	TrainLoss float64 // the trainer's moving average of the batch loss at the epoch's end
	TestAcc   float64
}

// Run is a finished run.
type Run struct {
	Config    Config
	Curve     []Point
	MsPerStep float64 // training steps after the first epoch (which compiles)
	Steps     int
}

// FinalAcc is the test accuracy after the last epoch.
func (r *Run) FinalAcc() float64 { return r.Curve[len(r.Curve)-1].TestAcc }

// EpochsTo is the first epoch whose test accuracy is at least acc, or −1.
func (r *Run) EpochsTo(acc float64) int {
	for _, p := range r.Curve {
		if p.TestAcc >= acc {
			return p.Epoch
		}
	}
	return -1
}

func (c Config) check() error {
	switch {
	case c.Method != Baseline && c.Method != TrAct:
		return fmt.Errorf("experiment: method %q (baseline, tract)", c.Method)
	case c.Method == TrAct && !(c.Lambda > 0):
		return fmt.Errorf("experiment: λ = %g must be positive", c.Lambda)
	case c.Optimizer != "sgd" && c.Optimizer != "adam":
		return fmt.Errorf("experiment: optimizer %q (sgd, adam)", c.Optimizer)
	case c.Epochs < 1 || c.BatchSize < 1 || c.Filters < 1 || !(c.LR > 0):
		return fmt.Errorf("experiment: epochs %d, batch %d, filters %d, lr %g must be positive", c.Epochs, c.BatchSize, c.Filters, c.LR)
	}
	return nil
}

// modelFn is the CNN: first conv 3×3 (Filters, padding 1) → ReLU → conv 3×3
// stride 2 (2·Filters) → ReLU → dense 10.
func modelFn(c Config) func(scope *model.Scope, _ any, inputs []*graph.Node) []*graph.Node {
	return func(scope *model.Scope, _ any, inputs []*graph.Node) []*graph.Node {
		x := inputs[0]
		b := x.Shape().Dimensions[0]
		x = graph.Reshape(x, b, digits.Side, digits.Side, 1)
		var h *graph.Node
		if c.Method == TrAct {
			h = tract.Conv2D(scope.In("first"), x, c.Filters, 3, 1, 1, true, c.Lambda)
		} else {
			h = layers.Convolution(scope.In("first"), x).Channels(c.Filters).KernelSize(3).PadSame().UseBias(true).Done()
		}
		h = graph.MaxScalar(h, 0)
		h = layers.Convolution(scope.In("second"), h).Channels(2 * c.Filters).KernelSize(3).Strides(2).PadSame().UseBias(true).Done()
		h = graph.MaxScalar(h, 0)
		h = graph.Reshape(h, b, -1)
		return []*graph.Node{layers.Dense(scope.In("head"), h, true, 10)}
	}
}

func inMemory(b compute.Backend, name string, s *digits.Set) (*dataset.InMemoryDataset, error) {
	labels := make([][]int32, len(s.Labels))
	for i, l := range s.Labels {
		labels[i] = []int32{l}
	}
	return dataset.InMemoryFromData(b, name, []any{s.Pixels}, []any{labels})
}

// Train runs cfg on backend over data (the full digits set, before the
// split), calling progress after every epoch.
func Train(b compute.Backend, cfg Config, data *digits.Set, progress func(Point)) (*Run, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	varied, err := data.VaryContrast(cfg.Spread, cfg.Brightness, 7) // the same images for every method and seed
	if err != nil {
		return nil, err
	}
	trainSet, testSet, err := varied.Split(0.8, cfg.Seed)
	if err != nil {
		return nil, err
	}
	trainDS, err := inMemory(b, "digits-train", trainSet)
	if err != nil {
		return nil, err
	}
	trainDS.BatchSize(cfg.BatchSize, true).Shuffle().WithRand(rand.New(rand.NewSource(int64(cfg.Seed))))
	testDS, err := inMemory(b, "digits-test", testSet)
	if err != nil {
		return nil, err
	}
	testDS.BatchSize(len(testSet.Labels), false)
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(int64(cfg.Seed)); err != nil {
		return nil, err
	}
	var opt optimizer.Interface
	if cfg.Optimizer == "adam" {
		opt = optimizer.Adam().LearningRate(cfg.LR).Done()
	} else {
		opt = optimizer.StochasticGradientDescent().WithDecay(false).WithLearningRate(cfg.LR).Done()
	}
	trainer := train.NewTrainer(b, store, modelFn(cfg), loss.SparseCategoricalCrossEntropyLogits, opt, nil,
		[]metric.Interface{metric.NewSparseCategoricalAccuracy("Accuracy", "acc")})
	loop := train.NewLoop(trainer)
	run := &Run{Config: cfg}
	var timed time.Duration
	timedSteps := 0
	for epoch := 1; epoch <= cfg.Epochs; epoch++ {
		start, before := time.Now(), int(loop.LoopStep)
		metrics, err := loop.RunEpochs(trainDS, 1)
		if err != nil {
			return nil, fmt.Errorf("experiment: epoch %d: %w", epoch, err)
		}
		if epoch > 1 {
			timed += time.Since(start)
			timedSteps += int(loop.LoopStep) - before
		}
		testEval, err := trainer.Eval(testDS)
		if err != nil {
			return nil, err
		}
		p := Point{Epoch: epoch, TrainLoss: scalar(metrics[1]), TestAcc: scalar(testEval[1])}
		run.Curve = append(run.Curve, p)
		if progress != nil {
			progress(p)
		}
	}
	run.Steps = int(loop.LoopStep)
	if timedSteps > 0 {
		run.MsPerStep = 1000 * timed.Seconds() / float64(timedSteps)
	}
	return run, nil
}

func scalar(t *tensors.Tensor) float64 {
	switch v := t.Value().(type) {
	case float32:
		return float64(v)
	case float64:
		return v
	}
	return 0
}
