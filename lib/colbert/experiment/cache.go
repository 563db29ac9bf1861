package experiment

import (
	"fmt"
	"reflect"

	"github.com/gomlx/compute"

	"github.com/gorepro/gorepro/lib/colbert/synth"
	"github.com/gorepro/gorepro/lib/notebook"
)

// codePackage is this package's import path: the code whose numbers a
// cached run holds (with the module's packages it imports).
var codePackage = reflect.TypeFor[Config]().PkgPath()

// openCache opens the run cache in dir ("" = none). When it cannot be
// opened, that is said once on stderr and runs are computed without it.
func openCache(dir string) *notebook.RunCache {
	if dir == "" {
		return nil
	}
	return notebook.OpenRunCacheOrWarn(dir, codePackage)
}

// RunOrLoad is Train with a cache under dir ("" = none): a finished run is read back
// from dir/KEY.json (FromCache set), keyed by the configuration, the task's
// configuration, the backend's identity and the hash of the code that
// computes it (notebook.RunCache: a changed method is trained again, never
// reported with old numbers). A run takes seconds to minutes, so an
// interrupted one starts again.
func RunOrLoad(b compute.Backend, cfg Config, task *synth.Task, dir string, progress func(epoch int, loss float64)) (*Run, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if task == nil {
		return nil, fmt.Errorf("experiment: no task")
	}
	cache := openCache(dir)
	key := cache.Key("colbert", struct {
		Run  Config
		Task synth.Config
	}{cfg, task.Config}, b)
	return cached(cache, key, func() (*Run, error) { return Train(b, cfg, task, progress) })
}

// cached reads a finished run back from the cache (FromCache set), or runs
// compute and stores its result there atomically.
func cached(cache *notebook.RunCache, key string, compute func() (*Run, error)) (*Run, error) {
	run, fromCache, err := notebook.LoadOrCompute(cache, key, func(r *Run) bool { return r.Metrics.Queries > 0 }, compute)
	if err != nil {
		return nil, err
	}
	run.FromCache = fromCache
	return run, nil
}
