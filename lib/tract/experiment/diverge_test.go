package experiment

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gorepro/gorepro/lib/backends/backendstest"
)

// An absurd learning rate: the run stops at the epoch whose training loss
// is not finite, says so in Diverged, keeps that epoch's point, reports NaN
// final accuracies, and is cached as finished (read back, not retrained),
// through RunOrLoad and RunJobs, on every backend.
func TestDivergenceRecorded(t *testing.T) {
	task := digitsTask(t, 6)
	for _, bk := range backendstest.Available(t) {
		cfg := Config{Method: Baseline, Arch: MLP, Epochs: 6, BatchSize: 64, LR: 1e12, Optimizer: SGD, Width: 16, Seed: 1}
		dir := t.TempDir()
		var seen []Point
		run, err := RunOrLoad(bk, cfg, task, dir, func(p Point) { seen = append(seen, p) })
		if err != nil {
			t.Fatalf("%s: %v", bk.Name(), err)
		}
		n := len(run.Curve)
		if n == 0 || n >= cfg.Epochs || run.Diverged != fmt.Sprintf("non-finite training loss at epoch %d", n) || len(seen) != n {
			t.Fatalf("%s: diverged %q after %d of %d epochs (%d reported): %+v", bk.Name(), run.Diverged, n, cfg.Epochs, len(seen), run.Curve)
		}
		last := run.Curve[n-1]
		if last.Epoch != n || !(math.IsNaN(last.TrainLoss) || math.IsInf(last.TrainLoss, 0)) || math.IsNaN(last.TestAcc) || math.IsNaN(last.ValAcc) {
			t.Errorf("%s: last point %+v", bk.Name(), last)
		}
		if !math.IsNaN(run.FinalAcc()) || !math.IsNaN(run.FinalValAcc()) {
			t.Errorf("%s: final accuracies %g, %g of a diverged run", bk.Name(), run.FinalAcc(), run.FinalValAcc())
		}
		again, err := RunOrLoad(bk, cfg, task, dir, func(Point) { t.Error("a diverged run trained again") })
		if err != nil || !again.FromCache || again.Diverged != run.Diverged || len(again.Curve) != n {
			t.Fatalf("%s: second RunOrLoad: %v, %+v", bk.Name(), err, again)
		}
		if a, b := again.Curve[n-1].TrainLoss, last.TrainLoss; !(math.IsNaN(a) && math.IsNaN(b)) && a != b {
			t.Errorf("%s: cached last loss %g, trained %g", bk.Name(), a, b)
		}
		t.Logf("%s: %s; last point %+v", bk.Name(), run.Diverged, last)
		// Through RunJobs, and a sane run after it on the same trainer
		// starts afresh (no NaN left in its variables).
		sane := cfg
		sane.LR, sane.Epochs = 0.05, 2
		var runs Runs
		out := captureStdout(t, func() {
			runs, _, err = RunJobs(bk, []Job{{Group: "lr", Config: cfg, Task: task}, {Group: "lr", Config: sane, Task: task}}, t.TempDir())
		})
		if err != nil || runs["lr"][Baseline][0].Diverged == "" || !strings.Contains(out, "lr: 2 runs (0 cached, 1 diverged)") {
			t.Fatalf("%s: RunJobs: %v, %q", bk.Name(), err, out)
		}
		fresh, err := Train(bk, sane, task, nil)
		if err != nil {
			t.Fatal(err)
		}
		if worst, _ := curveDiff(runs["lr"][Baseline][1].Curve, fresh.Curve); !(worst <= 1e-5) || runs["lr"][Baseline][1].Diverged != "" {
			t.Errorf("%s: the run after a diverged one on its trainer: %+v, fresh %+v", bk.Name(), runs["lr"][Baseline][1].Curve, fresh.Curve)
		}
	}
}

// Points keep NaN and infinities through JSON (the cache and checkpoints).
func TestPointJSON(t *testing.T) {
	in := []Point{{1, math.NaN(), math.Inf(1), 0.5}, {2, math.Inf(-1), 0.25, math.NaN()}, {3, 1.5, 0.75, 1}}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out []Point
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
	for i := range in {
		a, b := in[i], out[i]
		if a.Epoch != b.Epoch || !same(a.TrainLoss, b.TrainLoss) || !same(a.ValAcc, b.ValAcc) || !same(a.TestAcc, b.TestAcc) {
			t.Errorf("%+v came back as %+v (%s)", a, b, data)
		}
	}
	if err := json.Unmarshal([]byte(`[{"Epoch":1,"TrainLoss":"lots"}]`), &out); err == nil {
		t.Error(`"lots" read as a number`)
	}
}
