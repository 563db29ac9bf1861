package experiment

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"

	"github.com/gorepro/gorepro/lib/notebook"
)

// Profiles are the notebook's profiles: smoke (the pure-Go backend, and a
// minute-scale check of every code path), quick (≤ 5 minutes on 2 CPU
// cores, xla:cpu) and full (the paper's sizes, for a GPU).
func Profiles() []string { return []string{"smoke", "quick", "full"} }

// Plan is every run of a profile.
type Plan struct {
	Profile string
	// Main: Sinkhorn and SNS with the paper's sparsity and N₁, per family and seed (the claims).
	Main []Config
	// Exact: SNS with the exact Hessian (every entry of P kept), per family
	// and seed: the reference solution of the same-solution claims.
	Exact []Config
	// Density: SNS at λn² ∈ {2n, 5n, 15n, ⌈0.1n²⌉, n²} × ε, first seed (a finding).
	Density []Config
	// Warmup: SNS at several N₁, first seed (a finding).
	Warmup []Config
	// Sparsity: the first seed's problem of each family, for the sparsity
	// check on Sinkhorn's iterates (SparsityCheck) at SparsityIterations.
	Sparsity           []Config
	SparsityIterations []int
}

// ProfilePlan lists a profile's runs: seeds problem seeds from seed on,
// tolerance tol, real MNIST from mnist ("" = generated digits).
func ProfilePlan(profile string, seed uint64, seeds int, tol float64, mnist string) (Plan, error) {
	if seeds < 1 {
		return Plan{}, fmt.Errorf("experiment: seeds = %d: want at least 1", seeds)
	}
	if !(tol > 0) || math.IsInf(tol, 0) {
		return Plan{}, fmt.Errorf("experiment: tol = %g: want a positive number", tol)
	}
	paperEps := 1.0 / PaperEta
	type family struct {
		name      string
		size      int
		eps       float64
		maxIters  int
		epsilons  []float64 // the density ablation's
		warmups   []int
		densityOK bool
	}
	var fams []family
	p := Plan{Profile: profile}
	switch profile {
	case "smoke":
		fams = []family{{Assignment, 60, paperEps, 10000, []float64{1e-2, paperEps}, []int{5, 20, 100}, true},
			{Digits, 14, 1e-3, 50000, nil, []int{20, 700}, false}}
		p.SparsityIterations = []int{1, 3, 10, 30, 100, 300, 1000}
	case "quick":
		fams = []family{{Assignment, 200, paperEps, 20000, []float64{1e-2, paperEps}, []int{5, 20, 100, 500}, true},
			{Digits, 14, 1e-3, 100000, nil, []int{20, 100, 700}, false}}
		p.SparsityIterations = []int{1, 3, 10, 30, 100, 300, 1000, 3000}
	case "full":
		fams = []family{{Assignment, PaperAssignmentN, paperEps, 200000, []float64{1e-2, 3e-3, paperEps}, []int{5, 20, 100, 500}, true},
			{Digits, 28, 1e-3, 200000, []float64{3e-3, 1e-3}, []int{20, 100, 700}, true}}
		p.SparsityIterations = []int{1, 3, 10, 30, 100, 300, 1000, 3000, 10000}
	default:
		return Plan{}, fmt.Errorf("experiment: profile %q: want one of %v", profile, Profiles())
	}
	for _, f := range fams {
		base := Config{Family: f.name, Size: f.size, Epsilon: f.eps, Tol: tol, MaxIters: f.maxIters, Seed: seed}
		if f.name == Digits {
			base.MNISTDir = mnist
		}
		n := supportSize(base)
		for s := range seeds {
			c := base
			c.Seed = seed + uint64(s)
			p.Main = append(p.Main, c)
			c.KeepTotal, c.SkipSinkhorn = n*n, true
			p.Exact = append(p.Exact, c)
		}
		p.Sparsity = append(p.Sparsity, base)
		if f.densityOK {
			for _, eps := range f.epsilons {
				for _, keep := range DensityLevels(n) {
					c := base
					c.Epsilon, c.KeepTotal, c.SkipSinkhorn = eps, keep.Keep, true
					p.Density = append(p.Density, c)
				}
			}
		}
		for _, w := range f.warmups {
			c := base
			c.WarmStart, c.SkipSinkhorn = w, true
			p.Warmup = append(p.Warmup, c)
		}
	}
	return p, nil
}

// supportSize is the number of bins of a configuration's histograms.
func supportSize(c Config) int {
	switch c.Family {
	case Digits, Densities:
		return c.Size * c.Size
	}
	return c.Size
}

// DensityLevel is one Hessian density of the ablation.
type DensityLevel struct {
	Name string
	Keep int
}

// DensityLevels are the ablation's densities for n×n plans: 2n (the
// paper's), 5n, 15n, ⌈0.1n²⌉ and n² (the exact Hessian).
func DensityLevels(n int) []DensityLevel {
	return []DensityLevel{{"2n (paper)", 2 * n}, {"5n", 5 * n}, {"15n", 15 * n},
		{"0.1n²", int(math.Ceil(0.1 * float64(n) * float64(n)))}, {"n² (exact)", n * n}}
}

// Results are a plan's finished runs, in the plan's order; a configuration
// listed twice is run once and shared.
type Results struct {
	Main, Exact, Density, Warmup []*Run
	Sparsity                     []SparsityCurve
}

// RunPlan runs (or reads back from the run cache in cacheDir) every run of
// the plan, printing one line per run and a progress bar.
func RunPlan(b compute.Backend, p Plan, cacheDir string) (*Results, error) {
	seen := map[string]*Run{}
	total := len(p.Main) + len(p.Exact) + len(p.Density) + len(p.Warmup) + len(p.Sparsity)
	progress := notebook.NewProgress("SNS vs Sinkhorn", total)
	done := 0
	runAll := func(configs []Config) ([]*Run, error) {
		var out []*Run
		for _, cfg := range configs {
			key := fmt.Sprintf("%#v", cfg)
			run, ok := seen[key]
			if !ok {
				var err error
				if run, err = RunOrLoad(b, cfg, cacheDir); err != nil {
					return nil, err
				}
				seen[key] = run
				printRun(run)
			}
			out = append(out, run)
			done++
			progress.Update(done)
		}
		return out, nil
	}
	res := &Results{}
	var err error
	for _, part := range []struct {
		configs []Config
		out     *[]*Run
	}{{p.Main, &res.Main}, {p.Exact, &res.Exact}, {p.Density, &res.Density}, {p.Warmup, &res.Warmup}} {
		if *part.out, err = runAll(part.configs); err != nil {
			return nil, err
		}
	}
	for _, cfg := range p.Sparsity {
		curve, err := SparsityCheck(b, cfg, p.SparsityIterations, cacheDir)
		if err != nil {
			return nil, err
		}
		res.Sparsity = append(res.Sparsity, curve)
		done++
		progress.Update(done)
	}
	progress.Done()
	return res, nil
}

// printRun prints one line for a finished run.
func printRun(run *Run) {
	note := ""
	if run.FromCache {
		note = " (cached)"
	}
	sk := "Sinkhorn skipped"
	if !run.Config.SkipSinkhorn {
		sk = fmt.Sprintf("Sinkhorn %6d it %7.2fs", run.Sinkhorn.Iterations, run.Sinkhorn.Seconds)
		if run.Censored() {
			sk += " (cap)"
		}
	}
	conv := ""
	if !run.SNS.Converged {
		conv = fmt.Sprintf(" NOT CONVERGED (error %.2g)", run.SNS.MarginalError)
	}
	fmt.Printf("%-30s ε=%-8.3g seed %d keep %-7d N₁ %-4d: %s | SNS %5d it (%d+%d, CG %d, %d fallbacks) %6.2fs%s%s\n",
		run.Problem, run.Config.Epsilon, run.Config.Seed, run.Keep, run.WarmStart, sk, run.SNS.Iterations,
		run.SNS.SinkhornSteps, run.SNS.NewtonSteps, run.SNS.CGIterations, len(run.SNS.Fallbacks), run.SNS.Seconds, conv, note)
}

// MainRuns returns the runs that ran Sinkhorn beside SNS with the paper's sparsity.
func MainRuns(runs []*Run) []*Run {
	var out []*Run
	for _, r := range runs {
		if !r.Config.SkipSinkhorn && r.Config.KeepTotal == 0 && r.Config.KeepPerRow == 0 {
			out = append(out, r)
		}
	}
	return out
}

// FromCache reports whether any run or sparsity curve was read back from the cache.
func (r *Results) FromCache() bool {
	for _, runs := range [][]*Run{r.Main, r.Exact, r.Density, r.Warmup} {
		if AnyFromCache(runs) {
			return true
		}
	}
	for _, c := range r.Sparsity {
		if c.FromCache {
			return true
		}
	}
	return false
}
