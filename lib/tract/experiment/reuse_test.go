package experiment

import (
	"io"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"

	"github.com/gorepro/gorepro/lib/backends/backendstest"
	"github.com/gorepro/gorepro/lib/data/digits"
)

// curveDiff is the largest difference between two curves' values (+Inf
// when their lengths or epochs differ; NaNs equal NaNs), and whether they
// are bit-identical.
func curveDiff(a, b []Point) (worst float64, identical bool) {
	if len(a) != len(b) {
		return math.Inf(1), false
	}
	identical = true
	for i := range a {
		if a[i].Epoch != b[i].Epoch {
			return math.Inf(1), false
		}
		for _, v := range [][2]float64{{a[i].TrainLoss, b[i].TrainLoss}, {a[i].ValAcc, b[i].ValAcc}, {a[i].TestAcc, b[i].TestAcc}} {
			if math.IsNaN(v[0]) && math.IsNaN(v[1]) {
				continue
			}
			if v[0] != v[1] {
				identical = false
			}
			worst = max(worst, math.Abs(v[0]-v[1]))
		}
	}
	return worst, identical
}

// A run through a reused trainer (after runs of other seeds, learning
// rates, momenta, budgets, schedules and augmentation) has the curve of a
// fresh Train of its configuration, and the trainer creates no executor
// after its first run: SGD with momentum and a cosine schedule (TrAct CNN)
// and Adam with weight decay and label smoothing (baseline MLP), on every
// backend.
func TestReuseMatchesFresh(t *testing.T) {
	task := digitsTask(t, 3)
	for _, bk := range backendstest.Available(t) {
		for _, base := range []Config{
			{Method: TrAct, Arch: CNN, Lambda: 0.1, Epochs: 2, BatchSize: 64, LR: 0.05, Optimizer: SGD, Momentum: 0.9, Schedule: Cosine, Width: 4, Seed: 1},
			{Method: Baseline, Arch: MLP, Epochs: 2, BatchSize: 64, LR: 0.003, Optimizer: Adam, WeightDecay: 1e-3, LabelSmoothing: 0.1, Width: 16, Seed: 1},
		} {
			second := base
			second.Seed, second.LR, second.Epochs, second.Schedule = 2, 2*base.LR, 1, Constant
			if base.Optimizer == SGD {
				second.Momentum = 0.5
			}
			third := base
			third.Seed, third.Augment, third.AugmentPad = 3, true, 1
			s, err := newSession(bk, base, task)
			if err != nil {
				t.Fatal(err)
			}
			var execs, afterFirst int
			s.trainer.OnExecCreation(func(*model.Exec, train.GraphType) { execs++ })
			for i, cfg := range []Config{base, second, third} {
				reused, err := s.train(cfg, task, "", nil)
				if err != nil {
					t.Fatalf("%s run %d through the reused trainer: %v", bk.Name(), i, err)
				}
				fresh, err := Train(bk, cfg, task, nil)
				if err != nil {
					t.Fatal(err)
				}
				worst, identical := curveDiff(reused.Curve, fresh.Curve)
				t.Logf("%s %s %s run %d (seed %d, lr %g, %d epochs, %q): reused − fresh ≤ %.2g, bit-identical %v", bk.Name(), cfg.Arch, cfg.Optimizer, i, cfg.Seed, cfg.LR, cfg.Epochs, cfg.Schedule, worst, identical)
				if !(worst <= 1e-5) || reused.Steps != fresh.Steps {
					t.Errorf("%s %+v: reused curve %+v (%d steps), fresh %+v (%d steps)", bk.Name(), cfg, reused.Curve, reused.Steps, fresh.Curve, fresh.Steps)
				}
				if i == 0 {
					afterFirst = execs
					if s.inits == nil {
						t.Errorf("%s: GoMLX's variable initializers could not be read: every run compiles its initialisation again", bk.Name())
					}
				}
			}
			if afterFirst != 2 || execs != afterFirst { // one training and one evaluation executor
				t.Errorf("%s %s: %d executors created by the first run, %d by all", bk.Name(), base.Arch, afterFirst, execs)
			}
			s.finalize()
		}
	}
}

// Without GoMLX's initializers (a GoMLX whose Variable differs) a reused
// trainer lets GoMLX initialise the variables again, to the same values.
func TestReuseFallback(t *testing.T) {
	task := digitsTask(t, 5)
	bk := backendstest.Available(t)[0]
	cfg := Config{Method: TrAct, Arch: MLP, Lambda: 0.1, Epochs: 2, BatchSize: 64, LR: 0.1, Optimizer: SGD, Momentum: 0.9, Width: 8, Seed: 1}
	s, err := newSession(bk, cfg, task)
	if err != nil {
		t.Fatal(err)
	}
	defer s.finalize()
	if _, err := s.train(cfg, task, "", nil); err != nil {
		t.Fatal(err)
	}
	s.inits = nil
	cfg.Seed = 2
	reused, err := s.train(cfg, task, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := Train(bk, cfg, task, nil)
	if err != nil {
		t.Fatal(err)
	}
	if worst, _ := curveDiff(reused.Curve, fresh.Curve); !(worst <= 1e-5) {
		t.Errorf("GoMLX's initialisation in a reused trainer: %+v, fresh %+v", reused.Curve, fresh.Curve)
	}
}

// captureStdout runs f and returns what it printed.
func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		data, _ := io.ReadAll(r)
		done <- string(data)
	}()
	defer func() { os.Stdout = old }()
	f()
	w.Close()
	os.Stdout = old
	return <-done
}

// RunJobs prints one summary line per group and per-epoch lines only for
// Verbose jobs (besides notebook.Progress's bar, which writes to the
// standard output the notebook package held at its start, not captured
// here); its runs equal fresh ones; a second call reads every run back
// from the cache.
func TestRunJobs(t *testing.T) {
	task := digitsTask(t, 4)
	bk := backendstest.Available(t)[0]
	mlp := Config{Arch: MLP, Lambda: 0.1, Epochs: 2, BatchSize: 64, LR: 0.1, Optimizer: SGD, Momentum: 0.9, Schedule: Cosine, Width: 8}
	var jobs []Job
	for _, m := range []string{Baseline, TrAct} {
		for seed := uint64(1); seed <= 2; seed++ {
			c := mlp
			c.Method, c.Seed = m, seed
			jobs = append(jobs, Job{Group: "mlp", Config: c, Task: task})
		}
	}
	long := mlp
	long.Method, long.Seed, long.Epochs = TrAct, 5, 3
	jobs = append(jobs, Job{Group: "long", Config: long, Task: task, Verbose: true})
	dir := t.TempDir()
	var runs Runs
	var fromCache bool
	var err error
	out := captureStdout(t, func() { runs, fromCache, err = RunJobs(bk, jobs, dir) })
	if err != nil || fromCache {
		t.Fatalf("RunJobs: %v, from cache %v", err, fromCache)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var summaries, epochs int
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "mlp: 4 runs (0 cached, 0 diverged)"), strings.HasPrefix(l, "long: 1 runs (0 cached, 0 diverged)"):
			summaries++
		case strings.HasPrefix(l, "  long tract seed 5 epoch "):
			epochs++
		default:
			t.Errorf("unexpected line %q", l)
		}
	}
	if summaries != 2 || epochs != 3 {
		t.Errorf("%d summary lines (want 2), %d epoch lines (want 3):\n%s", summaries, epochs, out)
	}
	if len(runs["mlp"][Baseline]) != 2 || len(runs["mlp"][TrAct]) != 2 || len(runs["long"][TrAct]) != 1 {
		t.Fatalf("runs %v", runs)
	}
	// The second TrAct run went through the trainer the first one compiled.
	fresh, err := Train(bk, jobs[3].Config, task, nil)
	if err != nil {
		t.Fatal(err)
	}
	if worst, _ := curveDiff(runs["mlp"][TrAct][1].Curve, fresh.Curve); !(worst <= 1e-5) {
		t.Errorf("RunJobs' run differs from a fresh one by %g", worst)
	}
	out = captureStdout(t, func() { runs, fromCache, err = RunJobs(bk, jobs, dir) })
	if err != nil || !fromCache || !strings.Contains(out, "mlp: 4 runs (4 cached") || !strings.Contains(out, "long: 1 runs (1 cached") {
		t.Errorf("second RunJobs: %v, from cache %v:\n%s", err, fromCache, out)
	}
	for _, byMethod := range runs {
		for _, rs := range byMethod {
			for _, r := range rs {
				if !r.FromCache {
					t.Errorf("%+v trained again", r.Config)
				}
			}
		}
	}
}

// BenchmarkTrainerReuse is the time per run of the digits CNN (2 epochs)
// through a fresh trainer each (Train: compiles every time) and through one
// reused trainer (RunJobs' path: the first run compiles the training and
// evaluation graphs, the second the initialisation graph, the others
// nothing), on xla:cpu: go test -run '^$' -bench TrainerReuse -benchtime 1x.
// Measured on the 2-core machine (2026-12-07, shared): baseline 1.28 s
// fresh against 58 ms reused (22×), TrAct 2.39 s against 63 ms (38×).
func BenchmarkTrainerReuse(b *testing.B) {
	data, err := digits.Load()
	if err != nil {
		b.Skip(err)
	}
	task, err := Digits(data, DigitsSpread, 0, 1)
	if err != nil {
		b.Fatal(err)
	}
	all := backendstest.Available(b)
	if len(all) == 0 || all[len(all)-1].Name() != "xla" {
		b.Skip("xla:cpu is not available")
	}
	bk := all[len(all)-1]
	const runs = 5
	for range b.N {
		for _, m := range []string{Baseline, TrAct} {
			cfg := Config{Method: m, Arch: CNN, Lambda: 0.1, Epochs: 2, BatchSize: 64, LR: 0.1, Optimizer: SGD, Width: 8}
			start := time.Now()
			for seed := range 3 {
				cfg.Seed = uint64(seed + 1)
				if _, err := Train(bk, cfg, task, nil); err != nil {
					b.Fatal(err)
				}
			}
			fresh := time.Since(start) / 3
			cfg.Seed = 1
			s, err := newSession(bk, cfg, task)
			if err != nil {
				b.Fatal(err)
			}
			var took []time.Duration
			for seed := range runs {
				cfg.Seed = uint64(seed + 1)
				start := time.Now()
				if _, err := s.train(cfg, task, "", nil); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			s.finalize()
			var steady time.Duration
			for _, d := range took[2:] {
				steady += d
			}
			steady /= runs - 2
			b.ReportMetric(float64(fresh.Milliseconds()), m+"-fresh-ms/run")
			b.ReportMetric(float64(steady.Milliseconds()), m+"-reused-ms/run")
			b.Logf("%s CNN on %s, %d epochs: fresh trainer %v per run; reused trainer: first run %v, second %v, then %v per run (%.1f× faster than fresh)",
				m, bk.Name(), cfg.Epochs, fresh.Round(time.Millisecond), took[0].Round(time.Millisecond), took[1].Round(time.Millisecond), steady.Round(time.Millisecond), float64(fresh)/float64(steady))
		}
	}
}
