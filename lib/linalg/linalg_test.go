package linalg

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"gonum.org/v1/gonum/mat"

	"github.com/gorepro/gorepro/lib/backends/backendstest"
)

// spd is a random symmetric positive-definite d×d matrix Q·diag(λ)·Qᵀ with
// eigenvalues spread log-uniformly over [1/cond, 1].
func spd(r *rand.Rand, d int, cond float64) *mat.SymDense {
	g := mat.NewDense(d, d, nil)
	for i := range d {
		for j := range d {
			g.Set(i, j, r.NormFloat64())
		}
	}
	var qr mat.QR
	qr.Factorize(g)
	var q mat.Dense
	qr.QTo(&q)
	a := mat.NewSymDense(d, nil)
	for i := range d {
		for j := i; j < d; j++ {
			s := 0.0
			for k := range d {
				lam := math.Pow(cond, -float64(k)/float64(max(d-1, 1)))
				s += q.At(i, k) * lam * q.At(j, k)
			}
			a.SetSym(i, j, s)
		}
	}
	return a
}

type testCase struct {
	name             string
	d                int
	cond             float64
	f32              bool
	tolL, tolX, tolP float64 // relative errors of L and of the solution (Frobenius), and of the smallest pivot
}

// Cholesky, SolveSPD and the smallest pivot against gonum on batches of
// random SPD matrices, well- and ill-conditioned, float64 and float32, on
// every backend. The reference pivot is min_j L_jj² of gonum's float64 factor.
func TestAgainstGonum(t *testing.T) {
	// d = 27 is TrAct's 3×3×3 patch; the other cases use d = 9 because XLA
	// takes ~15 s to compile the unrolled d = 27 graph (see the package doc).
	const batch, m = 3, 5
	cases := []testCase{
		{"float64 d 27 cond 10", 27, 10, false, 1e-12, 1e-12, 1e-12},
		{"float64 d 9 cond 1e8", 9, 1e8, false, 1e-8, 1e-6, 1e-7},
		{"float32 d 9 cond 10", 9, 10, true, 1e-5, 1e-5, 1e-6},
		{"float32 d 9 cond 1e3", 9, 1e3, true, 1e-4, 1e-3, 1e-4},
	}
	for _, bk := range backendstest.Available(t) {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/%s", bk.Name(), tc.name), func(t *testing.T) { checkCase(t, bk, tc, batch, tc.d, m) })
		}
	}
}

func checkCase(t *testing.T, bk compute.Backend, tc testCase, batch, d, m int) {
	r := rand.New(rand.NewPCG(uint64(d), uint64(tc.cond)))
	as := make([][][]float64, batch)
	bs := make([][][]float64, batch)
	var wantL []*mat.TriDense
	var wantX []*mat.Dense
	var wantP []float64
	for k := range batch {
		a := spd(r, d, tc.cond)
		b := mat.NewDense(d, m, nil)
		for i := range d {
			for j := range m {
				b.Set(i, j, r.NormFloat64())
			}
		}
		var ch mat.Cholesky
		if !ch.Factorize(a) {
			t.Fatal("gonum: not positive definite")
		}
		var l mat.TriDense
		ch.LTo(&l)
		var x mat.Dense
		if err := ch.SolveTo(&x, b); err != nil {
			t.Fatal(err)
		}
		wantL, wantX = append(wantL, &l), append(wantX, &x)
		p := math.Inf(1)
		for j := range d {
			p = math.Min(p, l.At(j, j)*l.At(j, j))
		}
		wantP = append(wantP, p)
		as[k], bs[k] = rowsOf(a), rowsOf(b)
	}
	var inA, inB any = as, bs
	if tc.f32 {
		inA, inB = to32(as), to32(bs)
	}
	outs, err := graph.CallOnceN(bk, func(a, b *graph.Node) []*graph.Node {
		l, p := CholeskyMinPivot(a)
		return []*graph.Node{l, SolveSPD(a, b), graph.ConvertDType(p, dtypes.Float64)}
	}, inA, inB)
	if err != nil {
		t.Fatal(err)
	}
	gotL, gotX, gotP := to64(outs[0].Value()), to64(outs[1].Value()), outs[2].Value().([]float64)
	for k := range batch {
		if e := math.Abs(gotP[k]-wantP[k]) / wantP[k]; !(e <= tc.tolP) {
			t.Errorf("batch %d: smallest pivot %g, float64 reference %g: relative error %.2g > %g", k, gotP[k], wantP[k], e, tc.tolP)
		}
		if e := relErr(gotL[k], wantL[k]); !(e <= tc.tolL) {
			t.Errorf("batch %d: L relative error %.2g > %g", k, e, tc.tolL)
		}
		if e := relErr(gotX[k], wantX[k]); !(e <= tc.tolX) {
			t.Errorf("batch %d: X relative error %.2g > %g", k, e, tc.tolX)
		}
	}
}

// Triangular solves against gonum's, and upper entries of L are never read.
func TestTriangularSolves(t *testing.T) {
	for _, bk := range backendstest.Available(t) {
		r := rand.New(rand.NewPCG(5, 6))
		const d, m = 6, 2
		l := mat.NewTriDense(d, mat.Lower, nil)
		lIn := make([][]float64, d)
		for i := range d {
			lIn[i] = make([]float64, d)
			for j := range d {
				if j <= i {
					v := r.NormFloat64()
					if i == j {
						v = 1 + math.Abs(v)
					}
					l.SetTri(i, j, v)
					lIn[i][j] = v
				} else {
					lIn[i][j] = math.NaN() // must never be read
				}
			}
		}
		b := mat.NewDense(d, m, nil)
		for i := range d {
			for j := range m {
				b.Set(i, j, r.NormFloat64())
			}
		}
		var y, x mat.Dense
		if err := y.Solve(l, b); err != nil {
			t.Fatal(err)
		}
		if err := x.Solve(l.T(), b); err != nil {
			t.Fatal(err)
		}
		outs, err := graph.CallOnceN(bk, func(l, b *graph.Node) []*graph.Node {
			return []*graph.Node{SolveLower(l, b), SolveLowerTransposed(l, b)}
		}, lIn, rowsOf(b))
		if err != nil {
			t.Fatal(err)
		}
		if e := relErr(outs[0].Value().([][]float64), &y); !(e <= 1e-13) {
			t.Errorf("%s: SolveLower relative error %.2g", bk.Name(), e)
		}
		if e := relErr(outs[1].Value().([][]float64), &x); !(e <= 1e-13) {
			t.Errorf("%s: SolveLowerTransposed relative error %.2g", bk.Name(), e)
		}
	}
}

// A matrix with a pivot ≤ 0, or a non-finite value, gives an all-NaN
// factor and solution (never Inf, never a partly finite factor) and reports
// its breakdown in the smallest pivot: the exact non-positive pivot
// (computed by hand below), or NaN for a non-finite value; in a batch, only
// the broken matrix is affected. Float64 and float32, on every backend.
func TestBreakdown(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	spd := [][]float64{{4, 2, 2}, {2, 2, 1}, {2, 1, 3}} // pivots 4, 1, 2
	for _, bk := range backendstest.Available(t) {
		for _, tc := range []struct {
			name string
			a    [][][]float64
			want []float64 // smallest pivot per batch element; NaN: a non-finite value
		}{
			// [[1,2],[2,1]]: pivots 1, 1 − 4 = −3.
			{"indefinite", [][][]float64{{{1, 2, 0}, {2, 1, 0}, {0, 0, 1}}}, []float64{-3}},
			// rank one: the second pivot is exactly 0 (0/0 and v/0 before the fix).
			{"zero pivot", [][][]float64{{{1, 1, 0}, {1, 1, 0}, {0, 0, 1}}}, []float64{0}},
			{"zero first pivot", [][][]float64{{{0, 0, 0}, {0, 1, 0}, {0, 0, 1}}}, []float64{0}},
			// pivots 4, 1, 0 − 1 − 0 = −1: the first two columns alone are finite.
			{"negative last pivot", [][][]float64{{{4, 2, 2}, {2, 2, 1}, {2, 1, 0}}}, []float64{-1}},
			{"batch: only the indefinite one", [][][]float64{spd, {{1, 2, 0}, {2, 1, 0}, {0, 0, 1}}, spd}, []float64{1, -3, 1}},
			{"NaN entry", [][][]float64{{{1, 0, 0}, {nan, 1, 0}, {0, 0, 1}}}, []float64{nan}},
			// every pivot is positive (Inf, 1, 1) but L_00 = Inf/Inf.
			{"infinite diagonal", [][][]float64{{{inf, 0, 0}, {0, 1, 0}, {0, 0, 1}}}, []float64{nan}},
		} {
			for _, f32 := range []bool{false, true} {
				name := fmt.Sprintf("%s/%s/float32=%v", bk.Name(), tc.name, f32)
				var in any = tc.a
				if f32 {
					in = to32(tc.a)
				}
				b := make([][][]float64, len(tc.a))
				for k := range b {
					b[k] = [][]float64{{1, 2}, {3, 4}, {5, 6}}
				}
				var inB any = b
				if f32 {
					inB = to32(b)
				}
				outs, err := graph.CallOnceN(bk, func(a, b *graph.Node) []*graph.Node {
					l, p := CholeskyMinPivot(a)
					x, q := SolveSPDMinPivot(a, b)
					return []*graph.Node{l, graph.ConvertDType(p, dtypes.Float64), x, graph.ConvertDType(q, dtypes.Float64), Cholesky(a), SolveSPD(a, b)}
				}, in, inB)
				if err != nil {
					t.Fatal(err)
				}
				l, p, x, q := to64(outs[0].Value()), outs[1].Value().([]float64), to64(outs[2].Value()), outs[3].Value().([]float64)
				lPlain, xPlain := to64(outs[4].Value()), to64(outs[5].Value())
				for k, want := range tc.want {
					for _, got := range [][]float64{{p[k]}, {q[k]}} {
						if math.IsNaN(want) != math.IsNaN(got[0]) || (!math.IsNaN(want) && got[0] != want) {
							t.Errorf("%s batch %d: smallest pivot %g, want %g", name, k, got[0], want)
						}
					}
					broken := !(want > 0)
					for what, m := range map[string][][]float64{"L": l[k], "X": x[k], "Cholesky": lPlain[k], "SolveSPD": xPlain[k]} {
						for i := range m {
							for j, v := range m[i] {
								if broken && !math.IsNaN(v) {
									t.Errorf("%s batch %d: %s[%d][%d] = %g, want NaN", name, k, what, i, j, v)
								}
								if !broken && (math.IsNaN(v) || math.IsInf(v, 0)) {
									t.Errorf("%s batch %d: %s[%d][%d] = %g, want finite", name, k, what, i, j, v)
								}
							}
						}
					}
				}
			}
		}
	}
}

func rowsOf(m mat.Matrix) [][]float64 {
	r, c := m.Dims()
	out := make([][]float64, r)
	for i := range r {
		out[i] = make([]float64, c)
		for j := range c {
			out[i][j] = m.At(i, j)
		}
	}
	return out
}

func to32(x [][][]float64) [][][]float32 {
	out := make([][][]float32, len(x))
	for k := range x {
		out[k] = make([][]float32, len(x[k]))
		for i := range x[k] {
			out[k][i] = make([]float32, len(x[k][i]))
			for j, v := range x[k][i] {
				out[k][i][j] = float32(v)
			}
		}
	}
	return out
}

func to64(v any) [][][]float64 {
	switch v := v.(type) {
	case [][][]float64:
		return v
	case [][][]float32:
		out := make([][][]float64, len(v))
		for k := range v {
			out[k] = make([][]float64, len(v[k]))
			for i := range v[k] {
				out[k][i] = make([]float64, len(v[k][i]))
				for j, x := range v[k][i] {
					out[k][i][j] = float64(x)
				}
			}
		}
		return out
	}
	panic(fmt.Sprintf("to64(%T)", v))
}

// relErr is ‖got − want‖_F / ‖want‖_F.
func relErr(got [][]float64, want mat.Matrix) float64 {
	num, den := 0.0, 0.0
	for i := range got {
		for j := range got[i] {
			w := want.At(i, j)
			num += (got[i][j] - w) * (got[i][j] - w)
			den += w * w
		}
	}
	return math.Sqrt(num / den)
}
