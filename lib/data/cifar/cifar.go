// Package cifar reads the CIFAR-10 binary format (data_batch_1.bin …
// data_batch_5.bin, test_batch.bin): records of one label byte (0–9) and
// 3 072 pixel bytes — the 32×32 red plane, then green, then blue, each row
// by row. It also writes the format, so tests make their own fixtures (the
// data cannot be downloaded here).
package cifar

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Side is the image side; RecordSize the bytes of one record.
const (
	Side       = 32
	planeSize  = Side * Side
	RecordSize = 1 + 3*planeSize
)

// classes are CIFAR-10's class names, by label.
var classes = [10]string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

// ClassName returns the name of label l (0–9).
func ClassName(l uint8) string {
	if int(l) < len(classes) {
		return classes[l]
	}
	return fmt.Sprintf("class %d", l)
}

// Set is a set of labelled images.
type Set struct {
	Labels []uint8
	// Pixels holds one image per label, channels last: [y][x][c] flattened,
	// index (y·32 + x)·3 + c.
	Pixels [][]uint8
}

// Read reads records until EOF; a partial record or a label above 9 is an error.
func Read(r io.Reader) (*Set, error) {
	br := bufio.NewReader(r)
	s := &Set{}
	rec := make([]byte, RecordSize)
	for n := 0; ; n++ {
		k, err := io.ReadFull(br, rec)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("cifar: record %d is %d bytes, want %d: %w", n, k, RecordSize, err)
		}
		if rec[0] > 9 {
			return nil, fmt.Errorf("cifar: record %d has label %d (want 0–9): not a CIFAR-10 file", n, rec[0])
		}
		px := make([]uint8, 3*planeSize)
		for c := range 3 {
			for i := range planeSize {
				px[i*3+c] = rec[1+c*planeSize+i]
			}
		}
		s.Labels, s.Pixels = append(s.Labels, rec[0]), append(s.Pixels, px)
	}
	if len(s.Labels) == 0 {
		return nil, errors.New("cifar: no records")
	}
	return s, nil
}

// Write writes s in the binary format.
func Write(w io.Writer, s *Set) error {
	if len(s.Labels) != len(s.Pixels) {
		return fmt.Errorf("cifar: %d labels for %d images", len(s.Labels), len(s.Pixels))
	}
	bw := bufio.NewWriter(w)
	rec := make([]byte, RecordSize)
	for n, px := range s.Pixels {
		if len(px) != 3*planeSize || s.Labels[n] > 9 {
			return fmt.Errorf("cifar: image %d: %d pixels, label %d", n, len(px), s.Labels[n])
		}
		rec[0] = s.Labels[n]
		for c := range 3 {
			for i := range planeSize {
				rec[1+c*planeSize+i] = px[i*3+c]
			}
		}
		if _, err := bw.Write(rec); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// Load reads CIFAR-10 from dir: train from data_batch_1.bin … data_batch_5.bin
// (those present; at least one), test from test_batch.bin. dir may also be
// the cifar-10-batches-bin directory's parent.
func Load(dir string) (train, test *Set, err error) {
	if _, err := os.Stat(filepath.Join(dir, "test_batch.bin")); err != nil {
		if _, err2 := os.Stat(filepath.Join(dir, "cifar-10-batches-bin", "test_batch.bin")); err2 == nil {
			dir = filepath.Join(dir, "cifar-10-batches-bin")
		} else {
			return nil, nil, fmt.Errorf("cifar: no test_batch.bin in %s (nor in its cifar-10-batches-bin): the CIFAR-10 binary version is not there", dir)
		}
	}
	readFile := func(name string) (*Set, error) {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		s, err := Read(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return s, nil
	}
	if test, err = readFile("test_batch.bin"); err != nil {
		return nil, nil, err
	}
	train = &Set{}
	for i := 1; i <= 5; i++ {
		s, err := readFile(fmt.Sprintf("data_batch_%d.bin", i))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		train.Labels, train.Pixels = append(train.Labels, s.Labels...), append(train.Pixels, s.Pixels...)
	}
	if len(train.Labels) == 0 {
		return nil, nil, fmt.Errorf("cifar: no data_batch_N.bin in %s", dir)
	}
	return train, test, nil
}
