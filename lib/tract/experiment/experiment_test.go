package experiment

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorepro/gorepro/lib/backends/backendstest"
	"github.com/gorepro/gorepro/lib/data/cifar"
	"github.com/gorepro/gorepro/lib/data/digits"
	"github.com/gorepro/gorepro/lib/notebook"
)

func digitsTask(t *testing.T, seed uint64) *Task {
	t.Helper()
	data, err := digits.Load()
	if err != nil {
		t.Skip(err) // lib/data/digits' test fails under make test when the file is missing
	}
	task, err := Digits(data, 4, 0, seed)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// Digits splits 20 % test, then 20 % of the rest validation, disjoint and
// covering every image, by seed; every split is standardised with the
// training split's mean and deviation (a float64 recomputation from the
// unstandardised splits): the training split has mean 0 and deviation 1.
func TestDigitsStandardised(t *testing.T) {
	data, err := digits.Load()
	if err != nil {
		t.Skip(err)
	}
	key := func(px []float32, label int32) string { return fmt.Sprint(label, px) }
	for _, tc := range []struct {
		spread, brightness float64
		seed               uint64
	}{{4, 0, 1}, {4, 0.3, 2}, {1, 0, 1}} {
		task, err := Digits(data, tc.spread, tc.brightness, tc.seed)
		if err != nil {
			t.Fatal(err)
		}
		n := len(data.Labels)
		nTest := n - int(math.Round(0.8*float64(n)))
		nVal := (n - nTest) - int(math.Round(0.8*float64(n-nTest)))
		if len(task.TestX) != nTest || len(task.ValX) != nVal || len(task.TrainX) != n-nTest-nVal || task.Classes != 10 || task.Shape != [3]int{8, 8, 1} ||
			!strings.Contains(task.Name, "standardised") || !strings.Contains(task.Name, fmt.Sprintf("split=%d", tc.seed)) {
			t.Fatalf("%q: %d/%d/%d images", task.Name, len(task.TrainX), len(task.ValX), len(task.TestX))
		}
		// The unstandardised splits cover the varied set once each.
		tr, va, te, err := digitsSplits(data, tc.spread, tc.brightness, tc.seed)
		if err != nil {
			t.Fatal(err)
		}
		varied, _ := data.VaryContrast(tc.spread, tc.brightness, 7)
		count := map[string]int{}
		for i, px := range varied.Pixels {
			count[key(px, varied.Labels[i])]++
			if tc.spread == 1 && tc.brightness == 0 {
				for j, v := range px {
					if v != data.Pixels[i][j]/16 {
						t.Fatalf("spread 1, brightness 0 changed image %d", i)
					}
				}
			}
		}
		for _, s := range []*digits.Set{tr, va, te} {
			for i, px := range s.Pixels {
				count[key(px, s.Labels[i])]--
			}
		}
		for k, c := range count {
			if c != 0 {
				t.Fatalf("image %s: %d more in the data than in the splits", k[:20], c)
			}
		}
		// Standardisation with the training split's statistics.
		var sum, sq, cnt float64
		for _, px := range tr.Pixels {
			for _, v := range px {
				sum += float64(v)
				cnt++
			}
		}
		mean := sum / cnt
		for _, px := range tr.Pixels {
			for _, v := range px {
				sq += (float64(v) - mean) * (float64(v) - mean)
			}
		}
		std := math.Sqrt(sq / cnt)
		for _, sp := range []struct {
			name   string
			raw    *digits.Set
			xs     [][]float32
			labels []int32
		}{{"train", tr, task.TrainX, task.TrainY}, {"validation", va, task.ValX, task.ValY}, {"test", te, task.TestX, task.TestY}} {
			worst := 0.0
			for i, px := range sp.raw.Pixels {
				if sp.labels[i] != sp.raw.Labels[i] {
					t.Fatalf("%s image %d: label %d, want %d", sp.name, i, sp.labels[i], sp.raw.Labels[i])
				}
				for j, v := range px {
					worst = max(worst, math.Abs(float64(sp.xs[i][j])-(float64(v)-mean)/std))
				}
			}
			if worst > 1e-5 {
				t.Errorf("%s: %s differs from (x − training mean)/training deviation by %g", task.Name, sp.name, worst)
			}
		}
		m, s := channelStatsF64(task.TrainX)
		if math.Abs(m) > 1e-6 || math.Abs(s-1) > 1e-6 {
			t.Errorf("%s: standardised training split has mean %g, deviation %g", task.Name, m, s)
		}
		if vm, _ := channelStatsF64(task.TestX); math.Abs(vm) < 1e-9 {
			t.Errorf("%s: the test split looks standardised with its own mean (%g)", task.Name, vm)
		}
	}
	a, _ := Digits(data, 4, 0, 1)
	b, _ := Digits(data, 4, 0, 2)
	if fmt.Sprint(a.TestY) == fmt.Sprint(b.TestY) {
		t.Error("the split does not depend on the seed")
	}
}

// channelStatsF64 is the mean and population deviation of all values.
func channelStatsF64(xs [][]float32) (mean, std float64) {
	var sum, n float64
	for _, x := range xs {
		for _, v := range x {
			sum, n = sum+float64(v), n+1
		}
	}
	mean = sum / n
	var sq float64
	for _, x := range xs {
		for _, v := range x {
			sq += (float64(v) - mean) * (float64(v) - mean)
		}
	}
	return mean, math.Sqrt(sq / n)
}

// Both first layers train the MLP and the CNN through GoMLX's Trainer on
// every backend.
func TestTrainBothMethods(t *testing.T) {
	task := digitsTask(t, 1)
	for _, bk := range backendstest.Available(t) {
		for _, arch := range []string{MLP, CNN} {
			for _, m := range []string{Baseline, TrAct} {
				cfg := Config{Method: m, Arch: arch, Lambda: 0.1, Epochs: 2, BatchSize: 64, LR: 0.1, Optimizer: "sgd", Width: 8, Seed: 1}
				var seen int
				r, err := Train(bk, cfg, task, func(Point) { seen++ })
				if err != nil {
					t.Fatalf("%s %s %s: %v", bk.Name(), arch, m, err)
				}
				if seen != 2 || len(r.Curve) != 2 || !(r.FinalAcc() > 0.2) || !(r.FinalValAcc() > 0.2) || r.Steps != 2*(1150/64) || r.TimedSteps != 1150/64 || !(r.MsPerStep > 0) || r.Diverged != "" {
					t.Errorf("%s %s %s: curve %+v, steps %d (%d timed), %.2f ms/step", bk.Name(), arch, m, r.Curve, r.Steps, r.TimedSteps, r.MsPerStep)
				}
				if r.EpochsTo(0) != 1 || r.EpochsTo(1.1) != -1 {
					t.Errorf("EpochsTo: %d, %d", r.EpochsTo(0), r.EpochsTo(1.1))
				}
			}
		}
	}
}

// RunOrLoad caches a finished run, and an interrupted run resumes from its last
// checkpointed epoch with the curve it had.
func TestDoCachesAndResumes(t *testing.T) {
	task := digitsTask(t, 2)
	bk := backendstest.Available(t)[0]
	dir := t.TempDir()
	cfg := Config{Method: TrAct, Arch: MLP, Lambda: 0.1, Epochs: 3, BatchSize: 64, LR: 0.1, Optimizer: "sgd", Width: 16, Seed: 3}
	full, err := RunOrLoad(bk, cfg, task, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := RunOrLoad(bk, cfg, task, dir, func(Point) { t.Error("a cached run trained") })
	if err != nil || !again.FromCache || again.FinalAcc() != full.FinalAcc() {
		t.Fatalf("second RunOrLoad: %v, from cache %v", err, again != nil && again.FromCache)
	}
	// Interrupt a run after 2 epochs: the checkpoint of a 2-epoch run is
	// what a 3-epoch run killed after its second epoch leaves.
	short := cfg
	short.Epochs = 2
	cache, err := notebook.OpenRunCache(dir, codePackage) // what RunOrLoad keys with
	if err != nil {
		t.Fatal(err)
	}
	k2, k3 := key(cache, bk, short, task), key(cache, bk, cfg, task)
	dir2 := t.TempDir()
	if _, err := trainResuming(bk, short, task, filepath.Join(dir2, k2), nil); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir2, k2), filepath.Join(dir2, k3)); err != nil {
		t.Fatal(err)
	}
	var trained []int
	resumed, err := RunOrLoad(bk, cfg, task, dir2, func(p Point) { trained = append(trained, p.Epoch) })
	if err != nil {
		t.Fatal(err)
	}
	if len(trained) != 1 || trained[0] != 3 || len(resumed.Curve) != 3 || resumed.Steps != full.Steps {
		t.Fatalf("resume trained epochs %v; curve %+v, %d steps (uninterrupted %d)", trained, resumed.Curve, resumed.Steps, full.Steps)
	}
	for i := range 2 {
		if resumed.Curve[i] != full.Curve[i] {
			t.Errorf("epoch %d: resumed %+v, uninterrupted %+v", i+1, resumed.Curve[i], full.Curve[i])
		}
	}
	// Training went on from the checkpoint (not from scratch): after one
	// more epoch the accuracy is near the uninterrupted run's.
	if !(math.Abs(resumed.FinalAcc()-full.FinalAcc()) <= 0.05) {
		t.Errorf("resumed final accuracy %.3f, uninterrupted %.3f", resumed.FinalAcc(), full.FinalAcc())
	}
	if _, err := os.Stat(filepath.Join(dir2, k3)); !os.IsNotExist(err) {
		t.Errorf("the finished run's checkpoint directory is still there: %v", err)
	}
	// A run stopped between saving its variables and its curve: the curve
	// is an epoch behind. RunOrLoad notices and trains the run from the start.
	dir3 := t.TempDir()
	if _, err := trainResuming(bk, short, task, filepath.Join(dir3, k3), nil); err != nil {
		t.Fatal(err)
	}
	curve := filepath.Join(dir3, k3, "progress.json")
	var saved Run
	data, _ := os.ReadFile(curve)
	if err := json.Unmarshal(data, &saved); err != nil {
		t.Fatal(err)
	}
	saved.Curve, saved.Steps = saved.Curve[:1], saved.Steps/2
	if err := writeJSON(curve, &saved); err != nil {
		t.Fatal(err)
	}
	trained = nil
	if _, err := RunOrLoad(bk, cfg, task, dir3, func(p Point) { trained = append(trained, p.Epoch) }); err != nil || len(trained) != 3 {
		t.Errorf("stale checkpoint: %v, trained epochs %v, want 1 2 3", err, trained)
	}
}

// CIFAR10 reads the binary format (a generated fixture), normalises each
// channel and trains a narrow ResNet-18 for one epoch.
func TestCIFAR10Task(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewSource(1))
	write := func(name string, n int) {
		s := &cifar.Set{}
		for range n {
			px := make([]uint8, cifar.RecordSize-1)
			for i := range px {
				px[i] = uint8(r.Intn(256))
			}
			s.Labels, s.Pixels = append(s.Labels, uint8(r.Intn(10))), append(s.Pixels, px)
		}
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := cifar.Write(f, s); err != nil {
			t.Fatal(err)
		}
	}
	write("data_batch_1.bin", 20)
	write("data_batch_2.bin", 12)
	write("test_batch.bin", 8)
	task, err := CIFAR10(dir, 24)
	if err != nil {
		t.Fatal(err)
	}
	if len(task.TrainX) != 24 || len(task.TestX) != 8 || task.Shape != [3]int{32, 32, 3} || !strings.HasPrefix(task.Name, "cifar10(train=24,test=8,") {
		t.Fatalf("task %q shape %v, %d/%d images", task.Name, task.Shape, len(task.TrainX), len(task.TestX))
	}
	for c := range 3 {
		if mean, v := channelMoments(task.TrainX, c, 3); !(math.Abs(mean) <= 1e-4) || !(math.Abs(v-1) <= 1e-3) {
			t.Errorf("channel %d: mean %g, variance %g after normalisation", c, mean, v)
		}
	}
	if _, err := CIFAR10(t.TempDir(), 0); err == nil || !strings.Contains(err.Error(), "test_batch.bin") {
		t.Errorf("empty directory: %v", err)
	}
	all := backendstest.Available(t)
	bk := all[len(all)-1] // xla:cpu when it is there
	if bk.Name() == "Go Backend" {
		t.Skip("ResNet-18 on 32×32 images is too slow on the go backend (lib/resnet tests it on 8×8)")
	}
	run, err := Train(bk, Config{Method: TrAct, Arch: ResNet18, Lambda: 0.1, Epochs: 1, BatchSize: 8, LR: 0.01, Optimizer: "adam", Width: 2, Seed: 1}, task, nil)
	if err != nil || run.Steps != 3 || !(run.FinalAcc() >= 0) {
		t.Fatalf("ResNet-18 on the fixture: %v, %+v", err, run)
	}
}

// Every bad configuration or task is one error naming the field, from
// Train, RunOrLoad and RunJobs alike, before anything trains.
func TestBadConfig(t *testing.T) {
	task := &Task{Name: "tiny", Shape: [3]int{8, 8, 1}, Classes: 10, TrainX: [][]float32{make([]float32, 64)}, TrainY: []int32{1}, TestX: [][]float32{make([]float32, 64)}, TestY: []int32{2}}
	ok := Config{Method: TrAct, Arch: MLP, Lambda: 0.1, Epochs: 1, BatchSize: 1, LR: 0.1, Optimizer: "sgd", Width: 2}
	vit := func(c *Config) {
		c.Arch, c.Width, c.Depth, c.Heads, c.Patch, c.MLPWidth = ViT, 8, 1, 2, 4, 8
	}
	bk := backendstest.Available(t)[0]
	for _, tc := range []struct {
		mod    func(*Config, *Task)
		errHas string
	}{
		{func(c *Config, _ *Task) { c.Method = "lbfgs" }, `method "lbfgs"`},
		{func(c *Config, _ *Task) { c.Arch = "transformer" }, `arch "transformer"`},
		{func(c *Config, _ *Task) { c.Lambda = 0 }, "λ = 0"},
		{func(c *Config, _ *Task) { c.Optimizer = "rmsprop" }, `optimizer "rmsprop"`},
		{func(c *Config, _ *Task) { c.Epochs = 0 }, "epochs 0 must be positive"},
		{func(c *Config, _ *Task) { c.BatchSize = -1 }, "batch size -1"},
		{func(c *Config, _ *Task) { c.Width = 0 }, "width 0"},
		{func(c *Config, _ *Task) { c.LR = math.NaN() }, "lr NaN"},
		{func(c *Config, _ *Task) { c.LR = math.Inf(1) }, "lr +Inf"},
		{func(c *Config, _ *Task) { c.Momentum = -0.9 }, "momentum -0.9"},
		{func(c *Config, _ *Task) { c.Optimizer, c.Momentum = Adam, 0.9 }, "momentum 0.9 is SGD's"},
		{func(c *Config, _ *Task) { c.WeightDecay = -1e-4 }, "weight decay -0.0001"},
		{func(c *Config, _ *Task) { c.Schedule = "step" }, `schedule "step"`},
		{func(c *Config, _ *Task) { c.LabelSmoothing = 1 }, "label smoothing 1 outside [0, 1)"},
		{func(c *Config, _ *Task) { c.LabelSmoothing = -0.1 }, "label smoothing -0.1"},
		{func(c *Config, _ *Task) { c.AugmentPad = -1 }, "augment pad -1"},
		{func(c *Config, _ *Task) { vit(c); c.Depth = 0 }, "ViT depth 0"},
		{func(c *Config, _ *Task) { vit(c); c.Heads = 0 }, "ViT heads 0 must be positive"},
		{func(c *Config, _ *Task) { vit(c); c.Heads = 3 }, "ViT heads 3 do not divide width 8"},
		{func(c *Config, _ *Task) { vit(c); c.Patch = 0 }, "ViT patch 0 must be positive"},
		{func(c *Config, _ *Task) { vit(c); c.Patch = 3 }, "ViT patch 3 does not divide the 8×8 images"},
		{func(c *Config, _ *Task) { vit(c); c.MLPWidth = 0 }, "ViT MLP width 0"},
		{func(c *Config, _ *Task) { c.BatchSize = 2 }, "batch size 2 exceeds the 1 training images"},
		{func(_ *Config, t *Task) { t.TrainY = []int32{10} }, "label 10"},
		{func(_ *Config, t *Task) { t.TestX = [][]float32{make([]float32, 63)} }, "63 values"},
		{func(_ *Config, t *Task) { t.TrainY = nil }, "0 train"},
	} {
		c, tk := ok, *task
		tc.mod(&c, &tk)
		if _, err := Train(bk, c, &tk, nil); err == nil || !strings.Contains(err.Error(), tc.errHas) {
			t.Errorf("%+v: %v, want %q", c, err, tc.errHas)
		}
		if _, err := RunOrLoad(bk, c, &tk, t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), tc.errHas) {
			t.Errorf("RunOrLoad %+v: %v, want %q", c, err, tc.errHas)
		}
		if _, _, err := RunJobs(bk, []Job{{Group: "g", Config: ok, Task: task}, {Group: "g", Config: c, Task: &tk}}, ""); err == nil || !strings.Contains(err.Error(), tc.errHas) || !strings.Contains(err.Error(), "job 1") {
			t.Errorf("RunJobs %+v: %v, want job 1 and %q", c, err, tc.errHas)
		}
	}
}

// channelMoments is the mean and population variance of channel c of
// images with the given number of channels (channels last), in float64.
func channelMoments(images [][]float32, c, channels int) (mean, variance float64) {
	var sum, sq, n float64
	for _, x := range images {
		for i := c; i < len(x); i += channels {
			sum += float64(x[i])
			sq += float64(x[i]) * float64(x[i])
			n++
		}
	}
	mean = sum / n
	return mean, sq/n - mean*mean
}
