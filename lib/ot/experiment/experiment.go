// Package experiment runs the SNS paper's comparison on one problem: Sinkhorn
// and Sinkhorn-Newton-Sparse to the same tolerance (compiled first, so the
// seconds measure iterations), with the paper's Hessian sparsity (the
// ⌈λn²⌉ = 2n largest entries of P) and warm-up length N₁ per family unless a
// Config overrides them, optionally POT's sinkhorn_log at the same ε as the
// cost reference, and caches each finished run as JSON keyed by everything
// that changes its numbers. plan.go lists each profile's runs, paper.go the
// paper's settings and Table 1, ablation.go the density, warm-up and
// sparsity studies, measure.go the pre-registered claims' measurements.
package experiment

import (
	"errors"
	"fmt"
	"math"
	"reflect"

	"github.com/gomlx/compute"

	"github.com/gorepro/gorepro/lib/data/mnist"
	"github.com/gorepro/gorepro/lib/notebook"
	"github.com/gorepro/gorepro/lib/ot"
	"github.com/gorepro/gorepro/lib/ot/pot"
	"github.com/gorepro/gorepro/lib/ot/problems"
)

// The problem families.
const (
	Assignment = "assignment" // the paper's random assignment problem: uniform histograms, costs uniform on [0,1]
	Random     = "random"     // random empirical distributions in 2-D, squared Euclidean cost
	Digits     = "digits"     // W1 between two digit images on their pixel grid, L1 cost
	Densities  = "densities"  // W2 between discretised Gaussian mixtures, squared Euclidean cost
)

// Config is one run.
type Config struct {
	Family string
	// Size: points per side for Assignment and Random; grid side for Digits (28, or 14 = 2×2 pooled) and Densities.
	Size    int
	Epsilon float64
	Tol     float64
	// MaxIters caps both solvers' iterations; a solver that reaches it is
	// recorded as not converged (its count is then a lower bound).
	MaxIters int
	Seed     uint64
	// KeepTotal is SNS's Hessian sparsity: the number of P's largest entries
	// kept over the whole matrix (0 = the paper's 2n, PaperKeep); KeepPerRow,
	// when set, selects the per-row rule instead (an ablation, not the paper).
	KeepTotal, KeepPerRow int
	// WarmStart is SNS's Sinkhorn warm-up N₁ (0 = the paper's for the family, PaperWarmStart).
	WarmStart int
	// SkipSinkhorn runs SNS alone (the ablations, which share the main runs' Sinkhorn).
	SkipSinkhorn bool
	// MNISTDir, when set, holds real MNIST IDX files (t10k-*) that Digits uses instead of generated digits.
	MNISTDir string
	// POT runs POT's sinkhorn_log on the problem too.
	POT bool
}

// Solve is one solver's outcome.
type Solve struct {
	Converged     bool
	Iterations    int
	SinkhornSteps int
	NewtonSteps   int
	CGIterations  int
	Fallbacks     []ot.Fallback
	Seconds       float64 // after compilation
	Cost          float64
	MarginalError float64
	// Dual is the dual objective L(f, g) at the last iterate.
	Dual  float64
	Trace []ot.TracePoint
	// Newton is SNS's per-step record (dropped mass, rows left without an
	// off-diagonal entry, CG iterations, step size); MaxDroppedMass its largest dropped mass.
	Newton         []ot.NewtonStep
	MaxDroppedMass float64
	// RoundTrips is the number of device calls of the solve.
	RoundTrips int
}

// Run is a finished run.
type Run struct {
	Config  Config
	Problem string // the problem's name (what the histograms are)
	N       int    // support size
	// Keep and WarmStart are SNS's Hessian sparsity (entries kept over the
	// whole matrix; 0 with the per-row rule) and N₁ as run.
	Keep, WarmStart int
	Sinkhorn        Solve
	SNS             Solve
	// POTCost, POTIterations and POTSeconds are POT's (when Config.POT); POTVersion its version.
	POTCost       float64
	POTIterations int
	POTSeconds    float64
	POTVersion    string
	POTWarnings   []string
	// FromCache says the run was read back from the cache, not computed now.
	FromCache bool
}

// Problem builds the configuration's problem.
func Problem(cfg Config) (problems.Problem, error) {
	switch cfg.Family {
	case Assignment:
		return problems.Assignment(cfg.Seed, cfg.Size)
	case Random:
		return problems.Random(cfg.Seed, cfg.Size, 2)
	case Densities:
		return problems.Gaussians(cfg.Seed, cfg.Size)
	case Digits:
		var im *mnist.Images
		var labels []uint8
		var err error
		source := "generated digits"
		if cfg.MNISTDir != "" {
			im, labels, err = mnist.Load(cfg.MNISTDir, "t10k")
			source = "MNIST t10k"
		} else {
			im, labels, err = mnist.Synthetic(20, cfg.Seed)
		}
		if err != nil {
			return problems.Problem{}, err
		}
		if len(im.Pixels) < 2 || im.Rows != 28 || im.Cols != 28 {
			return problems.Problem{}, fmt.Errorf("experiment: need at least two 28×28 images, have %d of %d×%d", len(im.Pixels), im.Rows, im.Cols)
		}
		// Two images of different digits, chosen by seed.
		i := int(cfg.Seed*7919) % len(im.Pixels)
		j := (i + 1) % len(im.Pixels)
		for labels[j] == labels[i] {
			j = (j + 1) % len(im.Pixels)
		}
		a, b, side := im.Pixels[i], im.Pixels[j], 28
		switch cfg.Size {
		case 28:
		case 14:
			a, b, side = pool2(a, 28), pool2(b, 28), 14
		default:
			return problems.Problem{}, fmt.Errorf("experiment: digits grid %d: want 28 or 14", cfg.Size)
		}
		return problems.Images(fmt.Sprintf("%s %d→%d (%d×%d, L1)", source, labels[i], labels[j], side, side), a, b, side, side, 1)
	}
	return problems.Problem{}, fmt.Errorf("experiment: unknown family %q (assignment, random, digits, densities)", cfg.Family)
}

// pool2 averages 2×2 blocks of a side×side image.
func pool2(img []uint8, side int) []uint8 {
	h := side / 2
	out := make([]uint8, h*h)
	for y := range h {
		for x := range h {
			s := int(img[2*y*side+2*x]) + int(img[2*y*side+2*x+1]) + int(img[(2*y+1)*side+2*x]) + int(img[(2*y+1)*side+2*x+1])
			out[y*h+x] = uint8((s + 2) / 4)
		}
	}
	return out
}

func summarise(res *ot.Result, err error) (Solve, error) {
	var nc *ot.NotConvergedError
	converged := true
	if errors.As(err, &nc) {
		res, converged = nc.Last, false
	} else if err != nil {
		return Solve{}, err
	}
	dual := math.NaN()
	if k := len(res.ErrorTrace); k > 0 {
		dual = res.ErrorTrace[k-1].Dual
	}
	return Solve{Converged: converged, Iterations: res.Iterations, SinkhornSteps: res.SinkhornSteps, NewtonSteps: res.NewtonSteps,
		CGIterations: res.CGIterations, Fallbacks: res.Fallbacks, Seconds: res.Seconds, Cost: res.Cost,
		MarginalError: res.MarginalError, Dual: dual, Trace: res.ErrorTrace, Newton: res.Newton,
		MaxDroppedMass: res.MaxDroppedMass, RoundTrips: res.RoundTrips}, nil
}

// RunOrLoad runs cfg on backend, or reads it back from the run cache in cacheDir
// ("" = no cache; FromCache set). Runs are keyed by the whole configuration,
// the backend's identity and the hash of this package's code and of the
// module's packages it imports (notebook.RunCache): a change of the solvers
// is computed again, not read back. When the cache cannot be opened, RunOrLoad says
// so once on stderr and computes without it.
// Non-convergence within MaxIters is recorded (Converged false), not an error.
func RunOrLoad(b compute.Backend, cfg Config, cacheDir string) (*Run, error) {
	var cache *notebook.RunCache
	if cacheDir != "" {
		cache = notebook.OpenRunCacheOrWarn(cacheDir, codePackage)
	}
	run, fromCache, err := notebook.LoadOrCompute(cache, cache.Key(cfg.Family, cfg, b), nil, func() (*Run, error) { return computeRun(b, cfg) })
	if err != nil {
		return nil, err
	}
	run.FromCache = fromCache
	return run, nil
}

// codePackage is this package's import path: the code a cached run's numbers come from.
var codePackage = reflect.TypeFor[Config]().PkgPath()

// computeRun computes a run.
func computeRun(b compute.Backend, cfg Config) (*Run, error) {
	pr, err := Problem(cfg)
	if err != nil {
		return nil, err
	}
	run := &Run{Config: cfg, Problem: pr.Name, N: len(pr.A), Keep: cfg.KeepTotal, WarmStart: cfg.WarmStart}
	if run.Keep == 0 && cfg.KeepPerRow == 0 {
		run.Keep = PaperKeep(len(pr.A), len(pr.B))
	}
	if run.WarmStart == 0 {
		run.WarmStart = PaperWarmStart(cfg.Family)
	}
	solver, err := ot.NewSolver(b, ot.Options{Epsilon: cfg.Epsilon, Tol: cfg.Tol, MaxIters: cfg.MaxIters,
		KeepTotal: run.Keep, KeepPerRow: cfg.KeepPerRow, WarmStartIters: run.WarmStart})
	if err != nil {
		return nil, err
	}
	if err := solver.Prepare(len(pr.A), len(pr.B)); err != nil {
		return nil, err
	}
	if !cfg.SkipSinkhorn {
		if run.Sinkhorn, err = summarise(solver.Sinkhorn(pr.A, pr.B, pr.Cost)); err != nil {
			return nil, fmt.Errorf("%s: Sinkhorn: %w", pr.Name, err)
		}
	}
	if run.SNS, err = summarise(solver.SinkhornNewtonSparse(pr.A, pr.B, pr.Cost)); err != nil {
		return nil, fmt.Errorf("%s: SNS: %w", pr.Name, err)
	}
	if cfg.POT {
		ref, err := pot.SinkhornLog(pr.A, pr.B, pr.Cost, cfg.Epsilon, cfg.Tol/10, 10*max(cfg.MaxIters, 1000))
		if err != nil {
			return nil, err
		}
		run.POTCost, run.POTIterations, run.POTSeconds, run.POTVersion, run.POTWarnings = ref.Cost, ref.Iterations, ref.Seconds, ref.Version, ref.Warnings
	}
	return run, nil
}

// IterationRatio is Sinkhorn's iterations over SNS's (both to the
// tolerance); NaN when SNS did not converge or Sinkhorn was not run. When
// Sinkhorn stopped at MaxIters without converging, its count is a lower
// bound and so is the ratio (Censored says so).
func (r *Run) IterationRatio() float64 {
	if r.Config.SkipSinkhorn || r.Sinkhorn.Iterations == 0 || !r.SNS.Converged || r.SNS.Iterations == 0 {
		return math.NaN()
	}
	return float64(r.Sinkhorn.Iterations) / float64(r.SNS.Iterations)
}

// Censored reports whether Sinkhorn stopped at MaxIters without reaching
// the tolerance, so that its iterations (and IterationRatio) are lower bounds.
func (r *Run) Censored() bool { return !r.Config.SkipSinkhorn && !r.Sinkhorn.Converged }

// TimeRatio is Sinkhorn's seconds over SNS's; NaN when SNS did not
// converge or Sinkhorn was not run; a lower bound when Sinkhorn stopped at
// its cap (Censored).
func (r *Run) TimeRatio() float64 {
	if r.Config.SkipSinkhorn || r.Sinkhorn.Iterations == 0 || !r.SNS.Converged || r.SNS.Seconds == 0 {
		return math.NaN()
	}
	return r.Sinkhorn.Seconds / r.SNS.Seconds
}

// CostGap is the largest relative difference of Sinkhorn's and SNS's costs
// from POT's (NaN without POT).
func (r *Run) CostGap() float64 {
	if !r.Config.POT || r.POTCost == 0 {
		return math.NaN()
	}
	return math.Max(math.Abs(r.Sinkhorn.Cost-r.POTCost), math.Abs(r.SNS.Cost-r.POTCost)) / math.Abs(r.POTCost)
}
