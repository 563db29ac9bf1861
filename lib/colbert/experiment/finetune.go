package experiment

import (
	"crypto/sha256"
	"fmt"
	"iter"
	"math"
	"math/rand"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/gorepro/gorepro/lib/colbert"
	"github.com/gorepro/gorepro/lib/data/beir"
	"github.com/gorepro/gorepro/lib/data/godoc"
	"github.com/gorepro/gorepro/lib/hfencoder"
	"github.com/gorepro/gorepro/lib/notebook"
)

// Fine-tuning as the paper trains (PyLate): the encoder trains together
// with the projection head. On CPU only its top layers train (TrainLayers);
// the frozen layers below run once, in Prepare, and their hidden states are
// the training inputs, so a step costs the trained layers only. Queries are
// [CLS] [Q] text [SEP] padded with [MASK] (expansion tokens scored by
// MaxSim, not attended to); documents [CLS] [D] text [SEP], padding and
// punctuation (PyLate's skiplist) excluded from MaxSim.

// Block is a set of sequences prepared for the trained layers: their hidden
// states after the frozen layers, the attended positions and, for
// documents, the positions MaxSim may match.
type Block struct {
	N, T, Dim int
	// Hidden holds N×T×Dim states after the frozen layers.
	Hidden []float32
	// Keys is each sequence's number of real tokens (the attended positions).
	Keys []int32
	// Keep is N×T, 1 where MaxSim may match the position (a document's real,
	// non-punctuation tokens); nil for queries (every position scores).
	Keep []float32
}

// EvalSet is an evaluation (or dev) dataset with its queries and corpus
// prepared; Corpus may be shared with another set.
type EvalSet struct {
	Name    string
	Data    *beir.Dataset
	Queries *Block
	Corpus  *Block
}

// Prepared is one seed's task ready for FineTune.
type Prepared struct {
	Task, Encoder string
	Seed          uint64
	// Frozen is the number of encoder layers below the trained ones.
	Frozen           int
	QueryLen, DocLen int
	// TrainQ are the training queries; TrainDocs the documents their
	// positives and negatives index (TrainPos[i], TrainNeg[i]).
	TrainQ, TrainDocs *Block
	TrainPos          []int
	TrainNeg          [][]int
	// sameDoc[a] == sameDoc[b] when training documents a and b have the same text.
	sameDoc []int
	// Dev chooses the epoch and the learning rate; Evals are reported.
	Dev   *EvalSet
	Evals []*EvalSet
	// Hash is a sha256 over everything above that changes the numbers (for cache keys).
	Hash string
	// Mining reports the zero-shot model's hard negatives: the mean rank of
	// the positive among the training documents, and how often it was first.
	Mining  string
	Seconds float64
}

// PrepareOptions are Prepare's settings.
type PrepareOptions struct {
	QueryLen, DocLen int
	// TrainLayers is the number of top encoder layers trained (0: a frozen encoder, the head alone).
	TrainLayers int
	// Negatives is the number of hard negatives per training query (PyLate's tuples: query, positive, negatives).
	Negatives int
	// Batch is the encoding batch.
	Batch int
	// Extra are further evaluation sets (e.g. BEIR datasets, zero-shot), after the task's own.
	Extra []*beir.Dataset
}

// Prepare tokenises and encodes task for fine-tuning the top
// opts.TrainLayers layers of enc, and mines opts.Negatives hard negatives
// per training query with the zero-shot model (MaxSim over the encoder's
// own normalised token vectors, no head) among the training documents.
func Prepare(b compute.Backend, enc *hfencoder.Encoder, task *godoc.Task, seed uint64, opts PrepareOptions, progress func(what string, done, total int)) (*Prepared, error) {
	if enc == nil || task == nil || len(task.Train) == 0 || task.Eval == nil || task.Dev == nil {
		return nil, fmt.Errorf("experiment: Prepare: need an encoder and a task with training pairs, a dev and an evaluation set")
	}
	L := enc.NumLayers()
	if opts.TrainLayers < 0 || opts.TrainLayers > L || opts.Negatives < 0 || opts.Batch < 1 {
		return nil, fmt.Errorf("experiment: Prepare: train layers %d must be in [0, %d], negatives %d ≥ 0, batch %d ≥ 1", opts.TrainLayers, L, opts.Negatives, opts.Batch)
	}
	start := time.Now()
	p := &Prepared{Task: task.Name, Encoder: fmt.Sprintf("%s (sha256 %s)", enc.Dir, enc.Fingerprint), Seed: seed,
		Frozen: L - opts.TrainLayers, QueryLen: opts.QueryLen, DocLen: opts.DocLen}
	skip := enc.PunctuationIDs()
	// name says which text failed: its id when known (a BEIR query or document id), else its index.
	name := func(names []string, i int) string {
		if i < len(names) {
			return fmt.Sprintf("id %q", names[i])
		}
		return fmt.Sprint(i)
	}
	queries := func(what string, texts, names []string) (*Block, error) {
		ids := make([][]int32, len(texts))
		for i, t := range texts {
			s, err := enc.TokenizeQuery(t, opts.QueryLen)
			if err != nil {
				return nil, fmt.Errorf("experiment: Prepare: %s, %s: %w", what, name(names, i), err)
			}
			ids[i] = s
		}
		return p.block(b, enc, what, ids, opts.QueryLen, enc.MaskID, nil, opts.Batch, progress)
	}
	docs := func(what string, texts, names []string) (*Block, error) {
		ids := make([][]int32, len(texts))
		for i, t := range texts {
			s, err := enc.TokenizeDocument(t, opts.DocLen)
			if err != nil {
				return nil, fmt.Errorf("experiment: Prepare: %s, %s: %w", what, name(names, i), err)
			}
			ids[i] = s
		}
		return p.block(b, enc, what, ids, opts.DocLen, enc.PadID, skip, opts.Batch, progress)
	}
	texts := func(qs []beir.Query) (out, ids []string) {
		for _, q := range qs {
			out, ids = append(out, q.Text), append(ids, q.ID)
		}
		return out, ids
	}
	corpusTexts := func(ds []beir.Doc) (out, ids []string) {
		for _, d := range ds {
			out, ids = append(out, docText(d)), append(ids, d.ID)
		}
		return out, ids
	}
	var err error
	ct, cids := corpusTexts(task.Eval.Corpus)
	corpus, err := docs(task.Eval.Name+" corpus", ct, cids)
	if err != nil {
		return nil, err
	}
	evalSet := func(name string, ds *beir.Dataset, c *Block) (*EvalSet, error) {
		qt, qids := texts(ds.Queries)
		q, err := queries(name+" queries", qt, qids)
		if err != nil {
			return nil, err
		}
		if c == nil {
			dt, dids := corpusTexts(ds.Corpus)
			if c, err = docs(name+" corpus", dt, dids); err != nil {
				return nil, err
			}
		}
		return &EvalSet{Name: name, Data: ds, Queries: q, Corpus: c}, nil
	}
	if p.Dev, err = evalSet("dev", task.Dev, sharedCorpus(task.Dev, task.Eval, corpus)); err != nil {
		return nil, err
	}
	ev, err := evalSet(task.Eval.Name, task.Eval, corpus)
	if err != nil {
		return nil, err
	}
	p.Evals = []*EvalSet{ev}
	for _, ds := range opts.Extra {
		e, err := evalSet(ds.Name, ds, nil)
		if err != nil {
			return nil, err
		}
		p.Evals = append(p.Evals, e)
	}
	// Training: queries, and the distinct training documents (their positives).
	trainQ := make([]string, len(task.Train))
	var trainDocs, trainIDs []string
	at := map[string]int{}
	p.TrainPos = make([]int, len(task.Train))
	for i, pair := range task.Train {
		trainQ[i] = pair.Query
		j, ok := at[pair.DocID]
		if !ok {
			j = len(trainDocs)
			at[pair.DocID] = j
			trainDocs, trainIDs = append(trainDocs, pair.Doc), append(trainIDs, pair.DocID)
		}
		p.TrainPos[i] = j
	}
	if p.TrainQ, err = queries("training queries", trainQ, nil); err != nil {
		return nil, err
	}
	if p.TrainDocs = subBlock(corpus, task.Eval.Corpus, trainIDs, trainDocs); p.TrainDocs == nil {
		if p.TrainDocs, err = docs("training documents", trainDocs, trainIDs); err != nil {
			return nil, err
		}
	}
	byText := map[string]int{}
	p.sameDoc = make([]int, len(trainDocs))
	for i, t := range trainDocs {
		if _, ok := byText[t]; !ok {
			byText[t] = i
		}
		p.sameDoc[i] = byText[t]
	}
	if opts.Negatives > 0 {
		if err := p.mine(b, enc, opts.Negatives); err != nil {
			return nil, err
		}
	}
	p.Hash = p.hash()
	p.Seconds = time.Since(start).Seconds()
	return p, nil
}

// subBlock returns the rows of corpus (prepared from docs) of the documents
// ids with texts, or nil when one is not there with that text (training
// documents of another dataset): the Go doc corpus holds every training
// document, whose frozen layers then run once.
func subBlock(corpus *Block, docs []beir.Doc, ids, texts []string) *Block {
	at := make(map[string]int, len(docs))
	for i, d := range docs {
		at[d.ID] = i
	}
	out := &Block{N: len(ids), T: corpus.T, Dim: corpus.Dim, Hidden: make([]float32, 0, len(ids)*corpus.T*corpus.Dim),
		Keys: make([]int32, 0, len(ids)), Keep: make([]float32, 0, len(ids)*corpus.T)}
	row := corpus.T * corpus.Dim
	for k, id := range ids {
		i, ok := at[id]
		if !ok || docText(docs[i]) != texts[k] {
			return nil
		}
		out.Hidden = append(out.Hidden, corpus.Hidden[i*row:(i+1)*row]...)
		out.Keys = append(out.Keys, corpus.Keys[i])
		out.Keep = append(out.Keep, corpus.Keep[i*corpus.T:(i+1)*corpus.T]...)
	}
	return out
}

// sharedCorpus returns c when dev's corpus is eval's (the same documents), else nil.
func sharedCorpus(dev, eval *beir.Dataset, c *Block) *Block {
	if len(dev.Corpus) != len(eval.Corpus) {
		return nil
	}
	for i := range dev.Corpus {
		if dev.Corpus[i] != eval.Corpus[i] {
			return nil
		}
	}
	return c
}

// block runs the frozen layers over ids (each padded to T with pad, its
// keys its length) and, for documents (skip not nil), marks the positions
// MaxSim may match.
func (p *Prepared) block(b compute.Backend, enc *hfencoder.Encoder, what string, ids [][]int32, T int, pad int32, skip map[int32]bool, batch int, progress func(string, int, int)) (*Block, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("experiment: Prepare: no %s", what)
	}
	h, err := enc.Hidden(b, ids, T, batch, pad, nil, p.Frozen)
	if err != nil {
		return nil, fmt.Errorf("experiment: Prepare: %s: %w", what, err)
	}
	if progress != nil {
		progress(what, len(ids), len(ids))
	}
	blk := &Block{N: h.N, T: h.T, Dim: h.Dim, Hidden: h.Vecs, Keys: make([]int32, len(ids))}
	for i, s := range ids {
		blk.Keys[i] = int32(len(s))
	}
	if skip != nil {
		blk.Keep = make([]float32, len(ids)*T)
		for i, s := range ids {
			for j, id := range s {
				if !skip[id] {
					blk.Keep[i*T+j] = 1
				}
			}
		}
	}
	return blk, nil
}

// mine chooses each training query's hard negatives among the training
// documents by the zero-shot model's MaxSim (the full encoder's normalised
// vectors, no head), never a document with its positive's text.
func (p *Prepared) mine(b compute.Backend, enc *hfencoder.Encoder, n int) (err error) {
	store, err := enc.NewStore(b)
	if err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("experiment: mining hard negatives: %v", r)
		}
	}()
	raw := rawModel{enc: enc, frozen: p.Frozen}
	sc, err := newScorer(b, store, raw.project, 128)
	if err != nil {
		return fmt.Errorf("experiment: mining hard negatives: %w", err)
	}
	q, err := sc.projectBlock(p.TrainQ)
	if err != nil {
		return fmt.Errorf("experiment: mining hard negatives: %w", err)
	}
	d, err := sc.projectBlock(p.TrainDocs)
	if err != nil {
		return fmt.Errorf("experiment: mining hard negatives: %w", err)
	}
	scores, err := sc.scores(q, d)
	if err != nil {
		return fmt.Errorf("experiment: mining hard negatives: %w", err)
	}
	same := func(a, c int) bool { return p.sameDoc[a] == p.sameDoc[c] }
	if p.TrainNeg, err = colbert.MineHardNegatives(scores, p.TrainPos, n, &colbert.MiningOptions{Same: same}); err != nil {
		return fmt.Errorf("experiment: mining hard negatives: %w", err)
	}
	var rankSum float64
	first := 0
	for i, row := range scores {
		rank := 1
		for d, s := range row {
			if d != p.TrainPos[i] && !same(d, p.TrainPos[i]) && s > row[p.TrainPos[i]] {
				rank++
			}
		}
		rankSum += float64(rank)
		if rank == 1 {
			first++
		}
	}
	p.Mining = fmt.Sprintf("zero-shot MaxSim ranks the positive first for %d of %d training queries (mean rank %.1f of %d documents); %d hard negative(s) each, its top-ranked non-positives",
		first, len(scores), rankSum/float64(len(scores)), p.TrainDocs.N, n)
	return nil
}

// hash is a sha256 over the prepared numbers and texts' identities.
func (p *Prepared) hash() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d\x00%d\x00%d\x00", p.Task, p.Encoder, p.Seed, p.Frozen, p.QueryLen, p.DocLen)
	for _, s := range append([]*EvalSet{p.Dev}, p.Evals...) {
		fmt.Fprintf(h, "%s\x00%s\x00", s.Name, datasetHash(s.Data))
	}
	fmt.Fprintf(h, "%v\x00%v\x00%v\x00%d\x00%d\x00", p.TrainPos, p.TrainNeg, p.sameDoc, p.TrainQ.N, p.TrainDocs.N)
	return fmt.Sprintf("%x", h.Sum(nil)[:12])
}

// rawModel is the zero-shot model: the encoder's own vectors, normalised.
type rawModel struct {
	enc    *hfencoder.Encoder
	frozen int
}

func (m rawModel) project(scope *model.Scope, x, keys *graph.Node) *graph.Node {
	return colbert.Normalize(m.enc.Layers(scope, x, keys, m.frozen))
}

// tunedModel is the encoder's top layers and a head.
type tunedModel struct {
	enc    *hfencoder.Encoder
	frozen int
	cfg    Config
}

func (m tunedModel) project(scope *model.Scope, x, keys *graph.Node) *graph.Node {
	h := x // a frozen encoder: x are its last layer's vectors (BERT has no final normalisation)
	if m.frozen < m.enc.NumLayers() {
		h = m.enc.Layers(scope, x, keys, m.frozen)
	}
	if m.cfg.Head.Kind == RawTokens {
		return colbert.Normalize(h)
	}
	return colbert.Normalize(m.cfg.Head.Apply(scope.In("head"), h, m.cfg.K))
}

// projectBlock runs project over blk, chunk sequences at a time (one
// compiled shape), and returns the vectors [N×T×k].
func projectBlock(exec *model.Exec, blk *Block, chunk int) (out []float32, k int, err error) {
	for start := 0; start < blk.N; start += chunk {
		end := min(start+chunk, blk.N)
		x := make([]float32, chunk*blk.T*blk.Dim)
		copy(x, blk.Hidden[start*blk.T*blk.Dim:end*blk.T*blk.Dim])
		keys := make([]int32, chunk)
		for i := range keys {
			keys[i] = 1
		}
		copy(keys, blk.Keys[start:end])
		res, err := exec.Call1(tensors.FromFlatDataAndDimensions(x, chunk, blk.T, blk.Dim), keys)
		if err != nil {
			return nil, 0, fmt.Errorf("projecting sequences %d–%d: %w", start, end, err)
		}
		k = res.Shape().Dimensions[2]
		err = tensors.ConstFlatData(res, func(flat []float32) {
			out = append(out, flat[:(end-start)*blk.T*k]...)
		})
		if err != nil {
			return nil, 0, err
		}
	}
	return out, k, nil
}

// scorer projects blocks with a model's variables and scores queries
// against documents by MaxSim over the documents' kept positions; its two
// executables compile once per shape, so a run evaluates every epoch
// without compiling again.
type scorer struct {
	project, score *model.Exec
	chunk          int
}

func newScorer(b compute.Backend, store *model.Store, project func(*model.Scope, *graph.Node, *graph.Node) *graph.Node, chunk int) (*scorer, error) {
	pe, err := model.NewExec(b, store, project)
	if err != nil {
		return nil, err
	}
	se, err := model.NewExec(b, store, func(_ *model.Scope, q, d, keep *graph.Node) *graph.Node {
		return colbert.MaxSimScores(q, d, graph.GreaterThan(keep, graph.ScalarZero(keep.Graph(), keep.DType())))
	})
	if err != nil {
		return nil, err
	}
	return &scorer{project: pe, score: se, chunk: chunk}, nil
}

// projected are a block's vectors [N×T×k].
type projected struct {
	blk  *Block
	vecs []float32
	k    int
}

func (s *scorer) projectBlock(blk *Block) (*projected, error) {
	v, k, err := projectBlock(s.project, blk, s.chunk)
	if err != nil {
		return nil, err
	}
	return &projected{blk: blk, vecs: v, k: k}, nil
}

// scores scores every query against every document: [queries][documents].
func (s *scorer) scores(q, d *projected) ([][]float32, error) {
	chunk, docs, k := s.chunk, d.blk, d.k
	qt := tensors.FromFlatDataAndDimensions(q.vecs, q.blk.N, q.blk.T, q.k)
	return scoreInChunks(q.blk.N, docs.N, chunk, func(start, end int) (*tensors.Tensor, error) {
		dv := make([]float32, chunk*docs.T*k)
		copy(dv, d.vecs[start*docs.T*k:end*docs.T*k])
		keep := make([]float32, chunk*docs.T)
		copy(keep, docs.Keep[start*docs.T:end*docs.T])
		return s.score.Call1(qt, tensors.FromFlatDataAndDimensions(dv, chunk, docs.T, k), tensors.FromFlatDataAndDimensions(keep, chunk, docs.T))
	})
}

// evaluate computes the metrics of every set, projecting each distinct corpus once.
func (s *scorer) evaluate(sets []*EvalSet) ([]Metrics, error) {
	corpora := map[*Block]*projected{}
	out := make([]Metrics, len(sets))
	for i, set := range sets {
		d := corpora[set.Corpus]
		if d == nil {
			var err error
			if d, err = s.projectBlock(set.Corpus); err != nil {
				return nil, fmt.Errorf("%s corpus: %w", set.Name, err)
			}
			corpora[set.Corpus] = d
		}
		q, err := s.projectBlock(set.Queries)
		if err != nil {
			return nil, fmt.Errorf("%s queries: %w", set.Name, err)
		}
		sc, err := s.scores(q, d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", set.Name, err)
		}
		if out[i], err = metricsOf(set.Data, sc); err != nil {
			return nil, fmt.Errorf("%s: %w", set.Name, err)
		}
	}
	return out, nil
}

// EpochPoint is one epoch of a fine-tuning run: the mean training loss and the dev NDCG@10.
type EpochPoint struct {
	Epoch   int
	Loss    notebook.Float // 0 for a run that does not train
	DevNDCG float64
}

// tupleData yields batches of PyLate tuples (query, positive, negatives) in
// an order shuffled per epoch by the seed.
type tupleData struct {
	p     *Prepared
	batch int
	rng   *rand.Rand
	neg   int
}

func (d *tupleData) Name() string { return "colbert tuples" }

func (d *tupleData) Iter() iter.Seq2[train.Batch, error] {
	order := d.rng.Perm(d.p.TrainQ.N)
	return func(yield func(train.Batch, error) bool) {
		for start := 0; start+d.batch <= len(order); start += d.batch {
			if !yield(d.make(order[start:start+d.batch]), nil) {
				return
			}
		}
	}
}

// make assembles one batch: queries [B, Tq, D] and keys, documents
// group-major [N·B, Td, D] (the B positives, then each negative's B), keys
// and keep, and the exclusion mask of documents sharing a positive's text.
func (d *tupleData) make(idx []int) train.Batch {
	p, q, docs := d.p, d.p.TrainQ, d.p.TrainDocs
	B, N := len(idx), 1+d.neg
	qx := make([]float32, 0, B*q.T*q.Dim)
	qk := make([]int32, 0, B)
	tuples := make([][]int, B)
	for j, i := range idx {
		qx = append(qx, q.Hidden[i*q.T*q.Dim:(i+1)*q.T*q.Dim]...)
		qk = append(qk, q.Keys[i])
		tuples[j] = append([]int{p.TrainPos[i]}, p.TrainNeg[i][:d.neg]...)
	}
	dx := make([]float32, 0, N*B*docs.T*docs.Dim)
	dk := make([]int32, 0, N*B)
	keep := make([]float32, 0, N*B*docs.T)
	for k := range N {
		for j := range B {
			c := tuples[j][k]
			dx = append(dx, docs.Hidden[c*docs.T*docs.Dim:(c+1)*docs.T*docs.Dim]...)
			dk = append(dk, docs.Keys[c])
			keep = append(keep, docs.Keep[c*docs.T:(c+1)*docs.T]...)
		}
	}
	ex, _ := colbert.ContrastiveExclusions(tuples, func(a, c int) bool { return p.sameDoc[a] == p.sameDoc[c] })
	exclude := make([]bool, 0, B*N*B)
	for _, row := range ex {
		exclude = append(exclude, row...)
	}
	return train.Batch{Inputs: []*tensors.Tensor{
		tensors.FromFlatDataAndDimensions(qx, B, q.T, q.Dim), tensors.FromValue(qk),
		tensors.FromFlatDataAndDimensions(dx, N*B, docs.T, docs.Dim), tensors.FromValue(dk),
		tensors.FromFlatDataAndDimensions(keep, N*B, docs.T), tensors.FromFlatDataAndDimensions(exclude, B, N*B),
	}, Labels: []*tensors.Tensor{tensors.FromValue(int32(0))}}
}

// FineTune trains cfg's head with the encoder's top layers (those above
// p.Frozen) on p's training tuples with PyLate's contrastive loss (in-batch
// and hard negatives, cfg.Temperature, Adam at cfg.LR) for up to cfg.Epochs
// epochs, evaluating the dev set after each; training stops when the dev
// NDCG@10 has not improved for cfg.Patience epochs (0: never early), and
// the run reports every evaluation set at the epoch with the best dev
// NDCG@10 (the evaluation sets never choose anything).
func FineTune(b compute.Backend, enc *hfencoder.Encoder, p *Prepared, cfg Config, progress func(EpochPoint)) (run *Run, err error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if p == nil || enc == nil {
		return nil, fmt.Errorf("experiment: FineTune: nothing prepared")
	}
	if cfg.Negatives > len(firstOr(p.TrainNeg)) {
		return nil, fmt.Errorf("experiment: FineTune: %d negatives per query, %d were mined", cfg.Negatives, len(firstOr(p.TrainNeg)))
	}
	if cfg.TrainLayers != enc.NumLayers()-p.Frozen || cfg.QueryLen != p.QueryLen || cfg.DocLen != p.DocLen || cfg.Dim != p.TrainQ.Dim {
		return nil, fmt.Errorf("experiment: FineTune: config (train layers %d, lengths %d/%d, dim %d) does not match the prepared data (%d, %d/%d, %d)",
			cfg.TrainLayers, cfg.QueryLen, cfg.DocLen, cfg.Dim, enc.NumLayers()-p.Frozen, p.QueryLen, p.DocLen, p.TrainQ.Dim)
	}
	if p.TrainQ.N < cfg.BatchSize {
		return nil, fmt.Errorf("experiment: FineTune: %d training queries, fewer than a batch (%d)", p.TrainQ.N, cfg.BatchSize)
	}
	start := time.Now()
	store, err := enc.NewStore(b)
	if err != nil {
		return nil, err
	}
	// Only the trained layers' variables (and the head's) are trainable.
	for v := range store.IterVariables() {
		v.SetTrainable(trainedVariable(v.Scope(), p.Frozen))
	}
	if err := store.SetRNGStateFromSeed(int64(cfg.Seed)); err != nil {
		return nil, err
	}
	run = &Run{Config: cfg, Head: headName(cfg), Task: p.Task, BestEpoch: -1}
	defer func() {
		if r := recover(); r != nil {
			run, err = nil, fmt.Errorf("experiment: fine-tuning head %s: %v", headName(cfg), r)
		}
	}()
	m := tunedModel{enc: enc, frozen: p.Frozen, cfg: cfg}
	sc, err := newScorer(b, store, m.project, 128)
	if err != nil {
		return nil, err
	}
	evaluate := func() (dev Metrics, evals []Metrics, err error) {
		all, err := sc.evaluate(append([]*EvalSet{p.Dev}, p.Evals...))
		if err != nil {
			return dev, nil, err
		}
		return all[0], all[1:], nil
	}
	best := math.Inf(-1)
	var bestEvals []Metrics
	record := func(epoch int, loss float64) error {
		dev, evals, err := evaluate()
		if err != nil {
			return fmt.Errorf("experiment: evaluating after epoch %d: %w", epoch, err)
		}
		pt := EpochPoint{Epoch: epoch, Loss: notebook.Float(loss), DevNDCG: dev.NDCG10}
		run.Curve = append(run.Curve, pt)
		if progress != nil {
			progress(pt)
		}
		if dev.NDCG10 > best {
			best, bestEvals, run.BestEpoch, run.Dev = dev.NDCG10, evals, epoch, dev
		}
		return nil
	}
	if cfg.Head.Kind == RawTokens || cfg.Epochs == 0 {
		if err := record(0, 0); err != nil {
			return nil, err
		}
	} else {
		modelFn := func(scope *model.Scope, _ any, in []*graph.Node) []*graph.Node {
			q := m.project(scope, in[0], in[1])
			d := m.project(scope.ResetVisited(), in[2], in[3]) // the same variables
			keep := graph.GreaterThan(in[4], graph.ScalarZero(in[4].Graph(), in[4].DType()))
			return []*graph.Node{colbert.PyLateScores(q, d, keep), in[5]}
		}
		lossFn := func(_, pred []*graph.Node) *graph.Node {
			return colbert.PyLateContrastive(pred[0], pred[1], cfg.Temperature, true)
		}
		trainer := train.NewTrainer(b, store, modelFn, lossFn, optimizer.Adam().LearningRate(cfg.LR).Done(), nil, nil)
		loop := train.NewLoop(trainer)
		data := &tupleData{p: p, batch: cfg.BatchSize, rng: rand.New(rand.NewSource(int64(cfg.Seed))), neg: cfg.Negatives}
		sinceBest := 0
		for epoch := 1; epoch <= cfg.Epochs; epoch++ {
			metrics, err := loop.RunEpochs(data, 1)
			if err != nil {
				return nil, fmt.Errorf("experiment: epoch %d: %w", epoch, err)
			}
			run.FinalLoss = float64(tensors.ToScalar[float32](metrics[0]))
			before := run.BestEpoch
			if err := record(epoch, run.FinalLoss); err != nil {
				return nil, err
			}
			if math.IsNaN(run.FinalLoss) || math.IsInf(run.FinalLoss, 0) {
				run.Diverged, run.FinalLoss = true, 0 // the curve keeps the loss
				break
			}
			if run.BestEpoch == before {
				sinceBest++
			} else {
				sinceBest = 0
			}
			if cfg.Patience > 0 && sinceBest >= cfg.Patience {
				break
			}
		}
		run.Steps = int(loop.LoopStep)
	}
	if bestEvals == nil {
		return nil, fmt.Errorf("experiment: FineTune: no epoch had a finite dev NDCG@10")
	}
	run.Metrics, run.Evals = bestEvals[0], bestEvals
	for _, e := range p.Evals {
		run.EvalNames = append(run.EvalNames, e.Name)
	}
	for v := range store.IterVariables() {
		if cfg.Head.Kind != RawTokens && v.Trainable && !strings.HasPrefix(v.Scope(), "/optimizers") {
			run.Params += v.Shape().Size()
		}
	}
	run.Seconds = time.Since(start).Seconds()
	return run, nil
}

func firstOr(x [][]int) []int {
	if len(x) == 0 {
		return nil
	}
	return x[0]
}

// trainedVariable is whether an encoder or head variable at scope trains
// when the first frozen layers are frozen: the head's, and those of layers
// frozen… (the embeddings only when nothing is frozen).
func trainedVariable(scope string, frozen int) bool {
	s := strings.TrimPrefix(scope, "/")
	switch {
	case strings.HasPrefix(s, "head"):
		return true
	case strings.HasPrefix(s, "layer_"):
		var l int
		if _, err := fmt.Sscanf(s, "layer_%d", &l); err == nil {
			return l >= frozen
		}
		return false
	default: // embeddings and their norm
		return frozen == 0
	}
}
