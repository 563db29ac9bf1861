// Package mnist reads and writes the MNIST IDX files (train-images-idx3-ubyte,
// t10k-labels-idx1-ubyte, optionally gzipped) and draws digit-like 28×28
// images for when the real data is not on disk (it cannot be downloaded here).
//
// IDX: a big-endian header — two zero bytes, the element type (0x08 =
// unsigned byte), the number of dimensions — then one uint32 per dimension,
// then the elements in row-major order.
package mnist

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Images is a set of grey-level images (0 = background, 255 = ink).
type Images struct {
	Rows, Cols int
	// Pixels holds one Rows·Cols row-major slice per image.
	Pixels [][]uint8
}

// maxElements bounds what a header may announce (MNIST's largest file has
// 47 040 000 bytes), so that a corrupt header cannot make us allocate gigabytes.
const maxElements = 1 << 28

// readIDX reads an IDX file of unsigned bytes with the given number of dimensions.
func readIDX(r io.Reader, wantDims int) (dims []int, data []byte, err error) {
	br := bufio.NewReader(r)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("mnist: gzip: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReader(zr)
	}
	var head [4]byte
	if _, err := io.ReadFull(br, head[:]); err != nil {
		return nil, nil, fmt.Errorf("mnist: reading the IDX header: %w", err)
	}
	if head[0] != 0 || head[1] != 0 {
		return nil, nil, fmt.Errorf("mnist: not an IDX file (magic % x)", head)
	}
	if head[2] != 0x08 {
		return nil, nil, fmt.Errorf("mnist: IDX element type 0x%02x, want 0x08 (unsigned byte)", head[2])
	}
	if int(head[3]) != wantDims {
		return nil, nil, fmt.Errorf("mnist: IDX file has %d dimensions, want %d", head[3], wantDims)
	}
	total := 1
	for range wantDims {
		var d uint32
		if err := binary.Read(br, binary.BigEndian, &d); err != nil {
			return nil, nil, fmt.Errorf("mnist: reading the IDX dimensions: %w", err)
		}
		if d == 0 || int(d) > maxElements || total*int(d) > maxElements {
			return nil, nil, fmt.Errorf("mnist: IDX dimension %d is out of range", d)
		}
		dims = append(dims, int(d))
		total *= int(d)
	}
	data = make([]byte, total)
	if _, err := io.ReadFull(br, data); err != nil {
		return nil, nil, fmt.Errorf("mnist: the IDX file is shorter than its header says (%v): %w", dims, err)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, nil, errors.New("mnist: trailing bytes after the IDX data")
	}
	return dims, data, nil
}

// ReadImages reads an idx3-ubyte image file (gzipped or not).
func ReadImages(r io.Reader) (*Images, error) {
	dims, data, err := readIDX(r, 3)
	if err != nil {
		return nil, err
	}
	im := &Images{Rows: dims[1], Cols: dims[2]}
	size := im.Rows * im.Cols
	for i := range dims[0] {
		im.Pixels = append(im.Pixels, data[i*size:(i+1)*size])
	}
	return im, nil
}

// ReadLabels reads an idx1-ubyte label file (gzipped or not); labels must be digits 0–9.
func ReadLabels(r io.Reader) ([]uint8, error) {
	_, data, err := readIDX(r, 1)
	if err != nil {
		return nil, err
	}
	for i, l := range data {
		if l > 9 {
			return nil, fmt.Errorf("mnist: label %d is %d, not a digit", i, l)
		}
	}
	return data, nil
}

// WriteImages writes images in the idx3-ubyte format.
func WriteImages(w io.Writer, im *Images) error {
	var buf bytes.Buffer
	buf.Write([]byte{0, 0, 0x08, 3})
	for _, d := range []int{len(im.Pixels), im.Rows, im.Cols} {
		_ = binary.Write(&buf, binary.BigEndian, uint32(d))
	}
	for i, p := range im.Pixels {
		if len(p) != im.Rows*im.Cols {
			return fmt.Errorf("mnist: image %d has %d pixels, want %d×%d", i, len(p), im.Rows, im.Cols)
		}
		buf.Write(p)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// WriteLabels writes labels in the idx1-ubyte format.
func WriteLabels(w io.Writer, labels []uint8) error {
	var buf bytes.Buffer
	buf.Write([]byte{0, 0, 0x08, 1})
	_ = binary.Write(&buf, binary.BigEndian, uint32(len(labels)))
	buf.Write(labels)
	_, err := w.Write(buf.Bytes())
	return err
}

// Load reads prefix-images-idx3-ubyte and prefix-labels-idx1-ubyte (or their
// .gz) from dir; prefix is "train" or "t10k".
func Load(dir, prefix string) (*Images, []uint8, error) {
	open := func(name string) (*os.File, error) {
		for _, p := range []string{name, name + ".gz"} {
			f, err := os.Open(filepath.Join(dir, p))
			if err == nil {
				return f, nil
			}
		}
		return nil, fmt.Errorf("mnist: %s(.gz) not found in %s", name, dir)
	}
	fi, err := open(prefix + "-images-idx3-ubyte")
	if err != nil {
		return nil, nil, err
	}
	defer fi.Close()
	im, err := ReadImages(fi)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", fi.Name(), err)
	}
	fl, err := open(prefix + "-labels-idx1-ubyte")
	if err != nil {
		return nil, nil, err
	}
	defer fl.Close()
	labels, err := ReadLabels(fl)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", fl.Name(), err)
	}
	if len(labels) != len(im.Pixels) {
		return nil, nil, fmt.Errorf("mnist: %d images but %d labels in %s", len(im.Pixels), len(labels), dir)
	}
	return im, labels, nil
}
