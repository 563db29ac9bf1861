package hfencoder

import (
	"encoding/json"
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
func minilm(t *testing.T) *Encoder {
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
	IDs     [][]int32     `json:"ids"`
	Vectors [][][]float64 `json:"vectors"`
}

func runReference(t *testing.T, dir string, texts []string, maxLen int, vectors bool) reference {
	t.Helper()
	in, _ := json.Marshal(map[string]any{"dir": dir, "texts": texts, "maxlen": maxLen, "vectors": vectors})
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
