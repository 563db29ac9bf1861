package colbert

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// Mining on hand-made score matrices: order, ties to the lower index, NaN
// last (after −Inf), the positive skipped, Same and Exclude.
func TestMineHardNegatives(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(-1))
	scores := [][]float32{
		{5, 9, 7, 7, 1, nan},   // positive 1 (highest): ties 2, 3 keep index order
		{nan, 3, inf, 3, 8, 2}, // positive 4
		{1, 1, 1, 1, 1, 1},     // positive 0: all tied
	}
	got, err := MineHardNegatives(scores, []int{1, 4, 0}, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]int{{2, 3, 0}, {1, 3, 5}, {1, 2, 3}}; !reflect.DeepEqual(got, want) {
		t.Errorf("MineHardNegatives = %v, want %v", got, want)
	}
	// All five others: NaN after −Inf.
	got, err = MineHardNegatives(scores[1:2], []int{4}, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{1, 3, 5, 2, 0}; !reflect.DeepEqual(got[0], want) {
		t.Errorf("k = all: %v, want %v", got[0], want)
	}
	// Documents 1 and 2 share a text, so do 3 and 5: query 0 (positive 1)
	// may not take 2; query 1 (positive 4) takes 1 but then not 2, 3 but then
	// not 5.
	text := []string{"a", "b", "b", "c", "d", "c"}
	opts := &MiningOptions{Same: func(a, b int) bool { return text[a] == text[b] }}
	got, err = MineHardNegatives(scores[:2], []int{1, 4}, 3, opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]int{{3, 0, 4}, {1, 3, 0}}; !reflect.DeepEqual(got, want) {
		t.Errorf("with Same: %v, want %v", got, want)
	}
	opts.Exclude = func(q, d int) bool { return q == 0 && d == 3 }
	got, err = MineHardNegatives(scores[:1], []int{1}, 2, opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 4}; !reflect.DeepEqual(got[0], want) {
		t.Errorf("with Exclude: %v, want %v", got[0], want)
	}
	// With Same, query 0 has 4 allowed documents (0, 3 or 5, 4): 4 is too many.
	opts.Exclude = nil
	if _, err := MineHardNegatives(scores[:1], []int{1}, 4, opts); !errors.Is(err, ErrTooFewCandidates) {
		t.Errorf("k beyond the distinct texts: %v", err)
	}
}

func TestMineHardNegativesBadInput(t *testing.T) {
	ok := [][]float32{{1, 2, 3}, {3, 2, 1}}
	for _, tc := range []struct {
		name   string
		scores [][]float32
		pos    []int
		k      int
		want   string
	}{
		{"k zero", ok, []int{0, 1}, 0, "k = 0"},
		{"k negative", ok, []int{0, 1}, -2, "k = -2"},
		{"k too large", ok, []int{0, 1}, 3, "too few candidates"},
		{"ragged", [][]float32{{1, 2, 3}, {1, 2}}, []int{0, 1}, 1, "row 1 has 2"},
		{"positive count", ok, []int{0}, 1, "2 score rows for 1 positives"},
		{"positive out of range", ok, []int{0, 3}, 1, "positive 3"},
		{"positive negative", ok, []int{-1, 0}, 1, "positive -1"},
		{"no queries", nil, nil, 1, "no queries"},
		{"one document", [][]float32{{1}}, []int{0}, 1, "too few candidates"},
	} {
		_, err := MineHardNegatives(tc.scores, tc.pos, tc.k, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// The exclusion mask of a batch whose tuples share documents.
func TestContrastiveExclusions(t *testing.T) {
	// Tuples (positive, negative): query 0's positive 7 is tuple 1's
	// negative; tuple 2's positive 9 has the same text as 7.
	tuples := [][]int{{7, 1}, {3, 7}, {9, 4}}
	got, err := ContrastiveExclusions(tuples, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Columns: pos0 pos1 pos2 neg0 neg1 neg2.
	want := [][]bool{
		{false, false, false, false, true, false},
		{false, false, false, false, false, false},
		{false, false, false, false, false, false},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("identity: %v, want %v", got, want)
	}
	got, err = ContrastiveExclusions(tuples, func(a, b int) bool { return (a == 7 || a == 9) && (b == 7 || b == 9) })
	if err != nil {
		t.Fatal(err)
	}
	want[0][2] = true                   // query 0: tuple 2's positive 9 ≡ 7
	want[2][0], want[2][4] = true, true // query 2: 7 (positive 0, negative of tuple 1)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("same text: %v, want %v", got, want)
	}
	for _, bad := range [][][]int{nil, {{}}, {{1, 2}, {3}}} {
		if _, err := ContrastiveExclusions(bad, nil); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// The punctuation list is Python's string.punctuation; the masks drop
// exactly the listed ids.
func TestSkiplist(t *testing.T) {
	words := PunctuationSkiplist()
	ref := runReference(t, []map[string]any{{"kind": "punctuation"}})
	if got, want := strings.Join(words, ""), ref[0]["punctuation"].(string); got != want || len(words) != 32 {
		t.Errorf("PunctuationSkiplist = %q (%d), Python's string.punctuation %q", got, len(words), want)
	}
	vocab := map[string]int32{".": 1012, ",": 1010, "!": 999}
	skip := SkiplistIDs([]string{".", ",", "§"}, func(s string) (int32, bool) { id, ok := vocab[s]; return id, ok }, 100)
	if want := map[int32]bool{1012: true, 1010: true, 100: true}; !reflect.DeepEqual(skip, want) {
		t.Errorf("SkiplistIDs = %v, want %v (an unknown word maps to [UNK])", skip, want)
	}
	if skip := SkiplistIDs([]string{"§"}, func(string) (int32, bool) { return 0, false }, -1); len(skip) != 0 {
		t.Errorf("no unknown token: %v", skip)
	}
	ids := [][]int32{{101, 7, 1012, 8, 102}, {101, 1010, 102}}
	if got, want := SkiplistMask(ids, skip), [][]bool{{true, true, false, true, true}, {true, false, true}}; !reflect.DeepEqual(got, want) {
		t.Errorf("SkiplistMask = %v, want %v", got, want)
	}
	att := [][]bool{{true, true, true, true, false}, {true, true, true}}
	got, err := DocumentMask(ids, att, skip)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]bool{{true, true, false, true, false}, {true, false, true}}; !reflect.DeepEqual(got, want) {
		t.Errorf("DocumentMask = %v, want %v", got, want)
	}
	if _, err := DocumentMask(ids, att[:1], skip); err == nil {
		t.Error("row count mismatch accepted")
	}
	if _, err := DocumentMask(ids, [][]bool{{true}, {true, true, true}}, skip); err == nil {
		t.Error("row length mismatch accepted")
	}
}
