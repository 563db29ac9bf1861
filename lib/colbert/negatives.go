package colbert

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// ErrTooFewCandidates is wrapped by MineHardNegatives when a query has fewer
// than k candidates that may be its negatives.
var ErrTooFewCandidates = errors.New("too few candidates")

// MiningOptions are MineHardNegatives' optional exclusions.
type MiningOptions struct {
	// Same reports whether documents a and b have the same text (Go
	// documentation holds many identical documents). A document the same
	// as query i's positive is never one of its negatives, and no two of a
	// query's negatives are the same: of a set of same documents only the
	// highest-ranked one can be chosen. nil: documents are same only as
	// themselves.
	Same func(a, b int) bool
	// Exclude reports whether document d must not be a negative of query q
	// (another document judged relevant to q, say). nil: none.
	Exclude func(q, d int) bool
}

// MineHardNegatives chooses, for each query i, the k documents of highest
// score scores[i][d] that are not its positive positive[i] (nor excluded by
// opts, which may be nil), in decreasing score order. Ties go to the lower
// index; NaN scores rank below every other score, −Inf included. Every row
// of scores must have one length, the number of documents. It is an error,
// wrapping ErrTooFewCandidates, when a query has fewer than k allowed
// documents.
func MineHardNegatives(scores [][]float32, positive []int, k int, opts *MiningOptions) ([][]int, error) {
	if k < 1 {
		return nil, fmt.Errorf("colbert.MineHardNegatives: k = %d, want ≥ 1", k)
	}
	if len(scores) != len(positive) {
		return nil, fmt.Errorf("colbert.MineHardNegatives: %d score rows for %d positives", len(scores), len(positive))
	}
	if len(scores) == 0 {
		return nil, fmt.Errorf("colbert.MineHardNegatives: no queries")
	}
	if opts == nil {
		opts = &MiningOptions{}
	}
	nd := len(scores[0])
	out := make([][]int, len(scores))
	order := make([]int, nd)
	for i, row := range scores {
		if len(row) != nd {
			return nil, fmt.Errorf("colbert.MineHardNegatives: row %d has %d scores, row 0 has %d", i, len(row), nd)
		}
		p := positive[i]
		if p < 0 || p >= nd {
			return nil, fmt.Errorf("colbert.MineHardNegatives: query %d's positive %d is not one of the %d documents", i, p, nd)
		}
		for d := range order {
			order[d] = d
		}
		sort.SliceStable(order, func(a, b int) bool { return above(row[order[a]], row[order[b]]) })
		chosen := make([]int, 0, k)
	next:
		for _, d := range order {
			if len(chosen) == k {
				break
			}
			if d == p || (opts.Exclude != nil && opts.Exclude(i, d)) {
				continue
			}
			if opts.Same != nil {
				if opts.Same(p, d) {
					continue
				}
				for _, c := range chosen {
					if opts.Same(c, d) {
						continue next
					}
				}
			}
			chosen = append(chosen, d)
		}
		if len(chosen) < k {
			return nil, fmt.Errorf("colbert.MineHardNegatives: query %d has %d allowed negatives, want %d: %w", i, len(chosen), k, ErrTooFewCandidates)
		}
		out[i] = chosen
	}
	return out, nil
}

// above orders scores decreasingly with NaN last (a stable sort then keeps
// the lower index first among equal scores).
func above(a, b float32) bool {
	an, bn := math.IsNaN(float64(a)), math.IsNaN(float64(b))
	if an || bn {
		return !an && bn
	}
	return a > b
}

// ContrastiveExclusions is PyLateContrastive's exclude mask, [B][N·B] in its
// group-major layout, for a batch of B tuples of N corpus documents each
// (tuples[j][0] tuple j's positive, then its negatives): column k·B + j is
// excluded for query i when document tuples[j][k] is the same as i's
// positive (same(a, b), e.g. identical text; or a == b when same is nil)
// and is not i's own positive column. PyLate excludes nothing: this removes
// the false negatives duplicated documents put into a batch.
func ContrastiveExclusions(tuples [][]int, same func(a, b int) bool) ([][]bool, error) {
	b := len(tuples)
	if b == 0 {
		return nil, fmt.Errorf("colbert.ContrastiveExclusions: no tuples")
	}
	n := len(tuples[0])
	if n == 0 {
		return nil, fmt.Errorf("colbert.ContrastiveExclusions: empty tuples")
	}
	for j, t := range tuples {
		if len(t) != n {
			return nil, fmt.Errorf("colbert.ContrastiveExclusions: tuple %d has %d documents, tuple 0 has %d", j, len(t), n)
		}
	}
	if same == nil {
		same = func(a, b int) bool { return a == b }
	}
	out := make([][]bool, b)
	for i := range out {
		out[i] = make([]bool, n*b)
		p := tuples[i][0]
		for k := range n {
			for j := range b {
				if c := k*b + j; c != i {
					d := tuples[j][k]
					out[i][c] = d == p || same(p, d)
				}
			}
		}
	}
	return out, nil
}
