package experiment

import (
	"fmt"
	"math"
	"strings"

	"github.com/gorepro/gorepro/lib/claims"
	"github.com/gorepro/gorepro/lib/notebook"
)

// Experiment is one configuration run over seeds. Role names what the
// notebook's claims use it for (the same role at every profile, on the
// profile's task).
type Experiment struct {
	Label string
	Role  string
	Cfg   Config
	Runs  []*Run
}

// The roles of the experiments in a grid.
const (
	RoleSoftmax32   = "softmax32"   // float32 softmax, no regularisation: collapses
	RoleSoftmax16   = "softmax16"   // float16 softmax: collapses sooner
	RoleSoftmax64   = "softmax64"   // float64 softmax: collapses later (control)
	RoleStableMax   = "stablemax"   // StableMax, β₂ = 0.999, no weight decay
	RoleWeightDecay = "weightdecay" // AdamW with weight decay 1 (control)
	RoleOrthoGrad   = "orthograd"   // ⊥Grad
	RoleAdamW       = "adamw"       // plain AdamW beside ⊥Grad, same task and epochs (control)
)

// Grid is the profile's experiments. smoke: the float32 collapse and ⊥Grad
// on the small task (p = 31), for the pure-Go backend and CI; quick: the
// small task for the collapse, precision and StableMax claims and the
// paper's own task (p = 113, fraction 0.4) for ⊥Grad against AdamW; full:
// the paper's Figure 1 settings (80 000 epochs) and Figure 2's grid.
func Grid(profile string) ([]Experiment, error) {
	paper := func(m Method, epochs int) Config {
		return Config{Method: m, P: 113, TrainFraction: 0.4, Width: 200, LR: 0.01, Epochs: epochs}
	}
	small := func(m Method, epochs int) Config {
		return Config{Method: m, P: 31, TrainFraction: 0.8, Width: 128, LR: 0.01, Epochs: epochs}
	}
	stable := func(c Config) Config { c.Beta2 = 0.999; return c } // the paper's StableMax runs
	switch profile {
	case "smoke":
		return []Experiment{
			{Label: "softmax float32 (p = 31)", Role: RoleSoftmax32, Cfg: small(Softmax32, 2000)},
			{Label: "⊥Grad (p = 31)", Role: RoleOrthoGrad, Cfg: small(OrthoGrad, 300)},
		}, nil
	case "quick":
		return []Experiment{
			{Label: "softmax float32 (p = 31)", Role: RoleSoftmax32, Cfg: small(Softmax32, 4000)},
			{Label: "softmax float16 (p = 31)", Role: RoleSoftmax16, Cfg: small(Softmax16, 1000)},
			{Label: "softmax float64 (p = 31)", Role: RoleSoftmax64, Cfg: small(Softmax64, 4000)},
			{Label: "StableMax (p = 31)", Role: RoleStableMax, Cfg: stable(small(StableMax, 4000))},
			{Label: "weight decay 1 (p = 31)", Role: RoleWeightDecay, Cfg: small(WeightDecay, 2000)},
			{Label: "⊥Grad (p = 113)", Role: RoleOrthoGrad, Cfg: paper(OrthoGrad, 300)},
			{Label: "AdamW (p = 113)", Role: RoleAdamW, Cfg: paper(Softmax32, 300)},
		}, nil
	case "full":
		exps := []Experiment{
			{Label: "softmax float32", Role: RoleSoftmax32, Cfg: paper(Softmax32, 80000)},
			{Label: "softmax float64", Role: RoleSoftmax64, Cfg: paper(Softmax64, 80000)},
			{Label: "StableMax", Role: RoleStableMax, Cfg: stable(paper(StableMax, 80000))},
			{Label: "⊥Grad", Role: RoleOrthoGrad, Cfg: paper(OrthoGrad, 300)},
			{Label: "AdamW", Role: RoleAdamW, Cfg: paper(Softmax32, 300)},
			{Label: "weight decay 1", Role: RoleWeightDecay, Cfg: paper(WeightDecay, 20000)},
			{Label: "softmax float16", Role: RoleSoftmax16, Cfg: paper(Softmax16, 20000)},
		}
		// Figure 2: lr 5·10⁻⁴, 20 000 epochs, train fraction × softmax precision.
		for _, fraction := range []float64{0.4, 0.6, 0.7} {
			for _, m := range []Method{Softmax16, Softmax32, Softmax64} {
				cfg := paper(m, 20000)
				cfg.LR, cfg.TrainFraction = 5e-4, fraction
				exps = append(exps, Experiment{Label: fmt.Sprintf("Fig. 2 %s, fraction %.1f", m, fraction), Cfg: cfg})
			}
		}
		return exps, nil
	}
	return nil, fmt.Errorf("grokking: unknown profile %q (smoke, quick, full)", profile)
}

// OnsetLevel is the Softmax Collapse fraction at which collapse counts as
// begun: 1 % of the training examples with an exactly zero loss.
const OnsetLevel = 0.01

// byRole finds the experiment of a role.
func byRole(exps []Experiment, role string) *Experiment {
	for i := range exps {
		if exps[i].Role == role && len(exps[i].Runs) > 0 {
			return &exps[i]
		}
	}
	return nil
}

func perSeed(e *Experiment, f func(*Run) float64) []float64 {
	out := make([]float64, len(e.Runs))
	for i, r := range e.Runs {
		out[i] = f(r)
	}
	return out
}

// paired returns the values of two experiments on the seeds both ran.
func paired(a, b *Experiment, f func(*Run) float64) (x, y []float64) {
	bySeed := map[uint64]*Run{}
	for _, r := range b.Runs {
		bySeed[r.Config.Seed] = r
	}
	for _, r := range a.Runs {
		if o, ok := bySeed[r.Config.Seed]; ok {
			x, y = append(x, f(r)), append(y, f(o))
		}
	}
	return x, y
}

// onsetAsLater is a run's collapse onset epoch for the arm a claim says
// collapses later (A): a run that never collapsed counts as its last epoch,
// a lower bound of its onset, so the difference A − B taken with it is a
// lower bound too.
func onsetAsLater(r *Run) float64 {
	e, _ := r.CollapseOnset(OnsetLevel)
	return float64(e)
}

// onsetAsSooner is the onset for the arm a claim says collapses sooner (B):
// a run that never collapsed has no usable value (its last epoch would
// understate its onset and overstate A − B), so it is NaN, and a claim
// with it cannot replicate.
func onsetAsSooner(r *Run) float64 {
	e, censored := r.CollapseOnset(OnsetLevel)
	if censored {
		return math.NaN()
	}
	return float64(e)
}

// pairedOnsets is the measurement "later collapses after sooner", paired by seed.
func pairedOnsets(later, sooner *Experiment) claims.Measurement {
	bySeed := map[uint64]*Run{}
	for _, r := range sooner.Runs {
		bySeed[r.Config.Seed] = r
	}
	var a, b []float64
	for _, r := range later.Runs {
		if o, ok := bySeed[r.Config.Seed]; ok {
			a, b = append(a, onsetAsLater(r)), append(b, onsetAsSooner(o))
		}
	}
	return claims.Measurement{Values: a, Baseline: b, Note: nonEmptyJoined(censoredNote(later), censoredNote(sooner))}
}

// EndWindow is the part of a run over which "at the end" is averaged: the
// collapsed fraction moves from one epoch to the next (seen on the pure-Go
// backend: 0.16 at epoch 2 000 of a seed at 0.4 around it), so the last
// tenth of the epochs, not the last point, says where a run ended.
const EndWindow = 0.1

// collapseAtEnd is the mean collapse fraction over the recorded points in
// the last EndWindow of the run's epochs.
func collapseAtEnd(r *Run) float64 {
	from := float64(r.Config.Epochs) * (1 - EndWindow)
	sum, n := 0.0, 0
	for _, p := range r.Curve {
		if float64(p.Epoch) >= from {
			sum, n = sum+p.Collapse, n+1
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// collapseAtFit is the collapse fraction at the first recorded epoch with
// training accuracy 1 (the point of overfitting, after which the paper says
// the logits grow until they collapse); NaN if the run never fits.
func collapseAtFit(r *Run) float64 {
	for _, p := range r.Curve {
		if p.TrainAcc == 1 {
			return p.Collapse
		}
	}
	return math.NaN()
}

func censoredNote(e *Experiment) string {
	n := 0
	for _, r := range e.Runs {
		if _, c := r.CollapseOnset(OnsetLevel); c {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%s: no collapse within %d epochs in %d of %d seeds (onset censored there)", e.Label, e.Cfg.Epochs, n, len(e.Runs))
}

// Measure computes, from the finished experiments, the measurements of the
// notebook's pre-registered claims (by ID), the sanity checks and the
// findings (the controls' numbers). A role a profile did not run leaves its
// claims unmeasured.
func Measure(exps []Experiment) (claims.Measurements, []notebook.Claim, []notebook.Claim) {
	m := claims.Measurements{}
	var checks, findings []notebook.Claim
	final := func(r *Run) float64 { return r.Final().TestAcc }
	if e := byRole(exps, RoleSoftmax32); e != nil {
		m["softmax32-overfits"] = claims.Values(perSeed(e, final)...)
		m["softmax32-collapses"] = claims.Values(perSeed(e, collapseAtEnd)...)
		m["collapse-rises"] = claims.Paired(perSeed(e, collapseAtEnd), perSeed(e, collapseAtFit))
		m["nlm-alignment"] = claims.Values(perSeed(e, (*Run).MaxNLMOutputAfterFit)...)
		fit := perSeed(e, func(r *Run) float64 { return r.Final().TrainAcc })
		checks = append(checks, notebook.Check(e.Label+": training accuracy at the end (every seed ≥ 0.99: the model fits)", minOf(fit), minOf(fit) >= 0.99))
		allLayers := minOf(perSeed(e, (*Run).MaxNLMAfterFit))
		findings = append(findings, notebook.Claim{Name: e.Label + ": largest NLM cosine over all layers once fitted (lowest seed)", Paper: "0.9 for the output layers (Sec. 4.2)",
			Ours: allLayers, Tolerance: ">= 0.9", Holds: allLayers >= 0.9})
	}
	if e := byRole(exps, RoleStableMax); e != nil {
		m["stablemax-groks"] = claims.Values(perSeed(e, final)...)
		m["stablemax-no-collapse"] = claims.Values(perSeed(e, func(r *Run) float64 { return r.Final().Collapse32 })...)
	}
	if o, a := byRole(exps, RoleOrthoGrad), byRole(exps, RoleAdamW); o != nil {
		m["orthograd-generalises"] = claims.Values(perSeed(o, final)...)
		if a != nil {
			x, y := paired(o, a, final)
			m["orthograd-beats-adamw"] = claims.Paired(x, y)
		}
		checks = append(checks, notebook.Check(o.Label+": training accuracy at the end (every seed ≥ 0.99)", minOf(perSeed(o, func(r *Run) float64 { return r.Final().TrainAcc })), minOf(perSeed(o, func(r *Run) float64 { return r.Final().TrainAcc })) >= 0.99))
	}
	s32, s16, s64 := byRole(exps, RoleSoftmax32), byRole(exps, RoleSoftmax16), byRole(exps, RoleSoftmax64)
	if s32 != nil && s64 != nil {
		m["float64-collapses-later"] = pairedOnsets(s64, s32)
		acc64, acc32 := meanOf(perSeed(s64, final)), meanOf(perSeed(s32, final))
		findings = append(findings, notebook.Claim{Name: s64.Label + ": mean test accuracy at the end (does float64 generalise?), beside float32's", Paper: "later SC allows a further increase in test performance (Sec. 3.3)",
			Ours: acc64, Tolerance: fmt.Sprintf("> float32's %.4g", acc32), Holds: acc64 > acc32})
	}
	if s32 != nil && s16 != nil {
		m["float16-collapses-sooner"] = pairedOnsets(s32, s16)
	}
	if e := byRole(exps, RoleWeightDecay); e != nil {
		wd := meanOf(perSeed(e, final))
		first := perSeed(e, func(r *Run) float64 { return float64(r.FirstEpochAtLeast(0.95)) })
		findings = append(findings,
			notebook.Claim{Name: e.Label + ": test accuracy at the end (mean over seeds)", Paper: "weight decay is \"the most reliable way to induce grokking\" (Sec. 5.2)", Ours: wd, Tolerance: ">= 0.9", Holds: wd >= 0.9},
			notebook.Claim{Name: e.Label + ": first epoch with test accuracy ≥ 0.95 (latest seed; −1 never)", Paper: "–", Ours: maxOf(first), Tolerance: "every seed reaches it", Holds: minOf(first) >= 0})
	}
	if e := byRole(exps, RoleAdamW); e != nil {
		adamw := meanOf(perSeed(e, final))
		findings = append(findings, notebook.Claim{Name: e.Label + ": test accuracy after the same epochs as ⊥Grad (mean)", Paper: "no improvement without weight decay (Sec. 5.1)", Ours: adamw, Tolerance: "<= 0.2", Holds: adamw <= 0.2})
	}
	for _, e := range exps {
		if e.Role != "" || len(e.Runs) == 0 {
			continue
		}
		low, on := minOf(perSeed(&e, final)), meanOf(perSeed(&e, onsetAsLater))
		findings = append(findings,
			notebook.Claim{Name: e.Label + ": test accuracy at the end (lowest seed)", Paper: "see Fig. 2", Ours: low, Tolerance: "a number", Holds: !math.IsNaN(low)},
			notebook.Claim{Name: e.Label + ": collapse onset epoch (mean; censored at the end)", Paper: "see Fig. 2", Ours: on, Tolerance: "a number", Holds: !math.IsNaN(on)})
	}
	// Every number the claims use must be finite. The NLM cosines are left
	// out: with every example collapsed the gradient is exactly 0 and the
	// cosine is 0/0, a NaN that says just that (the maxima skip it).
	finite := true
	for _, e := range exps {
		for _, r := range e.Runs {
			for _, p := range r.Curve {
				for _, v := range []float64{p.TrainLoss, p.TrainAcc, p.TestAcc, p.Collapse, p.Collapse32} {
					finite = finite && !math.IsNaN(v) && !math.IsInf(v, 0)
				}
			}
		}
	}
	checks = append(checks, notebook.Check("every loss, accuracy and collapse fraction recorded is finite", finite, finite))
	return m, checks, findings
}

// minOf and maxOf are a slice's extremes; a NaN in it is the answer.
func minOf(x []float64) float64 { return extreme(x, math.Min, math.Inf(1)) }

func maxOf(x []float64) float64 { return extreme(x, math.Max, math.Inf(-1)) }

func extreme(x []float64, pick func(a, b float64) float64, start float64) float64 {
	m := start
	for _, v := range x {
		m = pick(m, v) // math.Min and math.Max return NaN when v is NaN
	}
	return m
}

func meanOf(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

// AcrossSeeds gives, at each metric point the runs share, the mean of metric
// over the runs and its lowest and highest value (the figures' line and band).
func AcrossSeeds(runs []*Run, metric func(Point) float64) (x, mean, lo, hi []float64) {
	if len(runs) == 0 {
		return nil, nil, nil, nil
	}
	n := len(runs[0].Curve)
	for _, r := range runs[1:] {
		n = min(n, len(r.Curve))
	}
	for i := 0; i < n; i++ {
		sum, low, high := 0.0, math.Inf(1), math.Inf(-1)
		for _, r := range runs {
			v := metric(r.Curve[i])
			sum, low, high = sum+v, math.Min(low, v), math.Max(high, v)
		}
		x = append(x, float64(max(runs[0].Curve[i].Epoch, 1)))
		mean, lo, hi = append(mean, sum/float64(len(runs))), append(lo, low), append(hi, high)
	}
	return x, mean, lo, hi
}

// RunTable is the per-seed table of the runs (final metrics, collapse
// onset, speed, and whether each was trained now or read from its
// checkpoint); fromCache is whether any run was read back.
func RunTable(exps []Experiment) (header []string, rows [][]string, fromCache bool) {
	header = []string{"experiment", "seed", "epochs", "train acc", "test acc", "SC fraction", "zero loss in float32", "SC onset", "NLM (output)", "ms/epoch", "from"}
	for _, e := range exps {
		for _, r := range e.Runs {
			f := r.Final()
			on, censored := r.CollapseOnset(OnsetLevel)
			onsetText := fmt.Sprint(on)
			if censored {
				onsetText = fmt.Sprintf("> %d", on)
			}
			from := "trained"
			switch {
			case r.FromCache:
				from, fromCache = "checkpoint (cached)", true
			case r.ResumedAt > 0:
				from = fmt.Sprintf("resumed at %d", r.ResumedAt)
			}
			rows = append(rows, []string{e.Label, fmt.Sprint(r.Config.Seed), fmt.Sprint(f.Epoch), fmt.Sprintf("%.3f", f.TrainAcc),
				fmt.Sprintf("%.3f", f.TestAcc), fmt.Sprintf("%.3f", f.Collapse), fmt.Sprintf("%.3f", f.Collapse32), onsetText, fmt.Sprintf("%.3f", r.MaxNLMOutputAfterFit()),
				fmt.Sprintf("%.1f", r.MsPerEpoch), from})
		}
	}
	return header, rows, fromCache
}

// nonEmptyJoined joins the non-empty notes with "; ".
func nonEmptyJoined(notes ...string) string {
	kept := notes[:0]
	for _, n := range notes {
		if n != "" {
			kept = append(kept, n)
		}
	}
	return strings.Join(kept, "; ")
}
