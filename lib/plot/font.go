package plot

import (
	"sync"

	"codeberg.org/go-fonts/dejavu/dejavusans"
	"codeberg.org/go-fonts/dejavu/dejavusansbold"
	xfont "golang.org/x/image/font"
	"golang.org/x/image/font/opentype"
	gonum "gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
)

// sans is the font of every figure: DejaVu Sans, which has the mathematical
// symbols papers use (⊥, ≥, ±, →); gonum's default Liberation fonts lack ⊥.
var sans = font.Font{Typeface: "DejaVu", Variant: "Sans"}

var registerFonts = sync.OnceFunc(func() {
	for _, f := range []struct {
		ttf    []byte
		weight xfont.Weight
	}{{dejavusans.TTF, xfont.WeightNormal}, {dejavusansbold.TTF, xfont.WeightBold}} {
		face, err := opentype.Parse(f.ttf)
		if err != nil {
			panic("plot: the embedded DejaVu font does not parse: " + err.Error()) // a broken build, not input
		}
		fnt := sans
		fnt.Weight = f.weight
		font.DefaultCache.Add(font.Collection{{Font: fnt, Face: face}})
	}
})

// setFont sets every text of p in DejaVu Sans.
func setFont(p *gonum.Plot) {
	registerFonts()
	p.Title.TextStyle.Font = font.From(sans, 12)
	for _, a := range []*gonum.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sans, 11)
		a.Tick.Label.Font = font.From(sans, 9)
	}
}

// legendStyle is the legend's text style.
func legendStyle() text.Style {
	registerFonts()
	st := gonum.NewLegend().TextStyle
	st.Font = font.From(sans, 9)
	return st
}
