// Package stats holds the statistics behind reproduction claims: "method A
// beats method B" or "we reproduce the paper's number" is a statement about
// a mean over units — training seeds, evaluation queries, benchmark problems —
// and it needs an interval and a paired test, not a single number.
//
// What each is for:
//
//   - MeanInterval (MeanCI, MeanStd): the mean of one metric over n units,
//     with the sample standard deviation and the Student t interval
//     mean ± t_{(1+level)/2, n-1} · s/√n, where s is the sample standard
//     deviation (divisor n-1). It is exact for normal units and the right
//     default for few units (3–10 seeds). It is the interval of
//     scipy.stats.t.interval(level, n-1, loc=mean, scale=s/√n).
//   - Compare: a paired comparison of a against b over the same units
//     (a[i] and b[i] are the same seed, query or problem). It reports the
//     mean difference d̄ = mean(a[i]-b[i]), its interval (Student t of the
//     differences for few units, StudentT; or the percentile bootstrap of the
//     mean difference resampling units, Bootstrap, for many units such as
//     queries), a two-sided paired permutation p-value, and wins / losses /
//     ties. PairedPermutation and PairedBootstrapCI are its p and bootstrap
//     interval as plain numbers.
//   - SeedTable (SeedRows): a text table of several metrics over seeds for
//     notebooks: name, n, mean ± std, the t interval and the per-unit values.
//
// The paired permutation test flips signs: under the null hypothesis that a
// and b are exchangeable within each unit, each difference d[i] is as likely
// as -d[i], so the observed mean difference is compared with the 2^n means
// Σ s[i]·d[i] / n over sign vectors s ∈ {±1}^n. The two-sided p-value is the
// fraction of sign vectors whose |mean| is at least the observed |mean|. It
// is exact (all 2^n sign vectors enumerated) when 2^n ≤ rounds, else a Monte
// Carlo estimate from `rounds` random sign vectors, (1+count)/(1+rounds)
// (never 0, and a valid p-value: Phipson & Smyth 2010). This is the p-value
// of scipy.stats.permutation_test((a, b), mean of x-y,
// permutation_type='samples', alternative='two-sided'): scipy's two-sided
// p-value 2·min(P(T ≤ t), P(T ≥ t)) equals P(|T| ≥ |t|) here because the
// sign-flip null distribution is symmetric (s and -s give opposite means),
// and both reduce to 1 when the observed mean is 0. See TieTolerance for the
// only difference (which means count as ties).
//
// The percentile bootstrap resamples the n units with replacement `rounds`
// times, takes the mean difference of each resample and reports the
// (1-level)/2 and (1+level)/2 quantiles of these means, linearly
// interpolated between order statistics (numpy's default "linear" method,
// as in scipy.stats.bootstrap(method='percentile')).
//
// Randomness is math/rand/v2's PCG seeded with (seed, a fixed stream constant
// per use), so a result is a function of its inputs and the seed; the
// permutation and the bootstrap draw from different streams.
//
// Edge cases never panic and are never silently wrong: every number that
// cannot be computed is NaN, and the Reason field of the richer results
// (Interval, Comparison) says why in one line. NaN or ±Inf in the inputs
// makes the outputs that depend on them NaN, with the unit index; fewer than
// two units give no interval and no p-value (the mean of one unit is still
// reported); a level outside (0, 1) or fewer than one round gives NaN; paired
// inputs of different lengths give NaN everywhere. All differences zero give
// the interval [0, 0] and p = 1.
package stats

import (
	"fmt"
	"math"
	"strings"

	"gonum.org/v1/gonum/stat/distuv"
)

// DefaultLevel is the confidence level CompareOptions uses when Level is 0.
const DefaultLevel = 0.95

// DefaultRounds is the number of permutation and bootstrap rounds
// CompareOptions uses when Rounds is 0. With it the permutation p-value is
// exact up to n = 13 units (2^13 ≤ 10000).
const DefaultRounds = 10000

// TieTolerance is the relative tolerance of the permutation test's
// comparison: a sign-flipped sum Σ s[i]·d[i] counts as at least as extreme as
// the observed sum Σ d[i] when |Σ s[i]·d[i]| ≥ |Σ d[i]| - TieTolerance·Σ|d[i]|.
// Sums that are equal in exact arithmetic (ties, e.g. from integer or
// repeated differences) then count as ties despite rounding. The tolerance is
// relative to Σ|d[i]|, the largest possible |sum| and the scale of its
// rounding error, rather than to the observed sum (scipy uses 100 machine
// epsilons of the observed statistic): when the observed sum is 0 in exact
// arithmetic but a rounding residue in floating point (d = 0.1, 0.2, -0.3)
// the p-value is still 1. The two definitions only differ on null sums
// within 1e-12·Σ|d[i]| of the observed one that are not ties in exact
// arithmetic.
const TieTolerance = 1e-12

// Random streams of the PCG generator (its second seed word), one per use.
const (
	streamPermutation = 0x70657266_6c697073 // "perflips"
	streamBootstrap   = 0x626f6f74_73747270 // "bootstrp"
)

// Interval is a mean with a confidence interval over n units (seeds, queries, problems).
type Interval struct {
	N      int
	Mean   float64
	Std    float64 // sample standard deviation (n-1); NaN when n < 2
	Lo, Hi float64 // NaN when it cannot be computed, with Reason saying why
	Level  float64
	Reason string // empty when Lo/Hi are numbers; else one line, e.g. "n = 1 < 2: no interval", "NaN in the values (unit 3)"
}

// MeanInterval returns the mean of x, its sample standard deviation s
// (divisor n-1) and the Student t interval of the mean at confidence level:
// mean ± t_{(1+level)/2, n-1} · s/√n, the interval of
// scipy.stats.t.interval(level, n-1, loc=mean, scale=s/√n).
//
// Edge cases: n = 0 gives NaN everywhere; NaN or ±Inf in x gives NaN
// everywhere with the first bad unit in Reason; n = 1 gives the mean (the
// value) with Std, Lo and Hi NaN; a level outside (0, 1) gives NaN Lo and
// Hi (Mean and Std are still reported); constant values give Std = 0 and
// Lo = Hi = Mean. Reason is empty exactly when Lo and Hi are numbers.
func MeanInterval(x []float64, level float64) Interval {
	nan := math.NaN()
	iv := Interval{N: len(x), Mean: nan, Std: nan, Lo: nan, Hi: nan, Level: level}
	if len(x) == 0 {
		iv.Reason = "n = 0: no values"
		return iv
	}
	if r := nonFinite(x, "the values"); r != "" {
		iv.Reason = r
		return iv
	}
	iv.Mean, iv.Std = meanStd(x)
	var why []string
	if len(x) < 2 {
		why = append(why, "n = 1 < 2: no interval")
	}
	if r := levelReason(level); r != "" {
		why = append(why, r)
	}
	if len(why) == 0 {
		iv.Lo, iv.Hi = tInterval(iv.Mean, iv.Std, len(x), level)
		if !isFinite(iv.Mean) || !isFinite(iv.Std) || !isFinite(iv.Lo) || !isFinite(iv.Hi) {
			iv.Lo, iv.Hi = nan, nan
			why = append(why, "overflow: the values are too large for float64 arithmetic")
		}
	}
	iv.Reason = strings.Join(why, "; ")
	return iv
}

// MeanCI returns the mean of x and its Student t interval [lo, hi] at
// confidence level (see MeanInterval for the math). lo and hi are NaN when
// there is no interval (n < 2, NaN or ±Inf in x, level outside (0, 1));
// MeanInterval says why.
func MeanCI(x []float64, level float64) (mean, lo, hi float64) {
	iv := MeanInterval(x, level)
	return iv.Mean, iv.Lo, iv.Hi
}

// MeanStd returns the mean of x and its sample standard deviation
// √(Σ(x[i]-mean)²/(n-1)). Both are NaN for n = 0 or when x holds NaN or
// ±Inf; std is NaN for n = 1; constant values give std = 0 exactly.
func MeanStd(x []float64) (mean, std float64) {
	if len(x) == 0 || nonFinite(x, "") != "" {
		return math.NaN(), math.NaN()
	}
	return meanStd(x)
}

// Wins counts the units where a[i] > b[i] (wins), a[i] < b[i] (losses) and
// a[i] == b[i] (ties). A unit where a[i] or b[i] is NaN is none of the three,
// so wins+losses+ties < len(a) tells that NaN was there. a and b of different
// lengths give -1, -1, -1.
func Wins(a, b []float64) (wins, losses, ties int) {
	if len(a) != len(b) {
		return -1, -1, -1
	}
	for i := range a {
		switch {
		case a[i] > b[i]:
			wins++
		case a[i] < b[i]:
			losses++
		case a[i] == b[i]:
			ties++
		}
	}
	return wins, losses, ties
}

// IntervalKind picks how a paired comparison's interval is computed.
type IntervalKind string

const (
	// StudentT is the t interval of the paired differences,
	// d̄ ± t_{(1+level)/2, n-1} · s_d/√n (few units: seeds).
	StudentT IntervalKind = "t"
	// Bootstrap is the percentile bootstrap interval of the mean difference,
	// resampling units with replacement (many units: queries).
	Bootstrap IntervalKind = "bootstrap"
)

// Comparison is a paired comparison of a against b over the same units.
type Comparison struct {
	N                  int
	MeanA, MeanB       float64
	Diff               float64 // mean of a[i]-b[i]
	Lo, Hi             float64 // interval of Diff at Level (NaN with Reason when impossible)
	Level              float64
	Interval           IntervalKind
	P                  float64 // two-sided paired permutation p-value (NaN with Reason when impossible)
	Wins, Losses, Ties int     // units where a > b, a < b, a == b
	Reason             string
}

// CompareOptions are the settings of Compare; the zero value is the default.
type CompareOptions struct {
	Level    float64      // default 0.95
	Interval IntervalKind // default StudentT
	Rounds   int          // permutation and bootstrap rounds, default 10000
	Seed     uint64
}

// Compare compares a against b paired over the same units (a[i] and b[i]
// are the same seed, query or problem). With d[i] = a[i] - b[i]:
//
//   - Diff is the mean d̄ of d; MeanA and MeanB are the means of a and b.
//   - [Lo, Hi] is the interval of d̄ at Level: for StudentT
//     d̄ ± t_{(1+level)/2, n-1} · s_d/√n (s_d the sample standard deviation of
//     d); for Bootstrap the (1-level)/2 and (1+level)/2 quantiles (linear
//     interpolation) of the means of Rounds resamples of d with replacement.
//     Constant differences give Lo = Hi = Diff for both.
//   - P is the two-sided sign-flip permutation p-value of d̄: the fraction of
//     sign vectors s ∈ {±1}^n with |Σ s[i]·d[i]| ≥ |Σ d[i]| (up to
//     TieTolerance); all 2^n are enumerated when 2^n ≤ Rounds (p = count/2^n),
//     else Rounds random sign vectors give the Monte Carlo estimate
//     (1+count)/(1+Rounds). All differences zero give P = 1.
//   - Wins, Losses, Ties count a[i] > b[i], a[i] < b[i], a[i] == b[i] (see Wins).
//
// Options: Level 0 means DefaultLevel, Interval "" means StudentT, Rounds 0
// means DefaultRounds; a Level outside (0, 1), an unknown Interval or a
// negative Rounds give NaN where they are used, with a Reason.
//
// Edge cases, each with a Reason: len(a) != len(b) gives N = 0 and NaN in
// every number (counts 0); NaN or ±Inf in a (b) makes MeanA (MeanB), Diff,
// Lo, Hi and P NaN, naming the unit; n = 0 gives NaN everywhere; n = 1 gives
// the means and Diff with NaN Lo, Hi and P.
func Compare(a, b []float64, opts CompareOptions) Comparison {
	return compare(a, b, opts, true, true)
}

// compare is Compare computing only the p-value (wantP) and/or the interval
// (wantInterval); what it does not compute is NaN, without a reason.
func compare(a, b []float64, opts CompareOptions, wantP, wantInterval bool) Comparison {
	nan := math.NaN()
	if opts.Level == 0 {
		opts.Level = DefaultLevel
	}
	if opts.Interval == "" {
		opts.Interval = StudentT
	}
	if opts.Rounds == 0 {
		opts.Rounds = DefaultRounds
	}
	c := Comparison{
		N: len(a), MeanA: nan, MeanB: nan, Diff: nan, Lo: nan, Hi: nan,
		Level: opts.Level, Interval: opts.Interval, P: nan,
	}
	if len(a) != len(b) {
		c.N = 0
		c.Reason = fmt.Sprintf("len(a) = %d != len(b) = %d: not paired", len(a), len(b))
		return c
	}
	n := len(a)
	c.Wins, c.Losses, c.Ties = Wins(a, b)
	if n == 0 {
		c.Reason = "n = 0: no units"
		return c
	}
	var why []string
	ra, rb := nonFinite(a, "a"), nonFinite(b, "b")
	if ra == "" {
		c.MeanA, _ = meanStd(a)
	}
	if rb == "" {
		c.MeanB, _ = meanStd(b)
	}
	if ra != "" || rb != "" {
		for _, r := range []string{ra, rb} {
			if r != "" {
				why = append(why, r)
			}
		}
		c.Reason = strings.Join(why, "; ")
		return c
	}
	d := make([]float64, n)
	for i := range a {
		d[i] = a[i] - b[i]
		if !isFinite(d[i]) {
			c.Reason = fmt.Sprintf("overflow: a[%d]-b[%d] is not a float64 (unit %d)", i, i, i)
			return c
		}
	}
	var sd float64
	c.Diff, sd = meanStd(d)
	if !isFinite(c.Diff) || (n > 1 && !isFinite(sd)) {
		c.Diff = nan
		c.Reason = "overflow: the differences are too large for float64 arithmetic"
		return c
	}
	if n < 2 {
		c.Reason = "n = 1 < 2: no interval or p-value"
		return c
	}
	constant := sd == 0
	roundsOK := opts.Rounds >= 1
	if !roundsOK {
		why = append(why, fmt.Sprintf("rounds = %d < 1", opts.Rounds))
	}
	if wantP && roundsOK {
		c.P = permutationP(d, opts.Rounds, opts.Seed)
	}
	if wantInterval {
		levelWhy := levelReason(opts.Level)
		if levelWhy != "" {
			why = append(why, levelWhy)
		}
		computed := false
		switch opts.Interval {
		case StudentT:
			if levelWhy == "" {
				c.Lo, c.Hi = tInterval(c.Diff, sd, n, opts.Level)
				computed = true
			}
		case Bootstrap:
			if levelWhy == "" && roundsOK {
				if constant {
					c.Lo, c.Hi = c.Diff, c.Diff
				} else {
					c.Lo, c.Hi = bootstrapCI(d, opts.Level, opts.Rounds, opts.Seed)
				}
				computed = true
			}
		default:
			why = append(why, fmt.Sprintf("unknown interval kind %q (want %q or %q)", opts.Interval, StudentT, Bootstrap))
		}
		if computed && (!isFinite(c.Lo) || !isFinite(c.Hi)) {
			c.Lo, c.Hi = nan, nan
			why = append(why, "overflow: the interval is too wide for float64")
		}
	}
	c.Reason = strings.Join(why, "; ")
	return c
}

// PairedPermutation returns the two-sided paired permutation p-value of the
// mean difference of a and b: with d[i] = a[i]-b[i], the fraction of sign
// vectors s ∈ {±1}^n with |Σ s[i]·d[i]| ≥ |Σ d[i]| (ties within
// TieTolerance count). All 2^n sign vectors are enumerated when
// 2^n ≤ rounds (p = count/2^n, scipy.stats.permutation_test's exact
// p-value); otherwise `rounds` random sign vectors, drawn from PCG seeded
// with seed, give the Monte Carlo estimate (1+count)/(1+rounds). All
// differences zero give 1. It is NaN for n < 2, len(a) != len(b), NaN or
// ±Inf in a or b, and rounds < 1 (Compare says why).
func PairedPermutation(a, b []float64, rounds int, seed uint64) float64 {
	if rounds < 1 {
		return math.NaN()
	}
	return compare(a, b, CompareOptions{Rounds: rounds, Seed: seed}, true, false).P
}

// PairedBootstrapCI returns the percentile bootstrap interval of the mean
// paired difference mean(a[i]-b[i]) at confidence level: the (1-level)/2 and
// (1+level)/2 quantiles (linear interpolation between order statistics, as
// numpy and scipy.stats.bootstrap(method='percentile')) of the mean
// differences of `rounds` resamples of the n pairs with replacement, drawn
// from PCG seeded with seed. Constant differences give [d, d]. It is NaN for
// n < 2, len(a) != len(b), NaN or ±Inf in a or b, level outside (0, 1) and
// rounds < 1 (Compare with Interval: Bootstrap says why).
func PairedBootstrapCI(a, b []float64, level float64, rounds int, seed uint64) (lo, hi float64) {
	if rounds < 1 || levelReason(level) != "" {
		return math.NaN(), math.NaN()
	}
	c := compare(a, b, CompareOptions{Level: level, Interval: Bootstrap, Rounds: rounds, Seed: seed}, false, true)
	return c.Lo, c.Hi
}

// isFinite reports whether v is neither NaN nor ±Inf.
func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// nonFinite returns "" when every x[i] is finite, else a one-line reason
// naming what and the first bad unit, e.g. "NaN in a (unit 3)".
func nonFinite(x []float64, what string) string {
	first, count := -1, 0
	for i, v := range x {
		if !isFinite(v) {
			if first < 0 {
				first = i
			}
			count++
		}
	}
	if first < 0 {
		return ""
	}
	kind := "NaN"
	if math.IsInf(x[first], 1) {
		kind = "+Inf"
	} else if math.IsInf(x[first], -1) {
		kind = "-Inf"
	}
	r := fmt.Sprintf("%s in %s (unit %d)", kind, what, first)
	if count > 1 {
		r = fmt.Sprintf("%s in %s (unit %d; %d non-finite units in all)", kind, what, first, count)
	}
	return r
}

// levelReason returns "" when level is in (0, 1), else why not.
func levelReason(level float64) string {
	if level > 0 && level < 1 {
		return ""
	}
	return fmt.Sprintf("level %g outside (0, 1)", level)
}

// meanStd returns the mean and sample standard deviation (NaN for n = 1)
// of finite, non-empty x. Constant x gives exactly (x[0], 0). Sums that
// overflow are recomputed scaled.
func meanStd(x []float64) (mean, std float64) {
	n := float64(len(x))
	constant := true
	for _, v := range x {
		if v != x[0] {
			constant = false
			break
		}
	}
	if constant {
		if len(x) < 2 {
			return x[0], math.NaN()
		}
		return x[0], 0
	}
	var sum float64
	for _, v := range x {
		sum += v
	}
	mean = sum / n
	if math.IsInf(sum, 0) {
		mean = 0
		for _, v := range x {
			mean += v / n
		}
	}
	if len(x) < 2 {
		return mean, math.NaN()
	}
	var ss float64
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	std = math.Sqrt(ss / (n - 1))
	if math.IsInf(ss, 0) {
		var scale float64
		for _, v := range x {
			scale = max(scale, math.Abs(v-mean))
		}
		ss = 0
		for _, v := range x {
			ss += ((v - mean) / scale) * ((v - mean) / scale)
		}
		std = scale * math.Sqrt(ss/(n-1))
	}
	return mean, std
}

// tInterval is mean + (std/√n)·t_q(n-1) for q = (1∓level)/2, as scipy's
// t.interval(level, n-1, loc=mean, scale=std/√n) computes it.
func tInterval(mean, std float64, n int, level float64) (lo, hi float64) {
	if std == 0 {
		return mean, mean
	}
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(n - 1)}
	sem := std / math.Sqrt(float64(n))
	return mean + sem*t.Quantile((1-level)/2), mean + sem*t.Quantile((1+level)/2)
}
