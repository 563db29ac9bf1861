package experiment

import (
	"fmt"

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
// brightness]; the same variation for every seed), split 80/20 by seed.
func Digits(data *digits.Set, spread, brightness float64, seed uint64) (*Task, error) {
	varied, err := data.VaryContrast(spread, brightness, 7)
	if err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	tr, te, err := varied.Split(0.8, seed)
	if err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	return &Task{
		Name:  fmt.Sprintf("digits(n=%d,spread=%g,brightness=%g,split=%d)", len(data.Labels), spread, brightness, seed),
		Shape: [3]int{digits.Side, digits.Side, 1}, Classes: 10,
		TrainX: tr.Pixels, TrainY: tr.Labels, TestX: te.Pixels, TestY: te.Labels,
	}, nil
}
