package experiment

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gorepro/gorepro/lib/backends/backendstest"
	"github.com/gorepro/gorepro/lib/colbert"
	"github.com/gorepro/gorepro/lib/colbert/synth"
	"github.com/gorepro/gorepro/lib/data/beir"
)

func small(seed uint64) synth.Config {
	c := synth.Quick(seed)
	c.Concepts, c.Corpus, c.Queries, c.TrainPairs = 40, 120, 30, 400
	return c
}

// Training a linear and an FFN head through GoMLX's Trainer on every
// backend learns the synthetic task far above an untrained model, and
// RunOrLoad caches the run.
func TestTrainLearns(t *testing.T) {
	task, err := synth.Generate(small(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, bk := range backendstest.Available(t) {
		for _, h := range []colbert.Head{{Kind: colbert.Linear}, {Kind: colbert.FFN, Depth: 1, Upscale: 2, Activation: "gelu", Residual: true}} {
			cfg := Config{Head: h, Dim: 16, K: 8, Epochs: 1, BatchSize: 16, LR: 3e-3, Temperature: 0.1, QueryLen: 8, DocLen: 16, Seed: 1}
			untrained := cfg
			untrained.LR = 1e-12
			before, err := Train(bk, untrained, task, nil)
			if err != nil {
				t.Fatalf("%s %s: %v", bk.Name(), h.Name(), err)
			}
			cfg.Epochs = 4
			epochs := 0
			dir := t.TempDir()
			after, err := RunOrLoad(bk, cfg, task, dir, func(int, float64) { epochs++ })
			if err != nil {
				t.Fatalf("%s %s: %v", bk.Name(), h.Name(), err)
			}
			t.Logf("%s %s: NDCG@10 %.3f untrained → %.3f after %d steps (loss %.3f)", bk.Name(), h.Name(), before.Metrics.NDCG10, after.Metrics.NDCG10, after.Steps, after.FinalLoss)
			if epochs != 4 || after.Steps != 4*(400/16) || after.Metrics.Queries != 30 || !(after.Metrics.NDCG10 > before.Metrics.NDCG10+0.15) {
				t.Errorf("%s %s: %d epochs, %d steps, %d queries, NDCG %.3f → %.3f", bk.Name(), h.Name(), epochs, after.Steps, after.Metrics.Queries, before.Metrics.NDCG10, after.Metrics.NDCG10)
			}
			cached, err := RunOrLoad(bk, cfg, task, dir, func(int, float64) { t.Error("a cached run trained") })
			if err != nil || !cached.FromCache || !reflect.DeepEqual(cached.Metrics, after.Metrics) {
				t.Errorf("cache: %v %+v", err, cached)
			}
		}
	}
}

// Evaluate's metrics equal the per-query formulas on scores computed by
// hand: one-token documents and queries with orthogonal one-hot embeddings.
func TestTokenizeAndVocabulary(t *testing.T) {
	v := NewVocabulary([]string{"a", "b", "a", "c"})
	if v.Size() != 5 {
		t.Errorf("size %d, want 5 (3 words, padding, unknown)", v.Size())
	}
	if got := v.Tokenize("b  zz A c b", 4); got[0] != 3 || got[1] != 1 || got[2] != 2 || got[3] != 4 {
		t.Errorf("Tokenize = %v", got)
	}
	if got := v.Tokenize("a", 3); got[1] != 0 || got[2] != 0 {
		t.Errorf("padding: %v", got)
	}
}

func TestBadConfig(t *testing.T) {
	task, _ := synth.Generate(small(2))
	ok := Config{Head: colbert.Head{Kind: colbert.Linear}, Dim: 4, K: 2, Epochs: 1, BatchSize: 4, LR: 1e-3, Temperature: 0.1, QueryLen: 4, DocLen: 4}
	bk := backendstest.Available(t)[0]
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Head.Kind = "mlp" }, `head kind "mlp"`},
		{func(c *Config) { c.BatchSize = 1 }, "batch 1"},
		{func(c *Config) { c.Temperature = 0 }, "temperature 0"},
	} {
		c := ok
		tc.mod(&c)
		if _, err := Train(bk, c, task, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", c, err, tc.want)
		}
	}
	if _, err := Train(bk, ok, &synth.Task{Eval: &beir.Dataset{}}, nil); err == nil {
		t.Error("a task without training pairs was accepted")
	}
}
