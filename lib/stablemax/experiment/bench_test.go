package experiment

import (
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gorepro/gorepro/lib/backends"
	"github.com/gorepro/gorepro/lib/data"
	"github.com/gorepro/gorepro/lib/stablemax"
	"github.com/gorepro/gorepro/lib/train"
)

// BenchmarkEpoch times one full-batch epoch at the paper's size (p = 113,
// train fraction 0.4: 5 107 examples; MLP 226 → 200 → 200 → 113; AdamW),
// per backend: lib/train with one step per call, with 50 steps per call, and
// a raw one-graph step written here without lib/train, in the same run.
// Compare the ns/epoch metrics (b.N is the number of epochs): the target is
// trainer-K1 ≤ 1.1 × raw; tests/bench/grokking_bench.py sets JAX beside them.
//
//	go test -run XXX -bench Epoch -benchtime 50x ./lib/stablemax/experiment
func BenchmarkEpoch(b *testing.B) {
	cfg, _ := Config{Method: Softmax32, P: 113, TrainFraction: 0.4, Width: 200, LR: 0.01, Epochs: 1}.Validate()
	split, err := data.ModularArithmetic(cfg.Op, cfg.P, cfg.TrainFraction, 1)
	if err != nil {
		b.Fatal(err)
	}
	x, y := tensors.FromValue(split.XTrain), tensors.FromValue(split.YTrain)
	for _, name := range []string{backends.Go, backends.XLACPU, backends.XLACUDA + ",tf32=false"} {
		backend, _, err := backends.New(name)
		if err != nil {
			b.Logf("%s: not benchmarked: %v", name, err)
			continue
		}
		opt := train.Optimizer{LearningRate: cfg.LR, Beta2: cfg.Beta2, Epsilon: cfg.Epsilon}
		for _, k := range []int{1, 50} {
			b.Run(name+"/trainer-K"+itoa(k), func(b *testing.B) {
				tr, err := train.New(backend, train.Model{Params: initialParams(cfg), Forward: Forward, Loss: stablemax.SoftmaxCrossEntropy}, opt, k, x, y)
				if err != nil {
					b.Fatal(err)
				}
				if err := tr.Run(k); err != nil { // compile outside the timing
					b.Fatal(err)
				}
				// b.N epochs in whole calls of k (at least one call).
				epochs := max(k, b.N-b.N%k)
				b.ResetTimer()
				if err := tr.Run(epochs); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(epochs), "ns/epoch")
			})
		}
		b.Run(name+"/raw", func(b *testing.B) {
			exec, err := graph.NewExec(backend, rawStep(cfg))
			if err != nil {
				b.Fatal(err)
			}
			state := []*tensors.Tensor{tensors.FromScalar(float32(0))}
			state = append(state, initialParams(cfg)...)
			for range 2 {
				for _, p := range initialParams(cfg) {
					state = append(state, tensors.FromShape(p.Shape()))
				}
			}
			step := func() {
				args := []any{x, y}
				for _, s := range state {
					args = append(args, s)
				}
				outs, err := exec.Call(args...)
				if err != nil {
					b.Fatal(err)
				}
				state = outs
			}
			step()
			b.ResetTimer()
			for range b.N {
				step()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/epoch")
		})
		backend.Finalize()
	}
}

// rawStep is forward, loss, gradient and AdamW in one graph, written directly.
func rawStep(cfg Config) func(in []*graph.Node) []*graph.Node {
	return func(in []*graph.Node) []*graph.Node {
		x, y, t := in[0], in[1], in[2]
		p, m, v := in[3:6], in[6:9], in[9:12]
		g := x.Graph()
		loss := graph.ReduceAllMean(stablemax.SoftmaxCrossEntropy(Forward(p, x), y))
		grads := graph.Gradient(loss, p...)
		t = graph.AddScalar(t, 1)
		one := graph.ScalarOne(g, t.DType())
		c1 := graph.Sub(one, graph.Pow(graph.Scalar(g, t.DType(), 0.9), t))
		c2 := graph.Sub(one, graph.Pow(graph.Scalar(g, t.DType(), cfg.Beta2), t))
		out := []*graph.Node{t}
		var nm, nv []*graph.Node
		for i := range p {
			mi := graph.Add(graph.MulScalar(m[i], 0.9), graph.MulScalar(grads[i], 0.1))
			vi := graph.Add(graph.MulScalar(v[i], cfg.Beta2), graph.MulScalar(graph.Square(grads[i]), 1-cfg.Beta2))
			upd := graph.Div(graph.Div(mi, c1), graph.AddScalar(graph.Sqrt(graph.Div(vi, c2)), cfg.Epsilon))
			out = append(out, graph.Sub(p[i], graph.MulScalar(upd, cfg.LR)))
			nm, nv = append(nm, mi), append(nv, vi)
		}
		return append(append(out, nm...), nv...)
	}
}

func itoa(k int) string {
	if k < 10 {
		return string(rune('0' + k))
	}
	return itoa(k/10) + string(rune('0'+k%10))
}
