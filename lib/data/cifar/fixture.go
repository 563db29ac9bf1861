package cifar

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// Fixture generates a small learnable stand-in for CIFAR-10 (classes 10)
// or CIFAR-100 (classes 100): train and test images whose labels are
// balanced (counts differ by at most one) and shuffled. Each class has a
// prototype: a colour (each channel 64–192) and a sinusoidal grating of its
// own orientation, frequency (1–4 cycles per image) and per-channel
// amplitude (±20–50). An image is its class's grating at a random phase
// (so its position carries nothing), on the class colour shifted by a
// brightness offset (±10, all channels) and a tint (σ 8 per channel), plus
// Gaussian pixel noise (σ 32), rounded and clipped to 0–255: the colour
// alone does not tell similar classes apart, the grating's orientation and
// frequency do. seed picks the prototypes, the labels and the noise.
// CIFAR-100 sets get their coarse labels from CoarseOf.
func Fixture(classes, train, test int, seed uint64) (trainSet, testSet *Set, err error) {
	if _, err := recordSize(classes); err != nil {
		return nil, nil, err
	}
	if train < 1 || test < 1 {
		return nil, nil, fmt.Errorf("cifar: fixture of %d training and %d test images: want at least one of each", train, test)
	}
	type prototype struct {
		colour, amp    [3]float64
		cos, sin, freq float64
	}
	r := rand.New(rand.NewPCG(seed, 1))
	protos := make([]prototype, classes)
	for c := range protos {
		p := &protos[c]
		for ch := range 3 {
			p.colour[ch] = 64 + 128*r.Float64()
			p.amp[ch] = 20 + 30*r.Float64()
			if r.IntN(2) == 0 {
				p.amp[ch] = -p.amp[ch]
			}
		}
		theta := math.Pi * r.Float64()
		p.cos, p.sin = math.Cos(theta), math.Sin(theta)
		p.freq = 1 + 3*r.Float64()
	}
	generate := func(n int, stream uint64) *Set {
		r := rand.New(rand.NewPCG(seed, stream))
		s := &Set{Classes: classes, Labels: make([]uint8, n), Pixels: make([][]uint8, n)}
		for i := range s.Labels {
			s.Labels[i] = uint8(i % classes)
		}
		r.Shuffle(n, func(i, j int) { s.Labels[i], s.Labels[j] = s.Labels[j], s.Labels[i] })
		for i, l := range s.Labels {
			p := &protos[l]
			bright := 20 * (r.Float64() - 0.5)
			phase := 2 * math.Pi * r.Float64()
			var tint [3]float64
			for ch := range tint {
				tint[ch] = p.colour[ch] + bright + 8*r.NormFloat64()
			}
			px := make([]uint8, imageSize)
			for y := range Side {
				for x := range Side {
					wave := math.Sin(2*math.Pi*p.freq*(float64(x)*p.cos+float64(y)*p.sin)/Side + phase)
					for ch := range 3 {
						v := tint[ch] + p.amp[ch]*wave + 32*r.NormFloat64()
						px[(y*Side+x)*3+ch] = uint8(math.Round(min(max(v, 0), 255)))
					}
				}
			}
			s.Pixels[i] = px
		}
		if classes == 100 {
			s.Coarse = make([]uint8, n)
			for i, l := range s.Labels {
				s.Coarse[i], _ = CoarseOf(l)
			}
		}
		return s
	}
	return generate(train, 2), generate(test, 3), nil
}

// WriteFixture writes Fixture(classes, train, test, seed) into dir
// (created if need be) under the real data set's file names, so that
// Load(dir, classes) reads it back: for CIFAR-10 the training images split
// in order over data_batch_1.bin … data_batch_5.bin (sizes differing by at
// most one; train must be at least 5) and test_batch.bin, for CIFAR-100
// train.bin and test.bin.
func WriteFixture(dir string, classes, train, test int, seed uint64) error {
	l, err := layoutOf(classes)
	if err != nil {
		return err
	}
	if train < len(l.train) {
		return fmt.Errorf("cifar: fixture of %d training images: want at least %d (one per training file)", train, len(l.train))
	}
	tr, te, err := Fixture(classes, train, test, seed)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cifar: fixture: %w", err)
	}
	write := func(name string, s *Set) error {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("cifar: fixture: %w", err)
		}
		if err := Write(f, s); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("cifar: fixture: %w", err)
		}
		return nil
	}
	start := 0
	for i, name := range l.train {
		n := train / len(l.train)
		if i < train%len(l.train) {
			n++
		}
		part := &Set{Classes: classes, Labels: tr.Labels[start : start+n], Pixels: tr.Pixels[start : start+n]}
		if tr.Coarse != nil {
			part.Coarse = tr.Coarse[start : start+n]
		}
		if err := write(name, part); err != nil {
			return err
		}
		start += n
	}
	return write(l.test, te)
}
