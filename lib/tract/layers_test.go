package tract

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/regularizer"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"gonum.org/v1/gonum/mat"

	"github.com/gorepro/gorepro/lib/backends/backendstest"
)

// flat returns the values of the outputs, each converted to float64 (exact
// from float32) and flattened.
func flat(t *testing.T, outs []*tensors.Tensor) [][]float64 {
	t.Helper()
	res := make([][]float64, len(outs))
	for i, o := range outs {
		res[i] = tensors.MustCopyFlatData[float64](o)
	}
	return res
}

// as64 converts every output node to float64, so that flat can read it.
func as64(nodes ...*graph.Node) []*graph.Node {
	out := make([]*graph.Node, len(nodes))
	for i, n := range nodes {
		out[i] = graph.ConvertDType(n, dtypes.Float64)
	}
	return out
}

// sameBits reports whether a and b are equal element by element (NaN
// equals NaN).
func sameBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}

// flatRelDiff is max|got − want| / max|want|.
func flatRelDiff(got []float64, want *mat.Dense) float64 {
	_, c := want.Dims()
	worst, scale := 0.0, 0.0
	for i, g := range got {
		w := want.At(i/c, i%c)
		worst = math.Max(worst, math.Abs(g-w))
		scale = math.Max(scale, math.Abs(w))
	}
	if math.IsNaN(worst) {
		return math.NaN()
	}
	return worst / scale
}

// matrix reshapes flat row-major values into rows of cols.
func matrix(v []float64, cols int) [][]float64 {
	var m [][]float64
	for i := 0; i < len(v); i += cols {
		m = append(m, v[i:i+cols])
	}
	return m
}

// randInput is a random tensor of the given shape (float32 when f32).
func randInput(r *rand.Rand, f32 bool, dims ...int) (*tensors.Tensor, []float64) {
	n := 1
	for _, d := range dims {
		n *= d
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = r.NormFloat64()
	}
	if f32 {
		v32 := make([]float32, n)
		for i := range v {
			v32[i] = float32(v[i])
			v[i] = float64(v32[i])
		}
		return tensors.FromFlatDataAndDimensions(v32, dims...), v
	}
	return tensors.FromFlatDataAndDimensions(v, dims...), v
}

// MatMul and tract.Dense against the plain product and layers.Dense: the
// output and the input and bias gradients are bit-equal, and the weight
// gradient is the float64 formula (xᵀx/b + λI)⁻¹xᵀg (gonum's d×d solve),
// both when b < d (the b×b Woodbury form) and when b ≥ d (the d×d system),
// to a relative 1e-12 (float64; measured ≤ 4e-15) or 1e-5 (float32;
// measured ≤ 4e-7), on every backend. Dense's input has two leading axes, which are all rows.
func TestFirstLayerGradients(t *testing.T) {
	cases := []struct {
		name string
		lead []int // the leading axes of x: b is their product
		d, m int
		f32  bool
		tol  float64
	}{
		{"b 6 < d 10", []int{2, 3}, 10, 4, false, 1e-12},
		{"b 1 < d 5", []int{1, 1}, 5, 2, false, 1e-12},
		{"b 20 ≥ d 3", []int{4, 5}, 3, 2, false, 1e-12},
		{"b = d = 6", []int{2, 3}, 6, 3, false, 1e-12},
		{"float32 b 4 < d 12", []int{2, 2}, 12, 3, true, 1e-5},
		{"float32 b 24 ≥ d 5", []int{2, 12}, 5, 3, true, 1e-5},
	}
	for _, bk := range backendstest.Available(t) {
		for i, c := range cases {
			r := rand.New(rand.NewPCG(uint64(i), 17))
			b := c.lead[0] * c.lead[1]
			x, xv := randInput(r, c.f32, c.lead[0], c.lead[1], c.d)
			up, upv := randInput(r, c.f32, c.lead[0], c.lead[1], c.m)
			w, _ := randInput(r, c.f32, c.d, c.m)
			want := reference(matrix(xv, c.d), matrix(upv, c.m), DefaultLambda)
			name := fmt.Sprintf("%s/%s", bk.Name(), c.name)

			// MatMul on x [b, d] against graph.MatMul.
			outs, err := graph.CallOnceN(bk, func(x, w, up *graph.Node) []*graph.Node {
				x = graph.Reshape(x, b, c.d)
				up = graph.Reshape(up, b, c.m)
				ours, plain := MatMul(x, w, DefaultLambda), graph.MatMul(x, w)
				g := graph.Gradient(graph.ReduceAllSum(graph.Mul(ours, up)), x, w)
				gp := graph.Gradient(graph.ReduceAllSum(graph.Mul(plain, up)), x)
				return as64(ours, plain, g[0], gp[0], g[1])
			}, x, w, up)
			if err != nil {
				t.Fatal(err)
			}
			v := flat(t, outs)
			if !sameBits(v[0], v[1]) {
				t.Errorf("%s: MatMul's value differs from x·w", name)
			}
			if !sameBits(v[2], v[3]) {
				t.Errorf("%s: MatMul's input gradient differs from x·w's", name)
			}
			if e := flatRelDiff(v[4], want); !(e <= c.tol) {
				t.Errorf("%s: MatMul's weight gradient vs the float64 formula: relative difference %.2g > %g", name, e, c.tol)
			}

			// Dense on x [lead..., d] against layers.Dense, same variables.
			store := model.NewStore()
			exec, err := model.NewExec(bk, store, func(scope *model.Scope, x, up *graph.Node) []*graph.Node {
				ours := Dense(scope.In("first"), x, true, c.m, DefaultLambda)
				theirs := layers.Dense(scope.Shared("first"), x, true, c.m)
				vars := scope.At("first").At("dense")
				w, bias := vars.GetVariable("weights").NodeValue(x.Graph()), vars.GetVariable("biases").NodeValue(x.Graph())
				g := graph.Gradient(graph.ReduceAllSum(graph.Mul(ours, up)), x, w, bias)
				gp := graph.Gradient(graph.ReduceAllSum(graph.Mul(theirs, up)), x, bias)
				return as64(ours, theirs, g[0], gp[0], g[2], gp[1], g[1])
			})
			if err != nil {
				t.Fatal(err)
			}
			outs, err = exec.Call(x, up)
			if err != nil {
				t.Fatal(err)
			}
			v = flat(t, outs)
			for k, what := range []string{"output", "input gradient", "bias gradient"} {
				if !sameBits(v[2*k], v[2*k+1]) {
					t.Errorf("%s: tract.Dense's %s differs from layers.Dense's", name, what)
				}
			}
			if e := flatRelDiff(v[6], want); !(e <= c.tol) {
				t.Errorf("%s: tract.Dense's weight gradient vs the float64 formula: relative difference %.2g > %g", name, e, c.tol)
			}
		}
	}
}

// systemReference is the system TrAct solves for rows x in float64 (b×b
// when b < d, else d×d) and the smallest pivot L_jj² of gonum's Cholesky.
func systemReference(x [][]float64, lambda float64) float64 {
	X := dense(x)
	b, d := X.Dims()
	n := d
	var a mat.Dense
	if b < d {
		n = b
		a.Mul(X, X.T())
	} else {
		a.Mul(X.T(), X)
	}
	sym := mat.NewSymDense(n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			v := a.At(i, j) / float64(b)
			if i == j {
				v += lambda
			}
			sym.SetSym(i, j, v)
		}
	}
	var ch mat.Cholesky
	if !ch.Factorize(sym) {
		panic("gonum: not positive definite")
	}
	var l mat.TriDense
	ch.LTo(&l)
	p := math.Inf(1)
	for j := range n {
		p = math.Min(p, l.At(j, j)*l.At(j, j))
	}
	return p
}

// SystemPivot of random rows (all leading axes are rows) equals the
// smallest Cholesky pivot of the float64 system (gonum), b×b for b < d and
// d×d for b ≥ d, to a relative 1e-12, and is ≥ λ as it must be in exact
// arithmetic, on every backend.
func TestSystemPivot(t *testing.T) {
	for _, bk := range backendstest.Available(t) {
		for _, c := range []struct {
			lead         []int
			d            int
			lambda       float64
			scale        float64
			wantWoodbury bool
		}{
			{[]int{3, 2}, 9, 0.1, 1, true},
			{[]int{30}, 4, 0.1, 1, false},
			{[]int{2, 5, 2}, 20, 1e-3, 3, false},
			{[]int{5}, 5, 0.5, 0.2, false},
		} {
			r := rand.New(rand.NewPCG(uint64(c.d), 3))
			dims := append(append([]int{}, c.lead...), c.d)
			_, xv := randInput(r, false, dims...)
			for i := range xv {
				xv[i] *= c.scale
			}
			x := tensors.FromFlatDataAndDimensions(xv, dims...)
			rows := matrix(xv, c.d)
			if got := len(rows) < c.d; got != c.wantWoodbury {
				t.Fatalf("case %v: b < d is %v", c, got)
			}
			out, err := graph.CallOnce(bk, func(x *graph.Node) *graph.Node { return SystemPivot(x, c.lambda) }, x)
			if err != nil {
				t.Fatal(err)
			}
			got, want := out.Value().(float64), systemReference(rows, c.lambda)
			if e := math.Abs(got-want) / want; !(e <= 1e-12) {
				t.Errorf("%s b=%d d=%d: SystemPivot %g, float64 reference %g: relative error %.2g > 1e-12", bk.Name(), len(rows), c.d, got, want, e)
			}
			if !(got >= c.lambda*(1-1e-12)) {
				t.Errorf("%s b=%d d=%d: SystemPivot %g < λ = %g", bk.Name(), len(rows), c.d, got, c.lambda)
			}
		}
	}
}

// In float32, rows whose system has a zero pivot (every entry 2¹² = 4096:
// the first pivot is a square, λ = 0.1 is lost in rounding and the second
// pivot is exactly 0) give an all-NaN weight gradient through
// WeightGradient, MatMul and tract.Dense, and SystemPivot reports 0; the
// input and bias gradients stay finite. The d×d case (b ≥ d) and the b×b
// case (b < d) each break down. For b < d, rows with two equal columns
// break the d×d system (Kernel, the old path for every b) but not the
// diagonal b×b one, which MatMul and Dense solve: a finite gradient equal to
// the float64 formula to a relative 1e-6 (measured 3e-8), and a pivot of
// exactly 2²⁵. Every backend.
func TestBreakdownGivesNaN(t *testing.T) {
	const a = 4096.0
	cases := []struct {
		name        string
		x           [][]float64
		wantPivot   float64
		wantNaN     bool // the weight gradients
		kernelNaN   bool // Kernel's (d×d) weight gradient
		woodburyFix bool
	}{
		{"d×d zero pivot", fill(8, 2, a), 0, true, true, false},
		{"b×b zero pivot", fill(4, 16, a), 0, true, true, false},
		{"b < d: b×b instead of a broken d×d", [][]float64{{a, a, a, a}, {a, a, -a, -a}}, 1 << 25, false, true, true},
	}
	for _, bk := range backendstest.Available(t) {
		for _, c := range cases {
			name := fmt.Sprintf("%s/%s", bk.Name(), c.name)
			b := len(c.x)
			const m = 3
			x := to32(c.x)
			up := to32(randMat(rand.New(rand.NewPCG(1, 2)), b, m, 1))
			store := model.NewStore()
			exec, err := model.NewExec(bk, store, func(scope *model.Scope, x, up *graph.Node) []*graph.Node {
				z := Dense(scope.In("first"), x, true, m, DefaultLambda)
				vars := scope.At("first").At("dense")
				w, bias := vars.GetVariable("weights").NodeValue(x.Graph()), vars.GetVariable("biases").NodeValue(x.Graph())
				g := graph.Gradient(graph.ReduceAllSum(graph.Mul(z, up)), x, w, bias)
				gm := graph.Gradient(graph.ReduceAllSum(graph.Mul(MatMul(x, w, DefaultLambda), up)), w)
				gk := graph.Gradient(graph.ReduceAllSum(graph.Mul(graph.MatMul(x, Kernel(w, x, DefaultLambda)), up)), w)
				return as64(SystemPivot(x, DefaultLambda), g[1], gm[0], WeightGradient(x, up, DefaultLambda), gk[0], g[0], g[2])
			})
			if err != nil {
				t.Fatal(err)
			}
			outs, err := exec.Call(x, up)
			if err != nil {
				t.Fatal(err)
			}
			v := flat(t, outs)
			if v[0][0] != c.wantPivot {
				t.Errorf("%s: SystemPivot %g, want %g", name, v[0][0], c.wantPivot)
			}
			want := reference(c.x, to64(up), DefaultLambda)
			for k, what := range []string{"tract.Dense", "MatMul", "WeightGradient"} {
				if c.wantNaN {
					if !allNaN(v[1+k]) {
						t.Errorf("%s: %s's weight gradient %v, want all NaN", name, what, v[1+k])
					}
				} else if e := flatRelDiff(v[1+k], want); !(e <= 1e-6) {
					t.Errorf("%s: %s's weight gradient vs the float64 formula: relative difference %.2g > 1e-6", name, what, e)
				}
			}
			if c.kernelNaN && !allNaN(v[4]) {
				t.Errorf("%s: Kernel's d×d weight gradient %v, want all NaN (the case does not break the d×d system)", name, v[4])
			}
			for k, what := range []string{"input", "bias"} {
				for _, g := range v[5+k] {
					if math.IsNaN(g) || math.IsInf(g, 0) {
						t.Errorf("%s: %s gradient %v, want finite", name, what, v[5+k])
						break
					}
				}
			}
		}
	}
}

func fill(rows, cols int, v float64) [][]float64 {
	m := make([][]float64, rows)
	for i := range m {
		m[i] = make([]float64, cols)
		for j := range m[i] {
			m[i][j] = v
		}
	}
	return m
}

func to32(x [][]float64) [][]float32 {
	out := make([][]float32, len(x))
	for i := range x {
		out[i] = make([]float32, len(x[i]))
		for j, v := range x[i] {
			out[i][j] = float32(v)
		}
	}
	return out
}

func to64(x [][]float32) [][]float64 {
	out := make([][]float64, len(x))
	for i := range x {
		out[i] = make([]float64, len(x[i]))
		for j, v := range x[i] {
			out[i][j] = float64(v)
		}
	}
	return out
}

func allNaN(v []float64) bool {
	for _, x := range v {
		if !math.IsNaN(x) {
			return false
		}
	}
	return len(v) > 0
}

// regCase is a scope's regularisation params and the closed-form L2 and L1
// amounts the layer's kernel must get.
type regCase struct {
	name   string
	params map[string]any
	l2, l1 float64
}

// With regularizer params in the scope, tract.Dense and tract.Conv2D add
// the same regularisation loss as layers.Dense and layers.Convolution (bit
// for bit, same variables), with the same gradient on the weights, and
// nothing on the biases; the loss and the kernel gradient also equal the
// closed forms l2·Σw² + l1·Σ|w| and 2·l2·w + l1·sign(w) (relative 1e-12),
// where layers.Convolution — and so tract.Conv2D — counts L2 twice
// (regularizer.FromScope, then its own "l2_regularization" lookup). The
// total weight gradient is TrAct's (float64 formula on the rows, d×d and
// b×b cases) plus that, to a relative 1e-10. Without params neither layer
// adds a loss. Outputs and input gradients are bit-equal to GoMLX's layers'.
func TestRegularizers(t *testing.T) {
	const l2, l1 = 0.01, 0.003
	regs := []regCase{
		{"none", nil, 0, 0},
		{"L2", map[string]any{regularizer.ParamL2: l2}, l2, 0},
		{"L2 and L1", map[string]any{regularizer.ParamL2: l2, regularizer.ParamL1: l1}, l2, l1},
	}
	type layer struct {
		name        string
		xDims       []int
		ours        func(scope *model.Scope, x *graph.Node) *graph.Node
		theirs      func(scope *model.Scope, x *graph.Node) *graph.Node
		vars        string // the variables' scope
		rows        func(x []float64) [][]float64
		outCols     int
		l2Multiple  float64 // how many times L2 is applied
		wantRowsLtD bool
	}
	const F = 3
	im2colRows := func(k, stride, pad int) func(x []float64) [][]float64 {
		return func(x []float64) [][]float64 {
			var x4 [][][][]float64
			for n := range 2 {
				var img [][][]float64
				for y := range 5 {
					var rowPix [][]float64
					for xx := range 6 {
						rowPix = append(rowPix, []float64{x[(n*5+y)*6+xx]})
					}
					img = append(img, rowPix)
				}
				x4 = append(x4, img)
			}
			rows, _, _ := im2col(x4, k, stride, pad)
			return rows
		}
	}
	conv := func(k, stride, pad int, name string, rowsLtD bool) layer {
		return layer{
			name: name, xDims: []int{2, 5, 6, 1},
			ours: func(scope *model.Scope, x *graph.Node) *graph.Node {
				return Conv2D(scope.In("first"), x, F, k, stride, pad, true, DefaultLambda)
			},
			theirs: func(scope *model.Scope, x *graph.Node) *graph.Node {
				c := layers.Convolution(scope.In("first"), x).Channels(F).KernelSize(k).Strides(stride).UseBias(true)
				if pad > 0 {
					c = c.PadSame()
				}
				return c.Done()
			},
			vars: "conv", rows: im2colRows(k, stride, pad), outCols: F, l2Multiple: 2, wantRowsLtD: rowsLtD,
		}
	}
	dense := func(b, d int, name string) layer {
		return layer{
			name: name, xDims: []int{b, d},
			ours: func(scope *model.Scope, x *graph.Node) *graph.Node {
				return Dense(scope.In("first"), x, true, F, DefaultLambda)
			},
			theirs: func(scope *model.Scope, x *graph.Node) *graph.Node {
				return layers.Dense(scope.In("first"), x, true, F)
			},
			vars: "dense", rows: func(x []float64) [][]float64 { return matrix(x, d) }, outCols: F, l2Multiple: 1, wantRowsLtD: b < d,
		}
	}
	for _, bk := range backendstest.Available(t) {
		for _, ly := range []layer{
			dense(12, 4, "Dense b 12 ≥ d 4"),
			dense(3, 7, "Dense b 3 < d 7"),
			conv(3, 1, 1, "Conv2D k 3 stride 1 same padding", false), // b = 60, d = 9
			conv(3, 3, 0, "Conv2D k 3 stride 3", true),               // b = 4, d = 9
		} {
			for _, rc := range regs {
				name := fmt.Sprintf("%s/%s/%s", bk.Name(), ly.name, rc.name)
				r := rand.New(rand.NewPCG(uint64(len(ly.name)), 9))
				x, xv := randInput(r, false, ly.xDims...)
				rows := ly.rows(xv)
				if got := len(rows) < len(rows[0]); got != ly.wantRowsLtD {
					t.Fatalf("%s: b < d is %v", name, got)
				}
				store := model.NewStore()
				store.RootScope().SetParams(rc.params)
				run := func(build func(scope *model.Scope, x *graph.Node) *graph.Node) (v [][]float64, hasReg bool) {
					exec, err := model.NewExec(bk, store, func(scope *model.Scope, x, seed *graph.Node) []*graph.Node {
						z := build(scope, x)
						g := x.Graph()
						vars := scope.At("first").At("%s", ly.vars)
						w, bias := vars.GetVariable("weights").NodeValue(g), vars.GetVariable("biases").NodeValue(g)
						up := graph.Cos(graph.Add(graph.IotaFull(g, z.Shape()), seed)) // ∂(main loss)/∂z
						loss := graph.ReduceAllSum(graph.Mul(z, up))
						reg := train.GetRegularizationLoss(g)
						hasReg = reg != nil
						if reg == nil {
							reg = graph.ScalarZero(g, z.DType())
						}
						gReg := graph.Gradient(reg, w, bias)
						gAll := graph.Gradient(graph.Add(loss, reg), x, w)
						return as64(z, gAll[0], reg, gReg[0], gReg[1], gAll[1], w, graph.Reshape(up, -1, ly.outCols))
					})
					if err != nil {
						t.Fatal(err)
					}
					outs, err := exec.Call(x, 0.5)
					if err != nil {
						t.Fatal(err)
					}
					return flat(t, outs), hasReg
				}
				ours, oursReg := run(ly.ours)
				theirs, theirsReg := run(ly.theirs)
				wantReg := rc.params != nil
				if oursReg != wantReg || theirsReg != wantReg {
					t.Fatalf("%s: regularisation loss added: ours %v, GoMLX's %v, want %v", name, oursReg, theirsReg, wantReg)
				}
				for k, what := range []string{"output", "input gradient", "regularisation loss", "regularisation gradient of the weights", "regularisation gradient of the biases"} {
					if !sameBits(ours[k], theirs[k]) {
						t.Errorf("%s: %s differs from GoMLX's layer's: %v vs %v", name, what, ours[k], theirs[k])
					}
				}
				w := ours[6]
				wantLoss, wantGrad := 0.0, make([]float64, len(w))
				for i, wi := range w {
					wantLoss += ly.l2Multiple*rc.l2*wi*wi + rc.l1*math.Abs(wi)
					wantGrad[i] = 2*ly.l2Multiple*rc.l2*wi + rc.l1*sign(wi)
				}
				if e := math.Abs(ours[2][0] - wantLoss); !(e <= 1e-12*math.Max(wantLoss, 1e-300)) && !(wantLoss == 0 && ours[2][0] == 0) {
					t.Errorf("%s: regularisation loss %g, closed form %g", name, ours[2][0], wantLoss)
				}
				for _, gb := range ours[4] {
					if gb != 0 {
						t.Errorf("%s: the biases are regularised: gradient %v", name, ours[4])
						break
					}
				}
				tr := reference(rows, matrix(ours[7], ly.outCols), DefaultLambda)
				wantTotal := mat.NewDense(len(rows[0]), ly.outCols, nil)
				for i := range wantGrad {
					if e := math.Abs(ours[3][i] - wantGrad[i]); !(e <= 1e-12*math.Abs(wantGrad[i])) {
						t.Errorf("%s: regularisation gradient [%d] %g, closed form %g", name, i, ours[3][i], wantGrad[i])
					}
					wantTotal.Set(i/ly.outCols, i%ly.outCols, tr.At(i/ly.outCols, i%ly.outCols)+wantGrad[i])
				}
				if e := flatRelDiff(ours[5], wantTotal); !(e <= 1e-10) {
					t.Errorf("%s: total weight gradient vs TrAct's formula plus the regulariser's: relative difference %.2g > 1e-10", name, e)
				}
			}
		}
	}
}

func sign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}
