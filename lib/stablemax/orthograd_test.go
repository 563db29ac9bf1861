package stablemax

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// TestOrthogonalGradients: g⊥ is orthogonal to w (relative to ‖g‖‖w‖,
// tolerance 1e-12 in float64), keeps ‖g‖, and matches the float64 formula.
func TestOrthogonalGradients(t *testing.T) {
	w := [][]float64{{1, -2, 0.5}, {3, 0, -1}}
	g := [][]float64{{0.3, 0.1, -2}, {1, 4, 0.25}}
	for _, b := range testBackends(t) {
		out, err := graph.CallOnce(b, func(gn, wn *graph.Node) *graph.Node {
			return OrthogonalGradients([]*graph.Node{gn}, []*graph.Node{wn})[0]
		}, tensors.FromValue(g), tensors.FromValue(w))
		if err != nil {
			t.Fatal(err)
		}
		got := out.Value().([][]float64)
		var gw, ww, gg float64
		for i := range w {
			for j := range w[i] {
				gw += g[i][j] * w[i][j]
				ww += w[i][j] * w[i][j]
				gg += g[i][j] * g[i][j]
			}
		}
		var orth [][]float64
		var oo, dot float64
		for i := range w {
			row := make([]float64, len(w[i]))
			for j := range w[i] {
				row[j] = g[i][j] - gw/ww*w[i][j]
				oo += row[j] * row[j]
			}
			orth = append(orth, row)
		}
		scale := math.Sqrt(gg) / math.Sqrt(oo)
		var norm float64
		for i := range w {
			for j := range w[i] {
				want := orth[i][j] * scale
				if !(math.Abs(got[i][j]-want) <= 1e-12) {
					t.Errorf("%s: g⊥[%d][%d] = %v, want %v", b.Name(), i, j, got[i][j], want)
				}
				dot += got[i][j] * w[i][j]
				norm += got[i][j] * got[i][j]
			}
		}
		if !(math.Abs(dot) <= 1e-12*math.Sqrt(gg*ww)) {
			t.Errorf("%s: ⟨g⊥, w⟩ = %g, want 0", b.Name(), dot)
		}
		if !(math.Abs(math.Sqrt(norm)-math.Sqrt(gg)) <= 1e-12) {
			t.Errorf("%s: ‖g⊥‖ = %g, want ‖g‖ = %g", b.Name(), math.Sqrt(norm), math.Sqrt(gg))
		}
	}
}

func TestCollapseFractionAndNLMCosine(t *testing.T) {
	for _, b := range testBackends(t) {
		// Collapse happens when 1 + Σ e^(−gap) rounds to 1: in float32 from a gap
		// of about 17, in float64 from about 37. Rows 0 (gap 20) and 2 (gap 200)
		// collapse in float32, only row 2 in float64; rows 1 and 3 never.
		logits := tensors.FromValue([][]float32{{0, 20, 0}, {0, 3, 0}, {-100, 100, -100}, {1, 2, 3}})
		lbl := tensors.FromValue([]int32{1, 1, 1, 0})
		out, err := graph.CallOnce(b, CollapseFraction, logits, lbl)
		if err != nil {
			t.Fatal(err)
		}
		if got := out.Value().(float64); got != 0.5 {
			t.Errorf("%s: collapse fraction %v, want 0.5", b.Name(), got)
		}
		// The same logits in float64.
		out64, err := graph.CallOnce(b, func(l, y *graph.Node) *graph.Node {
			return CollapseFraction(graph.ConvertDType(l, dtypeFloat64), y)
		}, logits, lbl)
		if err != nil {
			t.Fatal(err)
		}
		if got := out64.Value().(float64); got != 0.25 {
			t.Errorf("%s: float64 collapse fraction %v, want 0.25 (only the gap of 200)", b.Name(), got)
		}
		// NLM cosine: gradient exactly −w gives 1; an orthogonal one gives 0.
		w := tensors.FromValue([]float64{1, 2, -3})
		for _, tc := range []struct {
			g    []float64
			want float64
		}{{[]float64{-1, -2, 3}, 1}, {[]float64{2, -1, 0}, 0}, {[]float64{2, 4, -6}, -1}} {
			cos, err := graph.CallOnce(b, func(gn, wn *graph.Node) *graph.Node {
				return NLMCosine([]*graph.Node{gn}, []*graph.Node{wn})
			}, tensors.FromValue(tc.g), w)
			if err != nil {
				t.Fatal(err)
			}
			if got := cos.Value().(float64); !(math.Abs(got-tc.want) <= 1e-12) {
				t.Errorf("%s: NLM cosine of %v = %v, want %v", b.Name(), tc.g, got, tc.want)
			}
		}
	}
}
