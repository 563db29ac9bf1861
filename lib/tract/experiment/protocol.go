package experiment

import (
	"fmt"
	"slices"

	"github.com/gomlx/compute"

	"github.com/gorepro/gorepro/lib/notebook"
	"github.com/gorepro/gorepro/lib/tuning"
)

// Study is one comparison the notebook runs as the paper does: one model on
// one task, a separate run per epoch budget (the schedule scaled to each
// budget), the learning rate chosen on a validation split from one grid for
// every arm with the same budget, then TrAct against the baseline over the
// evaluation seeds under each protocol:
//   - tuning.Paper: the baseline's recipe tuned for the baseline, TrAct
//     dropped into it (the paper: "we utilize the optimal learning rate of
//     the baseline also for the proposed method");
//   - tuning.OwnBest: each arm at its own best rate from the same grid (a
//     robustness check).
type Study struct {
	// Name prefixes the study's groups, findings and figure titles ("cnn").
	Name string
	// Title describes the model and task for figures and tables.
	Title string
	// Recipe is everything but Method, LR, Epochs and Seed (which the study
	// sets); Recipe.Lambda is TrAct's λ for the main comparison.
	Recipe Config
	// Budgets are the epoch budgets, increasing.
	Budgets []int
	// LRGrid is the learning-rate grid every arm is tuned over, at every budget.
	LRGrid []float64
	// TuneSeeds score the grid: the mean validation accuracy of their runs
	// (each seed has its own split). They should differ from Seeds.
	TuneSeeds []uint64
	// Seeds are the evaluation seeds (the unit of the claims' intervals).
	Seeds []uint64
	// Protocols are the protocols run; tuning.Paper must be one of them.
	Protocols []tuning.Protocol
	// Lambdas are further TrAct λs run under the paper protocol (findings).
	Lambdas []float64
	// Task returns the task of a seed (its split, and the training data of
	// that seed's runs).
	Task func(seed uint64) (*Task, error) `json:"-"`
}

// Check says what is wrong with s, naming the field; nil when it can run.
func (s Study) Check() error {
	switch {
	case s.Name == "":
		return fmt.Errorf("experiment: a study without a name")
	case s.Task == nil:
		return fmt.Errorf("experiment: study %s: no Task", s.Name)
	case len(s.Seeds) == 0 || len(s.TuneSeeds) == 0:
		return fmt.Errorf("experiment: study %s: %d evaluation and %d tuning seeds, want ≥ 1 of each", s.Name, len(s.Seeds), len(s.TuneSeeds))
	case !slices.Contains(s.Protocols, tuning.Paper):
		return fmt.Errorf("experiment: study %s: protocols %q must include the paper's (%q)", s.Name, s.Protocols, tuning.Paper)
	case !(s.Recipe.Lambda > 0):
		return fmt.Errorf("experiment: study %s: λ = %g must be positive", s.Name, s.Recipe.Lambda)
	}
	for _, p := range s.Protocols {
		if p != tuning.Paper && p != tuning.OwnBest {
			return fmt.Errorf("experiment: study %s: unknown protocol %q", s.Name, p)
		}
	}
	for _, l := range s.Lambdas {
		if !(l > 0) {
			return fmt.Errorf("experiment: study %s: λ = %g in Lambdas must be positive", s.Name, l)
		}
	}
	if err := CheckBudgets(s.Budgets); err != nil {
		return fmt.Errorf("study %s: %w", s.Name, err)
	}
	if err := CheckGrid("learning-rate grid", s.LRGrid); err != nil {
		return fmt.Errorf("study %s: %w", s.Name, err)
	}
	c := s.Recipe
	c.Method, c.LR, c.Epochs, c.Seed = TrAct, s.LRGrid[0], s.Budgets[0], s.Seeds[0]
	if err := c.check(); err != nil {
		return fmt.Errorf("study %s: %w", s.Name, err)
	}
	return nil
}

// config is the recipe as one run.
func (s Study) config(method string, lambda, lr float64, epochs int, seed uint64) Config {
	c := s.Recipe
	c.Method, c.LR, c.Epochs, c.Seed = method, lr, epochs, seed
	if method == TrAct {
		c.Lambda = lambda
	} else {
		c.Lambda = 0 // the baseline does not use λ: one run serves every λ
	}
	return c
}

// BudgetComparison is TrAct against the baseline under one protocol at
// every budget: the runs are indexed [budget][seed], in the order of
// Budgets and Seeds.
type BudgetComparison struct {
	Study, Title    string
	Protocol        tuning.Protocol
	Lambda          float64
	Budgets         []int
	Seeds           []uint64
	BaseLR, TrActLR []float64 // per budget
	Base, TrActRuns [][]*Run
}

// StudyResult is a finished study: what tuning tried and chose, and one
// comparison per protocol and per extra λ.
type StudyResult struct {
	Study       Study
	Tuned       []notebook.Tuned // per budget and arm: the grid's validation scores and the choice
	Comparisons []BudgetComparison
	FromCache   bool
}

// Main is the paper-protocol comparison at the recipe's λ.
func (r *StudyResult) Main() BudgetComparison { return r.find(tuning.Paper, r.Study.Recipe.Lambda) }

// OwnBest is the own-best-rate comparison at the recipe's λ (zero when not run).
func (r *StudyResult) OwnBest() BudgetComparison {
	return r.find(tuning.OwnBest, r.Study.Recipe.Lambda)
}

func (r *StudyResult) find(p tuning.Protocol, lambda float64) BudgetComparison {
	for _, c := range r.Comparisons {
		if c.Protocol == p && c.Lambda == lambda {
			return c
		}
	}
	return BudgetComparison{}
}

// runAll runs jobs (RunJobs) and returns the runs in the jobs' order.
func runAll(b compute.Backend, jobs []Job, cacheDir string) ([]*Run, bool, error) {
	runs, fromCache, err := RunJobs(b, jobs, cacheDir)
	if err != nil {
		return nil, false, err
	}
	next := map[[2]string]int{}
	out := make([]*Run, len(jobs))
	for i, j := range jobs {
		k := [2]string{j.Group, j.Config.Method}
		out[i] = runs[j.Group][j.Config.Method][next[k]]
		next[k]++
	}
	return out, fromCache, nil
}

// jobSet collects a study's runs once each (the same configuration asked
// for twice, e.g. a baseline shared by two protocols, runs once).
type jobSet struct {
	jobs  []Job
	index map[Config]int
}

func (js *jobSet) add(group string, c Config, task *Task) int {
	if js.index == nil {
		js.index = map[Config]int{}
	}
	if i, ok := js.index[c]; ok {
		return i
	}
	js.index[c] = len(js.jobs)
	// Runs of 50 epochs or more (the paper's budgets) print every epoch and
	// checkpoint it, so an interrupted run resumes.
	js.jobs = append(js.jobs, Job{Group: group, Config: c, Task: task, Verbose: c.Epochs >= 50})
	return len(js.jobs) - 1
}

// RunStudy runs s: the tuning grid on the validation splits of the tuning
// seeds, then every protocol's comparison on the evaluation seeds (and
// TrAct at each extra λ under the paper protocol). Runs are cached under
// cacheDir as RunJobs does.
func RunStudy(b compute.Backend, s Study, cacheDir string) (*StudyResult, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	tasks := map[uint64]*Task{}
	for _, seed := range append(slices.Clone(s.TuneSeeds), s.Seeds...) {
		if tasks[seed] != nil {
			continue
		}
		t, err := s.Task(seed)
		if err != nil {
			return nil, fmt.Errorf("experiment: study %s, seed %d: %w", s.Name, seed, err)
		}
		if len(t.ValY) == 0 {
			return nil, fmt.Errorf("experiment: study %s: task %s has no validation split to tune on", s.Name, t.Name)
		}
		tasks[seed] = t
	}
	res := &StudyResult{Study: s}

	// Tuning: every arm at every grid value and budget, scored on validation.
	arms := []string{Baseline}
	if slices.Contains(s.Protocols, tuning.OwnBest) {
		arms = append(arms, TrAct)
	}
	var tune jobSet
	for _, arm := range arms {
		for _, e := range s.Budgets {
			for _, lr := range s.LRGrid {
				for _, seed := range s.TuneSeeds {
					tune.add(s.Name+"-tune", s.config(arm, s.Recipe.Lambda, lr, e, seed), tasks[seed])
				}
			}
		}
	}
	fmt.Printf("%s: tuning the learning rate on validation: %d runs (%s × %d budgets × %d rates × %d seeds)\n", s.Name, len(tune.jobs), arms, len(s.Budgets), len(s.LRGrid), len(s.TuneSeeds))
	tuneRuns, cached, err := runAll(b, tune.jobs, cacheDir)
	if err != nil {
		return nil, err
	}
	res.FromCache = cached
	chosen := map[string][]float64{} // arm → learning rate per budget
	for _, e := range s.Budgets {
		score := func(arm string, lr float64) (float64, error) {
			var sum float64
			for _, seed := range s.TuneSeeds {
				sum += tuneRuns[tune.index[s.config(arm, s.Recipe.Lambda, lr, e, seed)]].FinalValAcc()
			}
			return sum / float64(len(s.TuneSeeds)), nil // NaN when a run diverged: never chosen
		}
		split := fmt.Sprintf("validation (%d images per seed; mean over tuning seeds %v)", len(tasks[s.TuneSeeds[0]].ValY), s.TuneSeeds)
		tuned, err := tuning.Grid(arms, tuning.Search{Param: "learning rate", Values: s.LRGrid, Split: split, HigherIsBetter: true}, score)
		if err != nil {
			return nil, fmt.Errorf("experiment: study %s, %d epochs: %w", s.Name, e, err)
		}
		for _, t := range tuned {
			chosen[t.Arm] = append(chosen[t.Arm], t.Chosen)
			t.Arm = fmt.Sprintf("%s %s, %d epochs", s.Name, t.Arm, e)
			res.Tuned = append(res.Tuned, t)
		}
	}

	// Evaluation: each protocol's comparison, and the extra λs.
	type want struct {
		protocol tuning.Protocol
		lambda   float64
	}
	var wants []want
	for _, p := range s.Protocols {
		wants = append(wants, want{p, s.Recipe.Lambda})
	}
	for _, l := range s.Lambdas {
		if l != s.Recipe.Lambda {
			wants = append(wants, want{tuning.Paper, l})
		}
	}
	var eval jobSet
	type slot struct{ base, tract [][]int }
	slots := make([]slot, len(wants))
	for w, wt := range wants {
		slots[w] = slot{base: make([][]int, len(s.Budgets)), tract: make([][]int, len(s.Budgets))}
		for i, e := range s.Budgets {
			lrB, lrT := chosen[Baseline][i], chosen[Baseline][i]
			if wt.protocol == tuning.OwnBest {
				lrT = chosen[TrAct][i]
			}
			for _, seed := range s.Seeds {
				slots[w].base[i] = append(slots[w].base[i], eval.add(s.Name, s.config(Baseline, 0, lrB, e, seed), tasks[seed]))
				slots[w].tract[i] = append(slots[w].tract[i], eval.add(s.Name, s.config(TrAct, wt.lambda, lrT, e, seed), tasks[seed]))
			}
		}
	}
	fmt.Printf("%s: %d evaluation runs (%d protocols/λs × %d budgets × %d seeds, shared runs once)\n", s.Name, len(eval.jobs), len(wants), len(s.Budgets), len(s.Seeds))
	evalRuns, cached, err := runAll(b, eval.jobs, cacheDir)
	if err != nil {
		return nil, err
	}
	res.FromCache = res.FromCache || cached
	for w, wt := range wants {
		c := BudgetComparison{Study: s.Name, Title: s.Title, Protocol: wt.protocol, Lambda: wt.lambda, Budgets: s.Budgets, Seeds: s.Seeds}
		for i := range s.Budgets {
			var bs, ts []*Run
			for k := range s.Seeds {
				bs, ts = append(bs, evalRuns[slots[w].base[i][k]]), append(ts, evalRuns[slots[w].tract[i][k]])
			}
			c.Base, c.TrActRuns = append(c.Base, bs), append(c.TrActRuns, ts)
			c.BaseLR, c.TrActLR = append(c.BaseLR, bs[0].Config.LR), append(c.TrActLR, ts[0].Config.LR)
		}
		res.Comparisons = append(res.Comparisons, c)
	}
	return res, nil
}

// Accuracies are the final test accuracies [budget][seed] of the baseline
// (method Baseline) or TrAct.
func (c BudgetComparison) Accuracies(method string) [][]float64 {
	runs := c.Base
	if method == TrAct {
		runs = c.TrActRuns
	}
	out := make([][]float64, len(runs))
	for i, rs := range runs {
		for _, r := range rs {
			out[i] = append(out[i], r.FinalAcc())
		}
	}
	return out
}

// Speedups are the per-seed equal-accuracy speedups (EqualAccuracySpeedup)
// at the budget of index j, with their bounds.
func (c BudgetComparison) Speedups(j int) ([]float64, []Bound, error) {
	base, tract := c.Accuracies(Baseline), c.Accuracies(TrAct)
	ratios, bounds := make([]float64, len(c.Seeds)), make([]Bound, len(c.Seeds))
	for k := range c.Seeds {
		b, t := make([]float64, len(c.Budgets)), make([]float64, len(c.Budgets))
		for i := range c.Budgets {
			b[i], t[i] = base[i][k], tract[i][k]
		}
		var err error
		if ratios[k], bounds[k], err = EqualAccuracySpeedup(c.Budgets, b, t, j); err != nil {
			return nil, nil, err
		}
	}
	return ratios, bounds, nil
}

// Diverged lists the runs of c that diverged, as "method, E epochs, seed s: why".
func (c BudgetComparison) Diverged() []string {
	var out []string
	for _, runs := range [][][]*Run{c.Base, c.TrActRuns} {
		for _, rs := range runs {
			for _, r := range rs {
				if r.Diverged != "" {
					out = append(out, fmt.Sprintf("%s, %d epochs, lr %g, seed %d: %s", r.Config.Method, r.Config.Epochs, r.Config.LR, r.Config.Seed, r.Diverged))
				}
			}
		}
	}
	return out
}

// RunStudies runs every study (RunStudy) and says whether any run was read
// from the cache.
func RunStudies(b compute.Backend, studies []Study, cacheDir string) ([]*StudyResult, bool, error) {
	var out []*StudyResult
	var fromCache bool
	for _, s := range studies {
		r, err := RunStudy(b, s, cacheDir)
		if err != nil {
			return nil, false, err
		}
		out, fromCache = append(out, r), fromCache || r.FromCache
	}
	return out, fromCache, nil
}
