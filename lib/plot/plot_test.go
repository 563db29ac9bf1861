package plot

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	f := Figure{Title: "loss", XLabel: "step", YLabel: "mse", LogY: true, Series: []Series{
		{Name: "train", X: []float64{1, 2, 3, 4}, Y: []float64{1, 0.1, 0, math.NaN()}},
		{Name: "test", X: []float64{1, 4}, Y: []float64{2, 0.2}, Dashed: true},
	}}
	svg, png, err := f.Render()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("loss")) || !bytes.Contains(svg, []byte("train")) {
		t.Errorf("SVG lacks the svg element, the title or the legend: %.200s", svg)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("PNG does not start with the PNG signature")
	}
}

func TestFigureErrors(t *testing.T) {
	tests := []struct {
		fig  Figure
		want string
	}{
		{Figure{}, "no series"},
		{Figure{Series: []Series{{Name: "s", X: []float64{1}, Y: []float64{1, 2}}}}, "has 1 x values and 2 y values"},
		{Figure{LogY: true, Series: []Series{{Name: "s", X: []float64{1, 2}, Y: []float64{0, -1}}}}, "no finite points"},
	}
	for _, tc := range tests {
		if _, _, err := tc.fig.Render(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Render(%+v) = %v, want %q", tc.fig, err, tc.want)
		}
	}
}
