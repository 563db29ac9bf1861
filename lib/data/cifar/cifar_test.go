package cifar

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func randomSet(n int, seed uint64) *Set {
	r := rand.New(rand.NewPCG(seed, 2))
	s := &Set{}
	for range n {
		px := make([]uint8, 3*planeSize)
		for i := range px {
			px[i] = uint8(r.IntN(256))
		}
		s.Labels, s.Pixels = append(s.Labels, uint8(r.IntN(10))), append(s.Pixels, px)
	}
	return s
}

// The exact byte layout: label, then the red plane, green, blue, row-major.
func TestLayout(t *testing.T) {
	s := &Set{Labels: []uint8{7}, Pixels: [][]uint8{make([]uint8, 3*planeSize)}}
	s.Pixels[0][(1*Side+2)*3+1] = 200 // y=1, x=2, green
	var buf bytes.Buffer
	if err := Write(&buf, s); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if len(b) != RecordSize || b[0] != 7 || b[1+planeSize+1*Side+2] != 200 {
		t.Fatalf("record layout wrong: len %d label %d", len(b), b[0])
	}
}

// A fixture directory in the real layout round-trips through Load.
func TestLoadFixture(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cifar-10-batches-bin")
	os.MkdirAll(dir, 0o755)
	want := []*Set{randomSet(5, 1), randomSet(3, 2)}
	write := func(name string, s *Set) {
		var buf bytes.Buffer
		if err := Write(&buf, s); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644)
	}
	write("data_batch_1.bin", want[0])
	write("data_batch_2.bin", want[1])
	testSet := randomSet(4, 3)
	write("test_batch.bin", testSet)
	train, test, err := Load(filepath.Dir(dir)) // the parent works too
	if err != nil {
		t.Fatal(err)
	}
	if len(train.Labels) != 8 || !bytes.Equal(train.Pixels[6], want[1].Pixels[1]) || train.Labels[2] != want[0].Labels[2] {
		t.Errorf("train: %d images", len(train.Labels))
	}
	if len(test.Labels) != 4 || !bytes.Equal(test.Pixels[3], testSet.Pixels[3]) {
		t.Errorf("test: %d images", len(test.Labels))
	}
	if _, _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no test_batch.bin") {
		t.Errorf("empty dir: %v", err)
	}
}

func TestBadFiles(t *testing.T) {
	for _, tc := range []struct {
		data   []byte
		errHas string
	}{
		{nil, "no records"},
		{make([]byte, RecordSize+5), "record 1 is 5 bytes"},
		{append([]byte{12}, make([]byte, RecordSize-1)...), "label 12"},
	} {
		if _, err := Read(bytes.NewReader(tc.data)); err == nil || !strings.Contains(err.Error(), tc.errHas) {
			t.Errorf("%v; want %q", err, tc.errHas)
		}
	}
	if ClassName(3) != "cat" || ClassName(11) != "class 11" {
		t.Error("ClassName")
	}
}

func FuzzRead(f *testing.F) {
	var buf bytes.Buffer
	_ = Write(&buf, randomSet(1, 1))
	f.Add(buf.Bytes())
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := Write(&out, s); err != nil || !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("read then write does not give the file back: %v", err)
		}
	})
}
