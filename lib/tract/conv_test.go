package tract

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/graph"

	"github.com/gorepro/gorepro/lib/backends/backendstest"
)

func rand4(r *rand.Rand, a, b, c, d int) [][][][]float64 {
	x := make([][][][]float64, a)
	for i := range x {
		x[i] = make([][][]float64, b)
		for j := range x[i] {
			x[i][j] = randMat(r, c, d, 1)
		}
	}
	return x
}

// im2col is the host-side unfold: rows of (kh, kw, c) patches, zero padded.
func im2col(x [][][][]float64, k, stride, pad int) (rows [][]float64, h, w int) {
	b, H, W, C := len(x), len(x[0]), len(x[0][0]), len(x[0][0][0])
	h, w = (H+2*pad-k)/stride+1, (W+2*pad-k)/stride+1
	for n := range b {
		for oy := range h {
			for ox := range w {
				var row []float64
				for i := range k {
					for j := range k {
						y, xx := oy*stride+i-pad, ox*stride+j-pad
						for c := range C {
							v := 0.0
							if y >= 0 && y < H && xx >= 0 && xx < W {
								v = x[n][y][xx][c]
							}
							row = append(row, v)
						}
					}
				}
				rows = append(rows, row)
			}
		}
	}
	return rows, h, w
}

// The convolution path against an explicit host im2col: the unfold is exact,
// the forward pass and the input gradient are bit-equal to GoMLX's plain
// Convolve, and the kernel gradient is TrAct's formula on the unfolded rows.
func TestConvAgainstIm2col(t *testing.T) {
	for _, bk := range backendstest.Available(t) {
		// b·H'·W' rows of d = k·k·C: 60 ≥ 27, 12 ≥ 12 (the d×d system) and
		// 4 < 27 (the b×b Woodbury form).
		for _, c := range []struct{ k, stride, pad int }{{3, 1, 1}, {2, 2, 0}, {3, 3, 0}} {
			r := rand.New(rand.NewPCG(uint64(c.k), 5))
			const b, H, W, C, F = 2, 5, 6, 3, 4
			x := rand4(r, b, H, W, C)
			kernel := rand4(r, c.k, c.k, C, F)
			rows, h, w := im2col(x, c.k, c.stride, c.pad)
			up := rand4(r, b, h, w, F)
			outs, err := graph.CallOnceN(bk, func(x, kernel, up *graph.Node) []*graph.Node {
				plain := graph.Convolve(x, kernel).Strides(c.stride).PaddingPerDim([][2]int{{c.pad, c.pad}, {c.pad, c.pad}}).Done()
				ours := convolve(x, kernel, c.stride, c.pad, DefaultLambda)
				gp := graph.Gradient(graph.ReduceAllSum(graph.Mul(plain, up)), x)
				g := graph.Gradient(graph.ReduceAllSum(graph.Mul(ours, up)), x, kernel)
				d := c.k * c.k * C
				return []*graph.Node{graph.Reshape(Patches(x, c.k, c.stride, c.pad), -1, d), plain, ours, gp[0], g[0], graph.Reshape(g[1], d, F)}
			}, x, kernel, up)
			if err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("%s k=%d stride=%d pad=%d", bk.Name(), c.k, c.stride, c.pad)
			if got := outs[0].Value().([][]float64); fmt.Sprint(got) != fmt.Sprint(rows) {
				t.Errorf("%s: Patches differs from the host im2col", name)
			}
			if fmt.Sprint(outs[1].Value()) != fmt.Sprint(outs[2].Value()) {
				t.Errorf("%s: forward differs from plain Convolve", name)
			}
			if fmt.Sprint(outs[3].Value()) != fmt.Sprint(outs[4].Value()) {
				t.Errorf("%s: input gradient differs from plain Convolve's", name)
			}
			var gRows [][]float64
			for n := range b {
				for y := range h {
					gRows = append(gRows, up[n][y]...)
				}
			}
			want := reference(rows, gRows, DefaultLambda)
			if e := maxRelDiff(outs[5].Value().([][]float64), want); !(e <= 1e-10) {
				t.Errorf("%s: kernel gradient vs TrAct on the im2col rows: relative difference %.2g", name, e)
			}
		}
	}
}
