package experiment

import (
	"math"
	"os"
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

// The zero-shot model's evaluation through Prepare and FineTune (hidden
// states after five layers, the sixth in the graph, exact MaxSim over the
// kept document positions) equals a float64 MaxSim computed here over
// EmbedQueries' and Embed's vectors (another code path: the whole encoder
// at once), with [Q]/[D] markers, [MASK] expansion not attended to and the
// punctuation skiplist.
func TestRawEvaluation(t *testing.T) {
	e := miniLM(t)
	b, _, err := backends.New("")
	if err != nil {
		t.Fatal(err)
	}
	const qLen, dLen = 8, 16
	task, err := godoc.Build(goroot(t), godoc.Options{Packages: []string{"strconv", "unicode/utf8"}, EvalQueries: 15, DevQueries: 5, MinQueryWords: 3, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	p, err := Prepare(b, e, task, 2, PrepareOptions{QueryLen: qLen, DocLen: dLen, TrainLayers: 1, Negatives: 1, Batch: 16}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Head: colbert.Head{Kind: RawTokens}, Dim: e.Dim, K: e.Dim, BatchSize: 8, LR: 1, Temperature: 1, QueryLen: qLen, DocLen: dLen, Seed: 2, TrainLayers: 1}
	raw, err := FineTune(b, e, p, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if raw.Steps != 0 || raw.Params != 0 || raw.BestEpoch != 0 {
		t.Errorf("the zero-shot model trained: %d steps, %d params, epoch %d", raw.Steps, raw.Params, raw.BestEpoch)
	}
	var qIDs, dIDs [][]int32
	for _, q := range task.Eval.Queries {
		s, err := e.TokenizeQuery(q.Text, qLen)
		if err != nil {
			t.Fatal(err)
		}
		qIDs = append(qIDs, s)
	}
	for _, d := range task.Eval.Corpus {
		s, err := e.TokenizeDocument(docText(d), dLen)
		if err != nil {
			t.Fatal(err)
		}
		dIDs = append(dIDs, s)
	}
	qv, err := e.EmbedQueries(b, qIDs, qLen, 16, false)
	if err != nil {
		t.Fatal(err)
	}
	dv, err := e.Embed(b, dIDs, dLen, 16, nil)
	if err != nil {
		t.Fatal(err)
	}
	skip := e.PunctuationIDs()
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
	scores := make([][]float32, qv.N)
	for i := range qv.N {
		for j := range dv.N {
			var s float64
			for a := range qLen { // every query position, the [MASK] expansion included
				qa := unit(qv.Vecs[(i*qLen+a)*qv.Dim : (i*qLen+a+1)*qv.Dim])
				best := math.Inf(-1)
				for d, id := range dIDs[j] {
					if skip[id] {
						continue
					}
					dd := unit(dv.Vecs[(j*dLen+d)*dv.Dim : (j*dLen+d+1)*dv.Dim])
					var dot float64
					for k := range qa {
						dot += qa[k] * dd[k]
					}
					best = math.Max(best, dot)
				}
				s += best
			}
			scores[i] = append(scores[i], float32(s))
		}
	}
	want, err := metricsOf(task.Eval, scores)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("zero-shot NDCG@10 %.6f, float64 here %.6f", raw.Metrics.NDCG10, want.NDCG10)
	if !(math.Abs(raw.Metrics.NDCG10-want.NDCG10) <= 1e-6) || !(math.Abs(raw.Metrics.MRR10-want.MRR10) <= 1e-6) {
		t.Errorf("zero-shot: NDCG@10 %.6f MRR@10 %.6f; float64 MaxSim here %.6f %.6f", raw.Metrics.NDCG10, raw.Metrics.MRR10, want.NDCG10, want.MRR10)
	}
}

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
