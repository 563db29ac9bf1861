// Command maxsim is the Go side of `make bench-maxsim`: MaxSim scoring
// throughput (documents per second) of colbert.MaxSimScores on a backend.
// Queries [nq, Lq, k] and every chunk of documents [chunk, Ld, k] (with a
// padding mask: each document has a random length in [Ld/2, Ld]) are drawn
// and L2-normalised on the device before timing; the timed loop scores
// every chunk against the queries and reads the scores [nq, chunk] back to
// the host. It prints one JSON line. tests/bench/maxsim_bench.py runs it
// beside PyTorch.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gorepro/gorepro/lib/backends"
	"github.com/gorepro/gorepro/lib/colbert"
)

func main() {
	backend := flag.String("backend", "", "backend (\"\" = default)")
	nq := flag.Int("nq", 32, "queries")
	lq := flag.Int("lq", 32, "query tokens")
	nd := flag.Int("nd", 10000, "documents")
	ld := flag.Int("ld", 180, "document tokens (padded length)")
	k := flag.Int("k", 128, "embedding dimension")
	chunk := flag.Int("chunk", 500, "documents per device call")
	dtype := flag.String("dtype", "float32", "float32, float16 or bfloat16")
	reps := flag.Int("reps", 3, "timed passes over the corpus (the best is reported)")
	flag.Parse()
	if err := run(*backend, *nq, *lq, *nd, *ld, *k, *chunk, *dtype, *reps); err != nil {
		fmt.Fprintln(os.Stderr, "maxsim bench:", err)
		os.Exit(1)
	}
}

func run(backend string, nq, lq, nd, ld, k, chunk int, dtypeName string, reps int) error {
	dt, ok := map[string]dtypes.DType{"float32": dtypes.Float32, "float16": dtypes.Float16, "bfloat16": dtypes.BFloat16}[dtypeName]
	if !ok || nq < 1 || lq < 1 || nd < 1 || ld < 2 || k < 1 || chunk < 1 || reps < 1 {
		return fmt.Errorf("bad arguments (dtype %q)", dtypeName)
	}
	b, spec, err := backends.New(backend)
	if err != nil {
		return err
	}
	defer b.Finalize()
	chunks := (nd + chunk - 1) / chunk
	// Random unit vectors and masks, made on the device.
	gen := graph.MustNewExec(b, func(seed *graph.Node) (q, d, mask *graph.Node) {
		g := seed.Graph()
		state := graph.RNGStateFromSeedForGraph(g, 1)
		state = graph.Add(state, graph.ConvertDType(seed, state.DType()))
		state, qv := graph.RandomNormal(state, shapes.Make(dtypes.Float32, nq, lq, k))
		state, dv := graph.RandomNormal(state, shapes.Make(dtypes.Float32, chunk, ld, k))
		_, u := graph.RandomUniform(state, shapes.Make(dtypes.Float32, chunk))
		lengths := graph.AddScalar(graph.MulScalar(u, float64(ld-ld/2)), float64(ld/2))                   // [chunk]
		pos := graph.ConvertDType(graph.Iota(g, shapes.Make(dtypes.Int32, chunk, ld), 1), dtypes.Float32) // [chunk, ld]
		mask = graph.LessThan(pos, graph.BroadcastToDims(graph.Reshape(lengths, chunk, 1), chunk, ld))    // [chunk, ld]
		return graph.ConvertDType(colbert.Normalize(qv), dt), graph.ConvertDType(colbert.Normalize(dv), dt), mask
	})
	var q *tensors.Tensor
	docs := make([]*tensors.Tensor, chunks)
	masks := make([]*tensors.Tensor, chunks)
	for c := range chunks {
		out := gen.MustCall(int32(c))
		if c == 0 {
			q = out[0]
		}
		docs[c], masks[c] = out[1], out[2]
	}
	score := graph.MustNewExec(b, func(q, d, m *graph.Node) *graph.Node {
		return graph.ConvertDType(colbert.MaxSimScores(q, d, m), dtypes.Float32)
	})
	first := time.Now()
	score.MustCall(q, docs[0], masks[0])[0].Value()
	compile := time.Since(first)
	best := time.Duration(1 << 62)
	for range reps {
		start := time.Now()
		for c := range chunks {
			out := score.MustCall(q, docs[c], masks[c])[0]
			_ = out.Value() // to the host: the scores a retriever ranks
			out.FinalizeAll()
		}
		best = min(best, time.Since(start))
	}
	docsPerSec := float64(chunks*chunk) / best.Seconds()
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"backend": spec.String(), "dtype": dtypeName, "nq": nq, "lq": lq, "nd": chunks * chunk,
		"ld": ld, "k": k, "chunk": chunk, "seconds": best.Seconds(), "docs_per_s": docsPerSec, "first_call_s": compile.Seconds()})
}
