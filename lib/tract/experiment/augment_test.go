package experiment

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gorepro/gorepro/lib/backends/backendstest"
)

// augmentImage is a translation by (dy, dx) within ±pad, with zeros where
// it leaves the image, optionally mirrored left–right, channel vectors
// intact; over many draws every offset and both flips occur.
func TestAugmentImage(t *testing.T) {
	shape := [3]int{5, 7, 3}
	h, w, c := shape[0], shape[1], shape[2]
	src := make([]float32, h*w*c)
	for i := range src {
		src[i] = float32(i + 1) // every value unique and non-zero
	}
	const pad = 2
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[string]int{}
	dst := make([]float32, len(src))
	for range 2000 {
		augmentImage(dst, src, shape, pad, r)
		found := false
		for dy := -pad; dy <= pad && !found; dy++ {
			for dx := -pad; dx <= pad && !found; dx++ {
				for _, flip := range []bool{false, true} {
					ok := true
					for y := range h {
						for x := range w {
							sy, sx := y+dy, x+dx
							if flip {
								sx = w - 1 - x + dx
							}
							for k := range c {
								want := float32(0)
								if sy >= 0 && sy < h && sx >= 0 && sx < w {
									want = src[(sy*w+sx)*c+k]
								}
								if dst[(y*w+x)*c+k] != want {
									ok = false
								}
							}
						}
					}
					if ok {
						seen[fmt.Sprint(dy, dx, flip)]++
						found = true
						break
					}
				}
			}
		}
		if !found {
			t.Fatalf("not a shifted (and flipped) copy: %v", dst)
		}
	}
	if len(seen) != (2*pad+1)*(2*pad+1)*2 {
		t.Errorf("%d of %d crops and flips drawn: %v", len(seen), (2*pad+1)*(2*pad+1)*2, seen)
	}
}

// hostDataset: a training epoch yields ⌊n/batch⌋ full batches of distinct
// images in an order drawn from its generator (another each epoch); an
// evaluation pass yields every image in order, the last batch short.
func TestHostDataset(t *testing.T) {
	n := 23
	x, y := make([][]float32, n), make([]int32, n)
	for i := range x {
		x[i] = []float32{float32(i), 0, 0, 0}
		y[i] = int32(i % 10)
	}
	d := &hostDataset{name: "t", x: x, y: y, shape: [3]int{2, 2, 1}, batch: 5, dropLast: true, order: rand.New(rand.NewPCG(3, 4))}
	var orders []string
	for range 2 {
		var got []int
		for b, err := range d.Iter() {
			if err != nil {
				t.Fatal(err)
			}
			if dims := b.Inputs[0].Shape().Dimensions; fmt.Sprint(dims) != "[5 4]" || fmt.Sprint(b.Labels[0].Shape().Dimensions) != "[5 1]" {
				t.Fatalf("batch of %v, labels %v", dims, b.Labels[0].Shape().Dimensions)
			}
			xs, ls := b.Inputs[0].Value().([][]float32), b.Labels[0].Value().([][]int32)
			for i := range xs {
				if ls[i][0] != int32(int(xs[i][0])%10) {
					t.Fatalf("image %g has label %d", xs[i][0], ls[i][0])
				}
				got = append(got, int(xs[i][0]))
			}
		}
		distinct := map[int]bool{}
		for _, i := range got {
			distinct[i] = true
		}
		if len(got) != 20 || len(distinct) != 20 {
			t.Errorf("an epoch yielded %v", got)
		}
		orders = append(orders, fmt.Sprint(got))
	}
	if orders[0] == orders[1] {
		t.Error("the same order in two epochs")
	}
	again := &hostDataset{name: "t", x: x, y: y, shape: [3]int{2, 2, 1}, batch: 5, dropLast: true, order: rand.New(rand.NewPCG(3, 4))}
	var first []int
	for b := range again.Iter() {
		for _, row := range b.Inputs[0].Value().([][]float32) {
			first = append(first, int(row[0]))
		}
	}
	if fmt.Sprint(first) != orders[0] {
		t.Error("the order is not the generator's")
	}
	eval := &hostDataset{name: "e", x: x, y: y, shape: [3]int{2, 2, 1}, batch: 5}
	var sizes []int
	var all []int
	for b := range eval.Iter() {
		sizes = append(sizes, b.Inputs[0].Shape().Dimensions[0])
		for _, row := range b.Inputs[0].Value().([][]float32) {
			all = append(all, int(row[0]))
		}
	}
	if fmt.Sprint(sizes) != "[5 5 5 5 3]" || len(all) != n || all[0] != 0 || all[n-1] != n-1 || eval.batches() != 5 || d.batches() != 4 {
		t.Errorf("evaluation batches %v, images %v", sizes, all)
	}
}

// A CNN trains with augmentation on every backend (its loss falls; flipped
// digits are hard, so the accuracy only has to beat chance); the same seed
// gives the same run; augmentation changes the run.
func TestAugmentTrains(t *testing.T) {
	task := digitsTask(t, 8)
	for _, bk := range backendstest.Available(t) {
		cfg := Config{Method: TrAct, Arch: CNN, Lambda: 0.1, Epochs: 2, BatchSize: 64, LR: 0.05, Optimizer: SGD, Momentum: 0.9, Width: 4, Augment: true, AugmentPad: 1, Seed: 1}
		a, err := Train(bk, cfg, task, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Train(bk, cfg, task, nil)
		if err != nil {
			t.Fatal(err)
		}
		plain := cfg
		plain.Augment = false
		p, err := Train(bk, plain, task, nil)
		if err != nil {
			t.Fatal(err)
		}
		if worst, _ := curveDiff(a.Curve, b.Curve); worst != 0 || !(a.FinalValAcc() > 0.15) || !(a.Curve[1].TrainLoss < a.Curve[0].TrainLoss) {
			t.Errorf("%s: augmented runs of one seed differ by %g; curve %+v", bk.Name(), worst, a.Curve)
		}
		if worst, _ := curveDiff(a.Curve, p.Curve); worst == 0 {
			t.Errorf("%s: augmentation changed nothing", bk.Name())
		}
	}
}
