package plot

import (
	"fmt"
	"math"

	gonum "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/gorepro/gorepro/lib/notebook"
)

// Bars is a bar chart of one value per category with an error bar each
// (e.g. a mean over seeds ± its standard deviation), and optionally a
// dashed reference line (e.g. the baseline's value).
type Bars struct {
	Title, YLabel string
	Labels        []string  // one per bar, shown under it (rotated)
	Values        []float64 // bar heights
	Errors        []float64 // half-lengths of the error bars (nil: none)
	// Reference, if not NaN and RefLabel is set, draws a dashed horizontal line.
	Reference float64
	RefLabel  string
	// YMin and YMax fix the y range when YMax > YMin (the bars are cut at
	// YMin: the axis then does not start at 0, which its ticks show).
	YMin, YMax    float64
	Width, Height vg.Length
}

func (b Bars) build() (*gonum.Plot, error) {
	n := len(b.Values)
	if n == 0 || len(b.Labels) != n || (b.Errors != nil && len(b.Errors) != n) {
		return nil, fmt.Errorf("plot: Bars %q: %d labels, %d values, %d errors", b.Title, len(b.Labels), n, len(b.Errors))
	}
	for i, v := range b.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("plot: Bars %q: %s is %g", b.Title, b.Labels[i], v)
		}
	}
	p := gonum.New()
	setFont(p)
	p.Title.Text, p.Y.Label.Text = b.Title, b.YLabel
	vals := make(plotter.Values, n)
	copy(vals, b.Values)
	bars, err := plotter.NewBarChart(vals, vg.Points(18))
	if err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	bars.Color = plotutil.Color(0)
	bars.LineStyle.Width = 0
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil
	p.Add(grid, bars)
	if b.Errors != nil {
		pts := make(plotter.XYs, n)
		errs := make(plotter.YErrors, n)
		for i := range n {
			pts[i].X, pts[i].Y = float64(i), b.Values[i]
			errs[i].Low, errs[i].High = b.Errors[i], b.Errors[i]
		}
		eb, err := plotter.NewYErrorBars(struct {
			plotter.XYs
			plotter.YErrors
		}{pts, errs})
		if err != nil {
			return nil, fmt.Errorf("plot: %w", err)
		}
		eb.LineStyle.Width = vg.Points(1.2)
		p.Add(eb)
	}
	if b.RefLabel != "" && !math.IsNaN(b.Reference) {
		ref, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: b.Reference}, {X: float64(n) - 0.5, Y: b.Reference}})
		if err != nil {
			return nil, fmt.Errorf("plot: %w", err)
		}
		ref.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		ref.Color = plotutil.Color(1)
		p.Add(ref)
		p.Legend.Add(b.RefLabel, ref)
		p.Legend.TextStyle = legendStyle()
		p.Legend.Top = true
	}
	p.NominalX(b.Labels...)
	p.X.Tick.Label.Rotation = math.Pi / 6
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	if b.YMax > b.YMin { // after every Add, which widens the range to the data
		p.Y.Min, p.Y.Max = b.YMin, b.YMax
	}
	return p, nil
}

// Render returns the chart as SVG and PNG.
func (b Bars) Render() (svg, png []byte, err error) {
	p, err := b.build()
	return renderChart(p, err, b.Width, b.Height)
}

// Show renders the chart and displays it in the notebook.
func (b Bars) Show() error { return showChart(b.Title, b.Render) }

// renderChart renders a chart that build returned (with its error), 16×10
// cm unless a size is given.
func renderChart(p *gonum.Plot, err error, w, h vg.Length) (svg, png []byte, _ error) {
	if err != nil {
		return nil, nil, err
	}
	if w == 0 {
		w = 16 * vg.Centimeter
	}
	if h == 0 {
		h = 10 * vg.Centimeter
	}
	return render(w, h, p.Draw)
}

// showChart displays what render returns in the notebook under title.
func showChart(title string, render func() (svg, png []byte, err error)) error {
	svg, png, err := render()
	if err != nil {
		return err
	}
	notebook.Image(title, svg, png)
	return nil
}
