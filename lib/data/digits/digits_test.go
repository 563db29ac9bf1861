package digits

import (
	"bytes"
	"compress/gzip"
	"math"
	"os"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	row := strings.Repeat("0,", 63) + "16,7\n"
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte(row + row))
	zw.Close()
	for _, data := range [][]byte{[]byte(row), z.Bytes()} {
		s, err := Parse(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Labels) < 1 || s.Labels[0] != 7 || s.Pixels[0][63] != 16 || s.Pixels[0][0] != 0 {
			t.Errorf("parsed %+v", s)
		}
	}
	for _, tc := range []struct{ data, errHas string }{
		{"", "no images"},
		{"1,2,3\n", "3 fields"},
		{strings.Repeat("0,", 63) + "17,1\n", "pixel 63"},
		{strings.Repeat("0,", 64) + "x\n", "not a digit"},
		{strings.Repeat("0,", 64) + "10\n", "not a digit"},
	} {
		if _, err := Parse(strings.NewReader(tc.data)); err == nil || !strings.Contains(err.Error(), tc.errHas) {
			t.Errorf("%q: %v, want %q", tc.data, err, tc.errHas)
		}
	}
}

// The real file from the installed scikit-learn: 1 797 images, each digit ~180 times.
func TestLoadInstalled(t *testing.T) {
	s, err := Load()
	if err != nil {
		if os.Getenv("GOREPRO_REQUIRE_POT") != "" { // make test: the project's venv is set up
			t.Fatal(err)
		}
		t.Skip(err)
	}
	counts := map[int32]int{}
	for _, l := range s.Labels {
		counts[l]++
	}
	if len(s.Labels) != 1797 || len(counts) != 10 || counts[0] != 178 {
		t.Errorf("%d images, counts %v", len(s.Labels), counts)
	}
	train, test, err := s.Split(0.8, 1)
	if err != nil || len(train.Labels) != 1438 || len(test.Labels) != 359 {
		t.Fatalf("split: %v", err)
	}
	v, err := s.VaryContrast(3, 0.5, 2)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, px := range v.Pixels {
		for _, x := range px {
			lo, hi = math.Min(lo, float64(x)), math.Max(hi, float64(x))
		}
	}
	if !(lo >= -0.5 && hi <= 3.5 && hi >= 1.5) {
		t.Errorf("varied pixels in [%g, %g]", lo, hi)
	}
	if _, err := s.VaryContrast(0.5, 0, 1); err == nil {
		t.Error("spread 0.5 accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(strings.Repeat("0,", 64) + "3\n"))
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(bytes.NewReader(data))
		if err == nil && len(s.Pixels) != len(s.Labels) {
			t.Fatal("pixels and labels differ in number")
		}
	})
}
