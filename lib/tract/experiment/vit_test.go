package experiment

import (
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/gorepro/gorepro/lib/backends/backendstest"
)

// The ViT's output is [batch, classes]; its trainable variables hold
// vitParams values, with the patch embedding at patch/conv/{weights,biases}
// [P, P, C, Width] and [Width]; TrAct's and the baseline's variables are the
// same names and shapes.
func TestViTShapes(t *testing.T) {
	bk := backendstest.Available(t)[0]
	for _, tc := range []struct {
		shape [3]int
		cfg   Config
	}{
		{[3]int{8, 8, 1}, Config{Width: 16, Heads: 4, Depth: 2, Patch: 4, MLPWidth: 24}},
		{[3]int{8, 12, 3}, Config{Width: 12, Heads: 3, Depth: 1, Patch: 2, MLPWidth: 12}},
	} {
		layouts := map[string]map[string]string{}
		for _, m := range []string{Baseline, TrAct} {
			cfg := tc.cfg
			cfg.Arch, cfg.Method, cfg.Lambda = ViT, m, 0.1
			h, w, c := tc.shape[0], tc.shape[1], tc.shape[2]
			store := model.NewStore()
			fn := modelFn(cfg, h, w, c, 10)
			exec, err := model.NewExec(bk, store, func(scope *model.Scope, x *graph.Node) *graph.Node { return fn(scope, nil, []*graph.Node{x})[0] })
			if err != nil {
				t.Fatal(err)
			}
			x := make([][]float32, 3)
			for i := range x {
				x[i] = make([]float32, h*w*c)
			}
			res, err := exec.Call(x)
			exec.Finalize()
			if err != nil {
				t.Fatalf("%s %v: %v", m, tc.shape, err)
			}
			if want := shapes.Make(dtypes.Float32, 3, 10); !res[0].Shape().Equal(want) {
				t.Errorf("%s %v: output %s, want %s", m, tc.shape, res[0].Shape(), want)
			}
			total := 0
			layouts[m] = map[string]string{}
			for v := range store.IterVariables() {
				if v.Trainable {
					total += v.Shape().Size()
					layouts[m][v.Path()] = v.Shape().String()
				}
			}
			if want := vitParams(cfg, tc.shape, 10); total != want {
				t.Errorf("%s %v: %d trainable values, want %d: %v", m, tc.shape, total, want, layouts[m])
			}
			if got, want := layouts[m]["/patch/conv/weights"], shapes.Make(dtypes.Float32, cfg.Patch, cfg.Patch, c, cfg.Width).String(); got != want {
				t.Errorf("%s: patch embedding %q, want %q", m, got, want)
			}
			if got, want := layouts[m]["/patch/conv/biases"], shapes.Make(dtypes.Float32, cfg.Width).String(); got != want {
				t.Errorf("%s: patch bias %q, want %q", m, got, want)
			}
		}
		if len(layouts[Baseline]) != len(layouts[TrAct]) {
			t.Errorf("variables: baseline %v, TrAct %v", layouts[Baseline], layouts[TrAct])
		}
		for p, s := range layouts[Baseline] {
			if layouts[TrAct][p] != s {
				t.Errorf("%s: baseline %s, TrAct %q", p, s, layouts[TrAct][p])
			}
		}
	}
	paper := Config{Width: 384, Heads: 12, Depth: 7, Patch: 4, MLPWidth: 384}
	t.Logf("the paper's CIFAR-10 ViT (7 layers, 12 heads, hidden 384, MLP 384, patch 4): %d parameters", vitParams(paper, [3]int{32, 32, 3}, 10))
}

// A small ViT trains on digits with both first layers (Adam, cosine,
// label smoothing) on every backend: the training loss falls and the
// accuracy beats chance.
func TestViTTrains(t *testing.T) {
	task := digitsTask(t, 7)
	for _, bk := range backendstest.Available(t) {
		for _, m := range []string{Baseline, TrAct} {
			cfg := Config{Method: m, Arch: ViT, Lambda: 0.1, Epochs: 3, BatchSize: 64, LR: 1e-2, Optimizer: Adam, Schedule: Cosine, LabelSmoothing: 0.1,
				Width: 16, Heads: 2, Depth: 1, Patch: 4, MLPWidth: 16, Seed: 1}
			r, err := Train(bk, cfg, task, nil)
			if err != nil {
				t.Fatalf("%s %s: %v", bk.Name(), m, err)
			}
			first, last := r.Curve[0], r.Curve[len(r.Curve)-1]
			t.Logf("%s %s ViT: loss %.3f → %.3f, validation accuracy %.3f → %.3f", bk.Name(), m, first.TrainLoss, last.TrainLoss, first.ValAcc, last.ValAcc)
			if !(last.TrainLoss < first.TrainLoss) || !(last.ValAcc > 0.25) || r.Diverged != "" {
				t.Errorf("%s %s: curve %+v", bk.Name(), m, r.Curve)
			}
		}
	}
}
