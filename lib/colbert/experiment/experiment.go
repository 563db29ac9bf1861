// Package experiment trains ColBERT-style late-interaction retrievers with
// different projection heads (lib/colbert) and evaluates them on a BEIR
// dataset, through GoMLX's Trainer, Loop and InMemory datasets (the path of
// gorepro's notebooks). The encoder is trained from scratch on the
// synthetic task of lib/colbert/synth: word embeddings and a token-wise
// residual feed-forward layer with layer normalisation (no attention: the
// task's words carry their meaning alone), shared by queries and documents.
package experiment

import (
	"fmt"
	"math/rand"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/dataset"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/layers/norm"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/gorepro/gorepro/lib/colbert"
	"github.com/gorepro/gorepro/lib/colbert/synth"
	"github.com/gorepro/gorepro/lib/data/beir"
)

// Config is one training run.
type Config struct {
	Head        colbert.Head
	Dim         int     // encoder width D
	K           int     // MaxSim dimension k
	Epochs      int     // passes over the training pairs
	BatchSize   int     // pairs per step (in-batch negatives: BatchSize − 1 per query)
	LR          float64 // Adam
	Temperature float64 // contrastive softmax temperature
	QueryLen    int     // query tokens (padded or cut)
	DocLen      int     // document tokens (padded or cut)
	Seed        uint64  // initialisation and batch order
	// Fine-tuning (FineTune) only:
	TrainLayers int // top encoder layers trained with the head (0: a frozen encoder)
	Negatives   int // mined hard negatives per training query
	Patience    int // stop after this many epochs without a better dev NDCG@10 (0: run every epoch)
}

// Metrics are retrieval metrics averaged over the judged queries, and
// NDCG@10 per judged query (for paired tests over queries).
type Metrics struct {
	NDCG10, Recall100, MRR10 float64
	Queries                  int
	// QueryIDs are the judged queries in the dataset's order, PerQuery their NDCG@10.
	QueryIDs []string  `json:",omitempty"`
	PerQuery []float64 `json:",omitempty"`
}

// Run is a finished run.
type Run struct {
	Config    Config
	Head      string // Config.Head.Name()
	Task      string
	Metrics   Metrics
	FinalLoss float64
	Steps     int
	Params    int // trainable parameters of the head (FineTune: and of the trained encoder layers)
	Seconds   float64
	FromCache bool `json:"-"`
	// FineTune only: the epoch chosen by the dev NDCG@10, its dev metrics,
	// every evaluation set's metrics there (Metrics is the first), the
	// curve of training loss and dev NDCG@10, and whether the loss diverged.
	BestEpoch int          `json:",omitempty"`
	Dev       Metrics      `json:",omitzero"`
	Evals     []Metrics    `json:",omitempty"`
	EvalNames []string     `json:",omitempty"` // the evaluation sets' names, as Evals
	Curve     []EpochPoint `json:",omitempty"`
	Diverged  bool         `json:",omitempty"`
}

// Vocabulary maps words to ids: 0 is padding, 1 unknown.
type Vocabulary map[string]int32

// NewVocabulary numbers words from 2.
func NewVocabulary(words []string) Vocabulary {
	v := Vocabulary{}
	for _, w := range words {
		w = strings.ToLower(w) // Tokenize lowercases the text
		if _, ok := v[w]; !ok {
			v[w] = int32(len(v) + 2)
		}
	}
	return v
}

// Size is the number of ids (padding and unknown included).
func (v Vocabulary) Size() int { return len(v) + 2 }

// Tokenize splits text on white space into at most n ids, padded with 0.
func (v Vocabulary) Tokenize(text string, n int) []int32 {
	ids := make([]int32, n)
	for i, w := range strings.Fields(strings.ToLower(text)) {
		if i == n {
			break
		}
		id, ok := v[w]
		if !ok {
			id = 1
		}
		ids[i] = id
	}
	return ids
}

func (c Config) check() error {
	if c.Head.Kind != RawTokens {
		if err := c.Head.Check(); err != nil {
			return err
		}
	}
	switch {
	case c.Dim < 1 || c.K < 1 || (c.Epochs < 1 && c.Head.Kind != RawTokens) || c.Epochs < 0 || c.BatchSize < 2 || c.QueryLen < 1 || c.DocLen < 1:
		return fmt.Errorf("experiment: dim %d, k %d, epochs %d, batch %d (≥ 2), lengths %d/%d must be positive", c.Dim, c.K, c.Epochs, c.BatchSize, c.QueryLen, c.DocLen)
	case !(c.LR > 0) || !(c.Temperature > 0):
		return fmt.Errorf("experiment: learning rate %g and temperature %g must be positive", c.LR, c.Temperature)
	}
	return nil
}

// encode maps token ids [n, L] to L2-normalised token vectors [n, L, k].
func encode(scope *model.Scope, c Config, vocab int, ids *graph.Node) *graph.Node {
	e := layers.Embedding(scope.In("embedding"), ids, dtypes.Float32, vocab, c.Dim)
	h := layers.Dense(scope.In("ffn_in"), e, true, 2*c.Dim)
	h = layers.Dense(scope.In("ffn_out"), activation.Gelu(h), true, c.Dim)
	h = norm.LayerNorm(scope.In("norm"), graph.Add(e, h), -1).Done()
	return colbert.Normalize(c.Head.Apply(scope.In("head"), h, c.K))
}

// Train trains cfg on task's training pairs and evaluates on its
// evaluation set, calling progress (if not nil) after each epoch.
func Train(b compute.Backend, cfg Config, task *synth.Task, progress func(epoch int, loss float64)) (run *Run, err error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Head.Kind == RawTokens {
		return nil, fmt.Errorf("experiment: Train: head %q is for TrainHead (a pretrained encoder's own vectors)", RawTokens)
	}
	if task == nil || len(task.Train) < cfg.BatchSize {
		return nil, fmt.Errorf("experiment: the task needs at least one batch (%d) of training pairs", cfg.BatchSize)
	}
	start := time.Now()
	vocab := NewVocabulary(task.Vocab)
	qs := make([][]int32, len(task.Train))
	ds := make([][]int32, len(task.Train))
	dummy := make([][]int32, len(task.Train))
	for i, p := range task.Train {
		qs[i], ds[i], dummy[i] = vocab.Tokenize(p.Query, cfg.QueryLen), vocab.Tokenize(p.Doc, cfg.DocLen), []int32{0}
	}
	data, err := dataset.InMemoryFromData(b, "pairs", []any{qs, ds}, []any{dummy})
	if err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	data.BatchSize(cfg.BatchSize, true).Shuffle().WithRand(rand.New(rand.NewSource(int64(cfg.Seed))))
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(int64(cfg.Seed)); err != nil {
		return nil, err
	}
	modelFn := func(scope *model.Scope, _ any, inputs []*graph.Node) []*graph.Node {
		q := encode(scope.In("encoder"), cfg, vocab.Size(), inputs[0])
		d := encode(scope.Shared("encoder"), cfg, vocab.Size(), inputs[1])
		mask := graph.NotEqual(inputs[1], graph.ScalarZero(inputs[1].Graph(), inputs[1].DType()))
		return []*graph.Node{colbert.MaxSim(q, d, mask)}
	}
	lossFn := func(_, predictions []*graph.Node) *graph.Node {
		return colbert.ContrastiveLoss(predictions[0], cfg.Temperature)
	}
	defer func() {
		if r := recover(); r != nil {
			run, err = nil, fmt.Errorf("experiment: head %s: %v", cfg.Head.Name(), r)
		}
	}()
	run = &Run{Config: cfg, Head: cfg.Head.Name(), Task: task.Eval.Name}
	if err := fit(b, store, cfg, data, modelFn, lossFn, run, progress); err != nil {
		return nil, err
	}
	if run.Metrics, err = Evaluate(b, store, cfg, vocab, task.Eval, 256); err != nil {
		return nil, err
	}
	run.Seconds = time.Since(start).Seconds()
	return run, nil
}

// Evaluate encodes ds's queries and corpus with the trained store, scores
// every query against every document by MaxSim, chunk documents at a time,
// and averages NDCG@10, Recall@100 and MRR@10 over the judged queries.
func Evaluate(b compute.Backend, store *model.Store, cfg Config, vocab Vocabulary, ds *beir.Dataset, chunk int) (Metrics, error) {
	if chunk < 1 {
		return Metrics{}, fmt.Errorf("experiment: Evaluate: chunk %d must be positive", chunk)
	}
	enc, err := model.NewExec(b, store, func(scope *model.Scope, ids *graph.Node) *graph.Node {
		return encode(scope.In("encoder"), cfg, vocab.Size(), ids)
	})
	if err != nil {
		return Metrics{}, err
	}
	score, err := model.NewExec(b, store, func(_ *model.Scope, q, d, ids *graph.Node) *graph.Node {
		return colbert.MaxSimScores(q, d, graph.NotEqual(ids, graph.ScalarZero(ids.Graph(), ids.DType())))
	})
	if err != nil {
		return Metrics{}, err
	}
	qids := make([][]int32, len(ds.Queries))
	for i, q := range ds.Queries {
		qids[i] = vocab.Tokenize(q.Text, cfg.QueryLen)
	}
	qv, err := enc.Call1(qids)
	if err != nil {
		return Metrics{}, fmt.Errorf("experiment: encoding queries: %w", err)
	}
	scores, err := scoreInChunks(len(ds.Queries), len(ds.Corpus), chunk, func(start, end int) (*tensors.Tensor, error) {
		ids := make([][]int32, chunk) // a fixed chunk shape: one compilation
		for i := range ids {
			if start+i < end {
				doc := ds.Corpus[start+i]
				text := doc.Text
				if doc.Title != "" { // BEIR encodes title and text together
					text = doc.Title + " " + doc.Text
				}
				ids[i] = vocab.Tokenize(text, cfg.DocLen)
			} else {
				ids[i] = make([]int32, cfg.DocLen)
			}
		}
		dv, err := enc.Call1(ids)
		if err != nil {
			return nil, fmt.Errorf("encoding them: %w", err)
		}
		return score.Call1(qv, dv, ids)
	})
	if err != nil {
		return Metrics{}, err
	}
	return metricsOf(ds, scores)
}

// fit trains with Adam for cfg.Epochs epochs through GoMLX's Trainer and
// Loop, calling progress after each, and records the final loss, the steps
// and the head's trainable parameters in run.
func fit(b compute.Backend, store *model.Store, cfg Config, data train.Dataset, modelFn train.ModelFn, lossFn train.LossFn, run *Run, progress func(epoch int, loss float64)) error {
	trainer := train.NewTrainer(b, store, modelFn, lossFn, optimizer.Adam().LearningRate(cfg.LR).Done(), nil, nil)
	loop := train.NewLoop(trainer)
	for epoch := 1; epoch <= cfg.Epochs; epoch++ {
		metrics, err := loop.RunEpochs(data, 1)
		if err != nil {
			return fmt.Errorf("experiment: epoch %d: %w", epoch, err)
		}
		run.FinalLoss = float64(tensors.ToScalar[float32](metrics[0]))
		if progress != nil {
			progress(epoch, run.FinalLoss)
		}
	}
	run.Steps = int(loop.LoopStep)
	for v := range store.IterVariables() {
		if strings.Contains(v.Scope(), "/head") && v.Trainable {
			run.Params += v.Shape().Size()
		}
	}
	return nil
}
