package colbert

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/gorepro/gorepro/lib/backends/backendstest"
)

func heads() []Head {
	return []Head{
		{Kind: Linear},
		{Kind: DeepLinear, Depth: 2, Upscale: 2},
		{Kind: FFN, Depth: 1, Upscale: 4, Activation: "gelu"},
		{Kind: FFN, Depth: 2, Upscale: 2, Activation: "relu", Residual: true},
		{Kind: GLU, Depth: 1, Upscale: 2, Activation: "silu"},
		{Kind: GLU, Depth: 2, Upscale: 1, Activation: "gelu", Residual: true},
	}
}

// Every head maps [b, L, D] to [b, L, k] with the expected number of
// parameters; the deep linear control is linear; a residual head with
// D = k adds its input.
func TestHeads(t *testing.T) {
	bk := backendstest.Available(t)[0]
	const d, k = 6, 4
	params := map[string]int{
		"linear":             d * k,
		"deep-linear×2 d2":   d*12 + 12*12 + 12*k,
		"ffn×4 gelu":         d*24 + 24 + 24*k + k,
		"ffn×2 relu d2 +res": d*12 + 12 + 12*12 + 12 + 12*k + k + d*k,
		"glu×2 silu":         d*24 + 24 + 12*k + k,
		"glu×1 gelu d2 +res": d*12 + 12 + 6*12 + 12 + 6*k + k + d*k,
	}
	r := rand.New(rand.NewPCG(3, 4))
	x := make([][][]float32, 2)
	for i := range x {
		x[i] = make([][]float32, 3)
		for j := range x[i] {
			x[i][j] = make([]float32, d)
			for c := range x[i][j] {
				x[i][j][c] = float32(r.NormFloat64())
			}
		}
	}
	for _, h := range heads() {
		store := model.NewStore()
		if err := store.SetRNGStateFromSeed(1); err != nil {
			t.Fatal(err)
		}
		exec, err := model.NewExec(bk, store, func(scope *model.Scope, x *graph.Node) *graph.Node {
			return h.Apply(scope, x, k)
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Call1(x)
		if err != nil {
			t.Fatalf("%s: %v", h.Name(), err)
		}
		if dims := out.Shape().Dimensions; len(dims) != 3 || dims[0] != 2 || dims[1] != 3 || dims[2] != k {
			t.Errorf("%s: output %s", h.Name(), out.Shape())
		}
		n := 0
		for v := range store.IterVariables() {
			if name := v.Scope() + "/" + v.Name(); !strings.Contains(name, "rng") && !strings.Contains(name, "global_step") {
				n += v.Shape().Size()
			}
		}
		if want, ok := params[h.Name()]; !ok || n != want {
			t.Errorf("%s: %d parameters, want %d (%v)", h.Name(), n, want, ok)
		}
	}
	// Linearity of the deep linear control: f(x+y) = f(x) + f(y).
	dl := Head{Kind: DeepLinear, Depth: 2, Upscale: 2}
	store := model.NewStore()
	_ = store.SetRNGStateFromSeed(2)
	exec, err := model.NewExec(bk, store, func(scope *model.Scope, x *graph.Node) *graph.Node {
		a := dl.Apply(scope.In("dl"), x, k)
		sum := dl.Apply(scope.Shared("dl"), graph.Add(x, graph.OnePlus(x)), k)
		b := dl.Apply(scope.Shared("dl"), graph.OnePlus(x), k)
		return graph.ReduceAllMax(graph.Abs(graph.Sub(sum, graph.Add(a, b))))
	})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Call1(x); err != nil || !(float64(out.Value().(float32)) < 1e-5) {
		t.Errorf("deep-linear is not linear: %v, %v", out, err)
	}
}

// Invalid heads are refused with a message naming the problem.
func TestHeadCheck(t *testing.T) {
	for _, tc := range []struct {
		h    Head
		want string
	}{
		{Head{Kind: "mlp"}, `head kind "mlp"`},
		{Head{Kind: Linear, Residual: true}, "residual linear"},
		{Head{Kind: FFN, Depth: 3, Upscale: 2, Activation: "gelu"}, "depth 3"},
		{Head{Kind: FFN, Depth: 1, Upscale: 0, Activation: "gelu"}, "upscale factor 0"},
		{Head{Kind: GLU, Depth: 1, Upscale: 1, Activation: "tanh"}, `activation "tanh"`},
	} {
		if err := tc.h.Check(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.h, err, tc.want)
		}
		err := exceptions.TryCatch[error](func() {
			g := graph.NewGraph(backendstest.Available(t)[0], "bad")
			defer g.Finalize()
			tc.h.Apply(model.NewStore().RootScope(), graph.Parameter(g, "x", graphShape()), 4)
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Apply %+v: %v", tc.h, err)
		}
	}
}

// Losses against float64 host formulas.
func TestLosses(t *testing.T) {
	bk := backendstest.Available(t)[0]
	scores := [][]float64{{2, 0.5, -1}, {0, 1, 3}, {1, 1, 1}}
	out, err := graph.CallOnce(bk, func(s *graph.Node) *graph.Node { return ContrastiveLoss(s, 0.5) }, scores)
	if err != nil {
		t.Fatal(err)
	}
	want := 0.0
	for i, row := range scores {
		lse := 0.0
		for _, v := range row {
			lse += math.Exp(v / 0.5)
		}
		want += -(row[i]/0.5 - math.Log(lse)) / 3
	}
	if got := out.Value().(float64); !(math.Abs(got-want) <= 1e-12) {
		t.Errorf("ContrastiveLoss = %v, want %v", got, want)
	}
	teacher := [][]float64{{1, 0, 0}, {0.2, 0.1, 3}, {0, 0, 0}}
	out, err = graph.CallOnce(bk, DistillationLoss, scores, teacher)
	if err != nil {
		t.Fatal(err)
	}
	softmax := func(row []float64) []float64 {
		z, p := 0.0, make([]float64, len(row))
		for _, v := range row {
			z += math.Exp(v)
		}
		for i, v := range row {
			p[i] = math.Exp(v) / z
		}
		return p
	}
	want = 0
	for i := range scores {
		ps, pt := softmax(scores[i]), softmax(teacher[i])
		for j := range ps {
			want += pt[j] * math.Log(pt[j]/ps[j]) / 3
		}
	}
	if got := out.Value().(float64); !(math.Abs(got-want) <= 1e-12) {
		t.Errorf("DistillationLoss = %v, want %v", got, want)
	}
}

// A document without a real token scores −Inf: the losses stay finite
// (−Inf·0 would be NaN), and a zero vector normalises to zero with a finite
// gradient.
func TestInfiniteScoresAndZeroVectors(t *testing.T) {
	bk := backendstest.Available(t)[0]
	inf := math.Inf(-1)
	scores := [][]float64{{1, inf}, {0, 2}}
	out, err := graph.CallOnce(bk, func(s *graph.Node) *graph.Node { return ContrastiveLoss(s, 1) }, scores)
	if err != nil {
		t.Fatal(err)
	}
	want := (-(1 - 1.0) + -(2 - math.Log(1+math.Exp(2)))) / 2
	if got := out.Value().(float64); !(math.Abs(got-want) <= 1e-12) {
		t.Errorf("ContrastiveLoss with −Inf = %v, want %v", got, want)
	}
	out, err = graph.CallOnce(bk, DistillationLoss, scores, [][]float64{{0, inf}, {1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Value().(float64); math.IsNaN(got) || math.IsInf(got, 0) {
		t.Errorf("DistillationLoss with −Inf = %v", got)
	}
	out, err = graph.CallOnce(bk, func(x *graph.Node) *graph.Node {
		return graph.Gradient(graph.ReduceAllSum(Normalize(x)), x)[0]
	}, [][]float64{{0, 0, 0}, {3, 4, 0}})
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range out.Value().([][]float64) {
		for _, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("Normalize gradient %v", out.Value())
			}
		}
	}
}
