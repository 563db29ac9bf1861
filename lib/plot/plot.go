// Package plot draws the line figures notebooks show (training curves,
// accuracy against epoch, error against iteration) with gonum/plot, renders
// them to SVG and PNG, and displays them through lib/notebook.
//
// What a reader needs is decided here once for every notebook: the legend
// sits below the plotting area, never on the curves; series of one Group
// share a colour (a method's train and test curves: solid and dashed); a
// band (Lower, Upper) shows the spread across seeds around a mean; and the
// text is set in DejaVu Sans, which has the symbols papers use (⊥, ≥, ±):
// gonum's default Liberation fonts have no ⊥, so "⊥Grad" rendered as "Grad"
// in PNGs.
package plot

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"

	gonum "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/gorepro/gorepro/lib/notebook"
)

// Series is one named line, or set of points: Y against X, same length.
type Series struct {
	Name string
	X, Y []float64
	// Group, if set, gives the colour: series of one group share it (the
	// first series of a group picks the next colour). Without a group each
	// series gets its own.
	Group string
	// Lower and Upper, if set (the length of X), draw a translucent band
	// between them in the series' colour: e.g. min..max or mean ± std across
	// seeds around a mean Y.
	Lower, Upper []float64
	// Dashed draws the line dashed (e.g. test curves beside solid train curves).
	Dashed bool
	// Scatter draws a point at each (x, y) instead of a line through them, for
	// data with no order along x (one run per point, a metric against another).
	Scatter bool
}

// Figure describes a plot of lines and points.
type Figure struct {
	Title, XLabel, YLabel string
	// LogX and LogY use logarithmic axes (non-positive values are dropped
	// from the line), marked by LogTicker: decades labelled 10⁰, 10⁻¹, ….
	LogX, LogY bool
	// YMin and YMax fix the y range when YMax > YMin.
	YMin, YMax float64
	Series     []Series
	// Width and Height default to 16×9 cm.
	Width, Height vg.Length
}

// legendEntry is one line of the legend.
type legendEntry struct {
	name  string
	thumb gonum.Thumbnailer
}

// Plot builds the gonum plot, with the legend entries drawn below it by
// Render. It fails on a series with mismatched lengths or no finite points.
func (f Figure) Plot() (*gonum.Plot, error) {
	p, _, err := f.build()
	return p, err
}

func (f Figure) build() (*gonum.Plot, []legendEntry, error) {
	if len(f.Series) == 0 {
		return nil, nil, errors.New("plot: figure has no series")
	}
	p := gonum.New()
	setFont(p)
	p.Title.Text = f.Title
	p.X.Label.Text = f.XLabel
	p.Y.Label.Text = f.YLabel
	p.Add(plotter.NewGrid())
	if f.LogX {
		p.X.Scale, p.X.Tick.Marker = gonum.LogScale{}, LogTicker{}
	}
	if f.LogY {
		p.Y.Scale, p.Y.Tick.Marker = gonum.LogScale{}, LogTicker{}
	}
	colours := map[string]int{}
	var entries []legendEntry
	for i, s := range f.Series {
		if len(s.X) != len(s.Y) {
			return nil, nil, fmt.Errorf("plot: series %q has %d x values and %d y values", s.Name, len(s.X), len(s.Y))
		}
		if (s.Lower != nil || s.Upper != nil) && (len(s.Lower) != len(s.X) || len(s.Upper) != len(s.X)) {
			return nil, nil, fmt.Errorf("plot: series %q has %d x values but a band of %d lower and %d upper values", s.Name, len(s.X), len(s.Lower), len(s.Upper))
		}
		colour := i
		if s.Group != "" {
			c, seen := colours[s.Group]
			if !seen {
				c = len(colours)
				colours[s.Group] = c
			}
			colour = c
		} else {
			colour = len(colours)
			colours[fmt.Sprintf("\x00series %d", i)] = colour
		}
		xys := f.finite(s.X, s.Y)
		if len(xys) == 0 {
			return nil, nil, fmt.Errorf("plot: series %q has no finite points to draw", s.Name)
		}
		if s.Lower != nil {
			band, err := f.band(s, colour)
			if err != nil {
				return nil, nil, fmt.Errorf("plot: series %q: %w", s.Name, err)
			}
			if band != nil {
				p.Add(band)
			}
		}
		drawn, err := s.plotter(xys, colour)
		if err != nil {
			return nil, nil, fmt.Errorf("plot: series %q: %w", s.Name, err)
		}
		p.Add(drawn)
		if s.Name != "" {
			entries = append(entries, legendEntry{s.Name, drawn})
		}
	}
	if f.YMax > f.YMin {
		p.Y.Min, p.Y.Max = f.YMin, f.YMax
	}
	widenLogAxis(&p.X, f.LogX)
	widenLogAxis(&p.Y, f.LogY)
	return p, entries, nil
}

// widenLogAxis gives a log axis whose data have a single value a decade on
// either side: gonum widens a zero-width range by ±1, which leaves a log
// axis with non-positive bounds and panics when drawn.
func widenLogAxis(a *gonum.Axis, log bool) {
	if log && a.Min == a.Max && a.Min > 0 {
		a.Min, a.Max = a.Min/10, a.Max*10
	}
}

// finite keeps the points that can be drawn on the figure's axes.
func (f Figure) finite(xs, ys []float64) plotter.XYs {
	xys := make(plotter.XYs, 0, len(xs))
	for j := range xs {
		x, y := xs[j], ys[j]
		if math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) ||
			(f.LogX && x <= 0) || (f.LogY && y <= 0) {
			continue
		}
		xys = append(xys, plotter.XY{X: x, Y: y})
	}
	return xys
}

// band is the polygon between s.Lower and s.Upper, translucent, no outline;
// nil when fewer than two points are finite.
func (f Figure) band(s Series, colour int) (*plotter.Polygon, error) {
	upper := f.finite(s.X, s.Upper)
	lower := f.finite(s.X, s.Lower)
	if len(upper) < 2 || len(lower) < 2 {
		return nil, nil
	}
	ring := append(plotter.XYs{}, upper...)
	for i := len(lower) - 1; i >= 0; i-- {
		ring = append(ring, lower[i])
	}
	poly, err := plotter.NewPolygon(ring)
	if err != nil {
		return nil, err
	}
	r, g, b, _ := plotutil.Color(colour).RGBA()
	poly.Color = color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: 56}
	poly.LineStyle.Width = 0
	return poly, nil
}

// legendPlotter draws on a plot and in the legend.
type legendPlotter interface {
	gonum.Plotter
	gonum.Thumbnailer
}

// plotter draws the series' points in the i-th colour: a line, or with
// Scatter a glyph per point (the i-th shape).
func (s Series) plotter(xys plotter.XYs, i int) (legendPlotter, error) {
	if s.Scatter {
		points, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, err
		}
		points.Color = plotutil.Color(i)
		points.Shape = plotutil.Shape(i)
		points.Radius = vg.Points(2.5)
		return points, nil
	}
	line, err := plotter.NewLine(xys)
	if err != nil {
		return nil, err
	}
	line.Color = plotutil.Color(i)
	line.Width = vg.Points(1.5)
	if s.Dashed {
		line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	}
	return line, nil
}

func (f Figure) size() (vg.Length, vg.Length) {
	w, h := f.Width, f.Height
	if w == 0 {
		w = 16 * vg.Centimeter
	}
	if h == 0 {
		h = 9 * vg.Centimeter
	}
	return w, h
}

// Render returns the figure as SVG and PNG: the plot, and its legend below
// it in columns.
func (f Figure) Render() (svg, png []byte, err error) {
	p, entries, err := f.build()
	if err != nil {
		return nil, nil, err
	}
	w, h := f.size()
	return render(w, h, func(c draw.Canvas) { f.draw(c, p, entries) })
}

// render draws a figure of w × h into SVG and into a 144-dpi PNG.
func render(w, h vg.Length, drawOn func(draw.Canvas)) (svg, png []byte, err error) {
	sc := vgsvg.New(w, h)
	drawOn(draw.New(sc))
	var svgBuf bytes.Buffer
	if _, err := sc.WriteTo(&svgBuf); err != nil {
		return nil, nil, fmt.Errorf("plot: rendering svg: %w", err)
	}
	ic := vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(144))}
	drawOn(draw.New(ic))
	var pngBuf bytes.Buffer
	if _, err := ic.WriteTo(&pngBuf); err != nil {
		return nil, nil, fmt.Errorf("plot: rendering png: %w", err)
	}
	return svgBuf.Bytes(), pngBuf.Bytes(), nil
}

// legendColumns is how many columns the legend below the plot uses.
func legendColumns(entries []legendEntry) int {
	longest := 0
	for _, e := range entries {
		longest = max(longest, len([]rune(e.name)))
	}
	switch {
	case len(entries) <= 1:
		return 1
	case longest > 38:
		return 1
	case longest > 22:
		return 2
	}
	return min(3, len(entries))
}

// draw draws the plot in the upper part of c and the legend in the lower.
func (f Figure) draw(c draw.Canvas, p *gonum.Plot, entries []legendEntry) {
	if len(entries) == 0 {
		p.Draw(c)
		return
	}
	cols := legendColumns(entries)
	rows := (len(entries) + cols - 1) / cols
	style := legendStyle()
	// gonum's legend puts a row every font size or so.
	legendH := vg.Length(rows)*style.Font.Size*1.1 + vg.Points(10)
	plotArea := c
	plotArea.Min.Y += legendH
	p.Draw(plotArea)
	legendArea := c
	legendArea.Max.Y = c.Min.Y + legendH
	colW := (legendArea.Max.X - legendArea.Min.X - vg.Points(12)) / vg.Length(cols)
	for col := range cols {
		leg := gonum.NewLegend()
		leg.TextStyle = style
		leg.Top, leg.Left = true, true
		leg.ThumbnailWidth = vg.Points(24)
		for i := col * rows; i < min((col+1)*rows, len(entries)); i++ {
			leg.Add(entries[i].name, entries[i].thumb)
		}
		area := legendArea
		area.Min.X = legendArea.Min.X + vg.Points(12) + vg.Length(col)*colW
		area.Max.X = area.Min.X + colW
		leg.Draw(area)
	}
}

// Show renders the figure and displays it in the notebook (or prints a line outside one).
func (f Figure) Show() error {
	svg, png, err := f.Render()
	if err != nil {
		return err
	}
	notebook.Image(f.Title, svg, png)
	return nil
}
