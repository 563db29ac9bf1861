package experiment

import (
	"fmt"
	"math"

	"github.com/gorepro/gorepro/lib/claims"
	"github.com/gorepro/gorepro/lib/notebook"
)

// The pre-registered claims' IDs (the notebook's record states them).
const (
	ClaimAssignmentIterations = "assignment-iterations"
	ClaimAssignmentSolution   = "assignment-same-solution"
	ClaimW1Iterations         = "w1-iterations"
	ClaimW1Solution           = "w1-same-solution"
)

// Measure computes the pre-registered claims' measurements from a plan's
// results (one value per problem seed), the sanity checks and the findings.
//
//   - *-iterations: Sinkhorn's iterations ÷ SNS's on the main runs; a Sinkhorn
//     run stopped at its cap counts with its cap (a lower bound), and an SNS
//     run that did not converge gives NaN (which replicates nothing).
//   - *-same-solution: the relative gap between SNS's transport cost and the
//     exact-Hessian Newton solve's on the same problem (both to the
//     tolerance; NaN when either did not converge).
func Measure(res *Results) (claims.Measurements, []notebook.Claim, []notebook.Claim) {
	m := claims.Measurements{}
	var checks, findings []notebook.Claim
	for _, fam := range []struct{ family, iterations, solution string }{
		{Assignment, ClaimAssignmentIterations, ClaimAssignmentSolution},
		{Digits, ClaimW1Iterations, ClaimW1Solution},
	} {
		var ratios, gaps, times []float64
		censored, fallbacks, name := 0, 0, fam.family
		for _, r := range res.Main {
			if r.Config.Family != fam.family {
				continue
			}
			name = fmt.Sprintf("%s, n = %d, ε = %.3g", fam.family, r.N, r.Config.Epsilon)
			ratios = append(ratios, r.IterationRatio())
			if r.Censored() {
				censored++
			}
			fallbacks += len(r.SNS.Fallbacks)
			times = append(times, r.TimeRatio())
			gaps = append(gaps, solutionGap(r, exactFor(res.Exact, r.Config)))
		}
		if len(ratios) == 0 {
			continue
		}
		note := ""
		if censored > 0 {
			note = fmt.Sprintf("Sinkhorn stopped at its cap of %d iterations without reaching the tolerance in %d of %d seeds: those ratios are lower bounds",
				res.Main[0].Config.MaxIters, censored, len(ratios))
		}
		m[fam.iterations] = claims.Measurement{Values: ratios, Note: note}
		m[fam.solution] = claims.Values(gaps...)
		findings = append(findings,
			notebook.Claim{Name: name + ": Sinkhorn ÷ SNS wall time after compilation (lowest seed; a lower bound where Sinkhorn hit its cap)",
				Paper: "runtime speed-ups follow the iteration counts", Ours: minOf(times), Tolerance: "> 1", Holds: minOf(times) > 1},
			notebook.Claim{Name: name + ": Newton steps that failed and fell back to Sinkhorn steps (all seeds)", Paper: "—",
				Ours: fallbacks, Tolerance: "= 0", Holds: fallbacks == 0})
	}
	converged := 0
	for _, r := range res.Exact {
		if r.SNS.Converged {
			converged++
		}
	}
	checks = append(checks, notebook.Check("the exact-Hessian Newton reference reached the tolerance on every problem", fmt.Sprintf("%d of %d", converged, len(res.Exact)), converged == len(res.Exact)))
	for _, c := range res.Sparsity {
		if k := len(c.Points); k > 0 {
			last := c.Points[k-1]
			findings = append(findings, notebook.Claim{Name: fmt.Sprintf("%s: mass outside the paper's %d largest entries of Sinkhorn's plan after %d iterations", c.Problem, c.Keep, last.Iteration),
				Paper: "P is approximately sparse near the optimum (sparsity theorem)", Ours: last.DroppedMass, Tolerance: "<= 0.01", Holds: last.DroppedMass <= 0.01})
		}
	}
	for _, r := range res.Density {
		if r.Keep == PaperKeep(r.N, r.N) {
			findings = append(findings, notebook.Claim{Name: fmt.Sprintf("density ablation, %s, ε = %.3g: SNS at the paper's 2n entries reaches the tolerance", r.Problem, r.Config.Epsilon),
				Paper: "converges", Ours: fmt.Sprintf("%d iterations, largest dropped mass %.2e", r.SNS.Iterations, r.SNS.MaxDroppedMass), Holds: r.SNS.Converged})
		}
	}
	return m, checks, findings
}

// exactFor is the exact-Hessian run of cfg's problem (nil when none).
func exactFor(exact []*Run, cfg Config) *Run {
	for _, e := range exact {
		if sameProblem(e.Config, cfg) {
			return e
		}
	}
	return nil
}

// solutionGap is |cost(SNS) − cost(exact)| / |cost(exact)|; NaN when either
// did not converge or there is no exact run.
func solutionGap(r, exact *Run) float64 {
	if exact == nil || !r.SNS.Converged || !exact.SNS.Converged || exact.SNS.Cost == 0 {
		return math.NaN()
	}
	return math.Abs(r.SNS.Cost-exact.SNS.Cost) / math.Abs(exact.SNS.Cost)
}

// minOf is the smallest value (NaN counts as the smallest; NaN for none).
func minOf(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	lo := math.Inf(1)
	for _, x := range xs {
		if math.IsNaN(x) {
			return math.NaN()
		}
		lo = math.Min(lo, x)
	}
	return lo
}

// sameProblem reports whether two configurations solve the same transport
// problem (family, size, seed, data, ε), whatever their solver settings.
func sameProblem(x, y Config) bool {
	return x.Family == y.Family && x.Size == y.Size && x.Seed == y.Seed && x.Epsilon == y.Epsilon && x.MNISTDir == y.MNISTDir
}
