package plot

import (
	"math"
	"strings"
	"testing"
)

func TestBars(t *testing.T) {
	b := Bars{Title: "NDCG@10 ± std", YLabel: "NDCG@10", Labels: []string{"linear", "ffn×4 gelu", "glu×2 silu +res"},
		Values: []float64{0.66, 0.71, 0.69}, Errors: []float64{0.01, 0.02, 0.015}, Reference: 0.66, RefLabel: "linear (baseline)", YMin: 0.5, YMax: 0.8}
	svg, png, err := b.Render()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ffn×4 gelu", "linear (baseline)", "NDCG@10"} {
		if !strings.Contains(string(svg), want) {
			t.Errorf("svg lacks %q", want)
		}
	}
	if len(png) < 1000 || string(png[1:4]) != "PNG" {
		t.Errorf("png: %d bytes", len(png))
	}
	for _, bad := range []Bars{{Labels: []string{"a"}}, {Labels: []string{"a"}, Values: []float64{math.NaN()}}, {Labels: []string{"a", "b"}, Values: []float64{1, 2}, Errors: []float64{1}}} {
		if _, _, err := bad.Render(); err == nil {
			t.Errorf("%+v rendered", bad)
		}
	}
}
