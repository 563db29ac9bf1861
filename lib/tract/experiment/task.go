package experiment

import (
	"fmt"
	"math"

	"github.com/gorepro/gorepro/lib/data/digits"
)

// Task is an image classification set: images channels last, flattened
// ([y][x][c]), labels 0 … Classes−1, split into training, validation
// (hyperparameters are chosen on it, never on the test set; may be empty)
// and test images.
type Task struct {
	Name                string // names the data and everything that made it (part of the cache key)
	Shape               [3]int // height, width, channels
	Classes             int
	TrainX, ValX, TestX [][]float32
	TrainY, ValY, TestY []int32
}

func (t *Task) check() error {
	if t == nil {
		return fmt.Errorf("experiment: no task")
	}
	n := t.Shape[0] * t.Shape[1] * t.Shape[2]
	if n < 1 || t.Classes < 2 || len(t.TrainX) == 0 || len(t.TestX) == 0 || len(t.TrainX) != len(t.TrainY) || len(t.ValX) != len(t.ValY) || len(t.TestX) != len(t.TestY) {
		return fmt.Errorf("experiment: task %q: shape %v, %d classes, %d/%d train, %d/%d validation and %d/%d test images/labels", t.Name, t.Shape, t.Classes, len(t.TrainX), len(t.TrainY), len(t.ValX), len(t.ValY), len(t.TestX), len(t.TestY))
	}
	for _, set := range [][][]float32{t.TrainX, t.ValX, t.TestX} {
		for i, x := range set {
			if len(x) != n {
				return fmt.Errorf("experiment: task %q: image %d has %d values, want %d", t.Name, i, len(x), n)
			}
		}
	}
	for _, ys := range [][]int32{t.TrainY, t.ValY, t.TestY} {
		for i, y := range ys {
			if y < 0 || int(y) >= t.Classes {
				return fmt.Errorf("experiment: task %q: label %d of image %d outside 0–%d", t.Name, y, i, t.Classes-1)
			}
		}
	}
	return nil
}

// Digits is scikit-learn's 8×8 digits with varied contrast and brightness
// (digits.Set.VaryContrast: pixels in [0, 1], then per image c·x + β with c
// log-uniform in [1/spread, spread], β uniform in [−brightness,
// brightness]; the same variation for every seed; spread 1 and brightness
// 0 vary nothing), split by seed into 20 % test, then 20 % of the rest
// validation and the rest training, and standardised: every split minus
// the training split's mean, over its standard deviation (per channel,
// over all pixels of all training images; population deviation).
func Digits(data *digits.Set, spread, brightness float64, seed uint64) (*Task, error) {
	tr, va, te, err := digitsSplits(data, spread, brightness, seed)
	if err != nil {
		return nil, err
	}
	t := &Task{
		Name:  fmt.Sprintf("digits(n=%d,spread=%g,brightness=%g,split=%d,test=0.2,val=0.2,standardised)", len(data.Labels), spread, brightness, seed),
		Shape: [3]int{digits.Side, digits.Side, 1}, Classes: 10,
		TrainX: tr.Pixels, TrainY: tr.Labels, ValX: va.Pixels, ValY: va.Labels, TestX: te.Pixels, TestY: te.Labels,
	}
	mean, std := floatChannelStats(t.TrainX, 1)
	t.TrainX, t.ValX, t.TestX = standardise(t.TrainX, mean, std), standardise(t.ValX, mean, std), standardise(t.TestX, mean, std)
	return t, nil
}

// digitsSplits is Digits before standardisation.
func digitsSplits(data *digits.Set, spread, brightness float64, seed uint64) (tr, va, te *digits.Set, err error) {
	varied, err := data.VaryContrast(spread, brightness, 7)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("experiment: digits: %w", err)
	}
	rest, te, err := varied.Split(0.8, seed)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("experiment: digits test split: %w", err)
	}
	tr, va, err = rest.Split(0.8, seed^0x76616c6964) // another permutation than the test split's
	if err != nil {
		return nil, nil, nil, fmt.Errorf("experiment: digits validation split: %w", err)
	}
	return tr, va, te, nil
}

// floatChannelStats is the mean and population standard deviation of each of
// the c channels (channels last) over all pixels of xs, in float64.
func floatChannelStats(xs [][]float32, c int) (mean, std []float64) {
	sum, sq := make([]float64, c), make([]float64, c)
	var n float64
	for _, x := range xs {
		for i, v := range x {
			sum[i%c] += float64(v)
		}
		n += float64(len(x) / c)
	}
	mean, std = make([]float64, c), make([]float64, c)
	for k := range c {
		mean[k] = sum[k] / n
	}
	for _, x := range xs { // two passes: no cancellation
		for i, v := range x {
			d := float64(v) - mean[i%c]
			sq[i%c] += d * d
		}
	}
	for k := range c {
		std[k] = math.Sqrt(max(sq[k]/n, 1e-24))
	}
	return mean, std
}

// standardise is xs, each channel minus mean over std (new slices).
func standardise(xs [][]float32, mean, std []float64) [][]float32 {
	c := len(mean)
	out := make([][]float32, len(xs))
	for j, x := range xs {
		y := make([]float32, len(x))
		for i, v := range x {
			y[i] = float32((float64(v) - mean[i%c]) / std[i%c])
		}
		out[j] = y
	}
	return out
}
