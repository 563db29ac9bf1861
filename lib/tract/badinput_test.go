package tract

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/gorepro/gorepro/lib/backends/backendstest"
)

// Bad arguments fail while the graph is built, with an error naming the
// function and the argument.
func TestBadInput(t *testing.T) {
	bk := backendstest.Available(t)[0]
	n := 0
	param := func(g *graph.Graph, dt dtypes.DType, dims ...int) *graph.Node {
		n++
		return graph.Parameter(g, fmt.Sprintf("p%d", n), shapes.Make(dt, dims...))
	}
	f32 := dtypes.Float32
	for _, tc := range []struct {
		name  string
		build func(g *graph.Graph, scope *model.Scope)
		want  string
	}{
		{"λ = 0", func(g *graph.Graph, _ *model.Scope) { WeightGradient(param(g, f32, 4, 3), param(g, f32, 4, 2), 0) }, "tract.WeightGradient: λ = 0"},
		{"λ < 0", func(g *graph.Graph, s *model.Scope) { Dense(s, param(g, f32, 4, 3), true, 2, -1) }, "tract.Dense: λ = -1"},
		{"rows differ", func(g *graph.Graph, _ *model.Scope) { WeightGradient(param(g, f32, 4, 3), param(g, f32, 5, 2), 0.1) }, "want x [b, d] and g [b, m]"},
		{"rank", func(g *graph.Graph, _ *model.Scope) { WeightGradient(param(g, f32, 4, 3, 1), param(g, f32, 4, 2), 0.1) }, "want x [b, d]"},
		{"int x", func(g *graph.Graph, _ *model.Scope) {
			WeightGradient(param(g, dtypes.Int32, 4, 3), param(g, f32, 4, 2), 0.1)
		}, "tract.WeightGradient: x is Int32, want a float dtype"},
		{"mixed dtypes", func(g *graph.Graph, _ *model.Scope) {
			WeightGradient(param(g, dtypes.Float64, 4, 3), param(g, f32, 4, 2), 0.1)
		}, "x is Float64 and g is Float32"},
		{"no weights", func(g *graph.Graph, _ *model.Scope) { Kernel(nil, param(g, f32, 4, 3), 0.1) }, "tract.Kernel: w (the layer's weights) is missing"},
		{"kernel shape", func(g *graph.Graph, _ *model.Scope) { Kernel(param(g, f32, 2, 5), param(g, f32, 4, 3), 0.1) }, "want x [b, d] and w [d, m]"},
		{"conv rank", func(g *graph.Graph, s *model.Scope) { Conv2D(s, param(g, f32, 4, 8, 8), 2, 3, 1, 1, true, 0.1) }, "tract.Conv2D: want x [b, H, W, C]"},
		{"conv λ", func(g *graph.Graph, s *model.Scope) { Conv2D(s, param(g, f32, 4, 8, 8, 1), 2, 3, 1, 1, true, 0) }, "tract.Conv2D: λ = 0"},
		{"conv int", func(g *graph.Graph, s *model.Scope) {
			Conv2D(s, param(g, dtypes.Uint8, 4, 8, 8, 1), 2, 3, 1, 1, true, 0.1)
		}, "tract.Conv2D: x is Uint8"},
		{"kernel too big", func(g *graph.Graph, s *model.Scope) { Conv2D(s, param(g, f32, 4, 2, 2, 1), 2, 5, 1, 0, true, 0.1) }, "does not fit"},
		{"dense int", func(g *graph.Graph, s *model.Scope) { Dense(s, param(g, dtypes.Int64, 4, 3), true, 2, 0.1) }, "tract.Dense: input is Int64"},
		{"kernel λ", func(g *graph.Graph, _ *model.Scope) { Kernel(param(g, f32, 3, 2), param(g, f32, 4, 3), 0) }, "tract.Kernel: λ = 0"},
		{"matmul no weights", func(g *graph.Graph, _ *model.Scope) { MatMul(param(g, f32, 4, 3), nil, 0.1) }, "tract.MatMul: w (the layer's weights) is missing"},
		{"matmul no x", func(g *graph.Graph, _ *model.Scope) { MatMul(nil, param(g, f32, 3, 2), 0.1) }, "tract.MatMul: x is missing"},
		{"matmul λ = 0", func(g *graph.Graph, _ *model.Scope) { MatMul(param(g, f32, 4, 3), param(g, f32, 3, 2), 0) }, "tract.MatMul: λ = 0"},
		{"matmul λ < 0", func(g *graph.Graph, _ *model.Scope) { MatMul(param(g, f32, 2, 3), param(g, f32, 3, 2), -0.5) }, "tract.MatMul: λ = -0.5"},
		{"matmul shape", func(g *graph.Graph, _ *model.Scope) { MatMul(param(g, f32, 4, 3), param(g, f32, 2, 5), 0.1) }, "tract.MatMul: want x [b, d] and w [d, m]"},
		{"matmul dtypes", func(g *graph.Graph, _ *model.Scope) {
			MatMul(param(g, dtypes.Float64, 4, 3), param(g, f32, 3, 2), 0.1)
		}, "tract.MatMul: x is Float64 and w is Float32"},
		{"pivot no x", func(g *graph.Graph, _ *model.Scope) { SystemPivot(nil, 0.1) }, "tract.SystemPivot: x is missing"},
		{"pivot λ", func(g *graph.Graph, _ *model.Scope) { SystemPivot(param(g, f32, 4, 3), -1) }, "tract.SystemPivot: λ = -1"},
		{"pivot scalar", func(g *graph.Graph, _ *model.Scope) { SystemPivot(param(g, f32), 0.1) }, "tract.SystemPivot: want x [..., d]"},
		{"pivot int", func(g *graph.Graph, _ *model.Scope) { SystemPivot(param(g, dtypes.Int32, 4, 3), 0.1) }, "tract.SystemPivot: x is Int32"},
	} {
		g := graph.NewGraph(bk, tc.name)
		scope := model.NewStore().RootScope()
		err := exceptions.TryCatch[error](func() { tc.build(g, scope) })
		if err == nil || !strings.Contains(fmt.Sprint(err), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
		g.Finalize()
	}
}
