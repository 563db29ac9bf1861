package experiment

import (
	"math"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/gorepro/gorepro/lib/backends"
	"github.com/gorepro/gorepro/lib/colbert"
	"github.com/gorepro/gorepro/lib/data/beir"
	"github.com/gorepro/gorepro/lib/data/godoc"
	"github.com/gorepro/gorepro/lib/hfencoder"
)

func miniLM(t *testing.T) *hfencoder.Encoder {
	t.Helper()
	dir, err := hfencoder.LocateMiniLM()
	if err != nil {
		if os.Getenv("GOREPRO_REQUIRE_MINILM") != "" {
			t.Fatalf("all-MiniLM-L6-v2 is required ($GOREPRO_REQUIRE_MINILM): %v", err)
		}
		t.Skip(err)
	}
	e, err := hfencoder.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Encode, TrainHead and EvaluateEncoded on a small Go documentation task
// with the real MiniLM: training documents are the corpus's vectors,
// queries are [MASK]-augmented, the raw-token evaluation equals a float64
// MaxSim computed here, a linear head trains below chance-level loss, and
// RunHeadOrLoad caches it.
func TestPretrainedHeads(t *testing.T) {
	e := miniLM(t)
	b, _, err := backends.New("")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	root, err := godoc.GOROOT()
	if err != nil {
		t.Skip(err)
	}
	task, err := godoc.Build(root, godoc.Options{Packages: []string{"strconv", "container/list", "unicode/utf8"}, EvalQueries: 30, MinQueryWords: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	const qLen, dLen = 12, 24
	enc, err := Encode(b, e, task, qLen, dLen, 32, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := enc.Corpus
	// Training documents: the corpus's rows, and what Embed gives for their text.
	direct, err := e.Tokenize(task.Train[0].Doc, dLen)
	if err != nil {
		t.Fatal(err)
	}
	one, err := e.Embed(b, [][]int32{direct}, dLen, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k := range one.Vecs {
		if d := math.Abs(float64(one.Vecs[k] - enc.TrainD.Vecs[k])); !(d <= 1e-4) {
			t.Fatalf("training document 0 differs from its own encoding by %g at %d", d, k)
		}
	}
	for i := range enc.EvalQ.N {
		if enc.EvalQ.Len[i] != qLen || enc.PlainQ.Len[i] > qLen {
			t.Fatalf("query %d: augmented length %d (want %d), plain %d", i, enc.EvalQ.Len[i], qLen, enc.PlainQ.Len[i])
		}
	}

	// Evaluating on another dataset (BEIR files): the training documents are
	// then encoded, and equal the corpus copies above.
	other := *task
	other.Eval = &beir.Dataset{Name: "fixture", Corpus: task.Eval.Corpus[:5], Queries: task.Eval.Queries[:2], Qrels: map[string]map[string]int{}}
	for _, q := range other.Eval.Queries {
		other.Eval.Qrels[q.ID] = map[string]int{other.Eval.Corpus[0].ID: 1}
	}
	bdir := t.TempDir()
	if err := beir.Write(bdir, "test", other.Eval); err != nil {
		t.Fatal(err)
	}
	if other.Eval, err = beir.Load(bdir, "test"); err != nil {
		t.Fatal(err)
	}
	encOther, err := Encode(b, e, &other, qLen, dLen, 32, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range enc.TrainD.Vecs {
		if d := math.Abs(float64(v - encOther.TrainD.Vecs[k])); !(d <= 1e-4) {
			t.Fatalf("training documents encoded directly differ from their corpus copies by %g at %d", d, k)
		}
	}

	// Raw tokens: MaxSim over L2-normalised 384-d vectors, in float64 here.
	cfg := Config{Head: colbert.Head{Kind: RawTokens}, Dim: e.Dim, K: e.Dim, Epochs: 1, BatchSize: 16, LR: 3e-3, Temperature: 0.05, QueryLen: qLen, DocLen: dLen, Seed: 1}
	raw, err := TrainHead(b, cfg, enc, nil)
	if err != nil {
		t.Fatal(err)
	}
	unit := func(v []float32) []float64 {
		var n float64
		for _, x := range v {
			n += float64(x) * float64(x)
		}
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x) / math.Sqrt(n)
		}
		return out
	}
	q := enc.EvalQ
	scores := make([][]float32, q.N)
	for i := range q.N {
		for j := range c.N {
			var s float64
			for a := range qLen {
				qa := unit(q.Vecs[(i*qLen+a)*q.Dim : (i*qLen+a+1)*q.Dim])
				best := math.Inf(-1)
				for d := range int(c.Len[j]) {
					dv := unit(c.Vecs[(j*dLen+d)*c.Dim : (j*dLen+d+1)*c.Dim])
					var dot float64
					for k := range qa {
						dot += qa[k] * dv[k]
					}
					best = math.Max(best, dot)
				}
				s += best
			}
			scores[i] = append(scores[i], float32(s))
		}
	}
	want, err := metricsOf(enc.Eval, scores)
	if err != nil {
		t.Fatal(err)
	}
	if !(math.Abs(raw.Metrics.NDCG10-want.NDCG10) <= 1e-6) || !(math.Abs(raw.Metrics.MRR10-want.MRR10) <= 1e-6) {
		t.Errorf("raw tokens: NDCG@10 %.6f MRR@10 %.6f; float64 MaxSim here %.6f %.6f", raw.Metrics.NDCG10, raw.Metrics.MRR10, want.NDCG10, want.MRR10)
	}
	if raw.Steps != 0 || raw.Params != 0 {
		t.Errorf("raw tokens trained: %d steps, %d params", raw.Steps, raw.Params)
	}

	// The pooled reference: mean of the real tokens, cosine, recomputed here.
	pooled, err := PooledBaseline(enc)
	if err != nil {
		t.Fatal(err)
	}
	mean := func(t *hfencoder.Tokens, i int) []float64 {
		v := make([]float64, t.Dim)
		for j := range int(t.Len[i]) {
			for k := range v {
				v[k] += float64(t.Vecs[(i*t.T+j)*t.Dim+k]) / float64(t.Len[i])
			}
		}
		return v
	}
	cos := make([][]float32, enc.PlainQ.N)
	for i := range enc.PlainQ.N {
		qm := mean(enc.PlainQ, i)
		for j := range c.N {
			dm := mean(c, j)
			var dot, nq, nd float64
			for k := range qm {
				dot, nq, nd = dot+qm[k]*dm[k], nq+qm[k]*qm[k], nd+dm[k]*dm[k]
			}
			cos[i] = append(cos[i], float32(dot/math.Sqrt(nq*nd)))
		}
	}
	if wantPooled, err := metricsOf(enc.Eval, cos); err != nil || !(math.Abs(pooled.NDCG10-wantPooled.NDCG10) <= 1e-6) || !(math.Abs(pooled.MRR10-wantPooled.MRR10) <= 1e-6) {
		t.Errorf("pooled baseline NDCG@10 %.6f MRR@10 %.6f; recomputed %+v (%v)", pooled.NDCG10, pooled.MRR10, wantPooled, err)
	}

	// A linear head learns: final contrastive loss below chance level, ln(batch).
	cfg.Head, cfg.K, cfg.Epochs = colbert.Head{Kind: colbert.Linear}, 64, 12
	dir := t.TempDir()
	lin, err := RunHeadOrLoad(b, cfg, enc, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !(lin.FinalLoss < math.Log(float64(cfg.BatchSize))) || lin.Params != e.Dim*64 {
		t.Errorf("linear head: final loss %.3f (chance %.3f), %d params", lin.FinalLoss, math.Log(float64(cfg.BatchSize)), lin.Params)
	}
	t.Logf("raw tokens NDCG@10 %.4f, linear head %.4f (loss %.3f)", raw.Metrics.NDCG10, lin.Metrics.NDCG10, lin.FinalLoss)
	again, err := RunHeadOrLoad(b, cfg, enc, dir, nil)
	if err != nil || !again.FromCache || !reflect.DeepEqual(again.Metrics, lin.Metrics) {
		t.Errorf("RunHeadOrLoad did not read its cache back: %v %+v", err, again)
	}

	// Bad input.
	bad := cfg
	bad.DocLen = dLen + 1
	if _, err := TrainHead(b, bad, enc, nil); err == nil || !strings.Contains(err.Error(), "lengths") {
		t.Errorf("mismatched lengths: %v", err)
	}
	if _, err := Train(b, Config{Head: colbert.Head{Kind: RawTokens}, Dim: 8, K: 8, Epochs: 1, BatchSize: 2, LR: 1, Temperature: 1, QueryLen: 1, DocLen: 1}, nil, nil); err == nil || !strings.Contains(err.Error(), "TrainHead") {
		t.Errorf("raw head in Train: %v", err)
	}
}

// The evaluation set's hash, part of RunHeadOrLoad's cache key, sees every part of
// the dataset (two BEIR folders with the same name must not share runs).
func TestDatasetHash(t *testing.T) {
	base := func() *beir.Dataset {
		return &beir.Dataset{Name: "scifact", Corpus: []beir.Doc{{ID: "d1", Title: "T", Text: "x"}, {ID: "d2", Text: "y"}},
			Queries: []beir.Query{{ID: "q1", Text: "z"}}, Qrels: map[string]map[string]int{"q1": {"d1": 1, "d2": 2}}}
	}
	h := datasetHash(base())
	if datasetHash(base()) != h {
		t.Fatal("not deterministic")
	}
	for name, change := range map[string]func(*beir.Dataset){
		"document text":  func(d *beir.Dataset) { d.Corpus[1].Text = "y2" },
		"document title": func(d *beir.Dataset) { d.Corpus[0].Title = "" },
		"query text":     func(d *beir.Dataset) { d.Queries[0].Text = "z2" },
		"grade":          func(d *beir.Dataset) { d.Qrels["q1"]["d2"] = 1 },
		"judged doc":     func(d *beir.Dataset) { delete(d.Qrels["q1"], "d2") },
	} {
		d := base()
		change(d)
		if datasetHash(d) == h {
			t.Errorf("changing the %s keeps the hash", name)
		}
	}
}
