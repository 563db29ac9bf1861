package experiment

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/checkpoint"

	"github.com/gorepro/gorepro/lib/backends"
	"github.com/gorepro/gorepro/lib/notebook"
)

// cacheVersion names the code whose numbers a cached run holds: change it
// when a change alters them.
const cacheVersion = "tract-run-v1"

// key is what the numbers of a run depend on.
func key(b compute.Backend, cfg Config, task *Task) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\n%#v\n%s\n%s", cacheVersion, cfg, task.Name, backends.Identity(b))))
	return fmt.Sprintf("%s-%s-%x", cfg.Arch, cfg.Method, h[:8])
}

// Do is Train with a cache under dir: a finished run is read back from
// dir/KEY.json (FromCache set), keyed by the configuration, the task's
// name, the backend and the code version; an unfinished one resumes from
// the GoMLX checkpoint of its last finished epoch in dir/KEY/ (the
// variables, optimizer state and step; the shuffling order starts anew,
// so a resumed run is not bit-identical to an uninterrupted one).
func Do(b compute.Backend, cfg Config, task *Task, dir string, progress func(Point)) (*Run, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := task.check(); err != nil {
		return nil, err
	}
	k := key(b, cfg, task)
	path := filepath.Join(dir, k+".json")
	if data, err := os.ReadFile(path); err == nil {
		var run Run
		if err := json.Unmarshal(data, &run); err == nil && len(run.Curve) == cfg.Epochs {
			run.FromCache = true
			return &run, nil
		}
	}
	run, err := train1(b, cfg, task, filepath.Join(dir, k), progress)
	if errors.Is(err, errStaleCheckpoint) { // start the run again
		if err := os.RemoveAll(filepath.Join(dir, k)); err != nil {
			return nil, fmt.Errorf("experiment: %w", err)
		}
		run, err = train1(b, cfg, task, filepath.Join(dir, k), progress)
	}
	if err != nil {
		return nil, err
	}
	if err := writeJSON(path, run); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(filepath.Join(dir, k)); err != nil {
		return nil, fmt.Errorf("experiment: removing the finished run's checkpoints: %w", err)
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
