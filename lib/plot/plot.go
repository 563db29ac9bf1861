// Package plot draws the line figures notebooks show (training curves,
// accuracy against epoch, error against iteration) with gonum/plot, renders
// them to SVG and PNG, and displays them through lib/notebook.
package plot

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	gonum "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/gorepro/gorepro/lib/notebook"
)

// Series is one named line, or set of points: Y against X, same length.
type Series struct {
	Name string
	X, Y []float64
	// Dashed draws the line dashed (e.g. test curves beside solid train curves).
	Dashed bool
	// Scatter draws a point at each (x, y) instead of a line through them, for
	// data with no order along x (one run per point, a metric against another).
	Scatter bool
}

// Figure describes a plot of lines and points.
type Figure struct {
	Title, XLabel, YLabel string
	// LogX and LogY use logarithmic axes (non-positive values are dropped from the line).
	LogX, LogY bool
	// YMin and YMax fix the y range when YMax > YMin.
	YMin, YMax float64
	Series     []Series
	// Width and Height default to 16×9 cm.
	Width, Height vg.Length
}

// Plot builds the gonum plot. It fails on a series with mismatched lengths or no finite points.
func (f Figure) Plot() (*gonum.Plot, error) {
	if len(f.Series) == 0 {
		return nil, errors.New("plot: figure has no series")
	}
	p := gonum.New()
	p.Title.Text = f.Title
	p.X.Label.Text = f.XLabel
	p.Y.Label.Text = f.YLabel
	p.Add(plotter.NewGrid())
	if f.LogX {
		p.X.Scale, p.X.Tick.Marker = gonum.LogScale{}, gonum.LogTicks{Prec: -1}
	}
	if f.LogY {
		p.Y.Scale, p.Y.Tick.Marker = gonum.LogScale{}, gonum.LogTicks{Prec: -1}
	}
	p.Legend.Top = true
	for i, s := range f.Series {
		if len(s.X) != len(s.Y) {
			return nil, fmt.Errorf("plot: series %q has %d x values and %d y values", s.Name, len(s.X), len(s.Y))
		}
		xys := make(plotter.XYs, 0, len(s.X))
		for j := range s.X {
			x, y := s.X[j], s.Y[j]
			if math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) ||
				(f.LogX && x <= 0) || (f.LogY && y <= 0) {
				continue
			}
			xys = append(xys, plotter.XY{X: x, Y: y})
		}
		if len(xys) == 0 {
			return nil, fmt.Errorf("plot: series %q has no finite points to draw", s.Name)
		}
		drawn, err := s.plotter(xys, i)
		if err != nil {
			return nil, fmt.Errorf("plot: series %q: %w", s.Name, err)
		}
		p.Add(drawn)
		if s.Name != "" {
			p.Legend.Add(s.Name, drawn)
		}
	}
	if f.YMax > f.YMin {
		p.Y.Min, p.Y.Max = f.YMin, f.YMax
	}
	return p, nil
}

// legendPlotter draws on a plot and in the legend.
type legendPlotter interface {
	gonum.Plotter
	gonum.Thumbnailer
}

// plotter draws the series' points as the i-th series: a line, or with
// Scatter a glyph per point, each series in its own colour (and shape).
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

// Render returns the figure as SVG and PNG.
func (f Figure) Render() (svg, png []byte, err error) {
	p, err := f.Plot()
	if err != nil {
		return nil, nil, err
	}
	w, h := f.size()
	svg, err = encode(p, w, h, "svg")
	if err != nil {
		return nil, nil, err
	}
	png, err = encode(p, w, h, "png")
	return svg, png, err
}

func encode(p *gonum.Plot, w, h vg.Length, format string) ([]byte, error) {
	wt, err := p.WriterTo(w, h, format)
	if err != nil {
		return nil, fmt.Errorf("plot: rendering %s: %w", format, err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("plot: rendering %s: %w", format, err)
	}
	return buf.Bytes(), nil
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
