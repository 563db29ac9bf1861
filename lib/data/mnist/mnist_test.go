package mnist

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFixture writes a real-format MNIST pair (images, labels) into dir,
// optionally gzipped, from generated digits.
func writeFixture(t *testing.T, dir, prefix string, gz bool) (*Images, []uint8) {
	t.Helper()
	im, labels, err := Synthetic(12, 3)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, fn func(*bytes.Buffer) error) {
		var buf bytes.Buffer
		if err := fn(&buf); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		if gz {
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			zw.Write(data)
			zw.Close()
			data, name = z.Bytes(), name+".gz"
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(prefix+"-images-idx3-ubyte", func(b *bytes.Buffer) error { return WriteImages(b, im) })
	write(prefix+"-labels-idx1-ubyte", func(b *bytes.Buffer) error { return WriteLabels(b, labels) })
	return im, labels
}

func TestLoadFixture(t *testing.T) {
	for _, gz := range []bool{false, true} {
		dir := t.TempDir()
		want, wantLabels := writeFixture(t, dir, "t10k", gz)
		im, labels, err := Load(dir, "t10k")
		if err != nil {
			t.Fatalf("gz=%v: %v", gz, err)
		}
		if im.Rows != 28 || im.Cols != 28 || len(im.Pixels) != 12 || !bytes.Equal(im.Pixels[5], want.Pixels[5]) || !bytes.Equal(labels, wantLabels) {
			t.Errorf("gz=%v: loaded %d×%d×%d, labels %v", gz, len(im.Pixels), im.Rows, im.Cols, labels)
		}
	}
	if _, _, err := Load(t.TempDir(), "train"); err == nil || !strings.Contains(err.Error(), "train-images-idx3-ubyte(.gz) not found") {
		t.Errorf("empty dir: %v", err)
	}
}

// The exact header bytes of the format (magic 0x00000803, dimensions big-endian).
func TestHeaderBytes(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteImages(&buf, &Images{Rows: 2, Cols: 3, Pixels: [][]uint8{{1, 2, 3, 4, 5, 6}}}); err != nil {
		t.Fatal(err)
	}
	want := []byte{0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("header % x, want % x", buf.Bytes(), want)
	}
}

func TestBadFiles(t *testing.T) {
	for _, tc := range []struct {
		name   string
		data   []byte
		errHas string
	}{
		{"empty", nil, "reading the IDX header"},
		{"magic", []byte{1, 2, 8, 3}, "not an IDX file"},
		{"type", []byte{0, 0, 0x0d, 3}, "element type 0x0d"},
		{"dims", []byte{0, 0, 8, 1, 0, 0, 0, 1, 5}, "has 1 dimensions, want 3"},
		{"huge", []byte{0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 0, 0, 1}, "out of range"},
		{"short", []byte{0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 7}, "shorter than its header"},
		{"trailing", []byte{0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 7, 9}, "trailing bytes"},
	} {
		if _, err := ReadImages(bytes.NewReader(tc.data)); err == nil || !strings.Contains(err.Error(), tc.errHas) {
			t.Errorf("%s: %v; want an error containing %q", tc.name, err, tc.errHas)
		}
	}
	if _, err := ReadLabels(bytes.NewReader([]byte{0, 0, 8, 1, 0, 0, 0, 1, 12})); err == nil || !strings.Contains(err.Error(), "not a digit") {
		t.Errorf("label 12: %v", err)
	}
}

// Synthetic digits are deterministic, have ink, and differ by class.
func TestSynthetic(t *testing.T) {
	a, la, _ := Synthetic(20, 1)
	b, _, _ := Synthetic(20, 1)
	c, _, _ := Synthetic(20, 2)
	if !bytes.Equal(a.Pixels[7], b.Pixels[7]) || bytes.Equal(a.Pixels[7], c.Pixels[7]) || la[13] != 3 {
		t.Error("Synthetic is not deterministic by seed")
	}
	for i, p := range a.Pixels {
		ink := 0
		for _, v := range p {
			if v > 128 {
				ink++
			}
		}
		if ink < 25 || ink > 350 {
			t.Errorf("image %d (digit %d) has %d inked pixels", i, la[i], ink)
		}
	}
	if _, _, err := Synthetic(0, 1); err == nil {
		t.Error("Synthetic(0) accepted")
	}
}

func FuzzReadImages(f *testing.F) {
	var buf bytes.Buffer
	im, _, _ := Synthetic(2, 1)
	_ = WriteImages(&buf, im)
	f.Add(buf.Bytes())
	f.Add([]byte{0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 7})
	f.Add([]byte{0x1f, 0x8b, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		im, err := ReadImages(bytes.NewReader(data))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteImages(&out, im); err != nil {
			t.Fatal(err)
		}
		if data[0] != 0x1f && !bytes.Equal(out.Bytes(), data) {
			t.Fatal("read then write does not give the file back")
		}
	})
}

func FuzzReadLabels(f *testing.F) {
	f.Add([]byte{0, 0, 8, 1, 0, 0, 0, 2, 3, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		labels, err := ReadLabels(bytes.NewReader(data))
		if err == nil && len(labels) == 0 {
			t.Fatal("no labels without an error")
		}
	})
}
