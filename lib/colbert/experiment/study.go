package experiment

import (
	"fmt"
	"io"
	"math"
	"time"

	"github.com/gomlx/compute"

	"github.com/gorepro/gorepro/lib/colbert"
	"github.com/gorepro/gorepro/lib/data/beir"
	"github.com/gorepro/gorepro/lib/data/godoc"
	"github.com/gorepro/gorepro/lib/hfencoder"
	"github.com/gorepro/gorepro/lib/notebook"
	"github.com/gorepro/gorepro/lib/tuning"
)

// MiniLMProfiles are colbert_minilm's profiles: smoke (the full profile's
// code at toy sizes on the pure-Go backend, BEIR fixtures), quick (CPU
// minutes) and full (a GPU).
func MiniLMProfiles() []string { return []string{"smoke", "quick", "full"} }

// Named is the variant named before the run for the pre-registered claim:
// the abstract stresses "upscaled intermediate projections and residual
// connections", and PyLate's residual projection (added by the paper's
// authors, pylate/models/Dense.py) is D → 2D → k with the input added back.
var Named = colbert.Head{Kind: colbert.FFN, Depth: 1, Upscale: 2, Activation: "gelu", Residual: true}

// MiniLMHeads are the heads compared: linear (the baseline) first, then the
// named variant, then the others (findings): the named variant without its
// residual and with a 4× upscale (its two ablations), SwiGLU 2× with a
// residual, and a deeper FFN.
func MiniLMHeads() []colbert.Head {
	return []colbert.Head{
		{Kind: colbert.Linear},
		Named,
		{Kind: colbert.FFN, Depth: 1, Upscale: 2, Activation: "gelu"},
		{Kind: colbert.GLU, Depth: 1, Upscale: 2, Activation: "silu", Residual: true},
		{Kind: colbert.FFN, Depth: 1, Upscale: 4, Activation: "gelu", Residual: true},
		{Kind: colbert.FFN, Depth: 2, Upscale: 2, Activation: "gelu", Residual: true},
	}
}

// MiniLMPlan is one profile's sizes and settings.
type MiniLMPlan struct {
	Profile string
	// Packages are the Go packages the task is built from; EvalQueries and DevQueries its split sizes.
	Packages                []string
	EvalQueries, DevQueries int
	QueryLen, DocLen        int
	// TrainLayers are the encoder's top layers trained with the head.
	TrainLayers int
	// Epochs is the most epochs a run trains; Patience stops it earlier (dev NDCG@10).
	Epochs, Patience int
	BatchSize        int
	Negatives        int
	K                int
	Temperature      float64
	// LRGrid is every head's learning-rate grid (the same budget for each), scored on the dev split of the first seed.
	LRGrid []float64
	// Heads are the heads compared (linear first).
	Heads []colbert.Head
	// BEIR names the fetcher's BEIR data sets evaluated zero-shot (full).
	BEIR []string
	// FrozenHeads train on a frozen encoder (the head alone) on the first
	// seed, each tuned over FrozenGrid (a head alone wants larger rates than
	// a pretrained layer: the fine-tuned heads' grid would put its optimum
	// at the edge): the first version's experiment, kept as a finding.
	FrozenHeads []colbert.Head
	FrozenGrid  []float64
	// Seeds is the profile's number of seeds when the notebook asks for its default.
	Seeds int
}

// String describes the plan in one line.
func (p MiniLMPlan) String() string {
	return fmt.Sprintf("profile %s: %d packages, %d eval + %d dev queries per seed, Lq %d, Ld %d, top %d layer(s) trained, ≤ %d epochs (patience %d), batch %d, %d hard negative(s), k %d, temperature %g, learning-rate grid %v, %d heads",
		p.Profile, len(p.Packages), p.EvalQueries, p.DevQueries, p.QueryLen, p.DocLen, p.TrainLayers, p.Epochs, p.Patience, p.BatchSize, p.Negatives, p.K, p.Temperature, p.LRGrid, len(p.Heads))
}

// PlanMiniLM returns the profile's plan; goroot is the Go installation whose docs make the task.
func PlanMiniLM(profile, goroot string) (MiniLMPlan, error) {
	p := MiniLMPlan{Profile: profile, QueryLen: 16, DocLen: 32, TrainLayers: 1, Epochs: 6, Patience: 2, BatchSize: 32,
		Negatives: 1, K: 128, Temperature: 1, LRGrid: []float64{1e-4, 3e-4, 1e-3}, Heads: MiniLMHeads()[:4], Seeds: 2,
		EvalQueries: 200, DevQueries: 100, Packages: godoc.QuickPackages(),
		FrozenHeads: []colbert.Head{{Kind: colbert.Linear}, Named}, FrozenGrid: []float64{1e-3, 3e-3}}
	switch profile {
	case "quick":
	case "smoke": // the full profile's code at toy sizes
		p.Seeds = 2
		p.Packages, p.EvalQueries, p.DevQueries = []string{"strconv", "unicode/utf8"}, 20, 10
		p.QueryLen, p.DocLen, p.Epochs, p.BatchSize, p.K, p.LRGrid, p.FrozenGrid = 8, 16, 2, 8, 16, []float64{1e-3}, []float64{1e-3}
		p.Heads = p.Heads[:2]
		p.TrainLayers = 2
	case "full":
		pk, err := godoc.StdPackages(goroot)
		if err != nil {
			return p, err
		}
		p.Packages, p.EvalQueries, p.DevQueries = pk, 1000, 500
		p.QueryLen, p.DocLen, p.TrainLayers, p.Epochs, p.Patience = 32, 180, 6, 10, 2
		p.LRGrid, p.Heads, p.Seeds = []float64{1e-5, 3e-5, 1e-4, 3e-4}, MiniLMHeads(), 5
		p.BEIR = []string{"beir-scifact", "beir-nfcorpus", "beir-arguana"}
	default:
		return p, notebook.OneOf("profile", profile, MiniLMProfiles()...)
	}
	return p, nil
}

// Config is the run configuration of head at lr on seed under the plan.
func (p MiniLMPlan) Config(dim int, head colbert.Head, lr float64, seed uint64) Config {
	return Config{Head: head, Dim: dim, K: p.K, Epochs: p.Epochs, BatchSize: p.BatchSize, LR: lr, Temperature: p.Temperature,
		QueryLen: p.QueryLen, DocLen: p.DocLen, Seed: seed, TrainLayers: p.TrainLayers, Negatives: p.Negatives, Patience: p.Patience}
}

// MiniLMStudy is what RunMiniLM needs.
type MiniLMStudy struct {
	Plan    MiniLMPlan
	Backend compute.Backend
	Encoder *hfencoder.Encoder
	GOROOT  string
	// Seeds are the evaluation seeds (each a split and an initialisation); the first also tunes.
	Seeds []uint64
	// Extra are BEIR datasets evaluated zero-shot (after the Go doc evaluation set).
	Extra []*beir.Dataset
	// CacheDir holds finished runs ("" = none).
	CacheDir string
	// Log receives progress lines (nil: none).
	Log io.Writer
}

// MiniLMResult is a finished study.
type MiniLMResult struct {
	// Runs are the final runs, head by head for each seed, at each head's tuned learning rate.
	Runs []*Run
	// Raw are the zero-shot model's runs (MaxSim over the encoder's own vectors), one per seed.
	Raw []*Run
	// Tuned records each head's grid, dev scores and choice.
	Tuned []notebook.Tuned
	// Frozen are the frozen-encoder runs (first seed, the plan's FrozenHeads), FrozenTuned their tuning.
	Frozen      []*Run
	FrozenTuned []notebook.Tuned
	// Tasks describe each seed's split and mining.
	Tasks []string
	// FromCache is whether any run was read back.
	FromCache bool
	Seconds   float64
}

// RunMiniLM runs the study: per seed, the Go doc task split by the seed,
// prepared (frozen layers run once, hard negatives mined by the zero-shot
// model); on the first seed each head's learning rate is chosen on the dev
// split over the plan's grid (the same grid, epochs and patience for every
// head: the same budget); then every head trains on every seed at its
// chosen rate. Runs are cached by configuration, prepared data, backend and
// code.
func RunMiniLM(s MiniLMStudy) (*MiniLMResult, error) {
	if s.Encoder == nil || s.Backend == nil || len(s.Seeds) == 0 || len(s.Plan.Heads) == 0 {
		return nil, fmt.Errorf("experiment: RunMiniLM: need an encoder, a backend, seeds and heads")
	}
	start := time.Now()
	logf := func(format string, a ...any) {
		if s.Log != nil {
			fmt.Fprintf(s.Log, format+"\n", a...)
		}
	}
	res := &MiniLMResult{}
	p := s.Plan
	lr := map[string]float64{}
	memo := map[string]*Run{}
	for si, seed := range s.Seeds {
		task, err := godoc.Build(s.GOROOT, godoc.Options{Packages: p.Packages, EvalQueries: p.EvalQueries, DevQueries: p.DevQueries, MinQueryWords: 3, Seed: seed})
		if err != nil {
			return nil, fmt.Errorf("experiment: seed %d: %w", seed, err)
		}
		prep, err := Prepare(s.Backend, s.Encoder, task, seed, PrepareOptions{QueryLen: p.QueryLen, DocLen: p.DocLen, TrainLayers: p.TrainLayers,
			Negatives: p.Negatives, Batch: 64, Extra: s.Extra}, nil)
		if err != nil {
			return nil, fmt.Errorf("experiment: seed %d: %w", seed, err)
		}
		desc := fmt.Sprintf("seed %d: %s; %d training tuples, %d dev and %d evaluation queries over %d documents; %s (prepared in %.0f s)",
			seed, task.Name, prep.TrainQ.N, prep.Dev.Queries.N, prep.Evals[0].Queries.N, prep.Evals[0].Corpus.N, prep.Mining, prep.Seconds)
		res.Tasks = append(res.Tasks, desc)
		logf("%s", desc)
		run := func(cfg Config) (*Run, error) {
			key := fmt.Sprintf("%s %+v", prep.Hash, cfg)
			if r, ok := memo[key]; ok { // this study's own run (tuning, then the final runs): not "from a cache"
				return r, nil
			}
			r, err := FineTuneOrLoad(s.Backend, s.Encoder, prep, cfg, s.CacheDir)
			if err != nil {
				return nil, err
			}
			memo[key] = r
			res.FromCache = res.FromCache || r.FromCache
			logf("  %-22s lr %-7g seed %d: dev NDCG@10 %.4f at epoch %d of %d, test %.4f (%.0f s%s)", r.Head, cfg.LR, seed, r.Dev.NDCG10, r.BestEpoch, len(r.Curve), r.Metrics.NDCG10, r.Seconds, cachedNote(r))
			return r, nil
		}
		raw := p.Config(prep.TrainQ.Dim, colbert.Head{Kind: RawTokens}, 1, seed)
		raw.K, raw.Epochs = prep.TrainQ.Dim, 0
		r, err := run(raw)
		if err != nil {
			return nil, err
		}
		res.Raw = append(res.Raw, r)
		if si == 0 {
			if res.Tuned, err = tuneHeads(p, p.Heads, seed, func(h colbert.Head, v float64) (*Run, error) { return run(p.Config(prep.TrainQ.Dim, h, v, seed)) }); err != nil {
				return nil, err
			}
			for _, t := range res.Tuned {
				lr[t.Arm] = t.Chosen
			}
		}
		for _, h := range p.Heads {
			r, err := run(p.Config(prep.TrainQ.Dim, h, lr[h.Name()], seed))
			if err != nil {
				return nil, err
			}
			res.Runs = append(res.Runs, r)
		}
		if si == 0 && len(p.FrozenHeads) > 0 {
			if err := runFrozen(s, res, task, seed, logf); err != nil {
				return nil, err
			}
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// tuneHeads scores every head at every value of the plan's grid on the dev
// split of seed (train runs it) and chooses each head's best.
func tuneHeads(p MiniLMPlan, heads []colbert.Head, seed uint64, train func(colbert.Head, float64) (*Run, error)) ([]notebook.Tuned, error) {
	arms := make([]string, len(heads))
	byName := map[string]colbert.Head{}
	for i, h := range heads {
		arms[i] = h.Name()
		byName[arms[i]] = h
	}
	tuned, err := tuning.Grid(arms, tuning.Search{Param: "learning rate (Adam)", Values: p.LRGrid, HigherIsBetter: true,
		Split: fmt.Sprintf("dev (%d Go doc queries of seed %d's split, disjoint from training and evaluation)", p.DevQueries, seed)},
		func(arm string, v float64) (float64, error) {
			r, err := train(byName[arm], v)
			if err != nil {
				return 0, err
			}
			if r.Diverged {
				return math.NaN(), nil
			}
			return r.Dev.NDCG10, nil
		})
	if err != nil {
		return nil, fmt.Errorf("experiment: tuning: %w", err)
	}
	return tuned, nil
}

// runFrozen trains the plan's frozen heads on the first seed's task with
// the encoder frozen (its last layer's vectors computed once), each tuned
// over the same grid.
func runFrozen(s MiniLMStudy, res *MiniLMResult, task *godoc.Task, seed uint64, logf func(string, ...any)) error {
	p := s.Plan
	prep, err := Prepare(s.Backend, s.Encoder, task, seed, PrepareOptions{QueryLen: p.QueryLen, DocLen: p.DocLen, TrainLayers: 0,
		Negatives: p.Negatives, Batch: 64}, nil)
	if err != nil {
		return fmt.Errorf("experiment: frozen encoder: %w", err)
	}
	memo := map[float64]map[string]*Run{}
	train := func(h colbert.Head, v float64) (*Run, error) {
		if r := memo[v][h.Name()]; r != nil { // tuned, then run at the chosen rate: one run
			return r, nil
		}
		cfg := p.Config(prep.TrainQ.Dim, h, v, seed)
		cfg.TrainLayers = 0
		r, err := FineTuneOrLoad(s.Backend, s.Encoder, prep, cfg, s.CacheDir)
		if err != nil {
			return nil, err
		}
		if memo[v] == nil {
			memo[v] = map[string]*Run{}
		}
		memo[v][h.Name()] = r
		res.FromCache = res.FromCache || r.FromCache
		logf("  frozen %-15s lr %-7g seed %d: dev NDCG@10 %.4f at epoch %d, test %.4f (%.0f s%s)", r.Head, v, seed, r.Dev.NDCG10, r.BestEpoch, r.Metrics.NDCG10, r.Seconds, cachedNote(r))
		return r, nil
	}
	fp := p
	fp.LRGrid = p.FrozenGrid
	if res.FrozenTuned, err = tuneHeads(fp, p.FrozenHeads, seed, train); err != nil {
		return fmt.Errorf("experiment: frozen encoder: %w", err)
	}
	for i, h := range p.FrozenHeads {
		r, err := train(h, res.FrozenTuned[i].Chosen)
		if err != nil {
			return err
		}
		res.Frozen = append(res.Frozen, r)
	}
	return nil
}

func cachedNote(r *Run) string {
	if r.FromCache {
		return ", cached"
	}
	return ""
}

// FineTuneOrLoad is FineTune with the run cache under dir ("" = none),
// keyed by the configuration, the prepared data's hash, the backend's
// identity and the hash of the code that computes it.
func FineTuneOrLoad(b compute.Backend, enc *hfencoder.Encoder, p *Prepared, cfg Config, dir string) (*Run, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if p == nil {
		return nil, fmt.Errorf("experiment: FineTuneOrLoad: nothing prepared")
	}
	cache := openCache(dir)
	key := cache.Key("colbert-finetune", cfg, b, "prepared "+p.Hash)
	return cached(cache, key, func() (*Run, error) { return FineTune(b, enc, p, cfg, nil) })
}
