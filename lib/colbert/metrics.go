package colbert

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
)

// NDCGAt is NDCG@k of one query as trec_eval (m_ndcg_cut) and so BEIR
// report it: DCG = Σ_{rank r ≤ k} rel_r / log2(r + 1) with the linear gain
// rel = the qrels grade (documents absent from relevance count 0, grades ≤ 0
// contribute nothing); the ideal DCG sorts all of the query's judged grades
// (retrieved or not) in descending order; NDCG = DCG / IDCG, 0 when IDCG is
// 0. ranked is the ranking, best first. Bad input — k ≤ 0, an id ranked
// twice — gives NaN (CheckRanking says why).
func NDCGAt(k int, ranked []string, relevance map[string]int) float64 {
	if CheckRanking(k, ranked) != nil {
		return math.NaN()
	}
	dcg := 0.0
	for r, id := range ranked[:min(k, len(ranked))] {
		if g := relevance[id]; g > 0 {
			dcg += float64(g) / math.Log2(float64(r+2))
		}
	}
	grades := make([]int, 0, len(relevance))
	for _, g := range relevance {
		if g > 0 {
			grades = append(grades, g)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(grades)))
	idcg := 0.0
	for r, g := range grades[:min(k, len(grades))] {
		idcg += float64(g) / math.Log2(float64(r+2))
	}
	if idcg == 0 {
		return 0
	}
	return dcg / idcg
}

// RecallAt is the fraction of the query's relevant documents (grade > 0)
// in the first k of ranked (0 when it has none; NaN on bad input).
func RecallAt(k int, ranked []string, relevance map[string]int) float64 {
	if CheckRanking(k, ranked) != nil {
		return math.NaN()
	}
	relevant, found := 0, 0
	for _, g := range relevance {
		if g > 0 {
			relevant++
		}
	}
	for _, id := range ranked[:min(k, len(ranked))] {
		if relevance[id] > 0 {
			found++
		}
	}
	if relevant == 0 {
		return 0
	}
	return float64(found) / float64(relevant)
}

// MRRAt is 1/rank of the first relevant document (grade > 0) in the first
// k of ranked, 0 if none (NaN on bad input).
func MRRAt(k int, ranked []string, relevance map[string]int) float64 {
	if CheckRanking(k, ranked) != nil {
		return math.NaN()
	}
	for r, id := range ranked[:min(k, len(ranked))] {
		if relevance[id] > 0 {
			return 1 / float64(r+1)
		}
	}
	return 0
}

// CheckRanking reports what makes (k, ranked) unusable for the metrics:
// k ≤ 0 or an id ranked twice.
func CheckRanking(k int, ranked []string) error {
	if k <= 0 {
		return fmt.Errorf("colbert: cutoff k = %d must be positive", k)
	}
	seen := make(map[string]int, len(ranked))
	for r, id := range ranked {
		if first, dup := seen[id]; dup {
			return fmt.Errorf("colbert: document %q is ranked twice (ranks %d and %d)", id, first+1, r+1)
		}
		seen[id] = r
	}
	return nil
}

// Rank returns the ids of the k best scores, best first, with trec_eval's
// order: score descending, then id descending on ties (trec_eval re-sorts a
// run this way, whatever its ranks say). NaN scores rank last. queryID, if
// not empty, is dropped from the ranking, as BEIR drops a retrieved document
// whose id is the query's.
func Rank(k int, ids []string, scores []float32, queryID string) ([]string, error) {
	if len(ids) != len(scores) {
		return nil, fmt.Errorf("colbert: Rank: %d ids and %d scores", len(ids), len(scores))
	}
	if k <= 0 {
		return nil, fmt.Errorf("colbert: Rank: k = %d must be positive", k)
	}
	order := make([]int, 0, len(ids))
	for i, id := range ids {
		if queryID == "" || id != queryID {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(a, b int) int {
		sa, sb := scores[a], scores[b]
		na, nb := sa != sa, sb != sb
		switch {
		case na != nb:
			if na {
				return 1
			}
			return -1
		case !na && sa != sb:
			return cmp.Compare(sb, sa)
		}
		return cmp.Compare(ids[b], ids[a])
	})
	out := make([]string, 0, min(k, len(order)))
	for _, i := range order[:min(k, len(order))] {
		out = append(out, ids[i])
	}
	return out, nil
}
