package experiment

import (
	"math"
	"os"
	"strings"
	"testing"

	"github.com/gorepro/gorepro/lib/backends"
	"github.com/gorepro/gorepro/lib/backends/backendstest"
)

func TestDoAndCache(t *testing.T) {
	b := backendstest.Available(t)[0]
	dir := t.TempDir()
	cfg := Config{Family: Assignment, Size: 40, Epsilon: 1e-2, Tol: 1e-9, MaxIters: 20000, Seed: 2}
	run, err := RunOrLoad(b, cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	if run.FromCache || !run.Sinkhorn.Converged || !run.SNS.Converged || run.N != 40 || !strings.Contains(run.Problem, "assignment") {
		t.Fatalf("run %+v", run)
	}
	// The paper's settings by default: 2n entries of P kept, N₁ = 20, every Newton step recorded.
	if run.Keep != 80 || run.WarmStart != 20 || len(run.SNS.Newton) != run.SNS.NewtonSteps+len(run.SNS.Fallbacks) || math.IsNaN(run.SNS.Dual) {
		t.Errorf("keep %d, N₁ %d, %d Newton records for %d steps, dual %v", run.Keep, run.WarmStart, len(run.SNS.Newton), run.SNS.NewtonSteps, run.SNS.Dual)
	}
	if !(math.Abs(run.Sinkhorn.Cost-run.SNS.Cost) <= 1e-6*run.Sinkhorn.Cost) || !(run.IterationRatio() > 1) || !math.IsNaN(run.CostGap()) {
		t.Errorf("costs %v %v, ratio %v, gap %v", run.Sinkhorn.Cost, run.SNS.Cost, run.IterationRatio(), run.CostGap())
	}
	again, err := RunOrLoad(b, cfg, dir)
	if err != nil || !again.FromCache || again.SNS.Iterations != run.SNS.Iterations {
		t.Fatalf("second run: %v, from cache %v", err, again != nil && again.FromCache)
	}
	cfg.Seed = 3
	if other, err := RunOrLoad(b, cfg, dir); err != nil || other.FromCache {
		t.Fatalf("a new seed was read from the cache: %v", err)
	}
}

// Non-convergence is recorded, not an error.
func TestNotConvergedIsRecorded(t *testing.T) {
	b := backendstest.Available(t)[0]
	run, err := RunOrLoad(b, Config{Family: Random, Size: 30, Epsilon: 1e-3, Tol: 1e-12, MaxIters: 30, Seed: 1}, "")
	if err != nil {
		t.Fatal(err)
	}
	if run.Sinkhorn.Converged || !math.IsNaN(run.IterationRatio()) {
		t.Errorf("Sinkhorn converged in 30 iterations to 1e-12? %+v", run.Sinkhorn)
	}
}

func TestProblemErrors(t *testing.T) {
	for _, cfg := range []Config{{Family: "lattice", Size: 3}, {Family: Digits, Size: 20}, {Family: Digits, Size: 14, MNISTDir: t.TempDir()}} {
		if _, err := Problem(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

// Without a checkout whose code can be hashed, RunOrLoad computes each time (and
// says so on stderr) rather than reading back numbers of unknown code.
func TestDoWithoutCheckoutComputes(t *testing.T) {
	b := backendstest.Available(t)[0]
	t.Setenv(backends.EnvRoot, t.TempDir()) // not a Go module
	dir := t.TempDir()
	cfg := Config{Family: Random, Size: 30, Epsilon: 1e-3, Tol: 1e-12, MaxIters: 30, Seed: 1}
	for i := range 2 {
		run, err := RunOrLoad(b, cfg, dir)
		if err != nil || run.FromCache {
			t.Fatalf("run %d: %v, from cache %v", i+1, err, run != nil && run.FromCache)
		}
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("%d files stored without a code hash (%v)", len(entries), err)
	}
}
