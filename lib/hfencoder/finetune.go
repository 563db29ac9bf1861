package hfencoder

import (
	"errors"
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/layers/attention"
	"github.com/gomlx/gomlx/ml/model"
	mltransformer "github.com/gomlx/gomlx/ml/zoo/transformer"
)

// Fine-tuning. The encoder's BERT layer stack is exposed as graph functions
// over a store of the checkpoint's variables, so that a training graph
// (e.g. a ColBERT projection head and its loss) can differentiate through
// the top layers, or through all of it:
//
//   - NewStore returns a fresh store holding the checkpoint's variables,
//     all trainable, at the scope layout below (the root of the store);
//   - Hidden runs the frozen checkpoint up to a layer (outside any
//     training graph) and returns the hidden states there, to be fed to
//     Layers as constants: the quick profile trains the top layers only;
//   - Layers applies layers from…L−1 (and the final normalisation, none for
//     BERT) inside a graph; LayersFromTokens computes the embeddings
//     in-graph first (the full profile, embeddings included).
//
// Hidden(layer l) followed by Layers(from l) gives EmbedQueries' vectors
// (queries padded with [MASK], expansion keys masked) and Embed's vectors
// of real tokens (documents padded with [PAD]).
//
// Scope layout of NewStore's store (relative to the scope given to Layers
// and LayersFromTokens, the store's root scope for NewStore's store), for
// a BERT checkpoint with hidden size D, FFN size F, vocabulary V and P
// positions, l = 0…L−1 (weights stored transposed, [out, in], as Hugging
// Face's safetensors have them):
//
//	token_embed/embeddings                               [V, D]
//	pos_embed/embeddings                                 [P, D]
//	token_type_embed/embeddings                          [2, D] (row 0 used)
//	embed_norm/layer_normalization/{gain,offset}         [D]
//	layer_l/attn/MultiHeadAttention/{query,key,value,output}/dense/weights  [D, D]
//	layer_l/attn/MultiHeadAttention/{query,key,value,output}/dense/biases   [D]
//	layer_l/norm1/layer_normalization/{gain,offset}      [D]  (after attention)
//	layer_l/ff1/dense/{weights [F, D], biases [F]}
//	layer_l/ff2/dense/{weights [D, F], biases [D]}
//	layer_l/norm2/layer_normalization/{gain,offset}      [D]  (after the FFN)
//
// A training graph should put its own variables (a projection head, an
// optimiser's state) under other top-level scopes, e.g. "colbert".

// NewStore returns a fresh store holding the checkpoint's variables on b,
// every one trainable, at the scope layout documented above (its root
// scope is what Layers and LayersFromTokens take). It is independent of
// the store Embed, EmbedQueries and Hidden use, so training it leaves
// those unchanged.
func (e *Encoder) NewStore(b compute.Backend) (*model.Store, error) {
	return e.newStore(b, dtypes.Float32)
}

// newStore is NewStore with the variables converted to dtype (float64 for
// the finite-difference test).
func (e *Encoder) newStore(b compute.Backend, dtype dtypes.DType) (store *model.Store, err error) {
	defer func() {
		if r := recover(); r != nil {
			store, err = nil, fmt.Errorf("hfencoder: NewStore of %s: %v", e.Dir, r)
		}
	}()
	if dtype != dtypes.Float32 {
		b = nil // converted on the host below
	}
	store = model.NewStore()
	if err := e.model.LoadStore(b, store); err != nil {
		return nil, fmt.Errorf("hfencoder: NewStore: loading the weights of %s: %w", e.Dir, err)
	}
	if store.NumVariables() == 0 {
		return nil, errors.New("hfencoder: NewStore: no weight of " + e.Dir + " mapped onto the transformer")
	}
	for v := range store.IterVariables() {
		v.SetTrainable(true)
		if dtype == dtypes.Float32 {
			continue
		}
		t, err := v.Value()
		if err != nil {
			return nil, fmt.Errorf("hfencoder: NewStore: %s: %w", v.Path(), err)
		}
		if t.DType() != dtypes.Float32 || dtype != dtypes.Float64 {
			return nil, fmt.Errorf("hfencoder: NewStore: %s is %s, converting to %s is not supported", v.Path(), t.DType(), dtype)
		}
		var conv *tensors.Tensor
		err = tensors.ConstFlatData(t, func(flat []float32) {
			f64 := make([]float64, len(flat))
			for i, x := range flat {
				f64[i] = float64(x)
			}
			conv = tensors.FromFlatDataAndDimensions(f64, t.Shape().Dimensions...)
		})
		if err == nil {
			err = v.SetValue(conv)
		}
		if err != nil {
			return nil, fmt.Errorf("hfencoder: NewStore: %s: %w", v.Path(), err)
		}
	}
	return store, nil
}

// NumLayers is the checkpoint's number of transformer layers (6 for MiniLM).
func (e *Encoder) NumLayers() int { return e.model.Config.NumHiddenLayers }

// Layers applies the transformer layers from…L−1 (L = NumLayers) and the
// final normalisation (none for BERT) to hidden states x [B, T, D] — the
// output of the first `from` layers, as Hidden returns them (from = 0:
// after the embeddings and their layer norm) — using the variables under
// scope (the layout NewStore documents). Position k of sequence b is
// attended to, as a key and value, only when k < keys[b] (keys: [B]
// int32), while every position is computed as a query, as EmbedQueries
// does; so queries padded with [MASK] whose keys are their real lengths
// are encoded without attending to the expansion, and documents padded
// with [PAD] with their padding masked. from = L returns x unchanged
// (after the final normalisation, if any).
//
// Only the variables of layers from…L−1 enter the graph, so a gradient of
// a loss of its output reaches those only. Layers (and LayersFromTokens)
// may be called more than once in one graph with the same scope, e.g. on
// queries and on documents of different shapes: the calls share the
// variables, and the gradients add up. It is a graph-building
// function: following GoMLX's convention it panics on a bad argument (from
// outside [0, L], x not [B, T, D], keys not [B]), which model.Exec and
// graph.Exec return as an error.
func (e *Encoder) Layers(scope *model.Scope, x, keys *graph.Node, from int) *graph.Node {
	tm := e.bert(scope)
	if from < 0 || from > tm.NumLayers {
		panic(fmt.Errorf("hfencoder: Layers: from = %d must be in [0, %d]", from, tm.NumLayers))
	}
	if x.Rank() != 3 || x.Shape().Dimensions[2] != tm.EmbedDim || !x.DType().IsFloat() {
		panic(fmt.Errorf("hfencoder: Layers: x is %s, want float [batch, T, %d]", x.Shape(), tm.EmbedDim))
	}
	in := x
	x = stack(tm, x, keyMask(x, keys), from, tm.NumLayers)
	x = layerNorm(tm, tm.Scope.In("final_norm"), x, tm.FinalNormalization)
	if x == in {
		// The Go backend of compute v0.1.6 fails ("index out of range")
		// on a graph that returns one of its parameters as an output.
		x = graph.Identity(x)
	}
	return x
}

// LayersFromTokens is Layers for token ids toks [B, T] (int32), the
// embeddings computed in the graph (word + learned position 0…T−1 + token
// type 0, then their layer norm) before all L layers: with NewStore's
// variables a loss's gradient reaches every variable the encoder uses,
// the embedding tables included (only the rows of the ids in toks get a
// nonzero gradient). EmbedQueries runs this graph. Like Layers, it panics
// on a bad argument.
func (e *Encoder) LayersFromTokens(scope *model.Scope, toks, keys *graph.Node) *graph.Node {
	tm := e.bert(scope)
	if toks.Rank() != 2 || !toks.DType().IsInt() {
		panic(fmt.Errorf("hfencoder: LayersFromTokens: toks is %s, want int [batch, T]", toks.Shape()))
	}
	x := embed(tm, toks)
	x = stack(tm, x, keyMask(x, keys), 0, tm.NumLayers)
	return layerNorm(tm, tm.Scope.In("final_norm"), x, tm.FinalNormalization)
}

// hiddenGraph is Hidden's graph: the hidden states after the first layers
// layers of toks [B, T] with keys [B].
func (e *Encoder) hiddenGraph(scope *model.Scope, toks, keys *graph.Node, layers int) *graph.Node {
	tm := e.bert(scope)
	x := embed(tm, toks)
	return stack(tm, x, keyMask(x, keys), 0, layers)
}

// bert returns the GoMLX transformer description of the checkpoint with
// its variables under scope, checking that it is a standard BERT encoder
// (what stack implements).
func (e *Encoder) bert(scope *model.Scope) *mltransformer.Model {
	// A fresh record of visited sub-scopes: Layers may run more than once
	// in a graph (queries and documents) over the same variables.
	tm := e.model.CreateGoMLXModel(scope.ResetVisited())
	if tm.Architecture != mltransformer.ArchitectureStandard || tm.UseCausalMask || tm.NumKVSharedLayers > 0 ||
		tm.HiddenSizePerLayerInput > 0 || len(tm.LayerTypes) > 0 {
		panic(fmt.Errorf("hfencoder handles a standard BERT encoder only, not architecture %s", tm.Architecture))
	}
	return tm
}

// keyMask is the attention key mask [B, T] of x [B, T, …]: position k of
// sequence b is attended to when k < keys[b].
func keyMask(x, keys *graph.Node) *graph.Node {
	batch, T := x.Shape().Dimensions[0], x.Shape().Dimensions[1]
	if keys.Rank() != 1 || keys.Shape().Dimensions[0] != batch {
		panic(fmt.Errorf("hfencoder: keys is %s, want [%d] (one key length per sequence)", keys.Shape(), batch))
	}
	keys = graph.ConvertDType(keys, dtypes.Int32)
	return graph.LessThan(graph.Iota(x.Graph(), shapes.Make(dtypes.Int32, batch, T), 1), graph.ExpandAxes(keys, 1))
}

// embed is BERT's embedding block: word + token type 0 + learned position
// embeddings, then the embedding layer norm.
func embed(tm *mltransformer.Model, toks *graph.Node) *graph.Node {
	x := tm.EmbedTokens(toks) // word + token type 0 embeddings
	x = tm.PrePositionalEncoder(x, 0, false)
	return layerNorm(tm, tm.Scope.In("embed_norm"), x, tm.EmbedNormalization)
}

// stack applies BERT layers from…to−1 to x [B, T, D] with the attention
// key mask [B, T]: forwardLayerStandard of gomlx/ml/zoo/transformer
// v0.28.8 without the cache, RoPE, sharing, sliding-window and dropout
// branches BERT does not use, and with the attention's key mask only (no
// query row masked; see keyMaskedLayers).
func stack(tm *mltransformer.Model, x, mask *graph.Node, from, to int) *graph.Node {
	batch, T := x.Shape().Dimensions[0], x.Shape().Dimensions[1]
	kvHeads := tm.NumKVHeads
	if kvHeads == 0 {
		kvHeads = tm.NumHeads
	}
	dense := func(scope *model.Scope, x *graph.Node, dims ...int) *graph.Node {
		if tm.TransposedProjections {
			return layers.DenseWithLayout(scope, x, compute.DenseLayoutOutputsInput, tm.UseBias, dims...)
		}
		return layers.Dense(scope, x, tm.UseBias, dims...)
	}
	for l := from; l < to; l++ {
		layerScope := tm.Scope.In("layer_%d", l)
		attnScope := layerScope.In("attn")
		mhaScope := attnScope.At("MultiHeadAttention")
		q := graph.Reshape(dense(mhaScope.In("query"), x, tm.NumHeads, tm.HeadDim), batch, T, tm.NumHeads*tm.HeadDim)
		k := graph.Reshape(dense(mhaScope.In("key"), x, kvHeads, tm.HeadDim), batch, T, kvHeads*tm.HeadDim)
		v := graph.Reshape(dense(mhaScope.In("value"), x, kvHeads, tm.HeadDim), batch, T, kvHeads*tm.HeadDim)
		b := attention.MultiHeadAttention(attnScope, q, k, v, tm.NumHeads, tm.HeadDim).
			UseTransposedWeights(tm.TransposedProjections).
			WithNumKVHeads(kvHeads).
			WithPreProjected(true).
			WithOutputDim(tm.EmbedDim).
			WithScoreSoftCap(tm.AttentionScoreSoftCap).
			WithQueryKeyScale(tm.QueryKeyScale).
			WithKeyMask(mask) // keys only: no query row is masked
		if !tm.UseBias {
			b.UseProjectionBias(false)
		}
		x = layerNorm(tm, layerScope.In("norm1"), graph.Add(x, b.Done()), tm.Normalization)
		ff := dense(layerScope.In("ff1"), x, tm.FFNDim*tm.Activation.HiddenDimMultiplier())
		ff = dense(layerScope.In("ff2"), activation.Apply(tm.Activation, ff), tm.EmbedDim)
		x = layerNorm(tm, layerScope.In("norm2"), graph.Add(x, ff), tm.Normalization)
	}
	return x
}

// Tensor returns the vectors as a tensor [N, T, Dim] (sharing no memory
// with Vecs), e.g. Hidden's states to feed a graph that calls Layers.
func (t *Tokens) Tensor() *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(append([]float32(nil), t.Vecs...), t.N, t.T, t.Dim)
}

// Hidden returns the hidden states of the checkpoint (frozen: the weights
// Embed uses, not a NewStore's) after its first `layer` transformer layers
// (layer 0: after the embeddings and their layer norm; layer L =
// NumLayers: the last layer, before the final normalisation, none for
// BERT), for all T positions of each sequence: Len is T for every
// sequence and RealLen its number of ids. Each sequence of ids (1…T ids)
// is padded to T with pad — PadID for documents, MaskID for queries with
// ColBERT's expansion — and its attention keys are its first keys[i]
// positions (1 ≤ keys[i] ≤ T); keys nil means each sequence's length, so
// neither a document's padding nor a query's expansion is attended to
// (pass T to attend to all). Sequences are run batch at a time.
//
// Layers(scope, x, keys, layer) of these states, with the same keys,
// equals EmbedQueries(…, false) for queries padded with [MASK] and Embed's
// vectors of real tokens for documents padded with [PAD].
//
// Every input error (T outside [1, MaxLen], batch < 1, layer outside
// [0, L], an empty or too long sequence, an id or pad outside the
// vocabulary, keys of the wrong length or a key outside [1, T]) is an
// error naming the argument.
func (e *Encoder) Hidden(b compute.Backend, ids [][]int32, T, batch int, pad int32, keys []int32, layer int) (out *Tokens, err error) {
	if T < 1 || T > e.MaxLen {
		return nil, fmt.Errorf("hfencoder: Hidden: T = %d must be in [1, %d]", T, e.MaxLen)
	}
	if batch < 1 {
		return nil, fmt.Errorf("hfencoder: Hidden: batch = %d must be at least 1", batch)
	}
	if L := e.NumLayers(); layer < 0 || layer > L {
		return nil, fmt.Errorf("hfencoder: Hidden: layer = %d must be in [0, %d]", layer, L)
	}
	vocab := int32(e.model.Config.VocabSize)
	if pad < 0 || (vocab > 0 && pad >= vocab) {
		return nil, fmt.Errorf("hfencoder: Hidden: pad = %d is outside the vocabulary [0, %d)", pad, vocab)
	}
	if keys != nil && len(keys) != len(ids) {
		return nil, fmt.Errorf("hfencoder: Hidden: %d keys for %d sequences", len(keys), len(ids))
	}
	for i, s := range ids {
		if len(s) == 0 || len(s) > T {
			return nil, fmt.Errorf("hfencoder: Hidden: ids[%d] has %d ids, want 1…T = %d", i, len(s), T)
		}
		for j, id := range s {
			if id < 0 || (vocab > 0 && id >= vocab) {
				return nil, fmt.Errorf("hfencoder: Hidden: ids[%d][%d] = %d is outside the vocabulary [0, %d)", i, j, id, vocab)
			}
		}
		if keys != nil && (keys[i] < 1 || keys[i] > int32(T)) {
			return nil, fmt.Errorf("hfencoder: Hidden: keys[%d] = %d must be in [1, T = %d]", i, keys[i], T)
		}
	}
	if err := e.load(b); err != nil {
		return nil, err
	}
	exec := e.hexecs[layer]
	if exec == nil {
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("%v", r)
				}
			}()
			exec, err = model.NewExec(b, e.store, func(scope *model.Scope, toks, keys *graph.Node) *graph.Node {
				return e.hiddenGraph(scope, toks, keys, layer)
			})
			return err
		}()
		if err != nil {
			return nil, fmt.Errorf("hfencoder: Hidden: building the graph of %d layers: %w", layer, err)
		}
		e.hexecs[layer] = exec
	}
	out = &Tokens{N: len(ids), T: T, Dim: e.Dim, Vecs: make([]float32, len(ids)*T*e.Dim),
		Len: make([]int32, len(ids)), RealLen: make([]int32, len(ids))}
	for start := 0; start < len(ids); start += batch {
		end := min(start+batch, len(ids))
		toks := make([][]int32, batch) // one shape per (batch, T): one compilation
		bkeys := make([]int32, batch)
		for i := range toks {
			toks[i] = make([]int32, T)
			for j := range toks[i] {
				toks[i][j] = pad
			}
			bkeys[i] = int32(T)
			if start+i < end {
				s := ids[start+i]
				copy(toks[i], s)
				bkeys[i] = int32(len(s))
				if keys != nil {
					bkeys[i] = keys[start+i]
				}
			}
		}
		res, err := exec.Call1(toks, bkeys)
		if err != nil {
			return nil, fmt.Errorf("hfencoder: Hidden: encoding sequences %d–%d: %w", start, end, err)
		}
		flat, ok := res.Value().([][][]float32)
		if !ok {
			return nil, fmt.Errorf("hfencoder: Hidden: output is %s, want float32 [%d, %d, %d]", res.Shape(), batch, T, e.Dim)
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
