package plot

import (
	"math"
	"strconv"
	"strings"

	gonum "gonum.org/v1/plot"
)

// LogTicker marks a logarithmic axis; Figure uses it for LogX and LogY.
//
// An axis that holds at least two powers of ten labels them, 10⁰, 10⁻¹, …,
// 10⁻⁶, 10³ (see DecadeLabel), with unlabelled minor ticks at 2…9 × 10ⁿ;
// past MaxDecadeLabels decades only every k-th decade is labelled and the
// others are minor ticks. A narrower axis labels a few nice values (1, 2 and
// 5 × 10ⁿ, or every m × 10ⁿ when that gives more labels but not too many,
// else round linear steps) with no more significant digits than they need:
// 0.3, 2×10⁻⁷, 0.35, never a 16-digit float.
//
// gonum's own LogTicks labels the decades with strconv.FormatFloat of a power
// of ten it builds by repeated multiplication: on an axis from 1e-12 to 1,
// 1e-5 comes out as 9.999999999999997e-06 and 1 as 0.9999999999999998.
type LogTicker struct{}

var _ gonum.Ticker = LogTicker{}

// MaxDecadeLabels is the most decades LogTicker labels on one axis (an axis
// from 1 to 1e-12 has all its 13 labelled); a wider axis labels every k-th.
const MaxDecadeLabels = 13

// maxNarrowLabels is the most m × 10ⁿ an axis with fewer than two decades
// labels when it labels every m in 1…9 (else it labels 1, 2 and 5 × 10ⁿ).
const maxNarrowLabels = 8

// superscripts are the digits ⁰…⁹; DejaVu Sans, the figures' font, has them
// and the superscript minus ⁻ (TestFontHasSuperscripts).
var superscripts = [10]rune{'⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'}

// superscript writes n in superscript digits, with ⁻ for a minus sign.
func superscript(n int) string {
	var b strings.Builder
	for _, r := range strconv.Itoa(n) {
		if r == '-' {
			b.WriteRune('⁻')
			continue
		}
		b.WriteRune(superscripts[r-'0'])
	}
	return b.String()
}

// DecadeLabel labels v as the power of ten nearest it on a log scale, in
// superscript: 1 → "10⁰", 1e-6 → "10⁻⁶", 1000 → "10³". The exponent is
// log10(v) rounded, so the floating-point noise of a computed power of ten
// does not show: 0.9999999999999998 → "10⁰", 9.999999999999997e-06 → "10⁻⁵".
// A v that is not positive and finite (no power of ten) is written as
// strconv.FormatFloat writes it ("0", "-1", "NaN").
func DecadeLabel(v float64) string {
	if !(v > 0) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return "10" + superscript(int(math.Round(math.Log10(v))))
}

// Ticks returns the ticks of a logarithmic axis from min to max (see
// LogTicker); none when min is not positive or max < min, which no log
// axis has.
func (LogTicker) Ticks(min, max float64) []gonum.Tick {
	if !(min > 0) || !(max >= min) || math.IsInf(max, 0) {
		return nil
	}
	if min == max {
		return []gonum.Tick{{Value: min, Label: shortLabel(min, sigDigits(min))}}
	}
	// A tick is on the axis when it is within a rounding error of it: a
	// series' largest value may be a power of ten computed as 0.9999999999999998.
	lo, hi := min*(1-1e-9), max*(1+1e-9)
	var decades []int
	for e := int(math.Floor(math.Log10(lo))); e <= int(math.Ceil(math.Log10(hi))); e++ {
		if v := math.Pow10(e); v >= lo && v <= hi {
			decades = append(decades, e)
		}
	}
	if len(decades) >= 2 {
		return decadeTicks(decades, lo, hi)
	}
	// 1, 2 and 5 × 10ⁿ when that labels three ticks or more, else every
	// m × 10ⁿ when that labels two to maxNarrowLabels.
	coarse := mantissaTicks([]int{1, 2, 5}, lo, hi)
	fine := mantissaTicks([]int{1, 2, 3, 4, 5, 6, 7, 8, 9}, lo, hi)
	switch nc, nf := labelled(coarse), labelled(fine); {
	case nc >= 3:
		return coarse
	case nf >= 2 && nf <= maxNarrowLabels:
		return fine
	case nc >= 2:
		return coarse
	}
	return linearTicks(min, max)
}

// decadeTicks labels the decades 10^e of e in decades (increasing, at
// least two) and marks 2…9 × 10ⁿ between lo and hi; when there are more
// than MaxDecadeLabels decades it labels the multiples of a step k and
// marks the other decades only.
func decadeTicks(decades []int, lo, hi float64) []gonum.Tick {
	n := len(decades)
	k := 1
	if n > MaxDecadeLabels {
		k = (n - 1 + MaxDecadeLabels - 2) / (MaxDecadeLabels - 1) // ⌈(n−1)/(MaxDecadeLabels−1)⌉
	}
	var ticks []gonum.Tick
	for _, e := range decades {
		t := gonum.Tick{Value: math.Pow10(e)}
		if mod(e, k) == 0 {
			t.Label = DecadeLabel(t.Value)
		}
		ticks = append(ticks, t)
	}
	if k > 1 {
		return ticks
	}
	for e := decades[0] - 1; e <= decades[n-1]; e++ {
		for m := 2; m <= 9; m++ {
			if v := float64(m) * math.Pow10(e); v >= lo && v <= hi {
				ticks = append(ticks, gonum.Tick{Value: v})
			}
		}
	}
	return ticks
}

// mod is e modulo k in 0…k-1.
func mod(e, k int) int {
	return ((e % k) + k) % k
}

// mantissaTicks labels m × 10ⁿ between lo and hi for m in mantissas and
// marks the other m × 10ⁿ (m in 1…9) as minor ticks.
func mantissaTicks(mantissas []int, lo, hi float64) []gonum.Tick {
	labelled := map[int]bool{}
	for _, m := range mantissas {
		labelled[m] = true
	}
	var ticks []gonum.Tick
	for e := int(math.Floor(math.Log10(lo))); e <= int(math.Floor(math.Log10(hi))); e++ {
		for m := 1; m <= 9; m++ {
			v := float64(m) * math.Pow10(e)
			if v < lo || v > hi {
				continue
			}
			t := gonum.Tick{Value: v}
			if labelled[m] {
				t.Label = shortLabel(v, 1)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// labelled counts the labelled ticks.
func labelled(ticks []gonum.Tick) int {
	n := 0
	for _, t := range ticks {
		if !t.IsMinor() {
			n++
		}
	}
	return n
}

// linearTicks are gonum's linear ticks between min and max (for an axis too
// narrow for any m × 10ⁿ), relabelled with the digits they need.
func linearTicks(min, max float64) []gonum.Tick {
	var ticks []gonum.Tick
	for _, t := range (gonum.DefaultTicks{}).Ticks(min, max) {
		if t.Value < min || t.Value > max || t.Value <= 0 {
			continue
		}
		if !t.IsMinor() {
			t.Label = shortLabel(t.Value, sigDigits(t.Value))
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// maxSigDigits is the most significant digits a tick label has.
const maxSigDigits = 6

// sigDigits is how many significant digits (at most maxSigDigits) write v
// to within a rounding error: 0.30000000000000004 needs 1.
func sigDigits(v float64) int {
	for s := 1; s < maxSigDigits; s++ {
		r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'e', s-1, 64), 64)
		if err == nil && math.Abs(r-v) <= 1e-9*math.Abs(v) {
			return s
		}
	}
	return maxSigDigits
}

// shortLabel writes v > 0 with sig significant digits: as a decimal from
// 0.001 to 99999 ("0.002", "0.35", "5000"), else as m×10ⁿ ("2×10⁻⁶", or
// "10⁻⁶" for m = 1).
func shortLabel(v float64, sig int) string {
	s := strconv.FormatFloat(v, 'e', sig-1, 64) // d.ddde±XX, rounded
	i := strings.IndexByte(s, 'e')
	exp, err := strconv.Atoi(s[i+1:])
	if err != nil {
		return s
	}
	if exp >= -3 && exp <= 4 {
		return strconv.FormatFloat(v, 'f', max(0, sig-1-exp), 64)
	}
	mantissa := s[:i]
	if strings.Contains(mantissa, ".") {
		mantissa = strings.TrimRight(strings.TrimRight(mantissa, "0"), ".")
	}
	if mantissa == "1" {
		return "10" + superscript(exp)
	}
	return mantissa + "×10" + superscript(exp)
}
