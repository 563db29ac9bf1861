package plot

import (
	"flag"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/image/font/sfnt"
	gonum "gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestDecadeLabel(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{1, "10⁰"},
		{0.9999999999999998, "10⁰"}, // gonum's LogTicks label for 1
		{9.999999999999997e-06, "10⁻⁵"},
		{1e-6, "10⁻⁶"},
		{1.0000000000000002e-06, "10⁻⁶"},
		{0.1, "10⁻¹"},
		{10, "10¹"},
		{1000, "10³"},
		{999.9999999999999, "10³"},
		{1e-12, "10⁻¹²"},
		{1e23, "10²³"},
		{1e-300, "10⁻³⁰⁰"},
		{2.9e-6, "10⁻⁶"}, // log10 = -5.54, nearest decade
		{4e-6, "10⁻⁵"},   // log10 = -5.40
		{0, "0"},
		{-1, "-1"},
		{math.NaN(), "NaN"},
		{math.Inf(1), "+Inf"},
	}
	for _, tc := range tests {
		if got := DecadeLabel(tc.v); got != tc.want {
			t.Errorf("DecadeLabel(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

// labels are the labels of the labelled ticks, by value.
func labels(ticks []gonum.Tick) []string {
	ticks = slices.Clone(ticks)
	slices.SortStableFunc(ticks, func(a, b gonum.Tick) int { return cmpFloat(a.Value, b.Value) })
	var out []string
	for _, t := range ticks {
		if t.Label != "" {
			out = append(out, t.Label)
		}
	}
	return out
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestLogTickerLabels(t *testing.T) {
	tests := []struct {
		name     string
		min, max float64
		want     []string
	}{
		{"1 to 1e-12", 1e-12, 1, strings.Fields("10⁻¹² 10⁻¹¹ 10⁻¹⁰ 10⁻⁹ 10⁻⁸ 10⁻⁷ 10⁻⁶ 10⁻⁵ 10⁻⁴ 10⁻³ 10⁻² 10⁻¹ 10⁰")},
		{"noisy powers of ten", 9.999999999999997e-06, 0.9999999999999998, strings.Fields("10⁻⁵ 10⁻⁴ 10⁻³ 10⁻² 10⁻¹ 10⁰")},
		{"data between decades", 3e-7, 0.5, strings.Fields("10⁻⁶ 10⁻⁵ 10⁻⁴ 10⁻³ 10⁻² 10⁻¹")},
		{"1e-6 to 1e3", 1e-6, 1e3, strings.Fields("10⁻⁶ 10⁻⁵ 10⁻⁴ 10⁻³ 10⁻² 10⁻¹ 10⁰ 10¹ 10² 10³")},
		{"seconds", 0.012, 3.5, strings.Fields("10⁻¹ 10⁰")},
		{"iterations", 1, 5000, strings.Fields("10⁰ 10¹ 10² 10³")},
		{"two decades", 0.5, 20, strings.Fields("10⁰ 10¹")},
		{"30 decades: every third", 1e-30, 1, strings.Fields("10⁻³⁰ 10⁻²⁷ 10⁻²⁴ 10⁻²¹ 10⁻¹⁸ 10⁻¹⁵ 10⁻¹² 10⁻⁹ 10⁻⁶ 10⁻³ 10⁰")},
		{"one decade inside", 0.3, 2, strings.Fields("0.5 1 2")},
		{"one decade, wide", 0.15, 8, strings.Fields("0.2 0.5 1 2 5")},
		{"within a decade", 0.25, 0.45, strings.Fields("0.3 0.4")},
		{"small, within a decade", 2e-7, 8e-7, strings.Fields("2×10⁻⁷ 3×10⁻⁷ 4×10⁻⁷ 5×10⁻⁷ 6×10⁻⁷ 7×10⁻⁷ 8×10⁻⁷")},
		{"large, within a decade", 1.5e6, 7e6, strings.Fields("2×10⁶ 3×10⁶ 4×10⁶ 5×10⁶ 6×10⁶ 7×10⁶")},
		{"across a decade", 0.04, 0.3, strings.Fields("0.05 0.1 0.2")},
		{"ten units", 12, 19, strings.Fields("12 15 18")},
		{"narrow", 0.31, 0.39, strings.Fields("0.31 0.33 0.35 0.37 0.39")},
		{"very narrow", 1.0001, 1.0003, strings.Fields("1.0001 1.0002 1.0003")},
		{"one value", 0.30000000000000004, 0.30000000000000004, []string{"0.3"}},
		{"zero", 0, 1, nil},
		{"negative", -1, 1, nil},
		{"reversed", 2, 1, nil},
		{"NaN", math.NaN(), 1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := labels(LogTicker{}.Ticks(tc.min, tc.max))
			if !slices.Equal(got, tc.want) {
				t.Errorf("LogTicker{}.Ticks(%v, %v) labels %q, want %q", tc.min, tc.max, got, tc.want)
			}
		})
	}
}

// goodLabel is a label LogTicker may write: a short decimal, a power of ten,
// or m×10ⁿ.
var goodLabel = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?|([0-9](\.[0-9]+)?×)?10⁻?[⁰¹²³⁴⁵⁶⁷⁸⁹]+)$`)

// Over many ranges LogTicker labels at least two ticks (one when min = max),
// on the axis, in the forms of goodLabel with at most maxSigDigits digits,
// all different, and leaves its minor ticks unlabelled.
func TestLogTickerLabelsAreShort(t *testing.T) {
	digits := regexp.MustCompile(`[0-9]`)
	for lo := -14.0; lo < 4; lo += 0.37 {
		for _, width := range []float64{0, 1e-4, 0.01, 0.1, 0.3, 0.7, 0.99, 1, 1.5, 2.2, 5, 13, 40} {
			min, max := math.Pow(10, lo), math.Pow(10, lo+width)
			ticks := LogTicker{}.Ticks(min, max)
			got := labels(ticks)
			want := 2
			if width == 0 {
				want = 1
			}
			if len(got) < want {
				t.Errorf("[%g, %g]: labels %q, want at least %d", min, max, got, want)
			}
			seen := map[string]bool{}
			for _, l := range got {
				if !goodLabel.MatchString(l) || len(digits.FindAllString(strings.TrimLeft(strings.SplitN(l, "×", 2)[0], "0."), -1)) > maxSigDigits {
					t.Errorf("[%g, %g]: label %q", min, max, l)
				}
				if seen[l] {
					t.Errorf("[%g, %g]: label %q twice in %q", min, max, l, got)
				}
				seen[l] = true
			}
			for _, tk := range ticks {
				if tk.Value < min*(1-1e-9) || tk.Value > max*(1+1e-9) {
					t.Errorf("[%g, %g]: tick %v off the axis", min, max, tk)
				}
			}
		}
	}
}

// The full ticks of a few axes, minor ones included, by value, are in
// testdata/logticks.golden (go test -update rewrites it).
func TestLogTickerGolden(t *testing.T) {
	var b strings.Builder
	for _, r := range [][2]float64{{1e-3, 1}, {0.012, 3.5}, {1e-30, 1}, {0.3, 2}, {0.25, 0.45}, {0.31, 0.39}, {2e-7, 8e-7}} {
		fmt.Fprintf(&b, "[%g, %g]\n", r[0], r[1])
		ticks := LogTicker{}.Ticks(r[0], r[1])
		slices.SortStableFunc(ticks, func(a, b gonum.Tick) int { return cmpFloat(a.Value, b.Value) })
		for _, tk := range ticks {
			label := tk.Label
			if tk.IsMinor() {
				label = "-"
			}
			fmt.Fprintf(&b, "\t%-8s %s\n", strconv.FormatFloat(tk.Value, 'g', 6, 64), label)
		}
	}
	const golden = "testdata/logticks.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("ticks differ from %s (go test -update rewrites it):\n%s", golden, b.String())
	}
}

// A figure's log axes are marked by LogTicker: a log-y figure from 1 to
// 1e-12 against log-x seconds labels its decades, and the SVG shows them.
func TestFigureLogAxesLabelDecades(t *testing.T) {
	var secs, errs []float64
	for i := range 13 {
		secs = append(secs, 0.012*math.Pow(2, float64(i)))
		errs = append(errs, math.Pow(10, -float64(i)))
	}
	errs[0] = 0.9999999999999998
	errs[5] = 9.999999999999997e-06
	errs[12] = 1e-12
	fig := Figure{Title: "error", XLabel: "seconds", YLabel: "marginal error", LogX: true, LogY: true,
		Series: []Series{{Name: "sinkhorn", X: secs, Y: errs}}}
	p, err := fig.Plot()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		axis string
		a    *gonum.Axis
		want []string
	}{
		{"y", &p.Y, strings.Fields("10⁻¹² 10⁻¹¹ 10⁻¹⁰ 10⁻⁹ 10⁻⁸ 10⁻⁷ 10⁻⁶ 10⁻⁵ 10⁻⁴ 10⁻³ 10⁻² 10⁻¹ 10⁰")},
		{"x", &p.X, strings.Fields("10⁻¹ 10⁰ 10¹")}, // 0.012 … 49 s
	}
	svg, _, err := fig.Render()
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string]bool{}
	for _, m := range textAt.FindAllStringSubmatch(string(svg), -1) {
		texts[m[3]] = true
	}
	for _, tc := range tests {
		if _, ok := tc.a.Tick.Marker.(LogTicker); !ok {
			t.Errorf("the %s axis is marked by %T, want LogTicker", tc.axis, tc.a.Tick.Marker)
		}
		got := labels(tc.a.Tick.Marker.Ticks(tc.a.Min, tc.a.Max))
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s axis [%g, %g]: labels %q, want %q", tc.axis, tc.a.Min, tc.a.Max, got, tc.want)
		}
		for _, l := range tc.want {
			if !texts[l] {
				t.Errorf("%s axis: no text %q in the SVG", tc.axis, l)
			}
		}
	}
	if strings.Contains(string(svg), "0.99999") || strings.Contains(string(svg), "e-0") {
		t.Error("the SVG has a float-noise tick label")
	}
}

// DejaVu Sans, the figures' font, draws the superscripts of the decade
// labels and the × of m×10ⁿ.
func TestFontHasSuperscripts(t *testing.T) {
	registerFonts()
	face := font.DefaultCache.Lookup(sans, 9)
	if face.Face == nil {
		t.Fatal("the DejaVu Sans face is not registered")
	}
	var buf sfnt.Buffer
	for _, r := range "⁰¹²³⁴⁵⁶⁷⁸⁹⁻×" {
		if i, err := face.Face.GlyphIndex(&buf, r); err != nil || i == 0 {
			t.Errorf("the figure font has no glyph for %c U+%04X (index %d, %v)", r, r, i, err)
		}
	}
}
