package hfencoder

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorepro/gorepro/lib/backends"
	"github.com/gorepro/gorepro/lib/backends/backendstest"
)

// minilm loads the checkpoint, or skips (fails under $GOREPRO_REQUIRE_MINILM,
// which make test sets).
func minilm(t testing.TB) *Encoder {
	t.Helper()
	dir, err := LocateMiniLM()
	if err != nil {
		if os.Getenv("GOREPRO_REQUIRE_MINILM") != "" {
			t.Fatalf("all-MiniLM-L6-v2 is required ($GOREPRO_REQUIRE_MINILM): %v", err)
		}
		t.Skip(err)
	}
	e, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// referencePython is a project venv's python with numpy, scipy and tokenizers.
func referencePython(t *testing.T) string {
	return backendstest.Python(t, "GOREPRO_REQUIRE_MINILM", "numpy", "scipy", "tokenizers")
}

type reference struct {
	IDs        [][]int32     `json:"ids"`
	Vectors    [][][]float64 `json:"vectors"`
	SeqVectors [][][]float64 `json:"seq_vectors"`
}

// refSequence asks the reference for every position of IDs, attending to
// the keys of the first Keys positions only.
type refSequence struct {
	IDs  []int32 `json:"ids"`
	Keys int     `json:"keys"`
}

func runReference(t *testing.T, dir string, texts []string, maxLen int, vectors bool, seqs ...refSequence) reference {
	t.Helper()
	in, _ := json.Marshal(map[string]any{"dir": dir, "texts": texts, "maxlen": maxLen, "vectors": vectors, "sequences": seqs})
	cmd := exec.Command(referencePython(t), filepath.Join("testdata", "bert_reference.py"))
	cmd.Stdin = strings.NewReader(string(in))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("reference: %v\n%s", err, stderr.String())
	}
	var ref reference
	if err := json.Unmarshal(out, &ref); err != nil {
		t.Fatalf("reference output: %v", err)
	}
	return ref
}

var parityTexts = []string{
	"Quote returns a double-quoted Go string literal representing s.",
	"ReadFull reads EXACTLY len(buf) bytes from r into buf; it returns io.ErrUnexpectedEOF.",
	"Café naïve façade — résumé, coöperate; ÜBER straße",
	"北京是中国的首都 and 東京 is Japan's capital",
	"unbelievably-hyphenated_words_with_underscores and CamelCaseIdentifiers like strconv.AppendQuoteRuneToASCII",
	"emoji 🙂 tabs\tand\nnewlines   multiple   spaces, numbers 3.14159 and 1,000,000",
	"",
	"a",
}

// Token ids equal Hugging Face's Rust tokenizer's, with truncation.
func TestTokenizeMatchesHuggingFace(t *testing.T) {
	e := minilm(t)
	long := strings.Repeat("tokenization of a long document ", 40)
	texts := append(append([]string{}, parityTexts...), long)
	for _, maxLen := range []int{512, 16} {
		ref := runReference(t, e.Dir, texts, maxLen, false)
		for i, text := range texts {
			got, err := e.Tokenize(text, maxLen)
			if err != nil {
				t.Fatal(err)
			}
			if !equalIDs(got, ref.IDs[i]) {
				t.Errorf("maxLen %d, %.30q:\n ours %v\n HF   %v", maxLen, text, got, ref.IDs[i])
			}
		}
	}
	if _, err := e.Tokenize("x", 1); err == nil || !strings.Contains(err.Error(), "maxLen") {
		t.Errorf("maxLen 1: %v", err)
	}
}

func equalIDs(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The last layer's token vectors equal a float64 numpy forward pass over the
// same safetensors to 1e-5 (absolute; the vectors' entries are O(1); measured
// largest difference 2.36e-6 on the Go backend and 2.21e-6 on xla:cpu, so
// float32 rounding stays 4× inside it), for sequences of different lengths
// padded together (the mask must keep padding out of attention) and in more
// than one batch.
func TestEmbedMatchesNumpy(t *testing.T) {
	e := minilm(t)
	const T = 40
	texts := parityTexts[:6]
	ref := runReference(t, e.Dir, texts, T, true)
	ids := make([][]int32, len(texts))
	for i, text := range texts {
		var err error
		if ids[i], err = e.Tokenize(text, T); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range backendstest.Available(t) {
		t.Run(b.Name(), func(t *testing.T) {
			got, err := e.Embed(b, ids, T, 4, nil)
			if err != nil {
				t.Fatal(err)
			}
			var worst float64
			for i := range texts {
				if int(got.Len[i]) != len(ref.Vectors[i]) {
					t.Fatalf("text %d: %d tokens, reference %d", i, got.Len[i], len(ref.Vectors[i]))
				}
				for j, row := range ref.Vectors[i] {
					for k, want := range row {
						worst = math.Max(worst, math.Abs(float64(got.Vecs[(i*T+j)*e.Dim+k])-want))
					}
				}
				for j := int(got.Len[i]); j < T; j++ { // padding rows stay zero
					for k := range e.Dim {
						if v := got.Vecs[(i*T+j)*e.Dim+k]; v != 0 {
							t.Fatalf("text %d padding row %d: %v", i, j, v)
						}
					}
				}
			}
			t.Logf("%s: largest |ours − numpy float64| = %.2e over %d texts", b.Name(), worst, len(texts))
			if !(worst <= 1e-5) {
				t.Errorf("token vectors differ from the numpy reference by %.2e (> 1e-5)", worst)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("empty dir: %v", err)
	}
	t.Setenv(EnvMiniLMDir, filepath.Join(t.TempDir(), "missing"))
	if _, err := LocateMiniLM(); err == nil || !strings.Contains(err.Error(), EnvMiniLMDir) {
		t.Errorf("missing $%s: %v", EnvMiniLMDir, err)
	}
	t.Setenv(EnvMiniLMDir, "")
	e := minilm(t)
	b, _, err := backends.New(backends.Go)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	for name, ids := range map[string][][]int32{
		"empty sequence":     {{}},
		"longer than T":      {make([]int32, 9)},
		"T beyond the model": nil,
	} {
		T := 8
		if ids == nil {
			T, ids = e.MaxLen+1, [][]int32{{e.ClsID}}
		}
		if _, err := e.Embed(b, ids, T, 2, nil); err == nil || !strings.Contains(err.Error(), "Embed") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// EmbedQueries pads each query to T with [MASK] and returns every
// position's vector. Against the float64 numpy forward pass (to 1e-5
// absolute, the tolerance of TestEmbedMatchesNumpy), for 4 queries of 5–25
// tokens (cut to T), T = 12, 16 and 32, in batches of 3 (one batch part empty):
//   - attendExpansion false: every position (real and expansion) equals the
//     numpy pass whose attention keys are the real tokens only, and the real
//     tokens' vectors equal the unpadded query's (numpy, and Embed's to 1e-5);
//     in numpy the key-masked real rows equal the unpadded ones to 1e-9,
//     which checks that masking the keys is all it takes;
//   - attendExpansion true: every position equals the numpy pass with all T
//     keys attended.
//
// It logs the cosine between a real token's vectors with and without the
// expansion attended (issue 29 reports some at 0.47).
func TestEmbedQueriesMatchesNumpy(t *testing.T) {
	e := minilm(t)
	queries := []string{
		"how do I quote a Go string?",
		"read exactly len(buf) bytes or fail with an unexpected EOF",
		"capital of Japan",
		"which function converts a rune to an ASCII-only quoted literal, escaping non-printable characters?",
	}
	Ts := []int{12, 16, 32}
	ids := map[int][][]int32{}
	var seqs []refSequence
	for _, T := range Ts {
		for _, q := range queries {
			s, err := e.Tokenize(q, T)
			if err != nil {
				t.Fatal(err)
			}
			ids[T] = append(ids[T], s)
			padded := make([]int32, T)
			for j := range padded {
				padded[j] = e.MaskID
			}
			copy(padded, s)
			seqs = append(seqs, refSequence{padded, len(s)}, refSequence{padded, T}, refSequence{s, len(s)})
		}
	}
	ref := runReference(t, e.Dir, nil, 2, false, seqs...)
	if len(ref.SeqVectors) != len(seqs) {
		t.Fatalf("reference returned %d sequences, want %d", len(ref.SeqVectors), len(seqs))
	}
	// The reference itself: key-masked real rows = the unpadded query's.
	var refWorst float64
	for i := 0; i < len(seqs); i += 3 {
		masked, plain := ref.SeqVectors[i], ref.SeqVectors[i+2]
		for j := range plain {
			for k := range plain[j] {
				refWorst = math.Max(refWorst, math.Abs(masked[j][k]-plain[j][k]))
			}
		}
	}
	t.Logf("numpy: largest |key-masked − unpadded| over real tokens = %.2e", refWorst)
	if !(refWorst <= 1e-9) {
		t.Errorf("numpy: masking the expansion keys changes the real tokens by %.2e", refWorst)
	}
	for _, b := range backendstest.Available(t) {
		t.Run(b.Name(), func(t *testing.T) {
			var worstReal, worstExp, worstAtt, worstEmbed float64
			cosMin, cosSum, cosN := 1.0, 0.0, 0
			for ti, T := range Ts {
				masked, err := e.EmbedQueries(b, ids[T], T, 3, false)
				if err != nil {
					t.Fatal(err)
				}
				attended, err := e.EmbedQueries(b, ids[T], T, 3, true)
				if err != nil {
					t.Fatal(err)
				}
				plain, err := e.Embed(b, ids[T], T, 3, nil)
				if err != nil {
					t.Fatal(err)
				}
				for qi, s := range ids[T] {
					for _, got := range []*Tokens{masked, attended} {
						if got.N != len(queries) || got.T != T || got.Len[qi] != int32(T) || got.RealLen[qi] != int32(len(s)) {
							t.Fatalf("T %d query %d: N %d T %d Len %d RealLen %d, want %d %d %d %d",
								T, qi, got.N, got.T, got.Len[qi], got.RealLen[qi], len(queries), T, T, len(s))
						}
					}
					r := 3 * (ti*len(queries) + qi)
					for j := range T {
						for k := range e.Dim {
							at := (qi*T+j)*e.Dim + k
							d := math.Abs(float64(masked.Vecs[at]) - ref.SeqVectors[r][j][k])
							if j < len(s) {
								worstReal = math.Max(worstReal, d)
								worstReal = math.Max(worstReal, math.Abs(float64(masked.Vecs[at])-ref.SeqVectors[r+2][j][k]))
								worstEmbed = math.Max(worstEmbed, math.Abs(float64(masked.Vecs[at]-plain.Vecs[at])))
							} else {
								worstExp = math.Max(worstExp, d)
							}
							worstAtt = math.Max(worstAtt, math.Abs(float64(attended.Vecs[at])-ref.SeqVectors[r+1][j][k]))
						}
					}
					qMin, qSum := 1.0, 0.0
					for j := range s {
						c := cosine(masked.Vecs[(qi*T+j)*e.Dim:][:e.Dim], attended.Vecs[(qi*T+j)*e.Dim:][:e.Dim])
						qMin, qSum = math.Min(qMin, c), qSum+c
					}
					cosMin, cosSum, cosN = math.Min(cosMin, qMin), cosSum+qSum, cosN+len(s)
					if T == 32 {
						t.Logf("%s: T %d, %q (%d tokens): cosine of its real tokens' vectors without vs with the expansion attended: min %.3f, mean %.3f",
							b.Name(), T, queries[qi], len(s), qMin, qSum/float64(len(s)))
					}
				}
			}
			t.Logf("%s: largest |ours − numpy float64|: real tokens, expansion not attended %.2e; expansion positions %.2e; all positions, expansion attended %.2e; |EmbedQueries − Embed| on real tokens %.2e",
				b.Name(), worstReal, worstExp, worstAtt, worstEmbed)
			t.Logf("%s: cosine of a real token's vector without vs with the expansion attended, over %d real tokens of %d queries × T %v: min %.3f, mean %.3f",
				b.Name(), cosN, len(queries), Ts, cosMin, cosSum/float64(cosN))
			for name, worst := range map[string]float64{"real tokens (not attended)": worstReal, "expansion positions (not attended)": worstExp,
				"all positions (attended)": worstAtt, "EmbedQueries vs Embed": worstEmbed} {
				if !(worst <= 1e-5) {
					t.Errorf("%s: differ by %.2e (> 1e-5)", name, worst)
				}
			}
		})
	}
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

// Bad input to EmbedQueries is one error naming the argument, not a panic.
func TestEmbedQueriesBadInput(t *testing.T) {
	e := minilm(t)
	b, _, err := backends.New(backends.Go)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	q := []int32{e.ClsID, e.SepID}
	for _, c := range []struct {
		name     string
		ids      [][]int32
		T, batch int
		want     string
	}{
		{"empty query", [][]int32{q, {}}, 8, 2, "ids[1] is an empty query"},
		{"query longer than T", [][]int32{make([]int32, 9)}, 8, 2, "ids[0] has 9 ids, longer than T = 8"},
		{"T beyond the model", [][]int32{q}, e.MaxLen + 1, 2, fmt.Sprintf("T = %d must be in [1, %d]", e.MaxLen+1, e.MaxLen)},
		{"T zero", [][]int32{q}, 0, 2, "T = 0 must be in"},
		{"batch zero", [][]int32{q}, 8, 0, "batch = 0 must be at least 1"},
		{"batch negative", [][]int32{q}, 8, -1, "batch = -1 must be at least 1"},
		{"negative id", [][]int32{{e.ClsID, -1}}, 8, 2, "ids[0][1] = -1 is outside the vocabulary"},
		{"id beyond the vocabulary", [][]int32{q, {e.ClsID, e.SepID, int32(e.model.Config.VocabSize)}}, 8, 2,
			fmt.Sprintf("ids[1][2] = %d is outside the vocabulary", e.model.Config.VocabSize)},
	} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: panic %v", c.name, r)
				}
			}()
			got, err := e.EmbedQueries(b, c.ids, c.T, c.batch, false)
			if err == nil || !strings.Contains(err.Error(), "EmbedQueries") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: got (%v, %v), want an error with %q", c.name, got, err, c.want)
			}
		}()
	}
}
