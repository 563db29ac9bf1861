package plot

import (
	"bytes"
	"math"
	"regexp"
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

// TestLogAxisOfOneValue: a log axis whose points all have one value (two
// equal loss curves' relative difference at its floor) draws a decade either
// side; gonum's own widening by ±1 gave it non-positive bounds, a panic.
func TestLogAxisOfOneValue(t *testing.T) {
	for _, f := range []Figure{
		{LogY: true, Series: []Series{{Name: "difference", X: []float64{1, 2, 3}, Y: []float64{1e-12, 1e-12, 1e-12}}}},
		{LogX: true, LogY: true, Series: []Series{{Name: "one point", X: []float64{0.5}, Y: []float64{3}}}},
	} {
		svg, _, err := f.Render()
		if err != nil || !bytes.Contains(svg, []byte("<svg")) {
			t.Errorf("Render(%+v) = %.100s, %v", f, svg, err)
		}
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

// TestScatter checks that a Scatter series draws one glyph per finite point
// and no line, and that a line series draws one polyline.
func TestScatter(t *testing.T) {
	const red = "stroke:#F15A60" // plotutil.Color(0), the first series' colour
	points := regexp.MustCompile(`<path d="M[^"]*A[^"]*" style="[^"]*` + red)
	lines := regexp.MustCompile(`<path d="M[^"A]*L[^"A]*" style="[^"]*` + red + `;stroke-width:1.5"`)
	tests := []struct {
		name          string
		series        Series
		points, lines int // paths in the first series' colour, the legend's included
	}{
		{"scatter", Series{Name: "runs", X: []float64{1, 2, 3, 4}, Y: []float64{3, 1, math.NaN(), 2}, Scatter: true}, 3 + 1, 0},
		{"line", Series{Name: "loss", X: []float64{1, 2, 3, 4}, Y: []float64{3, 1, 4, 2}}, 0, 1 + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svg, png, err := Figure{Title: tc.name, Series: []Series{tc.series}}.Render()
			if err != nil {
				t.Fatal(err)
			}
			if len(png) == 0 {
				t.Error("no PNG")
			}
			if got := len(points.FindAll(svg, -1)); got != tc.points {
				t.Errorf("%d point glyphs, want %d", got, tc.points)
			}
			if got := len(lines.FindAll(svg, -1)); got != tc.lines {
				t.Errorf("%d lines, want %d", got, tc.lines)
			}
		})
	}
}
