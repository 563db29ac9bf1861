package hfencoder

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/gorepro/gorepro/lib/backends"
	"github.com/gorepro/gorepro/lib/backends/backendstest"
)

var ftQueries = []string{
	"how do I quote a Go string?",
	"read exactly len(buf) bytes or fail with an unexpected EOF",
	"capital of Japan",
	"which function converts a rune to an ASCII-only quoted literal, escaping non-printable characters?",
}

// layersExec runs Layers(from) over the variables of store.
func layersExec(t testing.TB, e *Encoder, b compute.Backend, store *model.Store, from int) *model.Exec {
	t.Helper()
	exec, err := model.NewExec(b, store, func(scope *model.Scope, x, keys *graph.Node) *graph.Node {
		return e.Layers(scope, x, keys, from)
	})
	if err != nil {
		t.Fatal(err)
	}
	return exec
}

func flat3(t testing.TB, res *tensors.Tensor) [][][]float32 {
	t.Helper()
	v, ok := res.Value().([][][]float32)
	if !ok {
		t.Fatalf("output is %s, want float32 rank 3", res.Shape())
	}
	return v
}

// Hidden(layer l) then Layers(from l), both with the key lengths of the
// sequences, equals EmbedQueries (queries padded with [MASK], expansion
// not attended; all T positions) and Embed (documents padded with [PAD];
// their real tokens) to 1e-5 absolute (the tolerance of the numpy tests:
// both sides are float32 runs of the same arithmetic, split at a layer),
// for l = 0, 3, 5 and L; LayersFromTokens equals them too. Measured: 0
// (bit for bit) on the Go backend and xla:cpu, every case.
func TestHiddenLayersMatchEmbed(t *testing.T) {
	e := minilm(t)
	const Tq, Td = 16, 32
	var qids, dids [][]int32
	for _, q := range ftQueries {
		s, err := e.TokenizeQuery(q, Tq)
		if err != nil {
			t.Fatal(err)
		}
		qids = append(qids, s)
	}
	for _, d := range parityTexts[:6] {
		s, err := e.TokenizeDocument(d, Td)
		if err != nil {
			t.Fatal(err)
		}
		dids = append(dids, s)
	}
	for _, b := range backendstest.Available(t) {
		t.Run(b.Name(), func(t *testing.T) {
			wantQ, err := e.EmbedQueries(b, qids, Tq, 3, false)
			if err != nil {
				t.Fatal(err)
			}
			wantD, err := e.Embed(b, dids, Td, 4, nil)
			if err != nil {
				t.Fatal(err)
			}
			store, err := e.NewStore(b)
			if err != nil {
				t.Fatal(err)
			}
			qkeys, dkeys := make([]int32, len(qids)), make([]int32, len(dids))
			for i, s := range qids {
				qkeys[i] = int32(len(s))
			}
			for i, s := range dids {
				dkeys[i] = int32(len(s))
			}
			compare := func(name string, got [][][]float32, want *Tokens, lens []int32) float64 {
				var worst float64
				for i := range want.N {
					for j := range int(lens[i]) {
						for k := range e.Dim {
							worst = math.Max(worst, math.Abs(float64(got[i][j][k]-want.Vecs[(i*want.T+j)*e.Dim+k])))
						}
					}
				}
				t.Logf("%s: %s: largest difference %.2e", b.Name(), name, worst)
				if !(worst <= 1e-5) {
					t.Errorf("%s: differs by %.2e (> 1e-5)", name, worst)
				}
				return worst
			}
			allT := []int32{Tq, Tq, Tq, Tq}
			for _, l := range []int{0, 3, 5, e.NumLayers()} {
				hq, err := e.Hidden(b, qids, Tq, 3, e.MaskID, nil, l)
				if err != nil {
					t.Fatal(err)
				}
				hd, err := e.Hidden(b, dids, Td, 4, e.PadID, nil, l)
				if err != nil {
					t.Fatal(err)
				}
				if hq.Len[0] != Tq || hq.RealLen[0] != int32(len(qids[0])) {
					t.Errorf("Hidden: Len %d RealLen %d, want %d %d", hq.Len[0], hq.RealLen[0], Tq, len(qids[0]))
				}
				exec := layersExec(t, e, b, store, l)
				gq, err := exec.Call1(hq.Tensor(), qkeys)
				if err != nil {
					t.Fatal(err)
				}
				gd, err := exec.Call1(hd.Tensor(), dkeys)
				if err != nil {
					t.Fatal(err)
				}
				compare(fmt.Sprintf("Hidden(%d)+Layers(%d) queries vs EmbedQueries", l, l), flat3(t, gq), wantQ, allT)
				compare(fmt.Sprintf("Hidden(%d)+Layers(%d) documents vs Embed", l, l), flat3(t, gd), wantD, dkeys)
				if l != 3 {
					continue
				}
				both, err := model.NewExec(b, store, func(scope *model.Scope, q, qk, d, dk *graph.Node) (*graph.Node, *graph.Node) {
					return e.Layers(scope, q, qk, l), e.Layers(scope, d, dk, l) // one graph, shared variables
				})
				if err != nil {
					t.Fatal(err)
				}
				gq, gd, err = both.Call2(hq.Tensor(), qkeys, hd.Tensor(), dkeys)
				if err != nil {
					t.Fatal(err)
				}
				compare("queries and documents in one graph (Layers(3) twice) vs EmbedQueries", flat3(t, gq), wantQ, allT)
				compare("queries and documents in one graph (Layers(3) twice) vs Embed", flat3(t, gd), wantD, dkeys)
			}
			exec, err := model.NewExec(b, store, func(scope *model.Scope, toks, keys *graph.Node) *graph.Node {
				return e.LayersFromTokens(scope, toks, keys)
			})
			if err != nil {
				t.Fatal(err)
			}
			pad := func(ids [][]int32, T int, p int32) [][]int32 {
				out := make([][]int32, len(ids))
				for i, s := range ids {
					out[i] = make([]int32, T)
					for j := range out[i] {
						out[i][j] = p
					}
					copy(out[i], s)
				}
				return out
			}
			gd, err := exec.Call1(pad(dids, Td, e.PadID), dkeys)
			if err != nil {
				t.Fatal(err)
			}
			compare("LayersFromTokens documents vs Embed", flat3(t, gd), wantD, dkeys)
			gq, err := exec.Call1(pad(qids, Tq, e.MaskID), qkeys)
			if err != nil {
				t.Fatal(err)
			}
			compare("LayersFromTokens queries vs EmbedQueries", flat3(t, gq), wantQ, allT)
		})
	}
}

// randomTarget is a fixed pseudo-random tensor for the toy loss
// sum(Layers(x) · R).
func randomTarget(dtype dtypes.DType, dims ...int) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(7, 11))
	n := 1
	for _, d := range dims {
		n *= d
	}
	if dtype == dtypes.Float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		return tensors.FromFlatDataAndDimensions(v, dims...)
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

// snapshot copies every float32 variable's value (not, e.g., the random
// number generator's state an initialiser keeps).
func snapshot(t testing.TB, store *model.Store) map[string][]float32 {
	t.Helper()
	out := map[string][]float32{}
	for v := range store.IterVariables() {
		if v.DType() != dtypes.Float32 {
			continue
		}
		val, err := v.Value()
		if err != nil {
			t.Fatal(err)
		}
		if err := tensors.ConstFlatData(val, func(f []float32) { out[v.Path()] = append([]float32(nil), f...) }); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// One SGD step on the toy loss sum(Layers(x, from 4) · R) with a
// NewStore's variables: every variable of layers 4 and 5 changes (except
// the attention's key biases, whose gradient is zero in exact arithmetic:
// a key bias adds the same q·b to all of a query's scores, which softmax
// ignores), every other variable (layers 0–3, embeddings) stays bit for
// bit, the loss decreases, and the encoder's own weights (Embed's) are
// untouched.
func TestLayersSGDStep(t *testing.T) {
	e := minilm(t)
	b, _, err := backends.New(backends.Go)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	const T, from, lr = 12, 4, 1e-3
	var ids [][]int32
	for _, q := range ftQueries[:3] {
		s, err := e.TokenizeDocument(q, T)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s)
	}
	keys := []int32{int32(len(ids[0])), int32(len(ids[1])), int32(len(ids[2]))}
	h, err := e.Hidden(b, ids, T, 3, e.PadID, nil, from)
	if err != nil {
		t.Fatal(err)
	}
	before, err := e.Embed(b, ids, T, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	store, err := e.NewStore(b)
	if err != nil {
		t.Fatal(err)
	}
	R := randomTarget(dtypes.Float32, len(ids), T, e.Dim)
	step, err := model.NewExec(b, store, func(scope *model.Scope, x, keys, r *graph.Node) *graph.Node {
		loss := graph.ReduceAllSum(graph.Mul(e.Layers(scope, x, keys, from), r))
		grads := scope.BuildTrainableVariablesGradientsGraph(loss)
		i := 0
		for v := range scope.IterVariables() {
			if v.Trainable && v.InUseByGraph(x.Graph()) {
				v.SetNodeValue(graph.Sub(v.NodeValue(x.Graph()), graph.MulScalar(grads[i], lr)))
				i++
			}
		}
		return loss
	})
	if err != nil {
		t.Fatal(err)
	}
	old := snapshot(t, store)
	loss0, err := step.Call1(h.Tensor(), keys, R)
	if err != nil {
		t.Fatal(err)
	}
	updated := snapshot(t, store)
	loss1, err := step.Call1(h.Tensor(), keys, R)
	if err != nil {
		t.Fatal(err)
	}
	l0, l1 := loss0.Value().(float32), loss1.Value().(float32)
	t.Logf("toy loss %.4f → %.4f after one SGD step (lr %g) through layers %d–5", l0, l1, lr, from)
	if !(l1 < l0) {
		t.Errorf("loss did not decrease: %v → %v", l0, l1)
	}
	changed := 0
	for path, o := range old {
		var d float64
		for i := range o {
			d = math.Max(d, math.Abs(float64(updated[path][i]-o[i])))
		}
		top := strings.HasPrefix(path, "/layer_4/") || strings.HasPrefix(path, "/layer_5/")
		switch {
		case !top && d != 0:
			t.Errorf("%s (not in the graph) changed by %.2e", path, d)
		case top && d == 0 && !strings.Contains(path, "/key/dense/biases"):
			t.Errorf("%s (in the graph) did not change", path)
		case top:
			changed++
			if strings.Contains(path, "/key/dense/biases") {
				t.Logf("%s changed by %.2e (zero in exact arithmetic)", path, d)
			}
		}
	}
	if changed != 32 {
		t.Errorf("%d variables of layers 4–5, want 32", changed)
	}
	after, err := e.Embed(b, ids, T, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range before.Vecs {
		if before.Vecs[i] != after.Vecs[i] {
			t.Fatalf("Embed changed after training a NewStore")
		}
	}
}

// The gradient through Layers of one weight of layer 4's attention and one
// of layer 5's FFN, in float64 (a NewStore converted to float64; x from
// Hidden), equals a central finite difference (h = 1e-5) to a relative
// 1e-6.
func TestLayersGradientFiniteDifference(t *testing.T) {
	e := minilm(t)
	const T, from, h = 10, 4, 1e-5
	var ids [][]int32
	for _, q := range ftQueries[2:] {
		s, err := e.TokenizeQuery(q, T)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s)
	}
	keys := []int32{int32(len(ids[0])), int32(len(ids[1]))}
	for _, b := range backendstest.Available(t) {
		t.Run(b.Name(), func(t *testing.T) {
			hid, err := e.Hidden(b, ids, T, 2, e.MaskID, nil, from)
			if err != nil {
				t.Fatal(err)
			}
			x64 := make([]float64, len(hid.Vecs))
			for i, v := range hid.Vecs {
				x64[i] = float64(v)
			}
			x := tensors.FromFlatDataAndDimensions(x64, hid.N, hid.T, hid.Dim)
			R := randomTarget(dtypes.Float64, hid.N, T, e.Dim)
			store, err := e.newStore(b, dtypes.Float64)
			if err != nil {
				t.Fatal(err)
			}
			weights := []struct {
				path string
				at   int // flat index
			}{
				{"/layer_4/attn/MultiHeadAttention/query/dense/weights", 5*e.Dim + 17},
				{"/layer_5/ff1/dense/weights", 100*e.Dim + 3},
				{"/layer_5/norm2/layer_normalization/gain", 9},
			}
			lossFn := func(scope *model.Scope, x, keys, r *graph.Node) *graph.Node {
				return graph.ReduceAllSum(graph.Mul(e.Layers(scope, x, keys, from), r))
			}
			lossExec, err := model.NewExec(b, store, lossFn)
			if err != nil {
				t.Fatal(err)
			}
			gradExec, err := model.NewExec(b, store, func(scope *model.Scope, x, keys, r *graph.Node) []*graph.Node {
				loss := lossFn(scope, x, keys, r)
				var vs []*graph.Node
				for _, w := range weights {
					vs = append(vs, store.GetVariable(w.path).NodeValue(x.Graph()))
				}
				grads := graph.Gradient(loss, vs...)
				out := make([]*graph.Node, len(grads))
				for i, g := range grads {
					out[i] = graph.Reshape(g, -1)
				}
				return out
			})
			if err != nil {
				t.Fatal(err)
			}
			grads, err := gradExec.Call(x, keys, R)
			if err != nil {
				t.Fatal(err)
			}
			loss := func() float64 {
				l, err := lossExec.Call1(x, keys, R)
				if err != nil {
					t.Fatal(err)
				}
				return l.Value().(float64)
			}
			for i, w := range weights {
				v := store.GetVariable(w.path)
				orig, err := v.Value()
				if err != nil {
					t.Fatal(err)
				}
				vals, dims := tensors.MustCopyFlatData[float64](orig), orig.Shape().Dimensions
				set := func(d float64) {
					c := append([]float64(nil), vals...)
					c[w.at] += d
					if err := v.SetValue(tensors.FromFlatDataAndDimensions(c, dims...)); err != nil {
						t.Fatal(err)
					}
				}
				set(h)
				lp := loss()
				set(-h)
				lm := loss()
				set(0)
				fd := (lp - lm) / (2 * h)
				an := grads[i].Value().([]float64)[w.at]
				rel := math.Abs(an-fd) / math.Max(math.Abs(fd), 1e-12)
				t.Logf("%s: %s[%d]: gradient %.9g, finite difference %.9g, relative difference %.2e", b.Name(), w.path, w.at, an, fd, rel)
				if !(rel <= 1e-6) {
					t.Errorf("%s[%d]: gradient %g vs finite difference %g (relative %.2e > 1e-6)", w.path, w.at, an, fd, rel)
				}
			}
		})
	}
}

// Bad input to Hidden is one error naming the argument; a bad Layers
// argument is an error from the Exec, not a panic.
func TestHiddenBadInput(t *testing.T) {
	e := minilm(t)
	b, _, err := backends.New(backends.Go)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	q := []int32{e.ClsID, e.SepID}
	L := e.NumLayers()
	for _, c := range []struct {
		name     string
		ids      [][]int32
		T, batch int
		pad      int32
		keys     []int32
		layer    int
		want     string
	}{
		{"empty", [][]int32{q, {}}, 8, 2, e.PadID, nil, 0, "ids[1] has 0 ids"},
		{"long", [][]int32{make([]int32, 9)}, 8, 2, e.PadID, nil, 0, "ids[0] has 9 ids"},
		{"T", [][]int32{q}, 0, 2, e.PadID, nil, 0, "T = 0"},
		{"batch", [][]int32{q}, 8, 0, e.PadID, nil, 0, "batch = 0"},
		{"layer", [][]int32{q}, 8, 2, e.PadID, nil, L + 1, fmt.Sprintf("layer = %d must be in [0, %d]", L+1, L)},
		{"negative layer", [][]int32{q}, 8, 2, e.PadID, nil, -1, "layer = -1"},
		{"pad", [][]int32{q}, 8, 2, -1, nil, 0, "pad = -1"},
		{"keys count", [][]int32{q}, 8, 2, e.PadID, []int32{1, 2}, 0, "2 keys for 1 sequences"},
		{"key zero", [][]int32{q}, 8, 2, e.PadID, []int32{0}, 0, "keys[0] = 0 must be in [1, T = 8]"},
		{"key beyond T", [][]int32{q}, 8, 2, e.PadID, []int32{9}, 0, "keys[0] = 9"},
		{"id", [][]int32{{e.ClsID, -3}}, 8, 2, e.PadID, nil, 0, "ids[0][1] = -3"},
	} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: panic %v", c.name, r)
				}
			}()
			got, err := e.Hidden(b, c.ids, c.T, c.batch, c.pad, c.keys, c.layer)
			if err == nil || !strings.Contains(err.Error(), "Hidden") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: got (%v, %v), want an error with %q", c.name, got, err, c.want)
			}
		}()
	}
	store, err := e.NewStore(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range []int{-1, L + 1} {
		exec := layersExec(t, e, b, store, from)
		x := tensors.FromShape(shapes.Make(dtypes.Float32, 1, 4, e.Dim))
		_, err := exec.Call1(x, []int32{1})
		if err == nil || !strings.Contains(err.Error(), "from") {
			t.Errorf("Layers from %d: %v", from, err)
		}
	}
	exec := layersExec(t, e, b, store, 3)
	if _, err := exec.Call1(tensors.FromShape(shapes.Make(dtypes.Float32, 2, 4, e.Dim)), []int32{1}); err == nil || !strings.Contains(err.Error(), "keys") {
		t.Errorf("Layers with 1 key for 2 sequences: %v", err)
	}
	if _, err := exec.Call1(tensors.FromShape(shapes.Make(dtypes.Float32, 2, 4, 7)), []int32{1, 2}); err == nil || !strings.Contains(err.Error(), "want float [batch, T") {
		t.Errorf("Layers with x of width 7: %v", err)
	}
}

// colbertStep builds one SGD training step of a toy ColBERT model: the
// encoder stack (layers from…L−1 of hidden states, or all of it from
// token ids when from < 0), a 128-d projection head under "colbert",
// L2-normalised token vectors, MaxSim scores of every query against every
// document (document padding masked) and in-batch cross-entropy with
// query i's positive document i; every trainable variable in the graph
// takes an SGD step.
func colbertStep(e *Encoder, from int) func(scope *model.Scope, q, qkeys, d, dkeys *graph.Node) *graph.Node {
	encode := func(scope *model.Scope, x, keys *graph.Node) *graph.Node {
		if from < 0 {
			return e.LayersFromTokens(scope, x, keys)
		}
		return e.Layers(scope, x, keys, from)
	}
	return func(scope *model.Scope, q, qkeys, d, dkeys *graph.Node) *graph.Node {
		g := q.Graph()
		project := func(x *graph.Node) *graph.Node { // At: the head is used twice
			return graph.L2Normalize(layers.Dense(scope.At("colbert"), x, false, 128), -1)
		}
		qv := project(encode(scope, q, qkeys)) // [Nq, Tq, 128]
		dv := project(encode(scope, d, dkeys)) // [Nd, Td, 128]
		nq, nd, td := qv.Shape().Dimensions[0], dv.Shape().Dimensions[0], dv.Shape().Dimensions[1]
		sim := graph.Einsum("qik,djk->qdij", qv, dv) // [Nq, Nd, Tq, Td]
		masked := graph.ConvertDType(graph.LogicalNot(keyMask(dv, dkeys)), sim.DType())
		sim = graph.Sub(sim, graph.MulScalar(graph.Reshape(masked, 1, nd, 1, td), 1e4))
		scores := graph.ReduceSum(graph.ReduceMax(sim, -1), -1) // [Nq, Nd]
		eye := make([][]float32, nq)
		for i := range eye {
			eye[i] = make([]float32, nd)
			eye[i][i] = 1
		}
		loss := graph.Neg(graph.ReduceAllMean(graph.Mul(graph.LogSoftmax(scores, -1), graph.Const(g, eye))))
		grads := scope.BuildTrainableVariablesGradientsGraph(loss)
		i := 0
		for v := range scope.IterVariables() {
			if v.Trainable && v.InUseByGraph(g) {
				v.SetNodeValue(graph.Sub(v.NodeValue(g), graph.MulScalar(grads[i], 1e-4)))
				i++
			}
		}
		return loss
	}
}

// BenchmarkTopLayersStep times one training step (forward and backward,
// SGD update) of the toy ColBERT model through the top 1 or 2 layers
// (quick profile: inputs are Hidden states) or all of it from token ids
// (full profile), for 32 queries × 16 tokens and 64 documents × 32 tokens,
// on xla:cpu ($GOREPRO_TEST_BACKENDS overrides the backend, first one).
// The first (compiling) step is not timed.
func BenchmarkTopLayersStep(bb *testing.B) {
	e := minilm(bb)
	b := benchBackend(bb)
	const nq, tq, nd, td = 32, 16, 64, 32
	rng := rand.New(rand.NewPCG(1, 2))
	keys := func(n, lo, hi int) []int32 {
		k := make([]int32, n)
		for i := range k {
			k[i] = int32(lo + rng.IntN(hi-lo+1))
		}
		return k
	}
	qkeys, dkeys := keys(nq, 6, tq), keys(nd, 10, td)
	ids := func(n, T int) [][]int32 {
		out := make([][]int32, n)
		for i := range out {
			out[i] = make([]int32, T)
			for j := range out[i] {
				out[i][j] = int32(1000 + rng.IntN(20000))
			}
		}
		return out
	}
	L := e.NumLayers()
	for _, c := range []struct {
		name string
		from int
	}{{"top1", L - 1}, {"top2", L - 2}, {"all+embeddings", -1}} {
		bb.Run(c.name, func(bb *testing.B) {
			store, err := e.NewStore(b)
			if err != nil {
				bb.Fatal(err)
			}
			step, err := model.NewExec(b, store, colbertStep(e, c.from))
			if err != nil {
				bb.Fatal(err)
			}
			var q, d any = randomTarget(dtypes.Float32, nq, tq, e.Dim), randomTarget(dtypes.Float32, nd, td, e.Dim)
			if c.from < 0 {
				q, d = ids(nq, tq), ids(nd, td)
			}
			if _, err := step.Call1(q, qkeys, d, dkeys); err != nil {
				bb.Fatal(err)
			}
			cpu := cpuTime()
			bb.ResetTimer()
			for bb.Loop() {
				if _, err := step.Call1(q, qkeys, d, dkeys); err != nil {
					bb.Fatal(err)
				}
			}
			reportCPU(bb, cpu)
		})
	}
}

// BenchmarkEmbed1000Docs times Embed of 1000 documents × 32 tokens in
// batches of 64 on xla:cpu (after a compiling call).
func BenchmarkEmbed1000Docs(bb *testing.B) {
	e := minilm(bb)
	b := benchBackend(bb)
	const n, T, batch = 1000, 32, 64
	rng := rand.New(rand.NewPCG(3, 4))
	docs := make([][]int32, n)
	for i := range docs {
		docs[i] = make([]int32, T)
		docs[i][0], docs[i][T-1] = e.ClsID, e.SepID
		for j := 1; j < T-1; j++ {
			docs[i][j] = int32(1000 + rng.IntN(20000))
		}
	}
	if _, err := e.Embed(b, docs[:batch], T, batch, nil); err != nil {
		bb.Fatal(err)
	}
	cpu := cpuTime()
	bb.ResetTimer()
	for bb.Loop() {
		if _, err := e.Embed(b, docs, T, batch, nil); err != nil {
			bb.Fatal(err)
		}
	}
	reportCPU(bb, cpu)
}

// benchBackend is xla:cpu, or the first of $GOREPRO_TEST_BACKENDS.
func benchBackend(bb *testing.B) compute.Backend {
	if os.Getenv(backendstest.EnvBackends) != "" {
		return backendstest.Available(bb)[0]
	}
	b, _, err := backends.New(backends.XLACPU)
	if err != nil {
		bb.Skip(err)
	}
	bb.Cleanup(b.Finalize)
	return b
}

// cpuTime is the process's user + system CPU time in seconds.
func cpuTime() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return math.NaN()
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// reportCPU reports the CPU seconds per iteration since start (cpu-s/op):
// on a machine shared with other work, cpu-s/op ÷ cores estimates the
// wall time the step would take alone.
func reportCPU(bb *testing.B, start float64) {
	bb.ReportMetric((cpuTime()-start)/float64(bb.N), "cpu-s/op")
}

// The full profile: one SGD step through LayersFromTokens (the toy ColBERT
// loss of the benchmark) changes every variable the encoder uses,
// embedding tables included (token_type_embed only in row 0, token_embed
// only in the rows of the ids), and the head's projection.
func TestLayersFromTokensSGDStep(t *testing.T) {
	e := minilm(t)
	b, _, err := backends.New(backends.Go)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	const T = 10
	var qs, ds [][]int32
	var qk, dk []int32
	for i, text := range ftQueries[:2] {
		q, err := e.TokenizeQuery(text, T)
		if err != nil {
			t.Fatal(err)
		}
		d, err := e.TokenizeDocument(parityTexts[i], T)
		if err != nil {
			t.Fatal(err)
		}
		qk, dk = append(qk, int32(len(q))), append(dk, int32(len(d)))
		q, d = append(q, make([]int32, T-len(q))...), append(d, make([]int32, T-len(d))...)
		for j := qk[i]; j < T; j++ {
			q[j] = e.MaskID
		}
		qs, ds = append(qs, q), append(ds, d)
	}
	store, err := e.NewStore(b)
	if err != nil {
		t.Fatal(err)
	}
	step, err := model.NewExec(b, store, colbertStep(e, -1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := step.Call1(qs, qk, ds, dk); err != nil { // creates the head
		t.Fatal(err)
	}
	old := snapshot(t, store)
	if _, err := step.Call1(qs, qk, ds, dk); err != nil {
		t.Fatal(err)
	}
	now := snapshot(t, store)
	used := map[int]bool{}
	for _, s := range slices.Concat(qs, ds) {
		for _, id := range s {
			used[int(id)] = true
		}
	}
	for path, o := range old {
		rows := 1
		switch path {
		case "/token_embed/embeddings":
			rows = e.model.Config.VocabSize
		case "/pos_embed/embeddings":
			rows = e.MaxLen
		case "/token_type_embed/embeddings":
			rows = 2
		}
		width := len(o) / rows
		changedRows := map[int]bool{}
		for i := range o {
			if o[i] != now[path][i] {
				changedRows[i/width] = true
			}
		}
		switch path {
		case "/token_embed/embeddings":
			for r := range changedRows {
				if !used[r] {
					t.Errorf("%s: row %d (no id of the batch) changed", path, r)
				}
			}
			if len(changedRows) == 0 {
				t.Errorf("%s did not change", path)
			}
		case "/pos_embed/embeddings":
			if len(changedRows) != T {
				t.Errorf("%s: %d rows changed, want %d", path, len(changedRows), T)
			}
		case "/token_type_embed/embeddings":
			if len(changedRows) != 1 || !changedRows[0] {
				t.Errorf("%s: rows %v changed, want row 0", path, changedRows)
			}
		default:
			if len(changedRows) == 0 && !strings.Contains(path, "/key/dense/biases") {
				t.Errorf("%s did not change", path)
			}
		}
	}
	if len(old) != 5+16*e.NumLayers()+1 {
		t.Errorf("%d float32 variables, want %d (5 embedding, 16 per layer, 1 head)", len(old), 5+16*e.NumLayers()+1)
	}
}
