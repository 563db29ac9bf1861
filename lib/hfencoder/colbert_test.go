package hfencoder

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// vocabOf reads tokenizer.json's WordPiece vocabulary directly (what
// Hugging Face's convert_tokens_to_ids looks tokens up in).
func vocabOf(t *testing.T, dir string) map[string]int32 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tj struct {
		Model struct {
			Vocab map[string]int32 `json:"vocab"`
		} `json:"model"`
	}
	if err := json.Unmarshal(raw, &tj); err != nil {
		t.Fatal(err)
	}
	if len(tj.Model.Vocab) == 0 {
		t.Fatal("tokenizer.json has no model.vocab")
	}
	return tj.Model.Vocab
}

// TokenizeQuery/TokenizeDocument are PyLate's tokenisation: Hugging Face's
// ids with truncation to T − 1, the marker ([unused0]/[unused1], looked up
// in tokenizer.json) inserted after [CLS]; at most T ids, [SEP] last.
func TestTokenizeMarkers(t *testing.T) {
	e := minilm(t)
	vocab := vocabOf(t, e.Dir)
	q, d, err := e.MarkerIDs()
	if err != nil {
		t.Fatal(err)
	}
	if q != vocab[QueryMarker] || d != vocab[DocumentMarker] || q == d {
		t.Fatalf("MarkerIDs %d %d, vocabulary %d %d", q, d, vocab[QueryMarker], vocab[DocumentMarker])
	}
	t.Logf("markers: %s = %d, %s = %d", QueryMarker, q, DocumentMarker, d)
	long := strings.Repeat("tokenization of a long document ", 40)
	texts := append(append([]string{}, parityTexts[:6]...), parityTexts[7], long)
	for _, T := range []int{4, 8, 32, 180} {
		ref := runReference(t, e.Dir, texts, T-1, false)
		for i, text := range texts {
			want := slices.Concat(ref.IDs[i][:1], []int32{0}, ref.IDs[i][1:])
			for _, c := range []struct {
				name   string
				fn     func(string, int) ([]int32, error)
				marker int32
			}{{"TokenizeQuery", e.TokenizeQuery, q}, {"TokenizeDocument", e.TokenizeDocument, d}} {
				got, err := c.fn(text, T)
				if err != nil {
					t.Fatalf("%s(%.20q, %d): %v", c.name, text, T, err)
				}
				want[1] = c.marker
				if !equalIDs(got, want) {
					t.Errorf("%s(%.30q, %d):\n ours %v\n want %v", c.name, text, T, got, want)
				}
				if len(got) > T || got[0] != e.ClsID || got[1] != c.marker || got[len(got)-1] != e.SepID {
					t.Errorf("%s(%.30q, %d) = %v: want [CLS] marker … [SEP], at most %d ids", c.name, text, T, got, T)
				}
			}
		}
	}
	for _, c := range []struct {
		text string
		T    int
		want string
	}{
		{"", 8, "no token after tokenisation"},
		{"  \t\n ", 8, "no token after tokenisation"},
		{"hello", 3, "T = 3 must be in [4,"},
		{"hello", e.MaxLen + 1, "must be in [4,"},
	} {
		for name, fn := range map[string]func(string, int) ([]int32, error){"TokenizeQuery": e.TokenizeQuery, "TokenizeDocument": e.TokenizeDocument} {
			got, err := fn(c.text, c.T)
			if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s(%q, %d) = (%v, %v), want an error with %q", name, c.text, c.T, got, err, c.want)
			}
		}
	}
}

// PunctuationIDs has one id per string.punctuation character (32), each
// the character's own vocabulary entry (PyLate's convert_tokens_to_ids),
// none [UNK].
func TestPunctuationIDs(t *testing.T) {
	e := minilm(t)
	vocab := vocabOf(t, e.Dir)
	got := e.PunctuationIDs()
	if len(Punctuation) != 32 || len(got) != 32 {
		t.Fatalf("%d punctuation characters, %d ids; want 32 and 32", len(Punctuation), len(got))
	}
	unk := vocab["[UNK]"]
	for _, c := range Punctuation {
		id, ok := vocab[string(c)]
		if !ok || id == unk || !got[id] {
			t.Errorf("%q: vocabulary id %d (present %v), in PunctuationIDs %v", c, id, ok, got[id])
		}
	}
}
