package experiment

import (
	"math"
	"math/rand"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/gorepro/gorepro/lib/backends/backendstest"
)

// optimProblem is least squares ½·(1/n)·Σᵢ‖Aᵢ·W + b − Yᵢ‖² with gradients
// Aᵀr/n and Σᵢrᵢ/n (r = AW + b − Y), in float64.
type optimProblem struct {
	a, y [][]float64 // n×d, n×k
	w    [][]float64 // d×k
	b    []float64   // k
}

func newOptimProblem(r *rand.Rand, n, d, k int) *optimProblem {
	mat := func(rows, cols int) [][]float64 {
		m := make([][]float64, rows)
		for i := range m {
			m[i] = make([]float64, cols)
			for j := range m[i] {
				m[i][j] = r.NormFloat64()
			}
		}
		return m
	}
	p := &optimProblem{a: mat(n, d), y: mat(n, k), w: mat(d, k), b: make([]float64, k)}
	for j := range p.b {
		p.b[j] = r.NormFloat64()
	}
	return p
}

// grads is the gradient at (w, b).
func (p *optimProblem) grads(w [][]float64, b []float64) (gw [][]float64, gb []float64) {
	n, d, k := len(p.a), len(w), len(b)
	gw, gb = make([][]float64, d), make([]float64, k)
	for i := range gw {
		gw[i] = make([]float64, k)
	}
	for i := range n {
		for j := range k {
			r := b[j] - p.y[i][j]
			for l := range d {
				r += p.a[i][l] * w[l][j]
			}
			gb[j] += r / float64(n)
			for l := range d {
				gw[l][j] += p.a[i][l] * r / float64(n)
			}
		}
	}
	return gw, gb
}

// reference runs steps of cfg's optimizer (torch semantics) on p in float64
// and returns the weights and biases after each step.
func (p *optimProblem) reference(cfg Config, total, steps int) (ws [][][]float64, bs [][]float64) {
	// Flatten the parameters: w then b.
	var x []float64
	for _, row := range p.w {
		x = append(x, row...)
	}
	x = append(x, p.b...)
	d, k := len(p.w), len(p.b)
	buf, m, v := make([]float64, len(x)), make([]float64, len(x)), make([]float64, len(x))
	for t := range steps {
		w, b := make([][]float64, d), x[d*k:]
		for i := range w {
			w[i] = x[i*k : (i+1)*k]
		}
		gw, gb := p.grads(w, b)
		var g []float64
		for _, row := range gw {
			g = append(g, row...)
		}
		g = append(g, gb...)
		lr := cfg.LR
		if cfg.Schedule == Cosine {
			lr *= 0.5 * (1 + math.Cos(math.Pi*float64(t)/float64(total)))
		}
		next := make([]float64, len(x))
		for i := range x {
			gi := g[i] + cfg.WeightDecay*x[i]
			switch cfg.Optimizer {
			case SGD:
				buf[i] = cfg.Momentum*buf[i] + gi
				next[i] = x[i] - lr*buf[i]
			case Adam:
				m[i] = 0.9*m[i] + 0.1*gi
				v[i] = 0.999*v[i] + 0.001*gi*gi
				mh := m[i] / (1 - math.Pow(0.9, float64(t+1)))
				vh := v[i] / (1 - math.Pow(0.999, float64(t+1)))
				next[i] = x[i] - lr*mh/(math.Sqrt(vh)+1e-8)
			}
		}
		x = next
		wt := make([][]float64, d)
		for i := range wt {
			wt[i] = append([]float64(nil), x[i*k:(i+1)*k]...)
		}
		ws, bs = append(ws, wt), append(bs, append([]float64(nil), x[d*k:]...))
	}
	return ws, bs
}

func to32(m [][]float64) [][]float32 {
	out := make([][]float32, len(m))
	for i, row := range m {
		out[i] = make([]float32, len(row))
		for j, v := range row {
			out[i][j] = float32(v)
		}
	}
	return out
}

// runOptimizer takes steps of newOptimizer(cfg) on p through a model.Exec
// and returns the weights and biases after each.
func runOptimizer(t *testing.T, bk compute.Backend, p *optimProblem, cfg Config, stepsPerEpoch, steps int) (ws [][][]float32, bs [][]float32) {
	t.Helper()
	store := model.NewStore()
	if err := setHypers(store, cfg, stepsPerEpoch); err != nil {
		t.Fatal(err)
	}
	wv := store.Scope("/lin").VariableWithValue("weights", to32(p.w))
	bv := store.Scope("/lin").VariableWithValue("biases", to32([][]float64{p.b})[0])
	opt := newOptimizer(cfg)
	a, y := to32(p.a), to32(p.y)
	exec, err := model.NewExec(bk, store, func(scope *model.Scope, g *graph.Graph) *graph.Node {
		pred := graph.Add(graph.MatMul(graph.Const(g, a), wv.NodeValue(g)), graph.InsertAxes(bv.NodeValue(g), 0))
		r := graph.Sub(pred, graph.Const(g, y))
		loss := graph.DivScalar(graph.ReduceAllSum(graph.Square(r)), float64(2*len(a)))
		opt.UpdateGraph(scope, g, loss)
		return loss
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	for range steps {
		if _, err := exec.Call(); err != nil {
			t.Fatal(err)
		}
		ws = append(ws, wv.MustValue().Value().([][]float32))
		bs = append(bs, bv.MustValue().Value().([]float32))
	}
	return ws, bs
}

// MomentumSGD (with coupled weight decay and the per-step cosine schedule)
// and GoMLX's Adam as newOptimizer configures it take torch's steps: each
// step's weights and biases against a float64 recomputation of torch's
// update rules, on every backend.
func TestOptimizerSteps(t *testing.T) {
	p := newOptimProblem(rand.New(rand.NewSource(1)), 12, 3, 2)
	const stepsPerEpoch, epochs = 2, 3 // T = 6: the cosine reaches its last step
	for _, bk := range backendstest.Available(t) {
		for _, cfg := range []Config{
			{Optimizer: SGD, LR: 0.1, Momentum: 0.9, WeightDecay: 0.05, Schedule: Cosine},
			{Optimizer: SGD, LR: 0.2},
			{Optimizer: SGD, LR: 0.05, Momentum: 0.5},
			{Optimizer: Adam, LR: 0.01, WeightDecay: 0.1, Schedule: Cosine},
			{Optimizer: Adam, LR: 0.02},
		} {
			cfg.Epochs = epochs
			steps := stepsPerEpoch * epochs
			gotW, gotB := runOptimizer(t, bk, p, cfg, stepsPerEpoch, steps)
			wantW, wantB := p.reference(cfg, stepsPerEpoch*epochs, steps)
			worst := 0.0
			for s := range steps {
				for i := range wantW[s] {
					for j := range wantW[s][i] {
						worst = max(worst, math.Abs(float64(gotW[s][i][j])-wantW[s][i][j])/(1+math.Abs(wantW[s][i][j])))
					}
				}
				for j := range wantB[s] {
					worst = max(worst, math.Abs(float64(gotB[s][j])-wantB[s][j])/(1+math.Abs(wantB[s][j])))
				}
			}
			t.Logf("%s %s μ=%g wd=%g %q: largest difference %.2g", bk.Name(), cfg.Optimizer, cfg.Momentum, cfg.WeightDecay, cfg.Schedule, worst)
			if worst > 1e-5 {
				t.Errorf("%s %+v: largest difference from the float64 recomputation %.3g", bk.Name(), cfg, worst)
			}
			// The steps moved the weights (the comparison is not vacuous).
			if math.Abs(float64(gotW[steps-1][0][0])-p.w[0][0]) < 1e-3 {
				t.Errorf("%s %+v: the weights barely moved", bk.Name(), cfg)
			}
		}
	}
}
