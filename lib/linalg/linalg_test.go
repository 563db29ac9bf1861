package linalg

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute"
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
	name       string
	d          int
	cond       float64
	f32        bool
	tolL, tolX float64 // relative (Frobenius) errors of L and of the solution
}

// Cholesky and SolveSPD against gonum on batches of random SPD matrices,
// well- and ill-conditioned, float64 and float32, on every backend.
func TestAgainstGonum(t *testing.T) {
	// d = 27 is TrAct's 3×3×3 patch; the other cases use d = 9 because XLA
	// takes ~15 s to compile the unrolled d = 27 graph (see the package doc).
	const batch, m = 3, 5
	cases := []testCase{
		{"float64 d 27 cond 10", 27, 10, false, 1e-12, 1e-12},
		{"float64 d 9 cond 1e8", 9, 1e8, false, 1e-8, 1e-6},
		{"float32 d 9 cond 10", 9, 10, true, 1e-5, 1e-5},
		{"float32 d 9 cond 1e3", 9, 1e3, true, 1e-4, 1e-3},
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
		as[k], bs[k] = rowsOf(a), rowsOf(b)
	}
	var inA, inB any = as, bs
	if tc.f32 {
		inA, inB = to32(as), to32(bs)
	}
	outs, err := graph.CallOnceN(bk, func(a, b *graph.Node) []*graph.Node {
		return []*graph.Node{Cholesky(a), SolveSPD(a, b)}
	}, inA, inB)
	if err != nil {
		t.Fatal(err)
	}
	gotL, gotX := to64(outs[0].Value()), to64(outs[1].Value())
	for k := range batch {
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

// A matrix that is not positive definite gives NaN, not a crash.
func TestNotPositiveDefinite(t *testing.T) {
	bk := backendstest.Available(t)[0]
	out, err := graph.CallOnce(bk, Cholesky, [][]float64{{1, 2}, {2, 1}})
	if err != nil {
		t.Fatal(err)
	}
	if v := out.Value().([][]float64); !math.IsNaN(v[1][1]) {
		t.Errorf("Cholesky of an indefinite matrix = %v, want NaN in L[1][1]", v)
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
