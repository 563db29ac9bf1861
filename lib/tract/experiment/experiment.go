// Package experiment trains TrAct against the plain first layer with
// GoMLX's own training stack (model.Store, layers, train.Trainer + Loop,
// checkpoints) and the paper's recipe: SGD with momentum or Adam, coupled
// weight decay, a constant or per-step cosine learning rate, label
// smoothing, random-crop and flip augmentation (Config); batches are built
// and shuffled on the host (augment.go).
//
// Tasks are image classification sets (Task): scikit-learn's 8×8 digits
// with varied contrast and brightness, standardised (the quick profile),
// or CIFAR-10 from its binary files (the full profile). Models: a
// one-hidden-layer MLP whose first dense layer is TrAct's or GoMLX's, a
// small CNN whose first convolution is, the CIFAR ResNet-18 of lib/resnet,
// and the paper's ViT (vit.go) whose patch embedding is.
//
// A run whose training loss turns non-finite stops and is recorded as
// diverged (Run.Diverged), never an error. RunJobs trains many short runs
// through one compiled trainer per graph (reuse.go).
package experiment

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"

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
	ViT      = "vit"      // vision transformer (vit.go): Patch×Patch patch embedding (the first layer), Depth pre-LN blocks of Heads heads
)

// Optimizers.
const (
	SGD  = "sgd"  // torch.optim.SGD: plain, or with heavy-ball momentum (Config.Momentum); optim.go
	Adam = "adam" // GoMLX's optimizer.Adam with torch's defaults (β 0.9/0.999, ε 1e-8)
)

// Learning-rate schedules.
const (
	Constant = "constant" // LR at every step (the default, Schedule "")
	Cosine   = "cosine"   // LR·½(1+cos(π·t/T)) at step t = 0 … T−1, T = Epochs·steps per epoch (torch's CosineAnnealingLR stepped per iteration, η_min 0)
)

// Config is one training run. The cache key is the whole Config (with the
// task's name, the backend and the code), so every field counts.
type Config struct {
	Method    string
	Arch      string
	Lambda    float64 // TrAct's λ (ignored by the baseline)
	Epochs    int
	BatchSize int     // the last incomplete batch of an epoch is dropped
	LR        float64 // (peak) learning rate
	Optimizer string  // SGD or Adam
	Width     int     // first layer's units / filters (see the architectures); the ViT's hidden size
	Seed      uint64  // shuffling, augmentation and initialisation

	// Momentum is SGD's heavy-ball momentum μ (torch semantics: buf ←
	// μ·buf + g, w ← w − lr·buf); 0 is plain SGD. Adam takes none.
	Momentum float64
	// WeightDecay is coupled L2 decay as torch's optimizer weight_decay: the
	// optimizer adds WeightDecay·w to every trainable variable's gradient
	// (biases and norms included) before its update; 0 is none.
	WeightDecay float64
	// Schedule is Constant (or "") or Cosine.
	Schedule string
	// LabelSmoothing ε: the loss is softmax cross-entropy against
	// (1−ε)·onehot + ε/classes; 0 is none.
	LabelSmoothing float64

	// ViT only: Depth blocks of Heads heads (Heads divides Width), patches
	// of Patch×Patch pixels (Patch divides the image's sides), MLP hidden
	// width MLPWidth.
	Depth, Heads, Patch, MLPWidth int

	// Augment trains on host-side augmented images: per image and epoch, a
	// random crop after zero padding of AugmentPad pixels (0: the paper's
	// 4) and a random horizontal flip, drawn from the run's seed.
	Augment    bool
	AugmentPad int

	// Official (ResNet18 only) builds the official TrAct code's network,
	// resnet.Official(): the stem's max-pool kept and PyTorch's
	// initialisation; false is lib/resnet's default variant.
	Official bool
}

// Point is the state after an epoch.
type Point struct {
	Epoch     int
	TrainLoss float64 // the trainer's moving average of the batch loss at the epoch's end (NaN or ±Inf: the run diverged)
	ValAcc    float64 // accuracy on the task's validation split (NaN when the task has none); tuning reads this
	TestAcc   float64
}

// Run is a finished run: all its epochs, or those up to its divergence.
type Run struct {
	Config    Config
	Task      string
	Backend   string
	Curve     []Point
	MsPerStep float64 // mean time of the training steps after the first epoch a process ran of the run (which compiles, or initialises a reused trainer); 0 if none
	Steps     int     // training steps taken
	// TimedSteps and TimedSeconds are the steps after the first epoch and
	// their time, of which MsPerStep is the mean.
	TimedSteps   int
	TimedSeconds float64
	Seconds      float64 // wall time of the training and evaluation
	// Diverged, when not empty, says why the run stopped early ("non-finite
	// training loss at epoch 3"); the curve ends with that epoch.
	Diverged  string `json:",omitempty"`
	FromCache bool   `json:"-"`
}

// FinalAcc is the test accuracy after the last epoch, NaN for a diverged
// run.
func (r *Run) FinalAcc() float64 {
	if r.Diverged != "" || len(r.Curve) == 0 {
		return math.NaN()
	}
	return r.Curve[len(r.Curve)-1].TestAcc
}

// FinalValAcc is the validation accuracy after the last epoch, NaN for a
// diverged run or a task without a validation split.
func (r *Run) FinalValAcc() float64 {
	if r.Diverged != "" || len(r.Curve) == 0 {
		return math.NaN()
	}
	return r.Curve[len(r.Curve)-1].ValAcc
}

// EpochsTo is the first epoch whose test accuracy is at least acc, or −1.
func (r *Run) EpochsTo(acc float64) int {
	for _, p := range r.Curve {
		if p.TestAcc >= acc {
			return p.Epoch
		}
	}
	return -1
}

// finished says whether r is a whole run of cfg: every epoch, or stopped
// by divergence (the cache takes both as done).
func (r *Run) finished(cfg Config) bool {
	return r.Diverged != "" || len(r.Curve) == cfg.Epochs
}

// check validates the configuration alone; checkTask adds what depends on
// the task. Each error names the field.
func (c Config) check() error {
	bad := func(format string, a ...any) error { return fmt.Errorf("experiment: "+format, a...) }
	switch {
	case c.Method != Baseline && c.Method != TrAct:
		return bad("method %q (baseline, tract)", c.Method)
	case c.Arch != MLP && c.Arch != CNN && c.Arch != ResNet18 && c.Arch != ViT:
		return bad("arch %q (mlp, cnn, resnet18, vit)", c.Arch)
	case c.Method == TrAct && !(c.Lambda > 0):
		return bad("λ = %g must be positive", c.Lambda)
	case c.Optimizer != SGD && c.Optimizer != Adam:
		return bad("optimizer %q (sgd, adam)", c.Optimizer)
	case c.Epochs < 1:
		return bad("epochs %d must be positive", c.Epochs)
	case c.BatchSize < 1:
		return bad("batch size %d must be positive", c.BatchSize)
	case c.Width < 1:
		return bad("width %d must be positive", c.Width)
	case !(c.LR > 0) || math.IsInf(c.LR, 1):
		return bad("lr %g must be positive and finite", c.LR)
	case !(c.Momentum >= 0) || math.IsInf(c.Momentum, 1):
		return bad("momentum %g must be ≥ 0 and finite", c.Momentum)
	case c.Momentum != 0 && c.Optimizer != SGD:
		return bad("momentum %g is SGD's (optimizer %q)", c.Momentum, c.Optimizer)
	case !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 1):
		return bad("weight decay %g must be ≥ 0 and finite", c.WeightDecay)
	case c.Schedule != "" && c.Schedule != Constant && c.Schedule != Cosine:
		return bad("schedule %q (constant, cosine)", c.Schedule)
	case !(c.LabelSmoothing >= 0 && c.LabelSmoothing < 1):
		return bad("label smoothing %g outside [0, 1)", c.LabelSmoothing)
	case c.AugmentPad < 0:
		return bad("augment pad %d must be ≥ 0", c.AugmentPad)
	}
	if c.Arch == ViT {
		switch {
		case c.Depth < 1:
			return bad("ViT depth %d must be positive", c.Depth)
		case c.Heads < 1:
			return bad("ViT heads %d must be positive", c.Heads)
		case c.Width%c.Heads != 0:
			return bad("ViT heads %d do not divide width %d", c.Heads, c.Width)
		case c.Patch < 1:
			return bad("ViT patch %d must be positive", c.Patch)
		case c.MLPWidth < 1:
			return bad("ViT MLP width %d must be positive", c.MLPWidth)
		}
	}
	return nil
}

// checkTask is check and task.check, and what depends on both: a batch
// fits in the training split, a ViT's patch divides the image's sides.
func (c Config) checkTask(task *Task) error {
	if err := c.check(); err != nil {
		return err
	}
	if err := task.check(); err != nil {
		return err
	}
	if c.BatchSize > len(task.TrainX) {
		return fmt.Errorf("experiment: batch size %d exceeds the %d training images of %q", c.BatchSize, len(task.TrainX), task.Name)
	}
	if c.Arch == ViT && (task.Shape[0]%c.Patch != 0 || task.Shape[1]%c.Patch != 0) {
		return fmt.Errorf("experiment: ViT patch %d does not divide the %d×%d images of %q", c.Patch, task.Shape[0], task.Shape[1], task.Name)
	}
	return nil
}

// augmentPad is the random crop's padding.
func (c Config) augmentPad() int {
	if c.AugmentPad == 0 {
		return 4
	}
	return c.AugmentPad
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
			var opts resnet.Options
			if c.Official {
				opts = resnet.Official()
			}
			return []*graph.Node{resnet.ResNet18With(scope, x, classes, c.Width, first, opts)}
		case ViT:
			return []*graph.Node{vit(scope, c, graph.Reshape(x, b, h, w, ch), classes)}
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

// lossFn is softmax cross-entropy on the logits, against labels smoothed by
// ε (GoMLX's sparse cross-entropy when ε = 0).
func lossFn(smoothing float64) train.LossFn {
	if smoothing == 0 {
		return loss.SparseCategoricalCrossEntropyLogits
	}
	return func(labels, logits []*graph.Node) *graph.Node {
		l, y := logits[0], labels[0]
		k := l.Shape().Dimensions[l.Rank()-1]
		onehot := graph.OneHot(graph.Reshape(y, y.Shape().Dimensions[:y.Rank()-1]...), k, l.DType())
		target := graph.AddScalar(graph.MulScalar(onehot, 1-smoothing), smoothing/float64(k))
		return loss.CategoricalCrossEntropyLogits([]*graph.Node{target}, logits)
	}
}

// Train runs cfg on task, calling progress (if not nil) after every epoch.
// A run whose training loss turns non-finite stops there (Run.Diverged);
// that is not an error.
func Train(b compute.Backend, cfg Config, task *Task, progress func(Point)) (*Run, error) {
	return trainResuming(b, cfg, task, "", progress)
}

// trainResuming trains with a trainer of its own; with a checkpoint
// directory it resumes from the last epoch saved there and saves after
// every epoch.
func trainResuming(b compute.Backend, cfg Config, task *Task, ckptDir string, progress func(Point)) (*Run, error) {
	if err := cfg.checkTask(task); err != nil {
		return nil, err
	}
	s, err := newSession(b, cfg, task)
	if err != nil {
		return nil, err
	}
	defer s.finalize()
	return s.train(cfg, task, ckptDir, progress)
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
