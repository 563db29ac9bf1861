package colbert

import (
	"fmt"

	"github.com/gomlx/gomlx/core/graph"
)

// PyLateScores is PyLate's colbert_scores (pylate/scores/scores.py lines
// 66-80 at 1.3.2; pylate/scores/colbert.py lines 70-83 at HEAD): queries
// [nq, Lq, k] against docs [nd, Ld, k] with docMask bool [nd, Ld] (false =
// padding or a skiplist token), [nq, nd]. Unlike MaxSim, the mask multiplies
// the similarities: a masked position takes part in the max with similarity
// 0, so a document whose real similarities to a query token are all negative
// gets 0 for that token, and a document with no real token scores 0, not
// −Inf. The Contrastive loss scores with it (contrastive.py line 119,
// score_metric=colbert_scores), the Distillation loss with colbert_kd_scores
// (distillation.py line 59), the same computation per query's own
// candidates.
//
// Every query token counts: PyLate passes no query mask when it expands
// queries (do_query_expansion, default True: pylate/models/colbert.py line
// 419; contrastive.py line 195). The max's gradient goes to the first
// maximal document token, as MaxSim's. The argument checks are MaxSim's.
func PyLateScores(queries, docs, docMask *graph.Node) *graph.Node {
	sim, mask := similarities(queries, docs, docMask)
	ld := docs.Shape().Dimensions[1]
	masked := graph.Where(mask, sim, graph.ZerosLike(sim))
	winner := graph.OneHot(graph.ArgMax(masked, -1), ld, sim.DType()) // [nq, nd, Lq, Ld]
	best := graph.ReduceSum(graph.Mul(masked, graph.StopGradient(winner)), -1)
	return graph.ReduceSum(best, -1)
}

// pythonPunctuation is Python's string.punctuation.
const pythonPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// PunctuationSkiplist returns PyLate's default skiplist_words, Python's
// string.punctuation split into its 32 one-character strings
// (pylate/models/colbert.py line 406 at 1.3.2, line 446 at HEAD). PyLate
// maps each word to a token id with the tokenizer's convert_tokens_to_ids
// (line 411), which looks up the exact vocabulary token (a byte-level BPE's
// "Ġ," is not ",") and returns the unknown token's id for a word not in the
// vocabulary (see SkiplistIDs).
func PunctuationSkiplist() []string {
	out := make([]string, 0, len(pythonPunctuation))
	for _, r := range pythonPunctuation {
		out = append(out, string(r))
	}
	return out
}

// SkiplistIDs is PyLate's conversion of skiplist words to token ids
// (pylate/models/colbert.py line 410-412 at 1.3.2): vocab looks a token up;
// a word not in the vocabulary maps to unkID as Hugging Face's
// convert_tokens_to_ids does, so that PyLate then skips the unknown token
// in documents; give unkID < 0 for a tokenizer without one (the word is
// then dropped).
func SkiplistIDs(words []string, vocab func(token string) (int32, bool), unkID int32) map[int32]bool {
	out := make(map[int32]bool, len(words))
	for _, w := range words {
		if id, ok := vocab(w); ok {
			out[id] = true
		} else if unkID >= 0 {
			out[unkID] = true
		}
	}
	return out
}

// SkiplistMask is PyLate's ColBERT.skiplist_mask (pylate/models/colbert.py
// lines 861-878 at 1.3.2): keep[i][j] is false where ids[i][j] is in skip.
// PyLate applies it to documents only, AND-ed with the attention mask
// (extract_skiplist_mask, pylate/losses/contrastive.py lines 47-68; at
// encoding, colbert.py lines 683-689); queries keep every token. Rows may
// differ in length; an empty skip keeps everything.
func SkiplistMask(ids [][]int32, skip map[int32]bool) [][]bool {
	keep := make([][]bool, len(ids))
	for i, row := range ids {
		keep[i] = make([]bool, len(row))
		for j, id := range row {
			keep[i][j] = !skip[id]
		}
	}
	return keep
}

// DocumentMask is the document mask PyLate scores with: attention (true =
// real token) AND not a skiplist token, for ids and attention of one shape.
func DocumentMask(ids [][]int32, attention [][]bool, skip map[int32]bool) ([][]bool, error) {
	if len(ids) != len(attention) {
		return nil, fmt.Errorf("colbert.DocumentMask: %d id rows, %d attention rows", len(ids), len(attention))
	}
	keep := SkiplistMask(ids, skip)
	for i := range keep {
		if len(attention[i]) != len(ids[i]) {
			return nil, fmt.Errorf("colbert.DocumentMask: row %d has %d ids and %d attention values", i, len(ids[i]), len(attention[i]))
		}
		for j := range keep[i] {
			keep[i][j] = keep[i][j] && attention[i][j]
		}
	}
	return keep, nil
}
