package experiment

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"time"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/metric"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// graphKey is what a compiled trainer depends on: runs of equal keys train
// through one session, only their per-run values differing (seed, learning
// rate, momentum μ when not 0, epochs and schedule, which live in
// variables; augmentation, on the host; the task's images, fed per batch). Fields a configuration ignores are
// zero (λ of the baseline, the ViT's of other architectures, momentum of
// Adam), so that they do not split groups.
type graphKey struct {
	Arch, Method, Optimizer     string
	Lambda                      float64
	BatchSize, Width            int
	Momentum                    bool // SGD with momentum (buffers) or plain
	WeightDecay, LabelSmoothing float64
	Depth, Heads, Patch, MLP    int
	Official                    bool // ResNet-18's official variant
	Shape                       [3]int
	Classes                     int
	Train, Val, Test            int // split sizes
}

func keyOf(cfg Config, task *Task) graphKey {
	k := graphKey{Arch: cfg.Arch, Method: cfg.Method, Optimizer: cfg.Optimizer, BatchSize: cfg.BatchSize, Width: cfg.Width,
		Momentum: cfg.Optimizer == SGD && cfg.Momentum != 0, WeightDecay: cfg.WeightDecay, LabelSmoothing: cfg.LabelSmoothing,
		Shape: task.Shape, Classes: task.Classes, Train: len(task.TrainX), Val: len(task.ValX), Test: len(task.TestX)}
	if cfg.Method == TrAct {
		k.Lambda = cfg.Lambda
	}
	if cfg.Arch == ViT {
		k.Depth, k.Heads, k.Patch, k.MLP = cfg.Depth, cfg.Heads, cfg.Patch, cfg.MLPWidth
	}
	if cfg.Arch == ResNet18 {
		k.Official = cfg.Official
	}
	return k
}

// session is one compiled trainer (train.Trainer over a model.Store) that
// trains run after run of one graphKey. Before each run but the first it
// puts every variable back where a fresh store seeded with the run's seed
// starts: the variables GoMLX initialises lazily (model weights, optimizer
// moments and buffers, batch-norm statistics) get what the initialisation
// graph draws from the RNG state of that seed — the same initializers, in
// creation order, as a fresh store's first step runs; the variables
// created with a value (the global step, the metrics' moving averages, the
// learning rate) get that value back; the per-run hyperparameters are
// written (setHypers). The training and evaluation graphs are not
// compiled again.
//
// GoMLX would compile its initialisation graph again for every run (on
// xla:cpu that costs tens of epochs of the digits CNN), so the session
// compiles that graph once itself (initExec, on its second run). GoMLX
// keeps a variable's initializer unexported: lazyInitializer reads it;
// where that fails (a GoMLX whose Variable differs) the session empties
// the variables instead and GoMLX initialises them at the next step,
// slower but to the same values.
type session struct {
	b       compute.Backend
	key     graphKey
	store   *model.Store
	trainer *train.Trainer

	batch    [2]shapes.Shape // a training batch's inputs and labels
	prepared bool            // lazy and initial are recorded
	lazy     []*model.Variable
	inits    []model.VariableInitializer // lazy's initializers; nil: GoMLX initialises
	initExec *model.Exec                 // built on the second run
	initial  []initialValue
	runs     int  // runs started on it
	resumed  bool // a run resumed from a checkpoint: its variables are not a fresh store's, so no run follows
}

type initialValue struct {
	v *model.Variable
	t *tensors.Tensor
}

// newSession builds (does not compile yet) the trainer of cfg on task's shapes.
func newSession(b compute.Backend, cfg Config, task *Task) (s *session, err error) {
	defer recoverInto(&err, "building the trainer of %s %s on %s", cfg.Method, cfg.Arch, task.Name)
	size := task.Shape[0] * task.Shape[1] * task.Shape[2]
	s = &session{b: b, key: keyOf(cfg, task), store: model.NewStore(),
		batch: [2]shapes.Shape{shapes.Make(dtypes.Float32, cfg.BatchSize, size), shapes.Make(dtypes.Int32, cfg.BatchSize, 1)}}
	h, w, ch := task.Shape[0], task.Shape[1], task.Shape[2]
	s.trainer = train.NewTrainer(b, s.store, modelFn(cfg, h, w, ch, task.Classes), lossFn(cfg.LabelSmoothing), newOptimizer(cfg), nil,
		[]metric.Interface{metric.NewSparseCategoricalAccuracy("Accuracy", "acc")})
	s.trainer.OnExecCreation(func(exec *model.Exec, t train.GraphType) {
		if t == train.TrainType && !s.prepared {
			s.prepare(exec)
		}
	})
	return s, nil
}

// prepare builds and compiles the training graph (which creates every
// variable) before its first call and records which variables the lazy
// initialisation will fill and the others' values.
func (s *session) prepare(exec *model.Exec) {
	if _, err := exec.Compile(s.batch[0], s.batch[1]); err != nil {
		panic(fmt.Errorf("compiling the training step: %w", err))
	}
	for v := range s.store.IterVariables() {
		if !v.HasValue() {
			s.lazy = append(s.lazy, v)
			s.inits = append(s.inits, lazyInitializer(v))
			continue
		}
		t, err := v.Value()
		if err == nil {
			t, err = t.LocalClone()
		}
		if err != nil {
			panic(fmt.Errorf("saving the initial value of %s: %w", v.Path(), err))
		}
		s.initial = append(s.initial, initialValue{v, t})
	}
	for _, f := range s.inits {
		if f == nil {
			s.inits = nil
			break
		}
	}
	s.prepared = true
}

// lazyInitializer is the initializer GoMLX keeps (unexported) for a
// variable created without a value, or nil if it cannot be read.
func lazyInitializer(v *model.Variable) model.VariableInitializer {
	f := reflect.ValueOf(v).Elem().FieldByName("initializer")
	if !f.IsValid() || f.Type() != reflect.TypeFor[model.VariableInitializer]() || !f.CanAddr() {
		return nil
	}
	return *(*model.VariableInitializer)(unsafe.Pointer(f.UnsafeAddr()))
}

// initialise gives the lazily initialised variables the values GoMLX's
// initialisation graph would draw from the store's RNG state, through one
// compiled graph for all runs; without initializers it empties them for
// GoMLX to initialise at the next step.
func (s *session) initialise() error {
	if s.inits == nil {
		for _, v := range s.lazy {
			if err := v.SetValue(nil); err != nil { // marks the store as needing initialisation
				return fmt.Errorf("experiment: resetting %s: %w", v.Path(), err)
			}
		}
		return nil
	}
	if s.initExec == nil {
		var err error
		s.initExec, err = model.NewExec(s.b, s.store, func(_ *model.Scope, g *graph.Graph) []*graph.Node {
			out := make([]*graph.Node, len(s.lazy))
			for i, v := range s.lazy {
				out[i] = s.inits[i](g, v.Shape())
			}
			return out
		})
		if err != nil {
			return fmt.Errorf("experiment: building the initialisation graph: %w", err)
		}
	}
	values, err := s.initExec.Call()
	if err != nil {
		return fmt.Errorf("experiment: initialising the variables: %w", err)
	}
	for i, v := range s.lazy {
		if err := v.SetValue(values[i]); err != nil {
			return fmt.Errorf("experiment: initialising %s: %w", v.Path(), err)
		}
	}
	return nil
}

// reset puts the store where a fresh one seeded with cfg.Seed starts, with
// cfg's hyperparameters.
func (s *session) reset(cfg Config, stepsPerEpoch int) error {
	if s.runs > 0 {
		if !s.prepared {
			return errors.New("experiment: a reused trainer that never trained")
		}
		for _, iv := range s.initial {
			t, err := iv.t.LocalClone()
			if err == nil {
				err = iv.v.SetValue(t)
			}
			if err != nil {
				return fmt.Errorf("experiment: resetting %s: %w", iv.v.Path(), err)
			}
		}
	}
	if err := s.store.SetRNGStateFromSeed(int64(cfg.Seed)); err != nil {
		return fmt.Errorf("experiment: seeding the store: %w", err)
	}
	if s.runs > 0 {
		if err := s.initialise(); err != nil {
			return err
		}
	}
	return setHypers(s.store, cfg, stepsPerEpoch)
}

// finalize frees the compiled graphs and the variables' buffers.
func (s *session) finalize() {
	if s == nil {
		return
	}
	if s.initExec != nil {
		s.initExec.Finalize()
	}
	s.trainer.ResetComputationGraphs()
	s.store.Finalize()
}

// recoverInto turns a panic (GoMLX reports graph errors as panics) into
// *err, with the context.
func recoverInto(err *error, format string, a ...any) {
	if r := recover(); r != nil {
		ctx := fmt.Sprintf(format, a...)
		if e, ok := r.(error); ok {
			*err = fmt.Errorf("experiment: %s: %w", ctx, e)
		} else {
			*err = fmt.Errorf("experiment: %s: %v", ctx, r)
		}
	}
}

// train runs cfg on task (whose graph key must be the session's): a fresh
// run, or with ckptDir (only on a session's first run) one resumed from and
// checkpointed to that directory.
func (s *session) train(cfg Config, task *Task, ckptDir string, progress func(Point)) (run *Run, err error) {
	if err := cfg.checkTask(task); err != nil {
		return nil, err
	}
	if k := keyOf(cfg, task); k != s.key {
		return nil, fmt.Errorf("experiment: run %+v on %s does not fit the trainer of %+v", k, task.Name, s.key)
	}
	if (ckptDir != "" && s.runs > 0) || s.resumed {
		return nil, errors.New("experiment: a checkpointed run needs a trainer of its own")
	}
	defer recoverInto(&err, "%s %s on %s", cfg.Method, cfg.Arch, task.Name)
	stepsPerEpoch := len(task.TrainX) / cfg.BatchSize // ≥ 1: checkTask
	run = &Run{Config: cfg, Task: task.Name, Backend: s.b.Name()}
	var ckpt *checkpointer
	if ckptDir != "" {
		s.resumed = true
		if ckpt, err = openCheckpoint(s.store, ckptDir, run); err != nil {
			return nil, err
		}
		// The variables are saved before the curve: a run stopped between
		// the two has variables one epoch ahead of its curve.
		if step := optimizer.GetGlobalStep(s.store); len(run.Curve) > 0 && step != int64(run.Steps) {
			return nil, fmt.Errorf("%w: its variables are at step %d, its curve at step %d", errStaleCheckpoint, step, run.Steps)
		}
		if run.Diverged != "" {
			return run, nil
		}
	}
	if err := s.reset(cfg, stepsPerEpoch); err != nil {
		return nil, err
	}
	s.runs++

	trainDS := &hostDataset{name: task.Name + "-train", x: task.TrainX, y: task.TrainY, shape: task.Shape, batch: cfg.BatchSize, dropLast: true,
		order: rand.New(rand.NewPCG(cfg.Seed, 0x73687566666c65))}
	if cfg.Augment {
		trainDS.augment, trainDS.pad = rand.New(rand.NewPCG(cfg.Seed, 0x6175676d656e74)), cfg.augmentPad()
	}
	eval := func(name string, x [][]float32, y []int32) *hostDataset {
		return &hostDataset{name: task.Name + "-" + name, x: x, y: y, shape: task.Shape, batch: min(len(y), evalBatch)}
	}
	testDS := eval("test", task.TestX, task.TestY)
	var valDS *hostDataset
	if len(task.ValY) > 0 {
		valDS = eval("validation", task.ValX, task.ValY)
	}
	loop := train.NewLoop(s.trainer)
	// GoMLX's Loop stops at a non-finite batch loss with an error of its
	// own; this hook sees the loss first and stops with errDiverged, which
	// ends the run as diverged instead.
	var divergedAt int
	var divergedLoss float64
	loop.OnStep("divergence", train.Priority(0), func(l *train.Loop, metrics []*tensors.Tensor) error {
		if b := scalar(metrics[0]); math.IsNaN(b) || math.IsInf(b, 0) {
			divergedAt, divergedLoss = l.LoopStep, scalar(metrics[1]) // the moving average, non-finite with it
			if !math.IsNaN(divergedLoss) && !math.IsInf(divergedLoss, 0) {
				divergedLoss = b
			}
			return errDiverged
		}
		return nil
	})
	wall := time.Now()
	firstEpoch := len(run.Curve) + 1 // not timed: it compiles (the first run) or initialises (the others)
	for epoch := firstEpoch; epoch <= cfg.Epochs; epoch++ {
		start, before := time.Now(), loop.LoopStep
		metrics, err := loop.RunEpochs(trainDS, 1)
		var trainLoss float64
		switch {
		case errors.Is(err, errDiverged):
			trainLoss = divergedLoss
			loop.LoopStep = divergedAt + 1 // the step that diverged was taken
		case err != nil:
			return nil, fmt.Errorf("experiment: epoch %d: %w", epoch, err)
		default:
			trainLoss = scalar(metrics[1])
			if epoch > firstEpoch {
				run.TimedSeconds += time.Since(start).Seconds()
				run.TimedSteps += loop.LoopStep - before
			}
		}
		p := Point{Epoch: epoch, TrainLoss: trainLoss, ValAcc: math.NaN()}
		if valDS != nil {
			if p.ValAcc, err = s.accuracy(valDS); err != nil {
				return nil, fmt.Errorf("experiment: validating epoch %d: %w", epoch, err)
			}
		}
		if p.TestAcc, err = s.accuracy(testDS); err != nil {
			return nil, fmt.Errorf("experiment: testing epoch %d: %w", epoch, err)
		}
		run.Curve = append(run.Curve, p)
		run.Steps += loop.LoopStep - before
		if run.TimedSteps > 0 {
			run.MsPerStep = 1000 * run.TimedSeconds / float64(run.TimedSteps)
		}
		if math.IsNaN(p.TrainLoss) || math.IsInf(p.TrainLoss, 0) {
			run.Diverged = fmt.Sprintf("non-finite training loss at epoch %d", epoch)
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
		if run.Diverged != "" {
			break
		}
	}
	run.Seconds += time.Since(wall).Seconds()
	return run, nil
}

// errDiverged stops a run's loop at a non-finite batch loss.
var errDiverged = errors.New("experiment: non-finite batch loss")

// accuracy is the trainer's evaluation accuracy on ds.
func (s *session) accuracy(ds *hostDataset) (float64, error) {
	m, err := s.trainer.Eval(ds)
	if err != nil {
		return 0, err
	}
	return scalar(m[1]), nil
}
