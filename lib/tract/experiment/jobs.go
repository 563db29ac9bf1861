package experiment

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/gomlx/compute"

	"github.com/gorepro/gorepro/lib/notebook"
)

// Job is one run of a notebook's grid: its configuration, the task it
// trains on and the comparison it belongs to ("mlp", "cnn", "cifar" or
// "sweep").
type Job struct {
	Group  string
	Config Config
	Task   *Task
	// Verbose marks a long run (a ResNet or ViT on CIFAR-10, say): it prints
	// a line per epoch and trains through RunOrLoad, checkpointed every
	// epoch so that an interrupted run resumes, with a trainer of its own.
	// Other runs are short: they share compiled trainers and are cached
	// only when finished.
	Verbose bool
}

// Runs are finished runs by group and then by method, each in job order.
type Runs map[string]map[string][]*Run

// RunJobs runs (or reads back from the cache in cacheDir: RunOrLoad's keys,
// so either reads the other's runs) every job, and returns the runs and
// whether any was read from the cache. Every configuration is checked
// before any run trains.
//
// Jobs that are not Verbose train through one compiled trainer per graph
// (session, reuse.go: same architecture, method, λ, batch size, optimizer
// kind, momentum or not, weight decay, label smoothing, widths and task
// shapes): each run resets the variables to what a fresh store seeded with
// its seed starts from, and sets its learning rate, momentum, budget and
// schedule without compiling. A Verbose job trains through RunOrLoad.
//
// It prints a progress bar over the jobs, one summary line per group when
// its last job is done, and, for Verbose jobs, one line per epoch. A
// diverged run (Run.Diverged) is a result, not an error.
func RunJobs(b compute.Backend, jobs []Job, cacheDir string) (runs Runs, fromCache bool, err error) {
	defer func() {
		recoverInto(&err, "RunJobs")
		if err != nil {
			runs, fromCache = nil, false
		}
	}()
	for i, j := range jobs {
		if err := j.Config.checkTask(j.Task); err != nil {
			return nil, false, fmt.Errorf("job %d (%s): %w", i, j.Group, err)
		}
	}
	var cache *notebook.RunCache
	if cacheDir != "" {
		cache = notebook.OpenRunCacheOrWarn(cacheDir, codePackage)
	}
	sessions := map[graphKey]*session{}
	defer func() {
		for _, s := range sessions {
			s.finalize()
		}
	}()
	left := map[string]int{}
	lastUse := map[graphKey]int{} // a session is freed after the last job that can use it
	for i, j := range jobs {
		left[j.Group]++
		if !j.Verbose {
			lastUse[keyOf(j.Config, j.Task)] = i
		}
	}
	sums := map[string]*groupSummary{}
	runs = Runs{}
	progress := notebook.NewProgress("runs", len(jobs))
	for i, j := range jobs {
		var run *Run
		if j.Verbose {
			perEpoch := func(p Point) {
				fmt.Printf("  %s %s seed %d epoch %d: loss %.4f, validation accuracy %.4f, test accuracy %.4f\n", j.Group, j.Config.Method, j.Config.Seed, p.Epoch, p.TrainLoss, p.ValAcc, p.TestAcc)
			}
			run, err = RunOrLoad(b, j.Config, j.Task, cacheDir, perEpoch)
		} else {
			run, err = runShared(b, j, cache, sessions)
		}
		if err != nil {
			return nil, false, fmt.Errorf("job %d (%s %s seed %d): %w", i, j.Group, j.Config.Method, j.Config.Seed, err)
		}
		if k := keyOf(j.Config, j.Task); !j.Verbose && lastUse[k] == i && sessions[k] != nil {
			sessions[k].finalize()
			delete(sessions, k)
		}
		fromCache = fromCache || run.FromCache
		if runs[j.Group] == nil {
			runs[j.Group] = map[string][]*Run{}
		}
		runs[j.Group][j.Config.Method] = append(runs[j.Group][j.Config.Method], run)
		if sums[j.Group] == nil {
			sums[j.Group] = &groupSummary{}
		}
		sums[j.Group].add(run)
		if left[j.Group]--; left[j.Group] == 0 {
			fmt.Println(sums[j.Group].line(j.Group, runs[j.Group]))
		}
		progress.Update(i + 1)
	}
	progress.Done()
	return runs, fromCache, nil
}

// runShared is RunOrLoad without checkpoints, training through the session
// of the job's graph (created on first use).
func runShared(b compute.Backend, j Job, cache *notebook.RunCache, sessions map[graphKey]*session) (*Run, error) {
	run, fromCache, err := notebook.LoadOrCompute(cache, key(cache, b, j.Config, j.Task), func(r *Run) bool { return r.finished(j.Config) }, func() (*Run, error) {
		k := keyOf(j.Config, j.Task)
		s := sessions[k]
		if s == nil {
			var err error
			if s, err = newSession(b, j.Config, j.Task); err != nil {
				return nil, err
			}
			sessions[k] = s
		}
		run, err := s.train(j.Config, j.Task, "", nil)
		if err != nil {
			// A run that failed half-way leaves its trainer in an unknown state.
			s.finalize()
			delete(sessions, k)
		}
		return run, err
	})
	if err != nil {
		return nil, err
	}
	run.FromCache = fromCache
	return run, nil
}

// groupSummary counts a group's runs for its summary line.
type groupSummary struct {
	runs, cached, diverged int
	seconds                float64
}

func (g *groupSummary) add(r *Run) {
	g.runs++
	if r.FromCache {
		g.cached++
	} else {
		g.seconds += r.Seconds
	}
	if r.Diverged != "" {
		g.diverged++
	}
}

// line is the group's summary: its runs, and per method the mean final
// validation and test accuracies of the runs that did not diverge.
func (g *groupSummary) line(group string, byMethod map[string][]*Run) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d runs (%d cached, %d diverged), %.1f s training", group, g.runs, g.cached, g.diverged, g.seconds)
	for _, m := range slices.Sorted(maps.Keys(byMethod)) {
		var val, test []float64
		for _, r := range byMethod[m] {
			if r.Diverged == "" {
				val, test = append(val, r.FinalValAcc()), append(test, r.FinalAcc())
			}
		}
		fmt.Fprintf(&b, "; %s: validation %.4f, test %.4f (mean of %d)", m, mean(val), mean(test), len(test))
	}
	return b.String()
}

// mean is the mean of xs (NaN for none).
func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
