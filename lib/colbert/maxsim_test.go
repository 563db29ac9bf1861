package colbert

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gorepro/gorepro/lib/backends/backendstest"
)

// maxSimRef is MaxSim in float64 on the host.
func maxSimRef(q [][][]float64, d [][][]float64, mask [][]bool) [][]float64 {
	out := make([][]float64, len(q))
	for a := range q {
		out[a] = make([]float64, len(d))
		for b := range d {
			total, anyReal := 0.0, false
			for _, qi := range q[a] {
				best := math.Inf(-1)
				for j, dj := range d[b] {
					if !mask[b][j] {
						continue
					}
					anyReal = true
					s := 0.0
					for t := range qi {
						s += qi[t] * dj[t]
					}
					best = math.Max(best, s)
				}
				total += best
			}
			if !anyReal {
				total = math.Inf(-1)
			}
			out[a][b] = total
		}
	}
	return out
}

func randTokens(r *rand.Rand, n, l, k int) [][][]float64 {
	x := make([][][]float64, n)
	for i := range x {
		x[i] = make([][]float64, l)
		for j := range x[i] {
			x[i][j] = make([]float64, k)
			for t := range x[i][j] {
				x[i][j][t] = r.NormFloat64()
			}
		}
	}
	return x
}

func to32(x [][][]float64) [][][]float32 {
	out := make([][][]float32, len(x))
	for i := range x {
		out[i] = make([][]float32, len(x[i]))
		for j := range x[i] {
			out[i][j] = make([]float32, len(x[i][j]))
			for t, v := range x[i][j] {
				out[i][j][t] = float32(v)
			}
		}
	}
	return out
}

// MaxSim and MaxSimScores against the float64 reference: padding holds huge
// vectors that would win every max if it were selected; one document has
// only negative similarities to the query (its real tokens are the query's
// negation), one has no real token (−Inf); float32 and float64; every backend.
func TestMaxSimReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	nq, lq, nd, ld, k := 3, 4, 5, 6, 8
	q, d := randTokens(r, nq, lq, k), randTokens(r, nd, ld, k)
	for i := range q[0] { // query 0 in the positive orthant, document 1's real tokens in the negative one
		for t := range q[0][i] {
			q[0][i][t] = math.Abs(q[0][i][t])
		}
	}
	mask := make([][]bool, nd)
	for b := range mask {
		mask[b] = make([]bool, ld)
		for j := range mask[b] {
			mask[b][j] = j < 2+b%4
			if !mask[b][j] {
				for t := range d[b][j] {
					d[b][j][t] = 1e4 * q[0][0][t] // padding aligned with the query: must never win
				}
			}
		}
	}
	for j := range d[1] {
		if mask[1][j] {
			for t := range d[1][j] {
				d[1][j][t] = -math.Abs(d[1][j][t]) - 0.1
			}
		}
	}
	for j := range mask[3] { // document 3: padding only
		mask[3][j] = false
	}
	want := maxSimRef(q, d, mask)
	if !(want[0][1] < 0) {
		t.Fatalf("fixture: document 1 should score negative for query 0, got %g", want[0][1])
	}
	for _, bk := range backendstest.Available(t) {
		for _, f32 := range []bool{false, true} {
			var qa, da any = q, d
			tol := 1e-12
			if f32 {
				qa, da, tol = to32(q), to32(d), 1e-4
			}
			for name, fn := range map[string]func(q, d, m *graph.Node) *graph.Node{"MaxSim": MaxSim, "MaxSimScores": MaxSimScores} {
				out, err := graph.CallOnce(bk, fn, qa, da, mask)
				if err != nil {
					t.Fatalf("%s %s: %v", bk.Name(), name, err)
				}
				got := out.Value()
				for a := range want {
					for b := range want[a] {
						var g float64
						if f32 {
							g = float64(got.([][]float32)[a][b])
						} else {
							g = got.([][]float64)[a][b]
						}
						w := want[a][b]
						if math.IsInf(w, -1) {
							if !math.IsInf(g, -1) {
								t.Errorf("%s %s f32=%v [%d,%d]: %g, want −Inf (no real token)", bk.Name(), name, f32, a, b, g)
							}
							continue
						}
						if !(math.Abs(g-w) <= tol*math.Max(1, math.Abs(w))) {
							t.Errorf("%s %s f32=%v [%d,%d]: %g, want %g", bk.Name(), name, f32, a, b, g, w)
						}
					}
				}
			}
		}
	}
}

// The gradient of MaxSim reaches, per query token, exactly one document
// token — the first of tied maxima — with the query token's value, as
// PyTorch's max routes it; padding gets none.
func TestMaxSimGradientOneWinner(t *testing.T) {
	q := [][][]float64{{{1, 0}, {0, 1}}}
	// Document tokens 0 and 1 tie for query token 0; token 2 wins query
	// token 1; token 3 is padding with a larger similarity to both.
	d := [][][]float64{{{1, 0}, {1, 0}, {0, 0.5}, {5, 5}}}
	mask := [][]bool{{true, true, true, false}}
	for _, bk := range backendstest.Available(t) {
		out, err := graph.CallOnce(bk, func(q, d, m *graph.Node) *graph.Node {
			s := graph.ReduceAllSum(MaxSim(q, d, m))
			return graph.Gradient(s, d)[0]
		}, q, d, mask)
		if err != nil {
			t.Fatal(err)
		}
		got := out.Value().([][][]float64)[0]
		want := [][]float64{{1, 0}, {0, 0}, {0, 1}, {0, 0}}
		for j := range want {
			for c := range want[j] {
				if got[j][c] != want[j][c] {
					t.Fatalf("%s: ∂score/∂docs = %v, want %v (one winner per query token)", bk.Name(), got, want)
				}
			}
		}
	}
}

// Mismatched dimensions and masks fail at graph-build time, naming them.
func TestMaxSimBadInput(t *testing.T) {
	bk := backendstest.Available(t)[0]
	q := tensors.FromValue([][][]float32{{{1, 2}}})
	d3 := tensors.FromValue([][][]float32{{{1, 2, 3}}})
	d := tensors.FromValue([][][]float32{{{1, 2}, {3, 4}}})
	for _, tc := range []struct {
		name    string
		d, mask any
		want    string
	}{
		{"dims", d3, [][]bool{{true}}, "embedding dimensions differ"},
		{"mask shape", d, [][]bool{{true}}, "docMask must be bool [nd, Ld] = [1, 2]"},
		{"mask dtype", d, [][]float32{{1, 1}}, "docMask must be bool"},
	} {
		_, err := graph.CallOnce(bk, MaxSim, q, tc.d, tc.mask)
		if err == nil || !contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
