package experiment

import (
	"cmp"
	"fmt"
	"slices"

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
}

// Runs are finished runs by group and then by method, each in job order.
type Runs map[string]map[string][]*Run

// RunJobs runs (or reads back from the cache in cacheDir) every job,
// printing one line per run (and one per epoch for the "cifar" group, whose
// runs are long) and a progress bar. It returns the runs and whether any was
// read from the cache.
func RunJobs(b compute.Backend, jobs []Job, cacheDir string) (runs Runs, fromCache bool, err error) {
	runs = Runs{}
	progress := notebook.NewProgress("runs", len(jobs))
	for i, j := range jobs {
		var perEpoch func(Point)
		if j.Group == "cifar" {
			perEpoch = func(p Point) {
				fmt.Printf("  %s seed %d epoch %d: loss %.4f, test accuracy %.4f\n", j.Config.Method, j.Config.Seed, p.Epoch, p.TrainLoss, p.TestAcc)
			}
		}
		run, err := RunOrLoad(b, j.Config, j.Task, cacheDir, perEpoch)
		if err != nil {
			return nil, false, err
		}
		note := ""
		if run.FromCache {
			note, fromCache = " (cached)", true
		}
		fmt.Printf("%-5s %-8s λ=%-5g seed %d: %2d epochs, test accuracy %.4f, %.2f ms/step%s\n", j.Group, j.Config.Method, j.Config.Lambda, j.Config.Seed, j.Config.Epochs, run.FinalAcc(), run.MsPerStep, note)
		if runs[j.Group] == nil {
			runs[j.Group] = map[string][]*Run{}
		}
		runs[j.Group][j.Config.Method] = append(runs[j.Group][j.Config.Method], run)
		progress.Update(i + 1)
	}
	progress.Done()
	return runs, fromCache, nil
}

// JoinSweep adds the "mlp" group's TrAct run on seed (the main comparison's
// λ) to the "sweep" group's TrAct runs and sorts those by λ.
func (r Runs) JoinSweep(seed uint64) {
	for _, run := range r["mlp"][TrAct] {
		if run.Config.Seed == seed {
			if r["sweep"] == nil {
				r["sweep"] = map[string][]*Run{}
			}
			r["sweep"][TrAct] = append(r["sweep"][TrAct], run)
		}
	}
	slices.SortFunc(r["sweep"][TrAct], func(a, b *Run) int { return cmp.Compare(a.Config.Lambda, b.Config.Lambda) })
}
