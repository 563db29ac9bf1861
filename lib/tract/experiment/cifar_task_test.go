package experiment

import (
	"crypto/sha256"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/gorepro/gorepro/lib/data/cifar"
)

// unstandardise recovers the pixel bytes of standardised images: each
// channel's mean and std come from the test set's first image against its
// raw pixels (the channel's darkest and brightest pixel), and every value
// must land within 1e-3 of a byte.
func unstandardise(t *testing.T, task *Task, rawTest []uint8, xs [][]float32) [][]uint8 {
	t.Helper()
	var mean, std [3]float64
	for c := range 3 {
		lo, hi := c, c
		for i := c; i < len(rawTest); i += 3 {
			if rawTest[i] < rawTest[lo] {
				lo = i
			}
			if rawTest[i] > rawTest[hi] {
				hi = i
			}
		}
		x := task.TestX[0]
		std[c] = (float64(rawTest[hi]) - float64(rawTest[lo])) / 255 / (float64(x[hi]) - float64(x[lo]))
		mean[c] = float64(rawTest[hi])/255 - float64(x[hi])*std[c]
	}
	out := make([][]uint8, len(xs))
	for i, x := range xs {
		px := make([]uint8, len(x))
		for j, v := range x {
			f := (float64(v)*std[j%3] + mean[j%3]) * 255
			if r := math.Round(f); math.Abs(f-r) > 1e-3 || r < 0 || r > 255 {
				t.Fatalf("image %d value %d: %g is no pixel byte", i, j, f)
			}
			px[j] = uint8(math.Round(f))
		}
		out[i] = px
	}
	return out
}

// CIFAR on fixtures of both data sets: the validation images are drawn
// from the training files by seed and are exactly the training images the
// training split lacks (which keeps the file order); the test split is the
// test file; each channel of the training split has mean 0 and standard
// deviation 1 (recomputed in float64); the name changes with the
// validation seed, size and the training count.
func TestCIFARTask(t *testing.T) {
	for _, tc := range []struct{ classes, train, test int }{{10, 60, 20}, {100, 150, 30}} {
		dir := t.TempDir()
		if err := cifar.WriteFixture(dir, tc.classes, tc.train, tc.test, 7); err != nil {
			t.Fatal(err)
		}
		rawTr, rawTe, err := cifar.Fixture(tc.classes, tc.train, tc.test, 7)
		if err != nil {
			t.Fatal(err)
		}
		const val = 12
		task, err := CIFAR(dir, tc.classes, 0, val, 3)
		if err != nil {
			t.Fatal(err)
		}
		prefix := fmt.Sprintf("cifar%d(train=%d,test=%d,val=%d,valseed=3,sha256=", tc.classes, tc.train-val, tc.test, val)
		if !strings.HasPrefix(task.Name, prefix) || task.Shape != [3]int{32, 32, 3} || task.Classes != tc.classes ||
			len(task.TrainX) != tc.train-val || len(task.ValX) != val || len(task.ValY) != val || len(task.TestX) != tc.test {
			t.Fatalf("task %q shape %v, %d classes, %d/%d/%d images; want name %s…", task.Name, task.Shape, task.Classes, len(task.TrainX), len(task.ValX), len(task.TestX), prefix)
		}
		for c := range 3 {
			mean, v := channelMoments(task.TrainX, c, 3)
			if sd := math.Sqrt(v); !(math.Abs(mean) <= 1e-5) || !(math.Abs(sd-1) <= 1e-4) {
				t.Errorf("%d classes, channel %d: training mean %g, std %g after standardisation", tc.classes, c, mean, sd)
			}
		}

		// Undo the standardisation and find each image in the fixture.
		trPx := unstandardise(t, task, rawTe.Pixels[0], task.TrainX)
		valPx := unstandardise(t, task, rawTe.Pixels[0], task.ValX)
		tePx := unstandardise(t, task, rawTe.Pixels[0], task.TestX)
		if !reflect.DeepEqual(tePx, rawTe.Pixels) {
			t.Errorf("%d classes: the test split is not the test file", tc.classes)
		}
		at := map[string]int{}
		for i, px := range rawTr.Pixels {
			at[string(px)] = i
		}
		if len(at) != tc.train {
			t.Fatal("fixture images repeat")
		}
		taken := make([]bool, tc.train)
		prev := -1
		for i, px := range trPx {
			j, ok := at[string(px)]
			if !ok || j <= prev || int32(rawTr.Labels[j]) != task.TrainY[i] {
				t.Fatalf("%d classes: training image %d is not the next training image of the files (%d, %v)", tc.classes, i, j, ok)
			}
			taken[j], prev = true, j
		}
		prev = -1
		for i, px := range valPx {
			j, ok := at[string(px)]
			if !ok || taken[j] || j <= prev || int32(rawTr.Labels[j]) != task.ValY[i] {
				t.Fatalf("%d classes: validation image %d is not a training-file image left out of training (%d, %v)", tc.classes, i, j, ok)
			}
			taken[j], prev = true, j
		}
		for j, ok := range taken {
			if !ok {
				t.Errorf("%d classes: training-file image %d is in no split", tc.classes, j)
			}
		}

		// The seed decides the validation set; maxTrain cuts the training
		// split after it is drawn.
		again, err := CIFAR(dir, tc.classes, 0, val, 3)
		if err != nil || !reflect.DeepEqual(again, task) {
			t.Errorf("%d classes: the same arguments gave another task (%v)", tc.classes, err)
		}
		other, err := CIFAR(dir, tc.classes, 0, val, 4)
		if err != nil || reflect.DeepEqual(other.ValX, task.ValX) || other.Name == task.Name {
			t.Errorf("%d classes: seed 4 gave the same validation set or name %q (%v)", tc.classes, other.Name, err)
		}
		cut, err := CIFAR(dir, tc.classes, 20, val, 3)
		if err != nil || len(cut.TrainX) != 20 || !reflect.DeepEqual(cut.ValY, task.ValY) || !reflect.DeepEqual(cut.TrainY, task.TrainY[:20]) ||
			!strings.HasPrefix(cut.Name, fmt.Sprintf("cifar%d(train=20,", tc.classes)) {
			t.Errorf("%d classes: maxTrain 20: %q, %d training images (%v)", tc.classes, cut.Name, len(cut.TrainX), err)
		}
		none, err := CIFAR(dir, tc.classes, 0, 0, 3)
		if err != nil || len(none.ValX) != 0 || len(none.TrainX) != tc.train || strings.Contains(none.Name, "val") {
			t.Errorf("%d classes: no validation set: %q, %d/%d images (%v)", tc.classes, none.Name, len(none.TrainX), len(none.ValX), err)
		}
	}
}

// CIFAR10 is CIFAR without a validation set, under the name it had before
// CIFAR existed (the cache keys of earlier runs stay valid): the counts and
// a SHA-256 prefix of the training labels, training pixels, test labels
// and test pixels.
func TestCIFAR10Name(t *testing.T) {
	dir := t.TempDir()
	if err := cifar.WriteFixture(dir, 10, 25, 10, 1); err != nil {
		t.Fatal(err)
	}
	task, err := CIFAR10(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	tr, te, _ := cifar.Fixture(10, 25, 10, 1)
	h := sha256.New()
	for _, s := range []*cifar.Set{tr, te} {
		h.Write(s.Labels)
		for _, px := range s.Pixels {
			h.Write(px)
		}
	}
	if want := fmt.Sprintf("cifar10(train=25,test=10,sha256=%x)", h.Sum(nil)[:6]); task.Name != want {
		t.Errorf("name %q, want %q", task.Name, want)
	}
	same, err := CIFAR(dir, 10, 0, 0, 9)
	if err != nil || !reflect.DeepEqual(same, task) {
		t.Errorf("CIFAR(dir, 10, 0, 0, 9) differs from CIFAR10(dir, 0): %v", err)
	}
}

// Bad arguments and bad directories give one line naming the problem.
func TestCIFARErrors(t *testing.T) {
	dir := t.TempDir()
	if err := cifar.WriteFixture(dir, 10, 10, 5, 1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir                        string
		classes, maxTrain, valSize int
		errHas                     string
	}{
		{t.TempDir(), 10, 0, 0, "test_batch.bin: missing"},
		{t.TempDir(), 100, 0, 0, "test.bin: missing"},
		{dir, 100, 0, 0, "test.bin: missing"},
		{dir, 7, 0, 0, "7 classes"},
		{dir, 10, 0, 10, "a validation set of 10 leaves none of the 10 training images"},
		{dir, 10, -1, 0, "must not be negative"},
	} {
		_, err := CIFAR(tc.dir, tc.classes, tc.maxTrain, tc.valSize, 1)
		if err == nil || !strings.Contains(err.Error(), tc.errHas) || !strings.HasPrefix(err.Error(), "experiment: ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: %v; want one line with %q", tc, err, tc.errHas)
		}
	}
}
