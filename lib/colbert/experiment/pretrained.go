package experiment

import (
	"crypto/sha256"
	"fmt"
	"math"
	"sort"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gorepro/gorepro/lib/colbert"
	"github.com/gorepro/gorepro/lib/data/beir"
)

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

// RawTokens as a head kind skips the projection: MaxSim over the encoder's
// own L2-normalised token vectors (the untrained reference).
const RawTokens = "raw"

func headName(cfg Config) string {
	if cfg.Head.Kind == RawTokens {
		return "raw tokens (no head)"
	}
	return cfg.Head.Name()
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
