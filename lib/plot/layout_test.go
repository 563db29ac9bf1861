package plot

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/image/font/sfnt"
	"gonum.org/v1/plot/font"
)

// The PNG text font has ⊥ (gonum's default Liberation fonts draw "⊥Grad" as "Grad").
func TestFontHasPaperSymbols(t *testing.T) {
	registerFonts()
	face := font.DefaultCache.Lookup(sans, 12)
	if face.Face == nil {
		t.Fatal("the DejaVu Sans face is not registered")
	}
	var buf sfnt.Buffer
	for _, r := range "⊥≥±→" {
		if i, err := face.Face.GlyphIndex(&buf, r); err != nil || i == 0 {
			t.Errorf("the figure font has no glyph for %c (index %d, %v)", r, i, err)
		}
	}
	svg, _, err := Figure{Title: "⊥Grad", Series: []Series{{Name: "⊥Grad", X: []float64{1, 2}, Y: []float64{1, 2}}}}.Render()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(svg), "DejaVu") || strings.Contains(string(svg), "Liberation") {
		t.Error("the SVG's text is not set in DejaVu Sans")
	}
}

var strokeColour = regexp.MustCompile(`<path d="M[^"A]*L[^"A]*" style="fill:none;stroke:(#[0-9A-F]{6});stroke-width:1.5(;stroke-dasharray:[^"]*)?"`)

// Series of one group share a colour (solid test, dashed train); groups differ.
func TestGroupsShareAColour(t *testing.T) {
	x := []float64{1, 2, 3}
	svg, _, err := Figure{Title: "acc", Series: []Series{
		{Name: "softmax test", Group: "softmax", X: x, Y: []float64{0.1, 0.2, 0.3}},
		{Name: "softmax train", Group: "softmax", X: x, Y: []float64{0.5, 0.9, 1}, Dashed: true},
		{Name: "StableMax test", Group: "StableMax", X: x, Y: []float64{0.2, 0.6, 0.9}},
		{Name: "StableMax train", Group: "StableMax", X: x, Y: []float64{0.5, 0.9, 1}, Dashed: true},
	}}.Render()
	if err != nil {
		t.Fatal(err)
	}
	m := strokeColour.FindAllStringSubmatch(string(svg), -1)
	if len(m) < 4 {
		t.Fatalf("found %d lines", len(m))
	}
	// The first four lines are the curves (the legend's thumbnails follow).
	if m[0][1] != m[1][1] || m[2][1] != m[3][1] || m[0][1] == m[2][1] {
		t.Errorf("colours %s %s %s %s: want one per group", m[0][1], m[1][1], m[2][1], m[3][1])
	}
	if m[0][2] != "" || m[1][2] == "" {
		t.Errorf("test curves solid, train dashed: got dashes %q and %q", m[0][2], m[1][2])
	}
}

var textAt = regexp.MustCompile(`<text x="([-0-9.]+)" y="([-0-9.]+)"[^>]*>([^<]*)</text>`)

// The legend is below the plotting area: every legend label is lower on the
// page than the x axis's label, so it can never cover a curve.
func TestLegendBelowThePlot(t *testing.T) {
	x := []float64{1, 2, 3}
	svg, _, err := Figure{Title: "t", XLabel: "epoch", Series: []Series{
		{Name: "alpha", X: x, Y: []float64{1, 2, 3}}, {Name: "beta", X: x, Y: []float64{3, 2, 1}},
	}}.Render()
	if err != nil {
		t.Fatal(err)
	}
	ys := map[string]float64{}
	for _, m := range textAt.FindAllStringSubmatch(string(svg), -1) {
		y, _ := strconv.ParseFloat(m[2], 64)
		ys[m[3]] = y
	}
	for _, label := range []string{"alpha", "beta", "epoch"} {
		if _, ok := ys[label]; !ok {
			t.Fatalf("no text %q in the SVG (texts: %v)", label, ys)
		}
	}
	// SVG y grows downwards.
	if !(ys["alpha"] > ys["epoch"] && ys["beta"] > ys["epoch"]) {
		t.Errorf("legend at y %v/%v, x-axis label at %v: the legend must be below", ys["alpha"], ys["beta"], ys["epoch"])
	}
}

// A band draws one translucent polygon; a band of the wrong length is an error.
func TestBand(t *testing.T) {
	x := []float64{1, 2, 3}
	svg, _, err := Figure{Title: "b", Series: []Series{{Name: "mean", X: x, Y: []float64{1, 2, 3}, Lower: []float64{0.5, 1.5, 2.5}, Upper: []float64{1.5, 2.5, 3.5}}}}.Render()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(svg), "fill-opacity:0.2") {
		t.Error("no translucent band in the SVG")
	}
	_, _, err = Figure{Series: []Series{{Name: "m", X: x, Y: x, Lower: x[:2], Upper: x}}}.Render()
	if err == nil || !strings.Contains(err.Error(), "band") {
		t.Errorf("a short band: %v", err)
	}
}
