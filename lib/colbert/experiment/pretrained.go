package experiment

import (
	"crypto/sha256"
	"fmt"
	"math"
	"math/rand"
	"sort"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/dataset"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/gorepro/gorepro/lib/colbert"
	"github.com/gorepro/gorepro/lib/data/beir"
	"github.com/gorepro/gorepro/lib/data/godoc"
	"github.com/gorepro/gorepro/lib/hfencoder"
)

// Encoded is a retrieval task passed once through a frozen pretrained
// encoder: the token vectors projection heads are trained and evaluated
// on. Queries are ColBERT-style: cut to QueryLen, padded with [MASK] tokens
// that the encoder attends to and MaxSim counts (query augmentation).
// Documents are cut to DocLen and padded with [PAD], masked out.
type Encoded struct {
	// Task and Encoder name what was encoded (Encoder: the checkpoint's directory and fingerprint).
	Task, Encoder string
	// QueryLen and DocLen are the padded lengths.
	QueryLen, DocLen int
	// TrainQ and TrainD are the training pairs' queries and documents.
	TrainQ, TrainD *hfencoder.Tokens
	// EvalQ are the evaluation queries, Corpus the evaluation documents (in Eval's order).
	EvalQ, Corpus *hfencoder.Tokens
	// PlainQ are the evaluation queries without [MASK] augmentation (for pooled baselines).
	PlainQ *hfencoder.Tokens
	// Eval is the evaluation set; EvalHash a sha256 over its documents, queries and judgements (for cache keys).
	Eval     *beir.Dataset
	EvalHash string
	// Seconds is the time encoding took.
	Seconds float64
}

// Encode tokenises and encodes the task with enc on b, batch sequences at
// a time; progress (if not nil) is told what is being encoded.
func Encode(b compute.Backend, enc *hfencoder.Encoder, task *godoc.Task, queryLen, docLen, batch int, progress func(what string, done, total int)) (*Encoded, error) {
	if enc == nil {
		return nil, fmt.Errorf("experiment: Encode: no encoder")
	}
	if task == nil || len(task.Train) == 0 || task.Eval == nil {
		return nil, fmt.Errorf("experiment: Encode: empty task")
	}
	start := time.Now()
	out := &Encoded{Task: task.Name, Encoder: fmt.Sprintf("%s (sha256 %s)", enc.Dir, enc.Fingerprint), QueryLen: queryLen, DocLen: docLen, Eval: task.Eval}
	tokenize := func(texts []string, n int, augment bool) ([][]int32, error) {
		ids := make([][]int32, len(texts))
		for i, t := range texts {
			s, err := enc.Tokenize(t, n)
			if err != nil {
				return nil, fmt.Errorf("experiment: Encode: %w", err)
			}
			for augment && len(s) < n {
				s = append(s, enc.MaskID)
			}
			ids[i] = s
		}
		return ids, nil
	}
	var trainQ, evalQ, corpus []string
	for _, p := range task.Train {
		trainQ = append(trainQ, p.Query)
	}
	for _, q := range task.Eval.Queries {
		evalQ = append(evalQ, q.Text)
	}
	for _, d := range task.Eval.Corpus {
		corpus = append(corpus, docText(d))
	}
	for _, part := range []struct {
		name    string
		texts   []string
		n       int
		augment bool
		dst     **hfencoder.Tokens
	}{
		{"training queries", trainQ, queryLen, true, &out.TrainQ},
		{"evaluation queries", evalQ, queryLen, true, &out.EvalQ},
		{"evaluation queries (plain)", evalQ, queryLen, false, &out.PlainQ},
		{"corpus", corpus, docLen, false, &out.Corpus},
	} {
		ids, err := tokenize(part.texts, part.n, part.augment)
		if err != nil {
			return nil, err
		}
		var report func(int)
		if progress != nil {
			report = func(done int) { progress(part.name, done, len(ids)) }
		}
		if *part.dst, err = enc.Embed(b, ids, part.n, batch, report); err != nil {
			return nil, fmt.Errorf("experiment: encoding the %s: %w", part.name, err)
		}
	}
	// Training documents in the corpus have their vectors copied; when the
	// evaluation set is another dataset (e.g. BEIR), they are encoded.
	at := map[string]int{}
	for i, d := range task.Eval.Corpus {
		at[d.ID] = i
	}
	c := out.Corpus
	out.TrainD = &hfencoder.Tokens{N: len(task.Train), T: c.T, Dim: c.Dim, Vecs: make([]float32, len(task.Train)*c.T*c.Dim), Len: make([]int32, len(task.Train))}
	inCorpus := true
	for i, p := range task.Train {
		j, ok := at[p.DocID]
		if !ok || docText(task.Eval.Corpus[j]) != p.Doc { // absent, or the same id in another dataset
			inCorpus = false
			break
		}
		copy(out.TrainD.Vecs[i*c.T*c.Dim:(i+1)*c.T*c.Dim], c.Vecs[j*c.T*c.Dim:(j+1)*c.T*c.Dim])
		out.TrainD.Len[i] = c.Len[j]
	}
	if !inCorpus {
		docs := make([]string, len(task.Train))
		for i, p := range task.Train {
			docs[i] = p.Doc
		}
		ids, err := tokenize(docs, docLen, false)
		if err != nil {
			return nil, err
		}
		var report func(int)
		if progress != nil {
			report = func(done int) { progress("training documents", done, len(ids)) }
		}
		if out.TrainD, err = enc.Embed(b, ids, docLen, batch, report); err != nil {
			return nil, fmt.Errorf("experiment: encoding the training documents: %w", err)
		}
	}
	out.EvalHash = datasetHash(task.Eval)
	out.Seconds = time.Since(start).Seconds()
	return out, nil
}

// docText is what a document is encoded from: BEIR encodes title and text together.
func docText(d beir.Doc) string {
	if d.Title != "" {
		return d.Title + " " + d.Text
	}
	return d.Text
}

// datasetHash is a sha256 over a dataset's documents, queries and judgements.
func datasetHash(ds *beir.Dataset) string {
	h := sha256.New()
	for _, d := range ds.Corpus {
		fmt.Fprintf(h, "d\x00%s\x00%s\x00%s\x00", d.ID, d.Title, d.Text)
	}
	for _, q := range ds.Queries {
		fmt.Fprintf(h, "q\x00%s\x00%s\x00", q.ID, q.Text)
		docs := make([]string, 0, len(ds.Qrels[q.ID]))
		for d := range ds.Qrels[q.ID] {
			docs = append(docs, d)
		}
		sort.Strings(docs)
		for _, d := range docs {
			fmt.Fprintf(h, "r\x00%s\x00%d\x00", d, ds.Qrels[q.ID][d])
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil)[:12])
}

func vecTensor(t *hfencoder.Tokens) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(t.Vecs, t.N, t.T, t.Dim)
}

// lengthMask is true where position < len: [n, T] from lens [n].
func lengthMask(lens *graph.Node, T int) *graph.Node {
	iota := graph.Iota(lens.Graph(), shapes.Make(lens.DType(), T), 0)
	return graph.LessThan(graph.ExpandAxes(iota, 0), graph.ExpandAxes(lens, -1))
}

// projectTokens applies the head and L2 normalisation to token vectors.
func projectTokens(scope *model.Scope, c Config, x *graph.Node) *graph.Node {
	if c.Head.Kind == RawTokens {
		return colbert.Normalize(x)
	}
	return colbert.Normalize(c.Head.Apply(scope, x, c.K))
}

// RawTokens as a head kind skips the projection: MaxSim over the encoder's
// own L2-normalised token vectors (the untrained reference).
const RawTokens = "raw"

// TrainHead trains cfg's projection head on the encoded task's training
// pairs (contrastive loss, in-batch negatives; the encoder stays frozen)
// and evaluates it on the encoded evaluation set.
func TrainHead(b compute.Backend, cfg Config, enc *Encoded, progress func(epoch int, loss float64)) (run *Run, err error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if enc == nil || enc.TrainQ == nil || enc.TrainQ.N < cfg.BatchSize {
		return nil, fmt.Errorf("experiment: TrainHead: need at least one batch (%d) of encoded training pairs", cfg.BatchSize)
	}
	if cfg.Dim != enc.TrainQ.Dim || cfg.QueryLen != enc.QueryLen || cfg.DocLen != enc.DocLen {
		return nil, fmt.Errorf("experiment: TrainHead: config dim %d, lengths %d/%d; the encoding has %d, %d/%d", cfg.Dim, cfg.QueryLen, cfg.DocLen, enc.TrainQ.Dim, enc.QueryLen, enc.DocLen)
	}
	start := time.Now()
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(int64(cfg.Seed)); err != nil {
		return nil, err
	}
	run = &Run{Config: cfg, Head: headName(cfg), Task: enc.Task}
	defer func() {
		if r := recover(); r != nil {
			run, err = nil, fmt.Errorf("experiment: head %s: %v", run.Head, r)
		}
	}()
	if cfg.Head.Kind != RawTokens {
		dummy := make([]int32, enc.TrainQ.N)
		data, err := dataset.InMemoryFromData(b, "pretrained-pairs", []any{vecTensor(enc.TrainQ), vecTensor(enc.TrainD), enc.TrainD.Len}, []any{dummy})
		if err != nil {
			return nil, fmt.Errorf("experiment: %w", err)
		}
		data.BatchSize(cfg.BatchSize, true).Shuffle().WithRand(rand.New(rand.NewSource(int64(cfg.Seed))))
		modelFn := func(scope *model.Scope, _ any, inputs []*graph.Node) []*graph.Node {
			q := projectTokens(scope.In("head"), cfg, inputs[0])
			d := projectTokens(scope.Shared("head"), cfg, inputs[1])
			return []*graph.Node{colbert.MaxSim(q, d, lengthMask(inputs[2], cfg.DocLen))}
		}
		lossFn := func(_, predictions []*graph.Node) *graph.Node {
			return colbert.ContrastiveLoss(predictions[0], cfg.Temperature)
		}
		if err := fit(b, store, cfg, data, modelFn, lossFn, run, progress); err != nil {
			return nil, err
		}
	}
	if run.Metrics, err = EvaluateEncoded(b, store, cfg, enc, 128); err != nil {
		return nil, err
	}
	run.Seconds = time.Since(start).Seconds()
	return run, nil
}

func headName(cfg Config) string {
	if cfg.Head.Kind == RawTokens {
		return "raw tokens (no head)"
	}
	return cfg.Head.Name()
}

// EvaluateEncoded projects the encoded evaluation queries and corpus with
// the head in store, scores by MaxSim chunk documents at a time, and
// averages NDCG@10, Recall@100 and MRR@10 over the judged queries.
func EvaluateEncoded(b compute.Backend, store *model.Store, cfg Config, enc *Encoded, chunk int) (Metrics, error) {
	if enc == nil || enc.EvalQ == nil || enc.Corpus == nil || enc.Eval == nil {
		return Metrics{}, fmt.Errorf("experiment: EvaluateEncoded: nothing encoded")
	}
	if chunk < 1 {
		return Metrics{}, fmt.Errorf("experiment: EvaluateEncoded: chunk %d must be positive", chunk)
	}
	project, err := model.NewExec(b, store, func(scope *model.Scope, x *graph.Node) *graph.Node {
		return projectTokens(scope.In("head"), cfg, x)
	})
	if err != nil {
		return Metrics{}, err
	}
	score, err := model.NewExec(b, store, func(_ *model.Scope, q, d, lens *graph.Node) *graph.Node {
		return colbert.MaxSimScores(q, d, lengthMask(lens, cfg.DocLen))
	})
	if err != nil {
		return Metrics{}, err
	}
	qv, err := project.Call1(vecTensor(enc.EvalQ))
	if err != nil {
		return Metrics{}, fmt.Errorf("experiment: projecting queries: %w", err)
	}
	c := enc.Corpus
	scores, err := scoreInChunks(enc.EvalQ.N, c.N, chunk, func(start, end int) (*tensors.Tensor, error) {
		vecs := make([]float32, chunk*c.T*c.Dim) // a fixed chunk shape: one compilation
		copy(vecs, c.Vecs[start*c.T*c.Dim:end*c.T*c.Dim])
		lens := make([]int32, chunk)
		copy(lens, c.Len[start:end])
		dv, err := project.Call1(tensors.FromFlatDataAndDimensions(vecs, chunk, c.T, c.Dim))
		if err != nil {
			return nil, fmt.Errorf("projecting them: %w", err)
		}
		return score.Call1(qv, dv, lens)
	})
	if err != nil {
		return Metrics{}, err
	}
	return metricsOf(enc.Eval, scores)
}

// scoreInChunks scores queries queries against n documents, chunk documents
// at a time: scoreChunk(start, end) returns the scores [queries, chunk] of
// documents start..end-1 (padded to chunk columns, so that every call has one
// shape and compiles once). It returns each query's n scores, in document
// order; a scoring error names the documents.
func scoreInChunks(queries, n, chunk int, scoreChunk func(start, end int) (*tensors.Tensor, error)) ([][]float32, error) {
	scores := make([][]float32, queries)
	for start := 0; start < n; start += chunk {
		end := min(start+chunk, n)
		s, err := scoreChunk(start, end)
		if err != nil {
			return nil, fmt.Errorf("experiment: scoring documents %d–%d: %w", start, end, err)
		}
		if err := appendScores(scores, s, end-start); err != nil {
			return nil, err
		}
	}
	return scores, nil
}

// appendScores appends the first n columns of a chunk's scores [queries,
// chunk] to each query's row (the rest of a chunk is padding).
func appendScores(scores [][]float32, s *tensors.Tensor, n int) error {
	rows, ok := s.Value().([][]float32)
	if !ok || len(rows) != len(scores) {
		return fmt.Errorf("experiment: scores are %s, want float32 [%d queries, documents]", s.Shape(), len(scores))
	}
	for q := range rows {
		scores[q] = append(scores[q], rows[q][:n]...)
	}
	return nil
}

// metricsOf ranks each judged query's scores (one per corpus document, in
// ds.Corpus order) and averages the metrics.
func metricsOf(ds *beir.Dataset, scores [][]float32) (Metrics, error) {
	docIDs := make([]string, len(ds.Corpus))
	for i, d := range ds.Corpus {
		docIDs[i] = d.ID
	}
	var m Metrics
	for i, q := range ds.Queries {
		rel := ds.Qrels[q.ID]
		if rel == nil {
			continue
		}
		ranked, err := colbert.Rank(100, docIDs, scores[i], q.ID)
		if err != nil {
			return Metrics{}, err
		}
		ndcg := colbert.NDCGAt(10, ranked, rel)
		m.NDCG10 += ndcg
		m.QueryIDs, m.PerQuery = append(m.QueryIDs, q.ID), append(m.PerQuery, ndcg)
		m.Recall100 += colbert.RecallAt(100, ranked, rel)
		m.MRR10 += colbert.MRRAt(10, ranked, rel)
		m.Queries++
	}
	if m.Queries == 0 {
		return Metrics{}, fmt.Errorf("experiment: no judged query in %s", ds.Name)
	}
	n := float64(m.Queries)
	m.NDCG10, m.Recall100, m.MRR10 = m.NDCG10/n, m.Recall100/n, m.MRR10/n
	if math.IsNaN(m.NDCG10) {
		return m, fmt.Errorf("experiment: NDCG@10 is NaN")
	}
	return m, nil
}

// PooledBaseline scores the evaluation set the way the checkpoint is meant
// to be used as a sentence encoder: cosine similarity of mean-pooled token
// vectors (plain queries, real document tokens, [CLS] and [SEP] included as
// sentence-transformers pools them), computed in float64 on the host. The
// texts are cut to the encoding's QueryLen and DocLen, as for MaxSim.
func PooledBaseline(enc *Encoded) (Metrics, error) {
	if enc == nil || enc.PlainQ == nil || enc.Corpus == nil || enc.Eval == nil {
		return Metrics{}, fmt.Errorf("experiment: PooledBaseline: nothing encoded")
	}
	pool := func(t *hfencoder.Tokens) [][]float64 {
		out := make([][]float64, t.N)
		for i := range out {
			v := make([]float64, t.Dim)
			for j := 0; j < int(t.Len[i]); j++ {
				for k := range v {
					v[k] += float64(t.Vecs[(i*t.T+j)*t.Dim+k])
				}
			}
			var n float64
			for _, x := range v {
				n += x * x
			}
			n = math.Sqrt(n)
			for k := range v {
				if n > 0 {
					v[k] /= n
				}
			}
			out[i] = v
		}
		return out
	}
	q, d := pool(enc.PlainQ), pool(enc.Corpus)
	scores := make([][]float32, len(q))
	for i := range q {
		scores[i] = make([]float32, len(d))
		for j := range d {
			var s float64
			for k := range q[i] {
				s += q[i][k] * d[j][k]
			}
			scores[i][j] = float32(s)
		}
	}
	return metricsOf(enc.Eval, scores)
}
