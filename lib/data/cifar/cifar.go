// Package cifar reads and writes the binary versions of CIFAR-10 and
// CIFAR-100 (https://www.cs.toronto.edu/~kriz/cifar.html), and generates
// small learnable fixtures in the same layout (the data cannot be
// downloaded here).
//
// A CIFAR-10 record is one label byte (0–9) and 3 072 pixel bytes: the
// 32×32 red plane, then green, then blue, each row by row. The archive
// cifar-10-binary.tar.gz unpacks to cifar-10-batches-bin/ with
// data_batch_1.bin … data_batch_5.bin (10 000 records each) and
// test_batch.bin (10 000).
//
// A CIFAR-100 record is one coarse-label byte (the superclass, 0–19), one
// fine-label byte (0–99) and the same 3 072 pixel bytes. The archive
// cifar-100-binary.tar.gz unpacks to cifar-100-binary/ with train.bin
// (50 000 records) and test.bin (10 000).
//
// Load(dir, 10) or Load(dir, 100) reads either; the fine labels are a Set's
// Labels, the coarse ones its Coarse.
package cifar

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// Side is the image side; RecordSize the bytes of one CIFAR-10 record and
// RecordSize100 of one CIFAR-100 record.
const (
	Side          = 32
	planeSize     = Side * Side
	imageSize     = 3 * planeSize
	RecordSize    = 1 + imageSize
	RecordSize100 = 2 + imageSize
	// CoarseClasses is the number of CIFAR-100 superclasses.
	CoarseClasses = 20
)

// Set is a set of labelled images.
type Set struct {
	// Classes is 10 (CIFAR-10) or 100 (CIFAR-100). Read and Load set it;
	// Write takes 0 to mean 10.
	Classes int
	// Labels are the labels 0 … Classes−1 (CIFAR-100's fine labels).
	Labels []uint8
	// Coarse are CIFAR-100's coarse labels (superclasses 0–19), one per
	// image; nil for CIFAR-10. Write fills them in from CoarseOf when nil.
	Coarse []uint8
	// Pixels holds one image per label, channels last: [y][x][c] flattened,
	// index (y·32 + x)·3 + c.
	Pixels [][]uint8
}

// recordSize is the bytes of one record of the format with classes labels
// (10 or 100), or an error.
func recordSize(classes int) (int, error) {
	switch classes {
	case 10:
		return RecordSize, nil
	case 100:
		return RecordSize100, nil
	}
	return 0, fmt.Errorf("cifar: %d classes: want 10 (CIFAR-10) or 100 (CIFAR-100)", classes)
}

// Read reads records of the format with classes labels (10: CIFAR-10, 100:
// CIFAR-100) until EOF. No records, a partial record or a label out of
// range is an error naming the record.
func Read(r io.Reader, classes int) (*Set, error) {
	s, err := read(r, classes)
	if err != nil {
		return nil, fmt.Errorf("cifar: %w", err)
	}
	return s, nil
}

// read is Read without the package prefix on its errors.
func read(r io.Reader, classes int) (*Set, error) {
	size, err := recordSize(classes)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(r, 64<<10)
	s := &Set{Classes: classes}
	rec := make([]byte, size)
	for n := 0; ; n++ {
		k, err := io.ReadFull(br, rec)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("record %d is %s bytes, want %s: %w", n, group(int64(k)), group(int64(size)), err)
		}
		label, px := rec[0], rec[1:]
		if classes == 100 {
			if rec[0] >= CoarseClasses {
				return nil, fmt.Errorf("record %d has coarse label %d, want 0–%d", n, rec[0], CoarseClasses-1)
			}
			s.Coarse = append(s.Coarse, rec[0])
			label, px = rec[1], rec[2:]
		}
		if int(label) >= classes {
			return nil, fmt.Errorf("record %d has label %d, want 0–%d", n, label, classes-1)
		}
		s.Labels, s.Pixels = append(s.Labels, label), append(s.Pixels, fromPlanes(px))
	}
	if len(s.Labels) == 0 {
		return nil, errors.New("no records")
	}
	return s, nil
}

// fromPlanes turns the three colour planes into a channels-last image.
func fromPlanes(planes []byte) []uint8 {
	px := make([]uint8, imageSize)
	for c := range 3 {
		for i, v := range planes[c*planeSize : (c+1)*planeSize] {
			px[i*3+c] = v
		}
	}
	return px
}

// Write writes s in the binary format of s.Classes (0 or 10: CIFAR-10,
// 100: CIFAR-100).
func Write(w io.Writer, s *Set) error {
	classes := s.Classes
	if classes == 0 {
		classes = 10
	}
	size, err := recordSize(classes)
	if err != nil {
		return err
	}
	if len(s.Labels) != len(s.Pixels) || (s.Coarse != nil && len(s.Coarse) != len(s.Labels)) {
		return fmt.Errorf("cifar: %d labels, %d coarse labels for %d images", len(s.Labels), len(s.Coarse), len(s.Pixels))
	}
	if classes == 10 && s.Coarse != nil {
		return errors.New("cifar: coarse labels in a CIFAR-10 set")
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	rec := make([]byte, size)
	for n, px := range s.Pixels {
		if len(px) != imageSize || int(s.Labels[n]) >= classes {
			return fmt.Errorf("cifar: image %d: %d pixel bytes (want %d), label %d (want 0–%d)", n, len(px), imageSize, s.Labels[n], classes-1)
		}
		planes := rec[1:]
		rec[0] = s.Labels[n]
		if classes == 100 {
			coarse, _ := CoarseOf(s.Labels[n])
			if s.Coarse != nil {
				coarse = s.Coarse[n]
			}
			if coarse >= CoarseClasses {
				return fmt.Errorf("cifar: image %d: coarse label %d, want 0–%d", n, coarse, CoarseClasses-1)
			}
			rec[0], rec[1], planes = coarse, s.Labels[n], rec[2:]
		}
		for c := range 3 {
			for i := range planeSize {
				planes[c*planeSize+i] = px[i*3+c]
			}
		}
		if _, err := bw.Write(rec); err != nil {
			return fmt.Errorf("cifar: writing image %d: %w", n, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("cifar: %w", err)
	}
	return nil
}

// layout is where a data set's files are and how large they are in full.
type layout struct {
	classes   int
	subdir    string   // the directory the archive unpacks to
	train     []string // training files, in order
	test      string
	perTrain  int // records in a full training file
	perTest   int
	download  string
	recordLen int
}

func layoutOf(classes int) (layout, error) {
	switch classes {
	case 10:
		return layout{classes: 10, subdir: "cifar-10-batches-bin",
			train: []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"},
			test:  "test_batch.bin", perTrain: 10000, perTest: 10000,
			download: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", recordLen: RecordSize}, nil
	case 100:
		return layout{classes: 100, subdir: "cifar-100-binary",
			train: []string{"train.bin"}, test: "test.bin", perTrain: 50000, perTest: 10000,
			download: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz", recordLen: RecordSize100}, nil
	}
	_, err := recordSize(classes)
	return layout{}, err
}

// Load reads CIFAR-10 (classes 10) or CIFAR-100 (classes 100) from dir, or
// from dir's cifar-10-batches-bin or cifar-100-binary subdirectory (where
// the archive unpacks).
//
// CIFAR-10's training set is data_batch_1.bin, then data_batch_2.bin …
// data_batch_5.bin up to the first one missing (so a fixture may have
// fewer files; a file present after a missing one is an error), its test
// set test_batch.bin. CIFAR-100's are train.bin and test.bin.
//
// A file that is missing, empty, not a whole number of records or holds a
// label out of range is a one-line error naming the file and the expected
// size or record; images are not otherwise checked.
func Load(dir string, classes int) (train, test *Set, err error) {
	l, err := layoutOf(classes)
	if err != nil {
		return nil, nil, err
	}
	if !exists(filepath.Join(dir, l.test)) && exists(filepath.Join(dir, l.subdir, l.test)) {
		dir = filepath.Join(dir, l.subdir)
	}
	test, err = l.readFile(dir, l.test, l.perTest)
	if err != nil {
		return nil, nil, err
	}
	train = &Set{Classes: classes}
	missing := ""
	for _, name := range l.train {
		path := filepath.Join(dir, name)
		switch {
		case missing == "" && name != l.train[0] && !exists(path):
			missing = name
			continue
		case missing != "" && exists(path):
			return nil, nil, fmt.Errorf("cifar: %s: missing, but %s is there (want %s bytes; download %s)",
				filepath.Join(dir, missing), name, group(int64(l.perTrain*l.recordLen)), l.download)
		case missing != "":
			continue
		}
		s, err := l.readFile(dir, name, l.perTrain)
		if err != nil {
			return nil, nil, err
		}
		train.Labels, train.Coarse, train.Pixels = append(train.Labels, s.Labels...), append(train.Coarse, s.Coarse...), append(train.Pixels, s.Pixels...)
	}
	return train, test, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// readFile reads dir/name, full records being its size in the real data set.
func (l layout) readFile(dir, name string, full int) (*Set, error) {
	path := filepath.Join(dir, name)
	want := group(int64(full * l.recordLen))
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		hint := ""
		if name == l.test && filepath.Base(dir) != l.subdir {
			hint = fmt.Sprintf(" (nor in %s)", filepath.Join(dir, l.subdir))
		}
		return nil, fmt.Errorf("cifar: %s: missing%s (want %s bytes; download %s)", path, hint, want, l.download)
	}
	if err != nil {
		return nil, fmt.Errorf("cifar: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cifar: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("cifar: %s: not a regular file (want %s bytes)", path, want)
	}
	if size := info.Size(); size == 0 || size%int64(l.recordLen) != 0 {
		return nil, fmt.Errorf("cifar: %s: %s bytes, want a non-zero multiple of %s (%s for the full file)", path, group(size), group(int64(l.recordLen)), want)
	}
	s, err := read(f, l.classes)
	if err != nil {
		return nil, fmt.Errorf("cifar: %s: %w", path, err)
	}
	return s, nil
}

// group writes n with its digits in groups of three: 30 730 000.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := ""
	if n < 0 {
		neg, s = "-", s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ' ')
		}
		out = append(out, s[i])
	}
	return neg + string(out)
}
