package experiment

import (
	"fmt"
	"path/filepath"

	"github.com/gorepro/gorepro/lib/data/beir"
)

// WriteFixtureCollection writes two small BEIR datasets in the layout the
// data fetcher gives (root/<name>/{corpus.jsonl, queries.jsonl,
// qrels/test.tsv}) for the smoke profile, which runs the full profile's
// zero-shot BEIR path on them: one with graded judgements and a judged
// document absent from the corpus (as ArguAna and NFCorpus have), one with
// titles. It returns root.
func WriteFixtureCollection(root string) (string, error) {
	a := &beir.Dataset{Name: "fixture-graded",
		Corpus: []beir.Doc{
			{ID: "d1", Text: "The tokenizer splits text into word pieces before encoding."},
			{ID: "d2", Text: "Late interaction scores each query token against every document token."},
			{ID: "d3", Text: "A projection head maps encoder vectors to a smaller space."},
			{ID: "d4", Text: "Hard negatives are documents the model ranks high but are not relevant."},
			{ID: "d5", Text: "Normalised vectors make the dot product a cosine similarity."},
		},
		Queries: []beir.Query{{ID: "q1", Text: "how does late interaction score tokens"}, {ID: "q2", Text: "what is a hard negative"}, {ID: "q3", Text: "what does the projection head do"}},
		Qrels:   map[string]map[string]int{"q1": {"d2": 2, "d5": 1}, "q2": {"d4": 1, "absent": 1}, "q3": {"d3": 2}},
	}
	b := &beir.Dataset{Name: "fixture-titles",
		Corpus: []beir.Doc{
			{ID: "t1", Title: "Sinkhorn", Text: "Entropic optimal transport solved by matrix scaling."},
			{ID: "t2", Title: "Grokking", Text: "Delayed generalisation after the training loss reaches zero."},
			{ID: "t3", Title: "TrAct", Text: "Training first-layer activations directly rather than the weights."},
			{ID: "t4", Title: "ColBERT", Text: "Multi-vector retrieval with a maximum similarity operator."},
		},
		Queries: []beir.Query{{ID: "p1", Text: "optimal transport by matrix scaling"}, {ID: "p2", Text: "multi-vector retrieval"}},
		Qrels:   map[string]map[string]int{"p1": {"t1": 1}, "p2": {"t4": 1}},
	}
	for _, ds := range []*beir.Dataset{a, b} {
		if err := beir.Write(filepath.Join(root, ds.Name), "test", ds); err != nil {
			return "", fmt.Errorf("experiment: writing the fixture collection: %w", err)
		}
	}
	return root, nil
}
