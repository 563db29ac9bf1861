// Package experiment trains TrAct against the plain first layer with
// GoMLX's own training stack (model.Store, layers, dataset.InMemory
// batching and shuffling, train.Trainer + Loop, SGD or Adam, checkpoints):
// the one minibatch path gorepro's notebooks use.
//
// Tasks are image classification sets (Task): scikit-learn's 8×8 digits
// with varied contrast and brightness (the quick profile) or CIFAR-10 from
// its binary files (the full profile). Models: a one-hidden-layer MLP whose
// first dense layer is TrAct's or GoMLX's, a small CNN whose first
// convolution is, and the CIFAR ResNet-18 of lib/resnet.
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

	"github.com/gorepro/gorepro/lib/resnet"
	"github.com/gorepro/gorepro/lib/tract"
)

// Methods.
const (
	Baseline = "baseline" // GoMLX's layer as the first layer
	TrAct    = "tract"    // tract.Dense / tract.Conv2D as the first layer
)

// Architectures.
const (
	MLP      = "mlp"      // first dense (all pixels → Width) → ReLU → dense head
	CNN      = "cnn"      // first conv 3×3 (Width) → ReLU → conv 3×3 stride 2 (2·Width) → ReLU → dense head
	ResNet18 = "resnet18" // lib/resnet's CIFAR ResNet-18 of width Width (the paper's is 64)
)

// Config is one training run.
type Config struct {
	Method    string
	Arch      string
	Lambda    float64 // TrAct's λ (ignored by the baseline)
	Epochs    int
	BatchSize int
	LR        float64 // learning rate
	Optimizer string  // "sgd" (plain, no momentum) or "adam"
	Width     int     // first layer's units / filters (see the architectures)
	Seed      uint64  // shuffling and initialisation
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
	Task      string
	Backend   string
	Curve     []Point
	MsPerStep float64 // mean time of the training steps after the first epoch a process ran (which compiles); 0 if none
	Steps     int     // training steps taken
	// TimedSteps and TimedSeconds are the steps after the first epoch and
	// their time, of which MsPerStep is the mean.
	TimedSteps   int
	TimedSeconds float64
	Seconds      float64 // wall time of the training and evaluation
	FromCache    bool    `json:"-"`
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
	case c.Arch != MLP && c.Arch != CNN && c.Arch != ResNet18:
		return fmt.Errorf("experiment: arch %q (mlp, cnn, resnet18)", c.Arch)
	case c.Method == TrAct && !(c.Lambda > 0):
		return fmt.Errorf("experiment: λ = %g must be positive", c.Lambda)
	case c.Optimizer != "sgd" && c.Optimizer != "adam":
		return fmt.Errorf("experiment: optimizer %q (sgd, adam)", c.Optimizer)
	case c.Epochs < 1 || c.BatchSize < 1 || c.Width < 1 || !(c.LR > 0):
		return fmt.Errorf("experiment: epochs %d, batch %d, width %d, lr %g must be positive", c.Epochs, c.BatchSize, c.Width, c.LR)
	}
	return nil
}

// modelFn builds cfg's model for images of task's shape.
func modelFn(c Config, h, w, ch, classes int) func(scope *model.Scope, _ any, inputs []*graph.Node) []*graph.Node {
	return func(scope *model.Scope, _ any, inputs []*graph.Node) []*graph.Node {
		x := inputs[0]
		b := x.Shape().Dimensions[0]
		switch c.Arch {
		case MLP:
			x = graph.Reshape(x, b, h*w*ch)
			var z *graph.Node
			if c.Method == TrAct {
				z = tract.Dense(scope.In("first"), x, true, c.Width, c.Lambda)
			} else {
				z = layers.Dense(scope.In("first"), x, true, c.Width)
			}
			return []*graph.Node{layers.Dense(scope.In("head"), graph.MaxScalar(z, 0), true, classes)}
		case ResNet18:
			x = graph.Reshape(x, b, h, w, ch)
			first := resnet.PlainFirstLayer
			if c.Method == TrAct {
				first = func(scope *model.Scope, x *graph.Node, width int) *graph.Node {
					return tract.Conv2D(scope, x, width, 3, 1, 1, false, c.Lambda)
				}
			}
			return []*graph.Node{resnet.ResNet18(scope, x, classes, c.Width, first)}
		}
		x = graph.Reshape(x, b, h, w, ch)
		var z *graph.Node
		if c.Method == TrAct {
			z = tract.Conv2D(scope.In("first"), x, c.Width, 3, 1, 1, true, c.Lambda)
		} else {
			z = layers.Convolution(scope.In("first"), x).Channels(c.Width).KernelSize(3).PadSame().UseBias(true).Done()
		}
		z = graph.MaxScalar(z, 0)
		z = layers.Convolution(scope.In("second"), z).Channels(2 * c.Width).KernelSize(3).Strides(2).PadSame().UseBias(true).Done()
		z = graph.Reshape(graph.MaxScalar(z, 0), b, -1)
		return []*graph.Node{layers.Dense(scope.In("head"), z, true, classes)}
	}
}

func inMemory(b compute.Backend, name string, x [][]float32, y []int32) (*dataset.InMemoryDataset, error) {
	labels := make([][]int32, len(y))
	for i, l := range y {
		labels[i] = []int32{l}
	}
	ds, err := dataset.InMemoryFromData(b, name, []any{x}, []any{labels})
	if err != nil {
		return nil, fmt.Errorf("experiment: %s: %w", name, err)
	}
	return ds, nil
}

// Train runs cfg on task, calling progress (if not nil) after every epoch.
func Train(b compute.Backend, cfg Config, task *Task, progress func(Point)) (*Run, error) {
	return trainResuming(b, cfg, task, "", progress)
}

// trainResuming trains; with a checkpoint directory it resumes from the last
// epoch saved there and saves after every epoch.
func trainResuming(b compute.Backend, cfg Config, task *Task, ckptDir string, progress func(Point)) (run *Run, err error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := task.check(); err != nil {
		return nil, err
	}
	trainDS, err := inMemory(b, task.Name+"-train", task.TrainX, task.TrainY)
	if err != nil {
		return nil, err
	}
	trainDS.BatchSize(cfg.BatchSize, true).Shuffle().WithRand(rand.New(rand.NewSource(int64(cfg.Seed))))
	testDS, err := inMemory(b, task.Name+"-test", task.TestX, task.TestY)
	if err != nil {
		return nil, err
	}
	testDS.BatchSize(min(len(task.TestY), evalBatch), false)
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(int64(cfg.Seed)); err != nil {
		return nil, err
	}
	run = &Run{Config: cfg, Task: task.Name, Backend: b.Name()}
	var ckpt *checkpointer
	if ckptDir != "" {
		if ckpt, err = openCheckpoint(store, ckptDir, run); err != nil {
			return nil, err
		}
		// The variables are saved before the curve: a run stopped between
		// the two has variables one epoch ahead of its curve.
		if step := optimizer.GetGlobalStep(store); len(run.Curve) > 0 && step != int64(run.Steps) {
			return nil, fmt.Errorf("%w: its variables are at step %d, its curve at step %d", errStaleCheckpoint, step, run.Steps)
		}
	}
	var opt optimizer.Interface
	if cfg.Optimizer == "adam" {
		opt = optimizer.Adam().LearningRate(cfg.LR).Done()
	} else {
		opt = optimizer.StochasticGradientDescent().WithDecay(false).WithLearningRate(cfg.LR).Done()
	}
	h, w, ch := task.Shape[0], task.Shape[1], task.Shape[2]
	trainer := train.NewTrainer(b, store, modelFn(cfg, h, w, ch, task.Classes), loss.SparseCategoricalCrossEntropyLogits, opt, nil,
		[]metric.Interface{metric.NewSparseCategoricalAccuracy("Accuracy", "acc")})
	loop := train.NewLoop(trainer)
	// GoMLX reports a failure inside a graph as a panic; it must not reach
	// a notebook's kernel.
	defer func() {
		if r := recover(); r != nil {
			run, err = nil, fmt.Errorf("experiment: %s %s on %s: %v", cfg.Method, cfg.Arch, task.Name, r)
		}
	}()
	wall := time.Now()
	firstEpoch := len(run.Curve) + 1 // it compiles the graphs: not timed (nor after a resume)
	for epoch := firstEpoch; epoch <= cfg.Epochs; epoch++ {
		start, before := time.Now(), int(loop.LoopStep)
		metrics, err := loop.RunEpochs(trainDS, 1)
		if err != nil {
			return nil, fmt.Errorf("experiment: epoch %d: %w", epoch, err)
		}
		if epoch > firstEpoch {
			run.TimedSeconds += time.Since(start).Seconds()
			run.TimedSteps += int(loop.LoopStep) - before
		}
		testEval, err := trainer.Eval(testDS)
		if err != nil {
			return nil, fmt.Errorf("experiment: evaluating epoch %d: %w", epoch, err)
		}
		p := Point{Epoch: epoch, TrainLoss: scalar(metrics[1]), TestAcc: scalar(testEval[1])}
		run.Curve = append(run.Curve, p)
		run.Steps += int(loop.LoopStep) - before
		if run.TimedSteps > 0 {
			run.MsPerStep = 1000 * run.TimedSeconds / float64(run.TimedSteps)
		}
		if ckpt != nil {
			run.Seconds += time.Since(wall).Seconds()
			wall = time.Now()
			if err := ckpt.save(run); err != nil {
				return nil, err
			}
		}
		if progress != nil {
			progress(p)
		}
	}
	run.Seconds += time.Since(wall).Seconds()
	return run, nil
}

// evalBatch bounds the evaluation batch (CIFAR's 10 000 test images in
// one batch would take gigabytes of activations in a ResNet).
const evalBatch = 1000

func scalar(t *tensors.Tensor) float64 {
	switch v := t.Value().(type) {
	case float32:
		return float64(v)
	case float64:
		return v
	}
	return 0
}
