package experiment

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/checkpoint"

	"github.com/gorepro/gorepro/lib/notebook"
)

// codePackage is this package's import path: the code whose numbers a
// cached run holds (with the module's packages it imports).
var codePackage = reflect.TypeFor[Config]().PkgPath()

// key names a run by what its numbers depend on: the configuration, the
// task's name, the backend's identity and the code (the cache's code hash).
func key(cache *notebook.RunCache, b compute.Backend, cfg Config, task *Task) string {
	return cache.Key(cfg.Arch+"-"+cfg.Method, cfg, b, "task "+task.Name)
}

// RunOrLoad is Train with a cache under dir ("" = none): a finished run is read
// back from dir/KEY.json (FromCache set), keyed by the configuration, the
// task's name, the backend's identity and the hash of the code that
// computes it (notebook.RunCache: a changed method is trained again, never
// reported with old numbers); an unfinished one resumes from the GoMLX
// checkpoint of its last finished epoch in dir/KEY/ (the variables,
// optimizer state and step; the shuffling order starts anew, so a resumed
// run is not bit-identical to an uninterrupted one). When the cache cannot
// be opened, that is said once on stderr and the run trains without cache
// or checkpoints. A diverged run (Run.Diverged) is finished: it is stored
// and read back, not trained again.
func RunOrLoad(b compute.Backend, cfg Config, task *Task, dir string, progress func(Point)) (*Run, error) {
	if err := cfg.checkTask(task); err != nil {
		return nil, err
	}
	var cache *notebook.RunCache
	if dir != "" {
		cache = notebook.OpenRunCacheOrWarn(dir, codePackage)
	}
	k := key(cache, b, cfg, task)
	ckptDir := cache.Path(k, "") // "" without a cache: no checkpoints
	run, fromCache, err := notebook.LoadOrCompute(cache, k, func(r *Run) bool { return r.finished(cfg) }, func() (*Run, error) {
		run, err := trainResuming(b, cfg, task, ckptDir, progress)
		if errors.Is(err, errStaleCheckpoint) { // start the run again
			if err := os.RemoveAll(ckptDir); err != nil {
				return nil, fmt.Errorf("experiment: removing a stale checkpoint: %w", err)
			}
			run, err = trainResuming(b, cfg, task, ckptDir, progress)
		}
		return run, err
	})
	if err != nil {
		return nil, err
	}
	run.FromCache = fromCache
	if !fromCache && ckptDir != "" {
		if err := os.RemoveAll(ckptDir); err != nil {
			return nil, fmt.Errorf("experiment: removing the finished run's checkpoints: %w", err)
		}
	}
	return run, nil
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return fmt.Errorf("experiment: encoding %s: %w", path, err)
	}
	if err := notebook.WriteFileAtomic(path, data, 0o644); err != nil {
		return fmt.Errorf("experiment: %w", err)
	}
	return nil
}

// errStaleCheckpoint is a checkpoint whose variables and curve disagree.
var errStaleCheckpoint = errors.New("experiment: the checkpoint does not match its curve")

// checkpointer saves a run's variables (GoMLX checkpoint) and its curve
// (progress.json beside them) after every epoch.
type checkpointer struct {
	handler *checkpoint.Handler
	curve   string
}

// openCheckpoint attaches dir's checkpoint to store (loading the last one,
// if any) and fills run with the curve saved with it.
func openCheckpoint(store *model.Store, dir string, run *Run) (*checkpointer, error) {
	c := &checkpointer{curve: filepath.Join(dir, "progress.json")}
	data, err := os.ReadFile(c.curve)
	switch {
	case errors.Is(err, os.ErrNotExist):
		// A fresh start: variables found in dir without their curve are stale.
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("experiment: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("experiment: %w", err)
	default:
		var saved Run
		if err := json.Unmarshal(data, &saved); err != nil {
			return nil, fmt.Errorf("experiment: %s is unreadable (delete the directory to start the run again): %w", c.curve, err)
		}
		*run = saved
	}
	if c.handler, err = checkpoint.Build(store).Dir(dir).Keep(1).Done(); err != nil {
		return nil, fmt.Errorf("experiment: checkpoint in %s: %w", dir, err)
	}
	return c, nil
}

// save writes the variables, then the curve: a curve on disk always has
// its variables.
func (c *checkpointer) save(run *Run) error {
	if err := c.handler.Save(); err != nil {
		return fmt.Errorf("experiment: saving the checkpoint: %w", err)
	}
	return writeJSON(c.curve, run)
}
