package colbert

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/gorepro/gorepro/lib/backends/backendstest"
)

// pylateReference is a float64 numpy reimplementation of PyLate 1.3.2's
// losses and scores (see the doc comments of PyLateContrastive,
// PyLateDistillation, PyLateScores): the contrastive loss in HEAD's
// query-major layout with the labels i·N, its gradient in closed form, the
// distillation loss with its gradient by central differences.
const pylateReference = `
import json, string, sys
import numpy as np

def log_softmax(x):
    m = np.max(x, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    z = x - m
    return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))

def contrastive(s3, T, mean, excl3):
    B, _, N = s3.shape
    logits = (s3 / T).reshape(B, B * N)       # column j*N + k: doc k of tuple j
    lab = np.arange(B) * N                     # HEAD contrastive.py: labels = arange(B) * N
    if excl3 is not None:
        e = excl3.reshape(B, B * N).copy()
        e[np.arange(B), lab] = False
        logits = np.where(e, -np.inf, logits)
    lp = log_softmax(logits)
    nll = -lp[np.arange(B), lab]
    loss = nll.mean() if mean else nll.sum()
    p = np.exp(lp)
    p[np.arange(B), lab] -= 1.0
    grad = p / T / (B if mean else 1)
    return loss, grad.reshape(B, B, N)

def distill(s, t, norm, mean):
    if norm:
        mx = s.max(axis=1, keepdims=True)
        mn = s.min(axis=1, keepdims=True)
        s = (s - mn) / (mx - mn + 1e-8)
    ls, lt = log_softmax(s), log_softmax(t)
    kl = np.sum(np.exp(lt) * (lt - ls))
    return kl / s.shape[0] if mean else kl

def numgrad(f, x, h=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        g[idx] = (f(xp) - f(xm)) / (2 * h)
    return g

def arr(c, name):
    return np.array(c[name], dtype=np.float64).reshape(c[name + "_dims"])

out = []
for c in json.loads(sys.stdin.read()):
    if c["kind"] == "contrastive":
        excl = None
        if "exclude" in c:
            excl = np.array(c["exclude"], dtype=bool).reshape(c["scores_dims"])
        loss, grad = contrastive(arr(c, "scores"), c["temperature"], c["mean"], excl)
        out.append({"loss": float(loss), "grad": grad.ravel().tolist()})
    elif c["kind"] == "distill":
        s, t = arr(c, "student"), arr(c, "teacher")
        f = lambda x: distill(x, t, c["normalize"], c["mean"])
        out.append({"loss": float(f(s)), "grad": numgrad(f, s).ravel().tolist()})
    elif c["kind"] == "scores":
        q, d = arr(c, "q"), arr(c, "d")
        m = np.array(c["mask"], dtype=np.float64).reshape(c["mask_dims"])
        sim = np.einsum("ash,bth->abst", q, d) * m[None, :, None, :]
        out.append({"scores": sim.max(axis=-1).sum(axis=-1).ravel().tolist()})
    elif c["kind"] == "punctuation":
        out.append({"punctuation": string.punctuation})
print(json.dumps(out))
`

// runReference runs pylateReference on cases (maps of float64 slices,
// ±Inf allowed, bool slices, strings, bools) and returns its answers.
func runReference(t *testing.T, cases []map[string]any) []map[string]any {
	t.Helper()
	py := backendstest.Python(t, "GOREPRO_REQUIRE_SCIPY", "numpy")
	var b strings.Builder
	b.WriteString("[")
	for i, c := range cases {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("{")
		first := true
		for k, v := range c {
			if !first {
				b.WriteString(",")
			}
			first = false
			fmt.Fprintf(&b, "%q:%s", k, pyJSON(v))
		}
		b.WriteString("}")
	}
	b.WriteString("]")
	cmd := exec.Command(py, "-c", pylateReference)
	cmd.Stdin = strings.NewReader(b.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("numpy reference: %v\n%s", err, out)
	}
	var res []map[string]any
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("numpy reference output: %v\n%s", err, out)
	}
	return res
}

// pyJSON writes v as JSON that Python's json module reads, ±Inf as
// ±Infinity.
func pyJSON(v any) string {
	switch x := v.(type) {
	case float64:
		switch {
		case math.IsInf(x, 1):
			return "Infinity"
		case math.IsInf(x, -1):
			return "-Infinity"
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case []float64:
		s := make([]string, len(x))
		for i, f := range x {
			s[i] = pyJSON(f)
		}
		return "[" + strings.Join(s, ",") + "]"
	}
	out, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(out)
}

// floats converts the reference's JSON list.
func floats(v any) []float64 {
	l := v.([]any)
	out := make([]float64, len(l))
	for i, x := range l {
		out[i] = x.(float64)
	}
	return out
}

// tensorOf is flat data of dims as a float64 or float32 tensor.
func tensorOf(data []float64, f32 bool, dims ...int) *tensors.Tensor {
	if !f32 {
		return tensors.FromFlatDataAndDimensions(append([]float64(nil), data...), dims...)
	}
	d := make([]float32, len(data))
	for i, v := range data {
		d[i] = float32(v)
	}
	return tensors.FromFlatDataAndDimensions(d, dims...)
}

// flat64 is a float tensor's data as float64.
func flat64(t *tensors.Tensor) []float64 {
	if t.DType().String() == "Float32" {
		f := tensors.MustCopyFlatData[float32](t)
		out := make([]float64, len(f))
		for i, v := range f {
			out[i] = float64(v)
		}
		return out
	}
	return tensors.MustCopyFlatData[float64](t)
}

// lossAndGrad runs loss on the inputs and returns its value and its
// gradient with respect to the first input.
func lossAndGrad(t *testing.T, bk compute.Backend, loss func(xs []*graph.Node) *graph.Node, inputs ...any) (float64, []float64) {
	t.Helper()
	val, err := graph.CallOnce(bk, func(g *graph.Graph) *graph.Node { return loss(params(g, inputs)) })
	if err != nil {
		t.Fatal(err)
	}
	grad, err := graph.CallOnce(bk, func(g *graph.Graph) *graph.Node {
		xs := params(g, inputs)
		return graph.Gradient(loss(xs), xs[0])[0]
	})
	if err != nil {
		t.Fatal(err)
	}
	return flat64(val)[0], flat64(grad)
}

// params makes constants of the inputs in g.
func params(g *graph.Graph, inputs []any) []*graph.Node {
	xs := make([]*graph.Node, len(inputs))
	for i, in := range inputs {
		xs[i] = graph.Const(g, in)
	}
	return xs
}

// maxDiff is max |a − b| / (1 + |b|).
func maxDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	m := 0.0
	for i := range a {
		d := math.Abs(a[i]-b[i]) / (1 + math.Abs(b[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		m = max(m, d)
	}
	return m
}

// Contrastive loss and gradient against numpy: random [B, B, N] scores
// (one −Inf negative), temperatures 1 (PyLate's default) and 0.05, mean and
// sum, with and without an exclusion mask (one that also marks positives,
// which must be ignored). Go gets GroupMajor's layout, numpy uses HEAD's.
func TestPyLateContrastiveAgainstNumpy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const b, n = 4, 3
	s3 := make([]float64, b*b*n)
	for i := range s3 {
		s3[i] = 3 * r.NormFloat64()
	}
	s3[(1*b+2)*n+1] = math.Inf(-1) // query 1, tuple 2's first negative
	excl := make([]bool, len(s3))
	for i := range excl {
		excl[i] = r.IntN(4) == 0
	}
	excl[(0*b+0)*n] = true // query 0's own positive: ignored
	type tc struct {
		temp    float64
		mean    bool
		exclude bool
	}
	var tcs []tc
	var cases []map[string]any
	for _, temp := range []float64{1, 0.05} {
		for _, mean := range []bool{true, false} {
			for _, ex := range []bool{false, true} {
				tcs = append(tcs, tc{temp, mean, ex})
				c := map[string]any{"kind": "contrastive", "scores": s3, "scores_dims": []int{b, b, n}, "temperature": temp, "mean": mean}
				if ex {
					c["exclude"] = excl
				}
				cases = append(cases, c)
			}
		}
	}
	ref := runReference(t, cases)
	tol := map[bool]float64{false: 1e-12, true: 2e-6}
	for _, bk := range backendstest.Available(t) {
		for _, f32 := range []bool{false, true} {
			worst := 0.0
			for ci, c := range tcs {
				inputs := []any{tensorOf(s3, f32, b, b, n)}
				if c.exclude {
					inputs = append(inputs, tensors.FromFlatDataAndDimensions(append([]bool(nil), excl...), b, b, n))
				}
				loss, grad := lossAndGrad(t, bk, func(xs []*graph.Node) *graph.Node {
					var ex *graph.Node
					if len(xs) > 1 {
						ex = GroupMajor(xs[1])
					}
					return PyLateContrastive(GroupMajor(xs[0]), ex, c.temp, c.mean)
				}, inputs...)
				d := max(maxDiff([]float64{loss}, []float64{ref[ci]["loss"].(float64)}), maxDiff(grad, floats(ref[ci]["grad"])))
				if !(d <= tol[f32]) {
					t.Errorf("%s f32=%v %+v: loss %v (numpy %v), relative difference %.3g > %g", bk.Name(), f32, c, loss, ref[ci]["loss"], d, tol[f32])
				}
				worst = max(worst, d)
			}
			t.Logf("%s float32=%v: largest |Go − numpy| / (1 + |numpy|) over loss and gradient %.3g", bk.Name(), f32, worst)
		}
	}
}

// Distillation loss and gradient against numpy (gradient by central
// differences in float64, h = 1e-6): normalize and sizeAverage on and off.
func TestPyLateDistillationAgainstNumpy(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const b, n = 3, 5
	student, teacher := make([]float64, b*n), make([]float64, b*n)
	for i := range student {
		student[i] = 10 + 4*r.NormFloat64() // ColBERT-like scores, far from [0, 1]
		teacher[i] = 2 * r.NormFloat64()
	}
	type tc struct{ normalize, mean bool }
	var tcs []tc
	var cases []map[string]any
	for _, norm := range []bool{true, false} {
		for _, mean := range []bool{true, false} {
			tcs = append(tcs, tc{norm, mean})
			cases = append(cases, map[string]any{"kind": "distill", "student": student, "student_dims": []int{b, n}, "teacher": teacher, "teacher_dims": []int{b, n}, "normalize": norm, "mean": mean})
		}
	}
	ref := runReference(t, cases)
	// float64: the loss to 1e-12, the gradient to 1e-8 (numpy's is a
	// central difference, error ~1e-9); float32 both to 1e-6.
	tolLoss := map[bool]float64{false: 1e-12, true: 1e-6}
	tolGrad := map[bool]float64{false: 1e-8, true: 1e-6}
	for _, bk := range backendstest.Available(t) {
		for _, f32 := range []bool{false, true} {
			worstLoss, worstGrad := 0.0, 0.0
			for ci, c := range tcs {
				loss, grad := lossAndGrad(t, bk, func(xs []*graph.Node) *graph.Node {
					return PyLateDistillation(xs[0], xs[1], c.normalize, c.mean)
				}, tensorOf(student, f32, b, n), tensorOf(teacher, f32, b, n))
				dl := maxDiff([]float64{loss}, []float64{ref[ci]["loss"].(float64)})
				dg := maxDiff(grad, floats(ref[ci]["grad"]))
				if !(dl <= tolLoss[f32]) || !(dg <= tolGrad[f32]) {
					t.Errorf("%s f32=%v %+v: loss %v (numpy %v): differences loss %.3g > %g or gradient %.3g > %g", bk.Name(), f32, c, loss, ref[ci]["loss"], dl, tolLoss[f32], dg, tolGrad[f32])
				}
				worstLoss, worstGrad = max(worstLoss, dl), max(worstGrad, dg)
			}
			t.Logf("%s float32=%v: largest relative difference loss %.3g, gradient %.3g", bk.Name(), f32, worstLoss, worstGrad)
		}
	}
	// Without normalisation it is DistillationLoss.
	bk := backendstest.Available(t)[0]
	a, _ := lossAndGrad(t, bk, func(xs []*graph.Node) *graph.Node { return PyLateDistillation(xs[0], xs[1], false, true) }, tensorOf(student, false, b, n), tensorOf(teacher, false, b, n))
	d, _ := lossAndGrad(t, bk, func(xs []*graph.Node) *graph.Node { return DistillationLoss(xs[0], xs[1]) }, tensorOf(student, false, b, n), tensorOf(teacher, false, b, n))
	if a != d {
		t.Errorf("PyLateDistillation(normalize=false) = %v, DistillationLoss = %v", a, d)
	}
}

// PyLateScores against numpy's multiplicative masking, with a document
// without a real token (scores 0) and one whose real similarities are all
// negative for some query tokens (padding's 0 wins).
func TestPyLateScoresAgainstNumpy(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const nq, lq, nd, ld, k = 2, 3, 4, 5, 4
	q, d := make([]float64, nq*lq*k), make([]float64, nd*ld*k)
	for i := range q {
		q[i] = r.NormFloat64()
	}
	for i := range d {
		d[i] = r.NormFloat64()
	}
	mask := make([]bool, nd*ld)
	for i := range mask {
		mask[i] = r.IntN(3) > 0
	}
	for j := range ld {
		mask[2*ld+j] = false // document 2: no real token
	}
	ref := runReference(t, []map[string]any{{"kind": "scores", "q": q, "q_dims": []int{nq, lq, k}, "d": d, "d_dims": []int{nd, ld, k}, "mask": mask, "mask_dims": []int{nd, ld}}})
	want := floats(ref[0]["scores"])
	for _, bk := range backendstest.Available(t) {
		for _, f32 := range []bool{false, true} {
			out, err := graph.CallOnce(bk, PyLateScores, tensorOf(q, f32, nq, lq, k), tensorOf(d, f32, nd, ld, k), tensors.FromFlatDataAndDimensions(mask, nd, ld))
			if err != nil {
				t.Fatal(err)
			}
			got := flat64(out)
			tol := map[bool]float64{false: 1e-12, true: 1e-5}[f32]
			dd := maxDiff(got, want)
			if !(dd <= tol) {
				t.Errorf("%s f32=%v: PyLateScores = %v, numpy %v (difference %.3g)", bk.Name(), f32, got, want, dd)
			}
			t.Logf("%s float32=%v: largest relative difference %.3g", bk.Name(), f32, dd)
			if got[2] != 0 || got[nd+2] != 0 {
				t.Errorf("%s: document without a real token scores %v, %v, want 0 (PyLate)", bk.Name(), got[2], got[nd+2])
			}
		}
	}
}

// −Inf scores (MaxSim's document without a real token): the losses'
// gradients stay finite, and their values are what they should be.
func TestPyLateLossesWithInfiniteScores(t *testing.T) {
	bk := backendstest.Available(t)[0]
	inf := math.Inf(-1)
	// B = 2, N = 2 group-major: columns pos0 pos1 neg0 neg1.
	scores := [][]float64{{2, 1, inf, 0}, {inf, 1, 0.5, 3}}
	var loss float64
	var grad []float64
	for _, pos := range [][][]float64{scores, {{inf, 1, 0, 0}, {0, 1, 0.5, 3}}} {
		for _, f := range []func(xs []*graph.Node) *graph.Node{
			func(xs []*graph.Node) *graph.Node { return PyLateContrastive(xs[0], nil, 1, true) },
			func(xs []*graph.Node) *graph.Node {
				return PyLateDistillation(xs[0], graph.Const(xs[0].Graph(), [][]float64{{1, 0, inf, 2}, {0, 0, 1, 1}}), true, true)
			},
		} {
			loss, grad = lossAndGrad(t, bk, f, pos)
			for _, g := range grad {
				if math.IsNaN(g) || math.IsInf(g, 0) {
					t.Errorf("scores %v: loss %v, gradient %v not finite", pos, loss, grad)
					break
				}
			}
			if math.IsNaN(loss) {
				t.Errorf("scores %v: loss NaN", pos)
			}
		}
	}
	// Contrastive value with a −Inf negative: log-sum-exp over the finite ones.
	loss, _ = lossAndGrad(t, bk, func(xs []*graph.Node) *graph.Node { return PyLateContrastive(xs[0], nil, 1, true) }, scores)
	lse := func(v ...float64) float64 {
		s := 0.0
		for _, x := range v {
			s += math.Exp(x)
		}
		return math.Log(s)
	}
	want := ((lse(2, 1, 0) - 2) + (lse(1, 0.5, 3) - 1)) / 2
	if math.Abs(loss-want) > 1e-12 {
		t.Errorf("contrastive with −Inf = %v, want %v", loss, want)
	}
	// Distillation, normalised: the −Inf student entry stays −Inf, the
	// others are normalised over the finite ones: row 0 (2, 1, −Inf, 0) →
	// (1, 0.5, −Inf, 0) (up to the 1e-8), where the teacher gives 0 mass.
	loss, _ = lossAndGrad(t, bk, func(xs []*graph.Node) *graph.Node {
		return PyLateDistillation(xs[0], graph.Const(xs[0].Graph(), [][]float64{{1, 0, inf, 2}}), true, true)
	}, [][]float64{{2, 1, inf, 0}})
	e := 2 / (2 + 1e-8)
	ls := []float64{1 * e, 0.5 * e, 0}
	lt := []float64{1, 0, 2}
	want = 0
	for j := range ls {
		pt := math.Exp(lt[j] - lse(lt...))
		want += pt * ((lt[j] - lse(lt...)) - (ls[j] - lse(ls...)))
	}
	if math.Abs(loss-want) > 1e-12 {
		t.Errorf("distillation with −Inf = %v, want %v", loss, want)
	}
}

// Bad shapes and temperatures panic with the function's name.
func TestPyLateBadInput(t *testing.T) {
	bk := backendstest.Available(t)[0]
	for _, tc := range []struct {
		name string
		fn   func(g *graph.Graph)
		want string
	}{
		{"rank 1", func(g *graph.Graph) { PyLateContrastive(graph.Const(g, []float64{1, 2}), nil, 1, true) }, "[B, N·B]"},
		{"columns not a multiple", func(g *graph.Graph) {
			PyLateContrastive(graph.Const(g, [][]float64{{1, 2, 3}, {1, 2, 3}}), nil, 1, true)
		}, "N ≥ 1"},
		{"fewer columns than rows", func(g *graph.Graph) { PyLateContrastive(graph.Const(g, [][]float64{{1}, {2}}), nil, 1, true) }, "N ≥ 1"},
		{"integer scores", func(g *graph.Graph) { PyLateContrastive(graph.Const(g, [][]int32{{1, 2}, {1, 2}}), nil, 1, true) }, "float"},
		{"nil scores", func(g *graph.Graph) { PyLateContrastive(nil, nil, 1, true) }, "<nil>"},
		{"zero temperature", func(g *graph.Graph) { PyLateContrastive(graph.Const(g, [][]float64{{1, 2}, {1, 2}}), nil, 0, true) }, "temperature"},
		{"negative temperature", func(g *graph.Graph) { PyLateContrastive(graph.Const(g, [][]float64{{1, 2}, {1, 2}}), nil, -1, true) }, "temperature"},
		{"infinite temperature", func(g *graph.Graph) {
			PyLateContrastive(graph.Const(g, [][]float64{{1, 2}, {1, 2}}), nil, math.Inf(1), true)
		}, "temperature"},
		{"NaN temperature", func(g *graph.Graph) {
			PyLateContrastive(graph.Const(g, [][]float64{{1, 2}, {1, 2}}), nil, math.NaN(), true)
		}, "temperature"},
		{"exclude shape", func(g *graph.Graph) {
			PyLateContrastive(graph.Const(g, [][]float64{{1, 2}, {1, 2}}), graph.Const(g, [][]bool{{true}, {false}}), 1, true)
		}, "exclude"},
		{"exclude dtype", func(g *graph.Graph) {
			PyLateContrastive(graph.Const(g, [][]float64{{1, 2}, {1, 2}}), graph.Const(g, [][]float64{{1, 0}, {0, 1}}), 1, true)
		}, "exclude"},
		{"distillation shapes", func(g *graph.Graph) {
			PyLateDistillation(graph.Const(g, [][]float64{{1, 2}}), graph.Const(g, [][]float64{{1, 2, 3}}), true, true)
		}, "one shape"},
		{"distillation rank", func(g *graph.Graph) {
			PyLateDistillation(graph.Const(g, []float64{1, 2}), graph.Const(g, []float64{1, 2}), true, true)
		}, "[B, n]"},
		{"distillation nil", func(g *graph.Graph) { PyLateDistillation(graph.Const(g, [][]float64{{1, 2}}), nil, true, true) }, "<nil>"},
		{"group-major rank", func(g *graph.Graph) { GroupMajor(graph.Const(g, [][]float64{{1, 2}})) }, "[B, B, N]"},
		{"group-major square", func(g *graph.Graph) { GroupMajor(graph.Const(g, [][][]float64{{{1}, {2}}})) }, "[B, B, N]"},
		{"scores mask", func(g *graph.Graph) {
			PyLateScores(graph.Const(g, [][][]float64{{{1}}}), graph.Const(g, [][][]float64{{{1}}}), graph.Const(g, [][]float64{{1}}))
		}, "docMask"},
	} {
		err := exceptions.TryCatch[error](func() {
			g := graph.NewGraph(bk, "bad")
			defer g.Finalize()
			tc.fn(g)
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}
