package experiment

import (
	"fmt"
	"math"
	"path"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gomlx/gomlx/support/exceptions"
)

// The optimizers of this package read the per-run hyperparameters from
// non-trainable float64 variables of the Store, not from constants in the
// graph, so that a compiled trainer trains run after run (RunJobs) with
// other learning rates, momenta, budgets and schedules without compiling
// again. Under hyperScope: the peak learning rate, the schedule's length T
// in steps and whether it is a cosine (1) or constant (0); SGD's momentum
// is at momentumScope.
const (
	hyperScope    = "/" + optimizer.Scope + "/run"
	momentumScope = "/" + optimizer.Scope + "/momentum_sgd"
	peakLRName    = "peak_learning_rate"
	totalName     = "total_steps"
	cosineName    = "cosine"
	momentumName  = "momentum"
)

// hyperVar is the variable name under scope of store, created with value
// v (float64) if it is not there yet.
func hyperVar(store *model.Store, scope, name string, v float64) *model.Variable {
	return store.Scope(scope).VariableWithValue(name, v).SetTrainable(false)
}

// setHypers writes cfg's per-run hyperparameters into store: the peak
// learning rate, the schedule's length (steps per epoch × epochs) and
// kind, and SGD's momentum.
func setHypers(store *model.Store, cfg Config, stepsPerEpoch int) error {
	cosine := 0.0
	if cfg.Schedule == Cosine {
		cosine = 1
	}
	for _, h := range []struct {
		scope, name string
		v           float64
	}{
		{hyperScope, peakLRName, cfg.LR},
		{hyperScope, totalName, float64(cfg.Epochs * stepsPerEpoch)},
		{hyperScope, cosineName, cosine},
		{momentumScope, momentumName, cfg.Momentum},
	} {
		if err := hyperVar(store, h.scope, h.name, h.v).SetValue(tensors.FromScalar(h.v)); err != nil {
			return fmt.Errorf("experiment: setting %s/%s: %w", h.scope, h.name, err)
		}
	}
	return nil
}

// scheduleLR is the learning rate of the current step t (the global step
// before this step's increment, so 0 at the first step): peak·s with s = 1
// (constant) or ½(1+cos(π·t/T)) (cosine), computed in float64 from the
// hyperparameter variables.
func scheduleLR(store *model.Store, g *graph.Graph) *graph.Node {
	peak := hyperVar(store, hyperScope, peakLRName, optimizer.SGDDefaultLearningRate).NodeValue(g)
	total := hyperVar(store, hyperScope, totalName, 1).NodeValue(g)
	cosine := hyperVar(store, hyperScope, cosineName, 0).NodeValue(g)
	t := graph.ConvertDType(optimizer.GetGlobalStepVar(store).NodeValue(g), dtypes.Float64)
	c := graph.MulScalar(graph.AddScalar(graph.Cos(graph.MulScalar(graph.Div(t, total), math.Pi)), 1), 0.5)
	// 1 − cosine + cosine·c: exactly 1 for the constant schedule.
	factor := graph.Add(graph.OneMinus(cosine), graph.Mul(cosine, c))
	return graph.Mul(peak, factor)
}

// scheduled wraps an optimizer that takes gradients: it adds the coupled
// weight decay to every trainable variable's gradient, sets the learning
// rate variable (optimizer.LearningRateVar, which GoMLX's optimizers and
// MomentumSGD read) to the schedule's value for this step, and hands the
// gradients on.
type scheduled struct {
	inner       train.OptimizeWithGradients
	weightDecay float64
}

// newOptimizer is cfg's optimizer: MomentumSGD or GoMLX's Adam (torch's ε),
// scheduled, with weight decay.
func newOptimizer(cfg Config) optimizer.Interface {
	var inner train.OptimizeWithGradients
	if cfg.Optimizer == Adam {
		// GoMLX's defaults are β₁ 0.9, β₂ 0.999 (torch's) and ε 1e-7 (torch: 1e-8).
		a, ok := optimizer.Adam().Epsilon(1e-8).Done().(train.OptimizeWithGradients)
		if !ok {
			exceptions.Panicf("experiment: GoMLX's Adam does not take gradients (UpdateGraphWithGradients)")
		}
		inner = a
	} else {
		inner = NewMomentumSGD(cfg.Momentum)
	}
	return &scheduled{inner: inner, weightDecay: cfg.WeightDecay}
}

// UpdateGraph implements optimizer.Interface.
func (o *scheduled) UpdateGraph(scope *model.Scope, g *graph.Graph, loss *graph.Node) {
	if !loss.Shape().IsScalar() {
		exceptions.Panicf("experiment: the optimizer wants a scalar loss, got %s", loss.Shape())
	}
	grads := scope.BuildTrainableVariablesGradientsGraph(loss)
	if o.weightDecay != 0 {
		i := 0
		for v := range scope.IterVariables() {
			if v.Trainable && v.InUseByGraph(g) {
				grads[i] = graph.Add(grads[i], graph.MulScalar(v.NodeValue(g), o.weightDecay))
				i++
			}
		}
	}
	lr := graph.ConvertDType(scheduleLR(scope.Store(), g), loss.DType())
	optimizer.LearningRateVar(scope, loss.DType(), 0).SetNodeValue(lr)
	o.inner.UpdateGraphWithGradients(scope, grads, loss.DType())
}

// Clear implements optimizer.Interface.
func (o *scheduled) Clear(scope *model.Scope) error {
	if c, ok := o.inner.(interface{ Clear(*model.Scope) error }); ok {
		return c.Clear(scope)
	}
	return nil
}

// MomentumSGD is torch.optim.SGD without dampening or Nesterov: per
// trainable variable w with gradient g, buf ← μ·buf + g (buf starts at 0,
// so the first step's buf is g) and w ← w − lr·buf; with μ = 0 at
// construction it is plain SGD, w ← w − lr·g, and keeps no buffers. The
// learning rate is optimizer.LearningRateVar's value (scheduled sets it
// every step); μ is the non-trainable float64 variable
// "/optimizers/momentum_sgd/momentum", created with the constructor's value
// and changeable between steps without compiling again. It implements
// optimizer.Interface and train.OptimizeWithGradients.
type MomentumSGD struct {
	momentum float64
}

// NewMomentumSGD is SGD with momentum μ (0: plain SGD).
func NewMomentumSGD(momentum float64) *MomentumSGD { return &MomentumSGD{momentum: momentum} }

// UpdateGraph implements optimizer.Interface.
func (o *MomentumSGD) UpdateGraph(scope *model.Scope, g *graph.Graph, loss *graph.Node) {
	if !loss.Shape().IsScalar() {
		exceptions.Panicf("experiment: MomentumSGD wants a scalar loss, got %s", loss.Shape())
	}
	o.UpdateGraphWithGradients(scope, scope.BuildTrainableVariablesGradientsGraph(loss), loss.DType())
}

// UpdateGraphWithGradients implements train.OptimizeWithGradients: grads
// are the trainable variables' gradients, in the order of
// Scope.BuildTrainableVariablesGradientsGraph.
func (o *MomentumSGD) UpdateGraphWithGradients(scope *model.Scope, grads []*graph.Node, lossDType dtypes.DType) {
	if len(grads) == 0 {
		exceptions.Panicf("experiment: MomentumSGD: no trainable variables")
	}
	g := grads[0].Graph()
	store := scope.Store()
	lr := optimizer.LearningRateVar(scope, lossDType, optimizer.SGDDefaultLearningRate).NodeValue(g)
	optimizer.IncrementGlobalStep(g, lossDType)
	var mu *graph.Node
	if o.momentum != 0 {
		mu = hyperVar(store, momentumScope, momentumName, o.momentum).NodeValue(g)
	}
	i := 0
	for v := range scope.IterVariables() {
		if !v.Trainable || !v.InUseByGraph(g) {
			continue
		}
		if i >= len(grads) {
			exceptions.Panicf("experiment: MomentumSGD: more trainable variables than the %d gradients", len(grads))
		}
		grad := grads[i]
		i++
		dtype := grad.DType()
		if mu != nil {
			bufVar := store.Scope(path.Join(momentumScope, v.Scope())).WithInitializer(initializer.Zero).
				VariableWithShape(v.Name()+"_momentum", shapes.Make(dtype, v.Shape().Dimensions...)).SetTrainable(false)
			buf := graph.Add(graph.Mul(graph.ConvertDType(mu, dtype), bufVar.NodeValue(g)), grad)
			bufVar.SetNodeValue(buf)
			grad = buf
		}
		w := v.NodeValue(g)
		v.SetNodeValue(graph.Sub(w, graph.Mul(graph.ConvertDType(lr, dtype), grad)))
	}
	if i != len(grads) {
		exceptions.Panicf("experiment: MomentumSGD: %d trainable variables for %d gradients", i, len(grads))
	}
}

// Clear implements optimizer.Interface: it deletes the momentum buffers.
func (o *MomentumSGD) Clear(scope *model.Scope) error {
	return scope.Store().DeleteVariablesInScope(momentumScope)
}
