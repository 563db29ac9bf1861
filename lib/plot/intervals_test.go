package plot

import (
	"math"
	"strings"
	"testing"
)

func TestIntervals(t *testing.T) {
	nan := math.NaN()
	iv := Intervals{Title: "NDCG@10 minus linear", YLabel: "points", Labels: []string{"ffn×4 gelu", "glu×2 silu +res", "one seed"},
		Values: []float64{1.5, 2.6, -0.4}, Lower: []float64{-0.2, 2.1, nan}, Upper: []float64{3.1, 3.0, nan},
		Lines: []Reference{{Label: "paper: > +2", Y: 2}}}
	p, err := iv.build()
	if err != nil {
		t.Fatal(err)
	}
	if p.Y.Min > -0.4 || p.Y.Max < 3.1 {
		t.Errorf("y range [%g, %g] does not hold every interval", p.Y.Min, p.Y.Max)
	}
	svg, png, err := iv.Render()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"glu×2 silu +res", "paper: &gt; +2", "points"} {
		if !strings.Contains(string(svg), want) {
			t.Errorf("svg lacks %q", want)
		}
	}
	if len(png) < 1000 || string(png[1:4]) != "PNG" {
		t.Errorf("png: %d bytes", len(png))
	}
	// A positive-only chart still shows zero.
	pos := Intervals{Labels: []string{"a"}, Values: []float64{5}, Lower: []float64{4}, Upper: []float64{6}}
	if p, err := pos.build(); err != nil || p.Y.Min > 0 {
		t.Errorf("positive intervals: y min %v, err %v; want ≤ 0", p.Y.Min, err)
	}
	for name, bad := range map[string]Intervals{
		"empty":         {},
		"lengths":       {Labels: []string{"a"}, Values: []float64{1}, Lower: []float64{0}},
		"NaN value":     {Labels: []string{"a"}, Values: []float64{nan}, Lower: []float64{0}, Upper: []float64{1}},
		"value outside": {Labels: []string{"a"}, Values: []float64{2}, Lower: []float64{0}, Upper: []float64{1}},
		"NaN reference": {Labels: []string{"a"}, Values: []float64{1}, Lower: []float64{0}, Upper: []float64{2}, Lines: []Reference{{"x", nan}}},
	} {
		if _, _, err := bad.Render(); err == nil {
			t.Errorf("%s: rendered", name)
		}
	}
}
