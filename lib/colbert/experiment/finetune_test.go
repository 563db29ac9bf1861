package experiment

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/gorepro/gorepro/lib/backends"
	"github.com/gorepro/gorepro/lib/colbert"
	"github.com/gorepro/gorepro/lib/data/beir"
	"github.com/gorepro/gorepro/lib/data/godoc"
	"github.com/gorepro/gorepro/lib/notebook"
)

func TestTrainedVariable(t *testing.T) {
	for _, tc := range []struct {
		scope  string
		frozen int
		want   bool
	}{
		{"/head/linear", 5, true},
		{"/head/block0", 0, true},
		{"/layer_5/attn/MultiHeadAttention/query/dense", 5, true},
		{"/layer_4/ff1/dense", 5, false},
		{"/layer_0/norm1/layer_normalization", 0, true},
		{"/layer_10/ff1/dense", 6, true}, // two digits
		{"/token_embed", 0, true},        // everything trains when nothing is frozen
		{"/token_embed", 1, false},
		{"/embed_norm/layer_normalization", 2, false},
		{"/optimizers/adam", 5, false},
	} {
		if got := trainedVariable(tc.scope, tc.frozen); got != tc.want {
			t.Errorf("trainedVariable(%q, %d) = %v, want %v", tc.scope, tc.frozen, got, tc.want)
		}
	}
}

func TestFloatJSON(t *testing.T) {
	for _, v := range []float64{1.25, 0, -3e-9, math.NaN(), math.Inf(1), math.Inf(-1)} {
		data, err := json.Marshal(EpochPoint{Epoch: 1, Loss: notebook.Float(v)})
		if err != nil {
			t.Fatalf("%g: %v", v, err)
		}
		var back EpochPoint
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatalf("%g: %s: %v", v, data, err)
		}
		if got := float64(back.Loss); got != v && !(math.IsNaN(v) && math.IsNaN(got)) {
			t.Errorf("%g came back as %g (%s)", v, got, data)
		}
	}
	var f notebook.Float
	if err := json.Unmarshal([]byte(`"many"`), &f); err == nil {
		t.Error(`"many" read as a number`)
	}
}

// blockOf is a Block whose hidden state of sequence i, position j, is
// 100·i + j in every dimension, with keep = 1 on the first keys[i] positions.
func blockOf(n, T, dim int, keys []int32, docs bool) *Block {
	b := &Block{N: n, T: T, Dim: dim, Keys: keys}
	for i := range n {
		for j := range T {
			for range dim {
				b.Hidden = append(b.Hidden, float32(100*i+j))
			}
			if docs {
				k := float32(0)
				if int32(j) < keys[i] {
					k = 1
				}
				b.Keep = append(b.Keep, k)
			}
		}
	}
	return b
}

// A batch holds the queries in order, the documents group-major (the B
// positives, then the B first negatives, …) with their keys and keep
// masks, and excludes from a query's softmax the other documents with its
// positive's text.
func TestTupleBatchLayout(t *testing.T) {
	p := &Prepared{
		TrainQ:    blockOf(3, 2, 2, []int32{2, 1, 2}, false),
		TrainDocs: blockOf(4, 3, 2, []int32{3, 2, 1, 3}, true),
		TrainPos:  []int{0, 1, 2},
		TrainNeg:  [][]int{{3}, {0}, {3}},
		sameDoc:   []int{0, 1, 2, 0}, // documents 0 and 3 have one text
	}
	d := &tupleData{p: p, batch: 2, neg: 1}
	b := d.make([]int{2, 0}) // queries 2 and 0
	q, qk, docs, dk, keep, ex := b.Inputs[0], b.Inputs[1], b.Inputs[2], b.Inputs[3], b.Inputs[4], b.Inputs[5]
	if !reflect.DeepEqual(q.Shape().Dimensions, []int{2, 2, 2}) || !reflect.DeepEqual(docs.Shape().Dimensions, []int{4, 3, 2}) {
		t.Fatalf("shapes %s, %s", q.Shape(), docs.Shape())
	}
	if got := q.Value().([][][]float32); got[0][0][0] != 200 || got[1][1][0] != 1 {
		t.Errorf("queries %v, want query 2 then query 0", got)
	}
	if got := qk.Value().([]int32); !reflect.DeepEqual(got, []int32{2, 2}) {
		t.Errorf("query keys %v", got)
	}
	// Documents: positives of queries 2, 0 (docs 2, 0), then their negatives (3, 3).
	wantDocs := []int{2, 0, 3, 3}
	gotDocs := docs.Value().([][][]float32)
	for r, doc := range wantDocs {
		if gotDocs[r][0][0] != float32(100*doc) {
			t.Errorf("document row %d starts %g, want document %d", r, gotDocs[r][0][0], doc)
		}
	}
	if got := dk.Value().([]int32); !reflect.DeepEqual(got, []int32{1, 3, 3, 3}) {
		t.Errorf("document keys %v", got)
	}
	if got := keep.Value().([][]float32); !reflect.DeepEqual(got[0], []float32{1, 0, 0}) || !reflect.DeepEqual(got[1], []float32{1, 1, 1}) {
		t.Errorf("keep %v", got)
	}
	// Query 0 (row 1)'s positive is document 0, the same text as document 3
	// (columns 2 and 3): excluded for it; query 2 (row 0) excludes nothing.
	want := [][]bool{{false, false, false, false}, {false, false, true, true}}
	if got := ex.Value().([][]bool); !reflect.DeepEqual(got, want) {
		t.Errorf("exclusions %v, want %v", got, want)
	}
}

func TestSubBlock(t *testing.T) {
	corpus := blockOf(3, 2, 1, []int32{2, 1, 2}, true)
	task, err := godoc.Build(goroot(t), godoc.Options{Packages: []string{"unicode/utf8"}, EvalQueries: 2, MinQueryWords: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	docs := task.Eval.Corpus[:3]
	ids := []string{docs[2].ID, docs[0].ID}
	texts := []string{docText(docs[2]), docText(docs[0])}
	sub := subBlock(corpus, docs, ids, texts)
	if sub == nil || sub.N != 2 || sub.Hidden[0] != 200 || sub.Hidden[2] != 0 || !reflect.DeepEqual(sub.Keys, []int32{2, 2}) || !reflect.DeepEqual(sub.Keep, []float32{1, 1, 1, 1}) {
		t.Errorf("sub-block %+v", sub)
	}
	if subBlock(corpus, docs, ids, []string{"another text", texts[1]}) != nil {
		t.Error("a document with another text was taken from the corpus")
	}
	if subBlock(corpus, docs, []string{"absent"}, []string{"x"}) != nil {
		t.Error("an absent document was taken from the corpus")
	}
}

func goroot(t *testing.T) string {
	t.Helper()
	g, err := godoc.GOROOT()
	if err != nil {
		t.Skip(err)
	}
	return g
}

// Prepare and FineTune on a small Go doc task with the real MiniLM: the
// training documents taken from the corpus equal their own encoding, the
// negatives are mined, the top layer and the head train (the loss falls),
// the run reports its curve, chosen epoch and evaluation sets, is
// deterministic, and FineTuneOrLoad reads it back from the cache.
func TestFineTune(t *testing.T) {
	e := miniLM(t)
	b, _, err := backends.New("")
	if err != nil {
		t.Fatal(err)
	}
	task, err := godoc.Build(goroot(t), godoc.Options{Packages: []string{"strconv", "unicode/utf8"}, EvalQueries: 12, DevQueries: 8, MinQueryWords: 3, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Prepare(b, e, task, 3, PrepareOptions{QueryLen: 8, DocLen: 16, TrainLayers: 1, Negatives: 1, Batch: 16}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Frozen != 5 || len(p.TrainNeg) != p.TrainQ.N || p.Dev.Corpus != p.Evals[0].Corpus {
		t.Fatalf("prepared: frozen %d, %d negatives for %d queries, dev corpus shared %v", p.Frozen, len(p.TrainNeg), p.TrainQ.N, p.Dev.Corpus == p.Evals[0].Corpus)
	}
	for i, negs := range p.TrainNeg {
		if len(negs) != 1 || p.sameDoc[negs[0]] == p.sameDoc[p.TrainPos[i]] {
			t.Fatalf("query %d: negatives %v, positive %d", i, negs, p.TrainPos[i])
		}
	}
	// The training documents (rows of the corpus) equal their own encoding.
	ids := make([][]int32, 0, 3)
	for _, pair := range task.Train[:3] {
		s, err := e.TokenizeDocument(pair.Doc, 16)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s)
	}
	own, err := e.Hidden(b, ids, 16, 16, e.PadID, nil, 5)
	if err != nil {
		t.Fatal(err)
	}
	row := 16 * own.Dim
	for k := range 3 {
		got := p.TrainDocs.Hidden[p.TrainPos[k]*row : (p.TrainPos[k]+1)*row]
		for j, v := range own.Vecs[k*row : (k+1)*row] {
			if math.Abs(float64(v-got[j])) > 1e-5 {
				t.Fatalf("training document %d, value %d: %g from the corpus, %g encoded alone", k, j, got[j], v)
			}
		}
	}
	cfg := Config{Head: Named, Dim: 384, K: 32, Epochs: 3, BatchSize: 8, LR: 1e-3, Temperature: 1, QueryLen: 8, DocLen: 16, Seed: 3, TrainLayers: 1, Negatives: 1}
	dir := t.TempDir()
	run, err := FineTuneOrLoad(b, e, p, cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("curve %+v; best epoch %d, dev %.4f, test %.4f, %d params, %.1f s", run.Curve, run.BestEpoch, run.Dev.NDCG10, run.Metrics.NDCG10, run.Params, run.Seconds)
	if len(run.Curve) != 3 || run.BestEpoch < 1 || !(float64(run.Curve[2].Loss) < float64(run.Curve[0].Loss)) || run.Diverged {
		t.Errorf("curve %+v, best epoch %d: want 3 epochs with a falling loss", run.Curve, run.BestEpoch)
	}
	best := run.Curve[run.BestEpoch-1].DevNDCG
	for _, pt := range run.Curve {
		if pt.DevNDCG > best {
			t.Errorf("epoch %d has dev NDCG@10 %.4f above the chosen epoch's %.4f", pt.Epoch, pt.DevNDCG, best)
		}
	}
	// Trainable: the head and the top layer (layer 5: 4 attention projections, 2 FFN, 2 norms).
	wantLayer := 4*(384*384+384) + (384*1536 + 1536) + (1536*384 + 384) + 2*2*384
	if run.Params <= wantLayer || run.Metrics.Queries != 12 || len(run.Evals) != 1 || len(run.EvalNames) != 1 || len(run.Metrics.PerQuery) != 12 {
		t.Errorf("params %d (layer 5 alone: %d), %d queries, %d evaluation sets %v", run.Params, wantLayer, run.Metrics.Queries, len(run.Evals), run.EvalNames)
	}
	again, err := FineTune(b, e, p, cfg, nil)
	if err != nil || !reflect.DeepEqual(again.Metrics, run.Metrics) || !reflect.DeepEqual(again.Curve, run.Curve) {
		t.Errorf("a second run differs: %v\n%+v\n%+v", err, again.Curve, run.Curve)
	}
	cached, err := FineTuneOrLoad(b, e, p, cfg, dir)
	if err != nil || !cached.FromCache || !reflect.DeepEqual(cached.Metrics, run.Metrics) {
		t.Errorf("cache: %v, from cache %v", err, cached != nil && cached.FromCache)
	}
	// Bad input: a config that does not match the prepared data.
	bad := cfg
	bad.TrainLayers = 2
	if _, err := FineTune(b, e, p, bad, nil); err == nil {
		t.Error("2 trained layers on data prepared for 1: no error")
	}
	bad = cfg
	bad.Negatives = 2
	if _, err := FineTune(b, e, p, bad, nil); err == nil {
		t.Error("2 negatives where 1 was mined: no error")
	}
	if _, err := Prepare(b, e, task, 3, PrepareOptions{QueryLen: 8, DocLen: 16, TrainLayers: 7, Batch: 16}, nil); err == nil {
		t.Error("7 trained layers of 6: no error")
	}
	// A BEIR query with no token after tokenisation: one error naming the set and the query's id.
	blank := &beir.Dataset{Name: "blank-query", Corpus: []beir.Doc{{ID: "d", Text: "some text"}}, Queries: []beir.Query{{ID: "q-blank", Text: "   "}},
		Qrels: map[string]map[string]int{"q-blank": {"d": 1}}}
	if _, err := Prepare(b, e, task, 3, PrepareOptions{QueryLen: 8, DocLen: 16, TrainLayers: 1, Batch: 16, Extra: []*beir.Dataset{blank}}, nil); err == nil ||
		!strings.Contains(err.Error(), `blank-query queries, id "q-blank"`) {
		t.Errorf("a blank query: error %v", err)
	}
	// A frozen encoder (the head alone) trains too.
	p0, err := Prepare(b, e, task, 3, PrepareOptions{QueryLen: 8, DocLen: 16, TrainLayers: 0, Negatives: 1, Batch: 16}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg0 := cfg
	cfg0.TrainLayers, cfg0.Head = 0, colbert.Head{Kind: colbert.Linear}
	r0, err := FineTune(b, e, p0, cfg0, nil)
	if err != nil || r0.Params != 384*32 {
		t.Errorf("frozen encoder: %v, %d params (want the head's %d)", err, r0.Params, 384*32)
	}
}
