package pot

import (
	"math"
	"os"
	"testing"
)

func TestEncodeDecode(t *testing.T) {
	x := []float64{0, -1.5, math.Inf(1), 1e-300, math.Pi}
	y, err := decode(encode(x), len(x))
	if err != nil {
		t.Fatal(err)
	}
	for i := range x {
		if x[i] != y[i] {
			t.Fatalf("round trip: %v → %v", x, y)
		}
	}
	if _, err := decode(encode(x), 4); err == nil {
		t.Error("decode accepted a wrong size")
	}
}

// EMD of two points onto two points has a closed form: each moves to the nearer.
func TestEMDClosedForm(t *testing.T) {
	if err := Available(); err != nil {
		if os.Getenv("GOREPRO_REQUIRE_POT") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	res, err := EMD([]float64{0.5, 0.5}, []float64{0.5, 0.5}, [][]float64{{0.1, 1}, {1, 0.3}})
	if err != nil {
		t.Fatal(err)
	}
	if !(math.Abs(res.Cost-0.2) <= 1e-15) || res.Plan[0][1] != 0 || res.Version == "" {
		t.Errorf("EMD = %+v, want cost 0.5·0.1 + 0.5·0.3 = 0.2", res)
	}
	if _, err := SinkhornLog([]float64{1}, []float64{1}, [][]float64{{0}}, 0, 1e-9, 10); err == nil {
		t.Error("SinkhornLog accepted ε = 0")
	}
	if _, err := EMD([]float64{1}, []float64{1}, [][]float64{{0, 1}}); err == nil {
		t.Error("EMD accepted a cost row of the wrong length")
	}
}
