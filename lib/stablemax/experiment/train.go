// Package experiment runs the experiments of "Grokking at the Edge of
// Numerical Stability" (Prieto et al., ICLR 2025) with the method of
// lib/stablemax, on modular arithmetic: an MLP 2p → width → width → p (ReLU,
// no biases) trained full batch with one of the paper's methods (Train), with
// the metrics the paper plots recorded along the way: train/test accuracy,
// the Softmax Collapse fraction and the NLM cosine. Above the training it
// holds the grid of configurations each notebook profile trains (Grid), the
// measurements of the notebook's pre-registered claims from the finished runs
// (Measure), and the tables and curves the notebook shows.
//
// Checkpoints are keyed by a hash of this package's code and what it imports
// (notebook.CodeHash), so a change to the analysis here also retrains: one
// home per paper is worth that, and the quick profile retrains in minutes.
package experiment

import (
	"crypto/sha256"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gorepro/gorepro/lib/backends"
	"github.com/gorepro/gorepro/lib/data"
	"github.com/gorepro/gorepro/lib/notebook"
	"github.com/gorepro/gorepro/lib/stablemax"
	"github.com/gorepro/gorepro/lib/train"
)

// Method is a loss/optimiser combination of the paper.
type Method string

// The methods compared in the paper.
const (
	// Softmax32 is softmax cross-entropy in float32, no regularisation: collapses, does not generalise.
	Softmax32 Method = "softmax32"
	// Softmax64 is softmax cross-entropy evaluated in float64: collapse comes later.
	Softmax64 Method = "softmax64"
	// Softmax16 is softmax cross-entropy evaluated in float16: collapse comes sooner.
	Softmax16 Method = "softmax16"
	// StableMax is StableMax cross-entropy (evaluated in float64, as the official code), no regularisation: groks.
	StableMax Method = "stablemax"
	// OrthoGrad is softmax cross-entropy in float32 with ⊥Grad: generalises fast.
	OrthoGrad Method = "orthograd"
	// WeightDecay is softmax cross-entropy in float32 with AdamW weight decay: the classic grokking baseline.
	WeightDecay Method = "weightdecay"
)

// Methods lists the methods in the order the paper discusses them (a new
// slice at each call).
func Methods() []Method {
	return []Method{Softmax32, Softmax64, Softmax16, StableMax, OrthoGrad, WeightDecay}
}

// Config is one training run.
type Config struct {
	Method        Method
	Op            data.Op
	P             int     // modulus (113 in the paper)
	TrainFraction float64 // 0.4 in Figure 1
	Width         int     // hidden width (200 in the paper)
	Seed          uint64
	LR            float64 // 0.01 in Figure 1
	Beta2         float64 // 0.99 (0.999 for StableMax in the official runs)
	Epsilon       float64 // Adam's ε: 1e-25 in the paper
	WeightDecay   float64 // only for the WeightDecay method
	Epochs        int
	EvalEvery     int // epochs between metric points
	StepsPerCall  int // unrolled steps per device call
}

// Validate checks a configuration and fills defaults for zero fields.
func (c Config) Validate() (Config, error) {
	methods := Methods()
	if !slices.Contains(methods, c.Method) {
		names := make([]string, len(methods))
		for i, m := range methods {
			names[i] = string(m)
		}
		return c, fmt.Errorf("grokking: unknown method %q (one of %s)", c.Method, strings.Join(names, ", "))
	}
	if c.Op == "" {
		c.Op = data.Add
	}
	if c.Width == 0 {
		c.Width = 200
	}
	if c.Beta2 == 0 {
		c.Beta2 = 0.99
	}
	if c.Epsilon == 0 {
		c.Epsilon = 1e-25
	}
	if c.EvalEvery == 0 {
		c.EvalEvery = max(1, c.Epochs/100)
	}
	if c.StepsPerCall == 0 {
		c.StepsPerCall = min(c.EvalEvery, 50)
	}
	if c.Method == WeightDecay && c.WeightDecay == 0 {
		c.WeightDecay = 1
	}
	switch {
	case c.P < 2:
		return c, fmt.Errorf("grokking: modulus p = %d must be ≥ 2", c.P)
	case c.Width < 1:
		return c, fmt.Errorf("grokking: width %d must be ≥ 1", c.Width)
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return c, fmt.Errorf("grokking: learning rate %g must be positive and finite", c.LR)
	case !(c.TrainFraction > 0 && c.TrainFraction < 1):
		return c, fmt.Errorf("grokking: train fraction %g must be in (0, 1)", c.TrainFraction)
	case !(c.Beta2 >= 0 && c.Beta2 < 1):
		return c, fmt.Errorf("grokking: β₂ %g must be in [0, 1)", c.Beta2)
	case c.Epochs < 1:
		return c, fmt.Errorf("grokking: epochs %d must be ≥ 1", c.Epochs)
	}
	return c, nil
}

// Point is the metrics at one epoch.
type Point struct {
	Epoch     int
	TrainLoss float64
	TrainAcc  float64
	TestAcc   float64
	// Collapse is the fraction of training examples whose loss, in the
	// precision it is computed in, is exactly 0 (Softmax Collapse: no gradient).
	Collapse float64
	// NLM is the cosine between the gradient and −w: 1 is pure naive loss minimisation.
	NLM float64
	// Collapse32 is the fraction of training examples whose loss evaluated
	// in float32 — the method's own loss (StableMax's for StableMax,
	// softmax's otherwise) on the float32 logits — is exactly 0: a collapse
	// measure that can be non-zero for StableMax too, unlike its float64
	// training loss.
	Collapse32 float64
	// NLMOutput is NLM for the output layer alone (the paper's Fig. 5 reports
	// the output layer's alignment).
	NLMOutput float64
}

// Run is a finished (or resumed) training run.
type Run struct {
	Config  Config
	Curve   []Point
	Seconds float64
	// MsPerEpoch is the training time per epoch, metrics excluded, over every
	// epoch trained for this run (in this process or before a resume).
	MsPerEpoch float64
	// FromCache is true when the whole run was read from its checkpoint: no
	// epoch was trained by this call. ResumedAt is the epoch a checkpoint
	// restored (0 for a fresh start).
	FromCache bool
	ResumedAt int
}

// Final is the last point of the curve.
func (r *Run) Final() Point { return r.Curve[len(r.Curve)-1] }

// FirstEpochAtLeast is the first recorded epoch whose test accuracy is ≥ acc, or −1.
func (r *Run) FirstEpochAtLeast(acc float64) int {
	for _, p := range r.Curve {
		if p.TestAcc >= acc {
			return p.Epoch
		}
	}
	return -1
}

// MaxNLMAfterFit is the largest NLM cosine seen once training accuracy is 1
// (the paper's claim is about the gradient past overfitting); NaN if never fitted.
func (r *Run) MaxNLMAfterFit() float64 { return r.maxAfterFit(func(p Point) float64 { return p.NLM }) }

// MaxNLMOutputAfterFit is MaxNLMAfterFit for the output layer's cosine.
func (r *Run) MaxNLMOutputAfterFit() float64 {
	return r.maxAfterFit(func(p Point) float64 { return p.NLMOutput })
}

// maxAfterFit is the largest value of metric at the points where training
// accuracy is 1; NaN if there are none.
func (r *Run) maxAfterFit(metric func(Point) float64) float64 {
	m := math.NaN()
	for _, p := range r.Curve {
		if v := metric(p); p.TrainAcc == 1 && (math.IsNaN(m) || v > m) {
			m = v
		}
	}
	return m
}

// CollapseOnset is the first recorded epoch whose Softmax Collapse fraction
// is at least level; censored is true (and the epoch the run's last) when
// it never was.
func (r *Run) CollapseOnset(level float64) (epoch int, censored bool) {
	for _, p := range r.Curve {
		if p.Collapse >= level {
			return p.Epoch, false
		}
	}
	return r.Final().Epoch, true
}

// MaxCollapse is the largest Softmax Collapse fraction seen.
func (r *Run) MaxCollapse() float64 {
	m := 0.0
	for _, p := range r.Curve {
		m = math.Max(m, p.Collapse)
	}
	return m
}

// initialParams draws PyTorch's default Linear initialisation, U(±1/√fan_in).
func initialParams(c Config) []*tensors.Tensor {
	rng := rand.New(rand.NewPCG(c.Seed, 0x6d6c70))
	dims := [][2]int{{2 * c.P, c.Width}, {c.Width, c.Width}, {c.Width, c.P}}
	out := make([]*tensors.Tensor, len(dims))
	for i, d := range dims {
		bound := 1 / math.Sqrt(float64(d[0]))
		flat := make([]float32, d[0]*d[1])
		for j := range flat {
			flat[j] = float32((2*rng.Float64() - 1) * bound)
		}
		out[i] = tensors.FromFlatDataAndDimensions(flat, d[0], d[1])
	}
	return out
}

// Forward is the MLP: ReLU(ReLU(x·W1)·W2)·W3.
func Forward(params []*graph.Node, x *graph.Node) *graph.Node {
	h := graph.Max(graph.MatMul(x, params[0]), graph.ScalarZero(x.Graph(), x.DType()))
	h = graph.Max(graph.MatMul(h, params[1]), graph.ScalarZero(x.Graph(), x.DType()))
	return graph.MatMul(h, params[2])
}

// Loss returns the method's per-example loss.
func Loss(m Method) func(logits, labels *graph.Node) *graph.Node {
	switch m {
	case Softmax64:
		return func(l, y *graph.Node) *graph.Node {
			return stablemax.SoftmaxCrossEntropy(graph.ConvertDType(l, dtypes.Float64), y)
		}
	case Softmax16:
		return func(l, y *graph.Node) *graph.Node {
			return stablemax.SoftmaxCrossEntropy(graph.ConvertDType(l, dtypes.Float16), y)
		}
	case StableMax:
		return func(l, y *graph.Node) *graph.Node {
			return stablemax.CrossEntropy(graph.ConvertDType(l, dtypes.Float64), y)
		}
	default:
		return stablemax.SoftmaxCrossEntropy
	}
}

// Train runs one configuration, calling progress at each metric point. If
// checkpointDir is not empty the state is saved there at every metric point
// and a run with the same configuration resumes from it.
func Train(b compute.Backend, cfg Config, checkpointDir string, progress func(Point)) (*Run, error) {
	cfg, err := cfg.Validate()
	if err != nil {
		return nil, err
	}
	split, err := data.ModularArithmetic(cfg.Op, cfg.P, cfg.TrainFraction, cfg.Seed)
	if err != nil {
		return nil, err
	}
	xTrain, yTrain := tensors.FromValue(split.XTrain), tensors.FromValue(split.YTrain)
	xTest, yTest := tensors.FromValue(split.XTest), tensors.FromValue(split.YTest)
	opt := train.Optimizer{LearningRate: cfg.LR, Beta1: 0.9, Beta2: cfg.Beta2, Epsilon: cfg.Epsilon}
	if cfg.Method == WeightDecay {
		opt.WeightDecay = cfg.WeightDecay
	}
	if cfg.Method == OrthoGrad {
		opt.GradientTransform = stablemax.OrthogonalGradients
	}
	loss := Loss(cfg.Method)
	model := train.Model{Params: initialParams(cfg), Forward: Forward, Loss: loss}
	// The official code draws a new order of the (full) batch every epoch:
	// the same gradient summed in another order, which matters at the edge
	// of float32 precision where this paper's effects live.
	newTrainer := func() (*train.Trainer, error) {
		return train.NewShuffled(b, model, opt, cfg.StepsPerCall, xTrain, yTrain, cfg.Seed^shuffleStream)
	}
	tr, err := newTrainer()
	if err != nil {
		return nil, err
	}
	eval, err := graph.NewExec(b, func(in []*graph.Node) []*graph.Node {
		params, xt, yt, xe, ye := in[:3], in[3], in[4], in[5], in[6]
		logits := Forward(params, xt)
		losses := loss(logits, yt)
		meanLoss := graph.ReduceAllMean(losses)
		grads := graph.Gradient(meanLoss, params...)
		losses32 := stablemax.SoftmaxCrossEntropy(graph.ConvertDType(logits, dtypes.Float32), yt)
		if cfg.Method == StableMax {
			losses32 = stablemax.CrossEntropy(graph.ConvertDType(logits, dtypes.Float32), yt)
		}
		return []*graph.Node{
			graph.ConvertDType(meanLoss, dtypes.Float64),
			accuracy(logits, yt),
			accuracy(Forward(params, xe), ye),
			stablemax.ZeroLossFraction(losses),
			stablemax.NLMCosine(grads, params),
			stablemax.ZeroLossFraction(losses32),
			stablemax.NLMCosine(grads[2:], params[2:]),
		}
	})
	if err != nil {
		return nil, fmt.Errorf("grokking: %w", err)
	}
	run := &Run{Config: cfg}
	var ckpt string
	var saved savedRun
	if checkpointDir != "" {
		ckpt = filepath.Join(checkpointDir, cfg.CacheKey(b)+".ckpt")
		extra, found, err := tr.Load(ckpt)
		if err != nil {
			return nil, err
		}
		switch {
		case found && tr.Steps() > cfg.Epochs:
			// A longer run of the same configuration: train this one afresh,
			// without a checkpoint, so that the longer one is kept.
			if tr, err = newTrainer(); err != nil {
				return nil, err
			}
			ckpt = ""
		case found:
			if saved, err = decodeSavedRun(extra); err != nil {
				return nil, fmt.Errorf("grokking: checkpoint %s: %w", ckpt, err)
			}
			run.Curve, run.ResumedAt = saved.Curve, tr.Steps()
		}
	}
	measure := func() error {
		p := tr.Params()
		outs, err := eval.Call(p[0], p[1], p[2], xTrain, yTrain, xTest, yTest)
		if err != nil {
			return fmt.Errorf("grokking: evaluating at epoch %d: %w", tr.Steps(), err)
		}
		pt := Point{Epoch: tr.Steps()}
		for i, dst := range []*float64{&pt.TrainLoss, &pt.TrainAcc, &pt.TestAcc, &pt.Collapse, &pt.NLM, &pt.Collapse32, &pt.NLMOutput} {
			*dst = tensors.ToScalar[float64](outs[i])
		}
		run.Curve = append(run.Curve, pt)
		if progress != nil {
			progress(pt)
		}
		return nil
	}
	if tr.Steps() == 0 {
		if err := measure(); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	for tr.Steps() < cfg.Epochs {
		n := min(cfg.EvalEvery-tr.Steps()%cfg.EvalEvery, cfg.Epochs-tr.Steps())
		t0 := time.Now()
		if err := tr.Run(n); err != nil {
			return nil, err
		}
		saved.TrainMs += float64(time.Since(t0).Microseconds()) / 1000
		saved.TrainedEpochs += n
		if err := measure(); err != nil {
			return nil, err
		}
		if ckpt != "" {
			saved.Curve = run.Curve
			extra, err := saved.encode()
			if err != nil {
				return nil, err
			}
			if err := tr.Save(ckpt, extra); err != nil {
				return nil, err
			}
		}
	}
	run.FromCache = run.ResumedAt > 0 && run.ResumedAt >= cfg.Epochs
	if saved.TrainedEpochs > 0 {
		run.MsPerEpoch = saved.TrainMs / float64(saved.TrainedEpochs)
	}
	run.Seconds = time.Since(start).Seconds()
	return run, nil
}

// shuffleStream separates the epochs' orders from the other draws of a seed.
const shuffleStream = 0x73687566

func accuracy(logits, labels *graph.Node) *graph.Node {
	pred := graph.ArgMax(logits, -1, labels.DType())
	return graph.ReduceAllMean(graph.ConvertDType(graph.Equal(pred, labels), dtypes.Float64))
}

// Name identifies a configuration for people (labels, file names).
func (c Config) Name() string {
	return fmt.Sprintf("%s-%s-p%d-f%g-w%d-lr%g-b%g-eps%g-wd%g-e%d-every%d-seed%d",
		c.Method, c.Op, c.P, c.TrainFraction, c.Width, c.LR, c.Beta2, c.Epsilon, c.WeightDecay, c.Epochs, c.EvalEvery, c.Seed)
}

// cacheCodePackage is the package whose code, with every package of the
// module it imports (lib/train, lib/stablemax, lib/data, ...), computes the
// numbers a checkpoint holds: its hash (notebook.CodeHash) keys checkpoints,
// so no version constant needs changing when that code changes.
var cacheCodePackage = reflect.TypeFor[Config]().PkgPath()

// CacheKey names the checkpoint of a run of c on b: readable, and a hash of
// everything that changes the numbers — every field of the validated
// configuration except Epochs and EvalEvery (so that a longer run resumes a
// shorter one), the backend's identity (platform, plugin, float32 matmul
// precision) and the hash of the training code read from the checkout
// (notebook.CodeHash of cacheCodePackage). When the checkout cannot be found,
// that is said once on stderr and the key holds no code hash (it is marked
// "code not hashed", so it never matches a key made with one).
func (c Config) CacheKey(b compute.Backend) string {
	c, _ = c.Validate()
	key := c
	key.Epochs, key.EvalEvery = 0, 0
	code := "code not hashed"
	if cache := notebook.OpenRunCacheOrWarn("", cacheCodePackage); cache != nil {
		code = "code " + cache.Code()
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\n%#v\n%s", code, key, backends.Identity(b))))
	return fmt.Sprintf("%s-%s-p%d-seed%d-%s-%x", c.Method, c.Op, c.P, c.Seed, b.Name(), h[:8])
}

// CacheDir is where notebooks keep grokking checkpoints: $GOREPRO_CACHE_DIR/grokking
// when set (the end-to-end tests point it at a fresh directory), else
// build/cache/grokking in the checkout ($GOREPRO_ROOT, or the parent of the
// notebooks directory).
func CacheDir() string { return notebook.CacheDir("grokking") }

// EnvCacheDir names the variable that moves every cache of computed results.
const EnvCacheDir = notebook.EnvCacheDir
