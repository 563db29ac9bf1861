package experiment

import (
	"crypto/sha256"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gorepro/gorepro/lib/data/cifar"
)

// CIFAR reads CIFAR-10 (classes 10) or CIFAR-100 (classes 100, fine
// labels) from dir's binary files (cifar.Load) and makes a Task:
//
//   - validation: valSize images drawn from the training files by seed
//     (0: no validation set), kept in file order; the rest, in file order,
//     are the training set, of which maxTrain > 0 keeps the first maxTrain;
//   - each channel of every split is standardised, (x/255 − mean)/std, with
//     the mean and standard deviation of the training split alone (computed
//     in float64 over its pixels), so neither the validation nor the test
//     images leak into it.
//
// (TrAct's train_cifar.py normalises both data sets with fixed constants,
// mean (0.4914, 0.4822, 0.4465) and std (0.2023, 0.1994, 0.2010). The means
// are CIFAR-10's; the stds are about 20% below its pixel standard
// deviations (about 0.247, 0.243, 0.262), so the official inputs have a
// standard deviation of about 1.2–1.3 where these have 1.)
//
// The Task's Name is "cifar10(" or "cifar100(" then the training and test
// counts, the validation count and seed when there is a validation set,
// and a SHA-256 prefix of the labels and pixels of each split, so that
// anything that changes the numbers changes the name; without a validation
// set it is the name CIFAR10 always gave.
func CIFAR(dir string, classes, maxTrain, valSize int, seed uint64) (*Task, error) {
	if maxTrain < 0 || valSize < 0 {
		return nil, fmt.Errorf("experiment: CIFAR-%d: maxTrain %d and valSize %d must not be negative", classes, maxTrain, valSize)
	}
	all, te, err := cifar.Load(dir, classes)
	if err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	if valSize >= len(all.Labels) {
		return nil, fmt.Errorf("experiment: CIFAR-%d in %s: a validation set of %d leaves none of the %d training images", classes, dir, valSize, len(all.Labels))
	}
	inVal := make([]bool, len(all.Labels))
	if valSize > 0 {
		for _, i := range rand.New(rand.NewPCG(seed, 0x76616c)).Perm(len(all.Labels))[:valSize] {
			inVal[i] = true
		}
	}
	tr, val := &cifar.Set{}, &cifar.Set{}
	for i, in := range inVal {
		s := tr
		if in {
			s = val
		}
		s.Labels, s.Pixels = append(s.Labels, all.Labels[i]), append(s.Pixels, all.Pixels[i])
	}
	if maxTrain > 0 && maxTrain < len(tr.Labels) {
		tr.Labels, tr.Pixels = tr.Labels[:maxTrain], tr.Pixels[:maxTrain]
	}
	mean, std := channelStats(tr.Pixels)
	convert := func(s *cifar.Set) ([][]float32, []int32) {
		xs, ys := make([][]float32, len(s.Pixels)), make([]int32, len(s.Labels))
		for i, px := range s.Pixels {
			x := make([]float32, len(px))
			for j, v := range px {
				x[j] = float32((float64(v)/255 - mean[j%3]) / std[j%3])
			}
			xs[i], ys[i] = x, int32(s.Labels[i])
		}
		return xs, ys
	}
	h := sha256.New()
	splits := []*cifar.Set{tr, te}
	if valSize > 0 {
		splits = []*cifar.Set{tr, val, te}
	}
	for _, s := range splits {
		h.Write(s.Labels)
		for _, px := range s.Pixels {
			h.Write(px)
		}
	}
	name := fmt.Sprintf("cifar%d(train=%d,test=%d,", classes, len(tr.Labels), len(te.Labels))
	if valSize > 0 {
		name += fmt.Sprintf("val=%d,valseed=%d,", valSize, seed)
	}
	t := &Task{Name: name + fmt.Sprintf("sha256=%x)", h.Sum(nil)[:6]), Shape: [3]int{cifar.Side, cifar.Side, 3}, Classes: classes}
	t.TrainX, t.TrainY = convert(tr)
	t.ValX, t.ValY = convert(val)
	t.TestX, t.TestY = convert(te)
	if err := t.check(); err != nil {
		return nil, err
	}
	return t, nil
}

// CIFAR10 is CIFAR(dir, 10, maxTrain, 0, 0): CIFAR-10 without a
// validation set.
func CIFAR10(dir string, maxTrain int) (*Task, error) {
	return CIFAR(dir, 10, maxTrain, 0, 0)
}

// channelStats are the mean and standard deviation of each channel of
// images (channels last, values /255), over all their pixels; a constant
// channel gets std 1e-6.
func channelStats(images [][]uint8) (mean, std [3]float64) {
	var sum, sq [3]float64
	for _, px := range images {
		for i, v := range px {
			f := float64(v) / 255
			sum[i%3] += f
			sq[i%3] += f * f
		}
	}
	n := float64(len(images) * len(images[0]) / 3)
	for c := range 3 {
		mean[c] = sum[c] / n
		std[c] = math.Sqrt(max(sq[c]/n-mean[c]*mean[c], 1e-12))
	}
	return mean, std
}
