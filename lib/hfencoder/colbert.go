package hfencoder

import (
	"fmt"
)

// ColBERT/PyLate marker tokens.
//
// PyLate (lightonai/pylate, pylate/models/colbert.py, ColBERT.tokenize and
// ColBERT.insert_prefix_token) tokenises a text with the encoder's maximum
// length set to query_length − 1 (document_length − 1) and then inserts
// the prefix token's id right after [CLS]: [CLS] marker pieces… [SEP], at
// most query_length (document_length) ids. Its default prefixes "[Q] " and
// "[D] " are new tokens added to the vocabulary (their embedding rows
// freshly initialised); for Stanford ColBERT checkpoints it falls back to
// the checkpoint's "[unused0]" (queries) and "[unused1]" (documents), as
// the original ColBERT does. With a frozen embedding table (the quick
// profile) we use those existing rows: QueryMarker and DocumentMarker.

// QueryMarker and DocumentMarker are the vocabulary tokens inserted after
// [CLS] in queries and documents (ColBERT's [Q] and [D]).
const (
	QueryMarker    = "[unused0]"
	DocumentMarker = "[unused1]"
)

// Punctuation is Python's string.punctuation: the characters whose tokens
// ColBERT and PyLate skip in documents' scoring (skiplist_words).
const Punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// MarkerIDs returns the ids of QueryMarker and DocumentMarker in the
// checkpoint's vocabulary, or an error naming the one that is absent.
func (e *Encoder) MarkerIDs() (query, document int32, err error) {
	for _, m := range []struct {
		token string
		id    *int32
	}{{QueryMarker, &query}, {DocumentMarker, &document}} {
		id, ok := e.tok.TokenToID(m.token)
		if !ok {
			return 0, 0, fmt.Errorf("hfencoder: the vocabulary of %s has no %s token (ColBERT's marker)", e.Dir, m.token)
		}
		*m.id = int32(id)
	}
	return query, document, nil
}

// TokenizeQuery returns [CLS] [unused0] text's pieces… [SEP], at most T
// ids, as PyLate tokenises a query (without its [MASK] padding to T, which
// EmbedQueries and Hidden add): the text is cut so that [CLS] pieces [SEP]
// are at most T − 1 ids, [SEP] kept last, and the marker is inserted after
// [CLS]. It is an error when T < 4 (no room for [CLS] marker a piece
// [SEP]), T > MaxLen, the vocabulary lacks the marker, or the text has no
// piece (empty or blank).
func (e *Encoder) TokenizeQuery(text string, T int) ([]int32, error) {
	q, _, err := e.MarkerIDs()
	if err != nil {
		return nil, fmt.Errorf("hfencoder: TokenizeQuery: %w", err)
	}
	ids, err := e.tokenizeMarked(text, T, q)
	if err != nil {
		return nil, fmt.Errorf("hfencoder: TokenizeQuery: %w", err)
	}
	return ids, nil
}

// TokenizeDocument returns [CLS] [unused1] text's pieces… [SEP], at most T
// ids, as PyLate tokenises a document (see TokenizeQuery, whose rules and
// errors it shares; documents are padded with [PAD] and masked).
func (e *Encoder) TokenizeDocument(text string, T int) ([]int32, error) {
	_, d, err := e.MarkerIDs()
	if err != nil {
		return nil, fmt.Errorf("hfencoder: TokenizeDocument: %w", err)
	}
	ids, err := e.tokenizeMarked(text, T, d)
	if err != nil {
		return nil, fmt.Errorf("hfencoder: TokenizeDocument: %w", err)
	}
	return ids, nil
}

// tokenizeMarked is Tokenize(text, T − 1) with marker inserted after [CLS].
func (e *Encoder) tokenizeMarked(text string, T int, marker int32) ([]int32, error) {
	if T < 4 || T > e.MaxLen {
		return nil, fmt.Errorf("length T = %d must be in [4, %d] ([CLS], the marker, at least one piece and [SEP])", T, e.MaxLen)
	}
	ids, err := e.Tokenize(text, T-1)
	if err != nil {
		return nil, err
	}
	if len(ids) <= 2 {
		return nil, fmt.Errorf("the text %.40q has no token after tokenisation (only [CLS] [SEP])", text)
	}
	out := make([]int32, 0, len(ids)+1)
	out = append(out, ids[0], marker)
	return append(out, ids[1:]...), nil
}

// PunctuationIDs returns the ids of the tokens of Python's
// string.punctuation characters (Punctuation), each character tokenised
// alone: the skiplist ColBERT and PyLate apply to documents' tokens when
// scoring (PyLate's ColBERT.skiplist_mask; its skiplist converts each
// character to an id as a vocabulary token, which for a BERT WordPiece
// vocabulary is the same id). A character the tokenizer cannot represent
// contributes what it tokenises to (e.g. [UNK]); none of MiniLM's does.
func (e *Encoder) PunctuationIDs() map[int32]bool {
	out := map[int32]bool{}
	for _, c := range Punctuation {
		ids := e.tok.Encode(string(c))
		for _, id := range ids {
			if int32(id) != e.ClsID && int32(id) != e.SepID {
				out[int32(id)] = true
			}
		}
	}
	return out
}
