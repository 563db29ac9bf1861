package experiment

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomlx/compute"

	"github.com/gorepro/gorepro/lib/backends"
	"github.com/gorepro/gorepro/lib/colbert/synth"
	"github.com/gorepro/gorepro/lib/notebook"
)

// cacheVersion names the code whose numbers a cached run holds: change it
// when a change alters them.
const cacheVersion = "colbert-run-v1"

// Do is Train with a cache under dir: a finished run is read back from
// dir/KEY.json (FromCache set), keyed by the configuration, the task's
// configuration, the backend and the code version. A run takes seconds to
// minutes, so an interrupted one starts again.
func Do(b compute.Backend, cfg Config, task *synth.Task, dir string, progress func(epoch int, loss float64)) (*Run, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if task == nil {
		return nil, fmt.Errorf("experiment: no task")
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\n%#v\n%#v\n%s", cacheVersion, cfg, task.Config, backends.Identity(b))))
	return cached(filepath.Join(dir, fmt.Sprintf("colbert-%x.json", h[:8])), func() (*Run, error) { return Train(b, cfg, task, progress) })
}

// cached reads a finished run back from path (FromCache set), or runs
// compute and writes its result there atomically.
func cached(path string, compute func() (*Run, error)) (*Run, error) {
	if data, err := os.ReadFile(path); err == nil {
		var run Run
		if err := json.Unmarshal(data, &run); err == nil && run.Metrics.Queries > 0 {
			run.FromCache = true
			return &run, nil
		}
	}
	run, err := compute()
	if err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(run, "", " ")
	if err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	if err := notebook.WriteFileAtomic(path, data, 0o644); err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	return run, nil
}

// DoHead is TrainHead with the same cache under dir, keyed by the
// configuration, the encoded task, evaluation set and encoder, the backend
// and the code version.
func DoHead(b compute.Backend, cfg Config, enc *Encoded, dir string, progress func(epoch int, loss float64)) (*Run, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if enc == nil {
		return nil, fmt.Errorf("experiment: DoHead: nothing encoded")
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\nhead\n%#v\n%s\n%s\n%s\n%d/%d\n%s", cacheVersion, cfg, enc.Task, enc.EvalHash, enc.Encoder, enc.QueryLen, enc.DocLen, backends.Identity(b))))
	return cached(filepath.Join(dir, fmt.Sprintf("colbert-head-%x.json", h[:8])), func() (*Run, error) { return TrainHead(b, cfg, enc, progress) })
}
