package plot

import (
	"fmt"
	"math"

	gonum "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Intervals is a point per category with its confidence interval as a
// vertical whisker (e.g. each variant's paired difference from a baseline),
// on an axis that always shows zero, with optional dashed reference lines
// (e.g. a claim's threshold). Unlike Bars it draws no bar from an axis cut,
// so the eye compares the intervals with zero and the thresholds, not the
// heights of bars.
type Intervals struct {
	Title, YLabel string
	Labels        []string  // one per point, shown under it (rotated)
	Values        []float64 // point estimates
	Lower, Upper  []float64 // interval bounds; NaN draws no whisker for that point
	// Lines are horizontal reference lines, each in the legend.
	Lines         []Reference
	Width, Height vg.Length
}

// Reference is a dashed horizontal line in an Intervals chart.
type Reference struct {
	Label string
	Y     float64
}

func (iv Intervals) build() (*gonum.Plot, error) {
	n := len(iv.Values)
	if n == 0 || len(iv.Labels) != n || len(iv.Lower) != n || len(iv.Upper) != n {
		return nil, fmt.Errorf("plot: Intervals %q: %d labels, %d values, %d lower, %d upper bounds", iv.Title, len(iv.Labels), n, len(iv.Lower), len(iv.Upper))
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	p := gonum.New()
	setFont(p)
	p.Title.Text, p.Y.Label.Text = iv.Title, iv.YLabel
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil
	p.Add(grid)
	lo, hi := 0.0, 0.0 // the range always holds zero
	var pts plotter.XYs
	var whiskers plotter.XYs
	var errs plotter.YErrors
	for i, v := range iv.Values {
		if !finite(v) {
			return nil, fmt.Errorf("plot: Intervals %q: %s is %g", iv.Title, iv.Labels[i], v)
		}
		pts = append(pts, plotter.XY{X: float64(i), Y: v})
		lo, hi = math.Min(lo, v), math.Max(hi, v)
		l, u := iv.Lower[i], iv.Upper[i]
		if finite(l) && finite(u) {
			if l > v || u < v {
				return nil, fmt.Errorf("plot: Intervals %q: %s's interval [%g, %g] does not hold its value %g", iv.Title, iv.Labels[i], l, u, v)
			}
			whiskers = append(whiskers, plotter.XY{X: float64(i), Y: v})
			errs = append(errs, struct{ Low, High float64 }{v - l, u - v})
			lo, hi = math.Min(lo, l), math.Max(hi, u)
		}
	}
	if len(whiskers) > 0 {
		eb, err := plotter.NewYErrorBars(struct {
			plotter.XYs
			plotter.YErrors
		}{whiskers, errs})
		if err != nil {
			return nil, fmt.Errorf("plot: %w", err)
		}
		eb.LineStyle.Width = vg.Points(1.2)
		eb.CapWidth = vg.Points(8)
		p.Add(eb)
	}
	sc, err := plotter.NewScatter(pts)
	if err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	sc.GlyphStyle.Shape = draw.CircleGlyph{}
	sc.GlyphStyle.Radius = vg.Points(3.5)
	sc.GlyphStyle.Color = plotutil.Color(0)
	p.Add(sc)
	zero, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: 0}, {X: float64(n) - 0.5, Y: 0}})
	if err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	zero.Width = vg.Points(0.8)
	p.Add(zero)
	for k, r := range iv.Lines {
		if !finite(r.Y) {
			return nil, fmt.Errorf("plot: Intervals %q: reference %q is %g", iv.Title, r.Label, r.Y)
		}
		line, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: r.Y}, {X: float64(n) - 0.5, Y: r.Y}})
		if err != nil {
			return nil, fmt.Errorf("plot: %w", err)
		}
		line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		line.Color = plotutil.Color(k + 1)
		p.Add(line)
		p.Legend.Add(r.Label, line)
		lo, hi = math.Min(lo, r.Y), math.Max(hi, r.Y)
	}
	if len(iv.Lines) > 0 {
		p.Legend.TextStyle = legendStyle()
		p.Legend.Top = true
	}
	p.NominalX(iv.Labels...)
	p.X.Min, p.X.Max = -0.5, float64(n)-0.5 // every point and whisker inside, not on the frame
	p.X.Tick.Label.Rotation = math.Pi / 6
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	pad := 0.08 * (hi - lo)
	if pad == 0 {
		pad = 1
	}
	p.Y.Min, p.Y.Max = lo-pad, hi+pad
	return p, nil
}

// Render returns the chart as SVG and PNG.
func (iv Intervals) Render() (svg, png []byte, err error) {
	p, err := iv.build()
	return renderChart(p, err, iv.Width, iv.Height)
}

// Show renders the chart and displays it in the notebook.
func (iv Intervals) Show() error { return showChart(iv.Title, iv.Render) }
