package stats

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/gorepro/gorepro/lib/backends/backendstest"
)

// The reference is scipy 1.17.1 (numpy 2.4.6) in the project venv, run by
// testdata/scipy_ref.py; $GOREPRO_REQUIRE_SCIPY makes its absence a failure.
const requireScipy = "GOREPRO_REQUIRE_SCIPY"

type tCase struct {
	X     []float64 `json:"x"`
	Level float64   `json:"level"`
}

type permCase struct {
	A []float64 `json:"a"`
	B []float64 `json:"b"`
}

type bootCase struct {
	D      []float64 `json:"d"`
	Level  float64   `json:"level"`
	Rounds int       `json:"rounds"`
	Seed   uint64    `json:"seed"`
}

type quantileCase struct {
	X []float64 `json:"x"`
	P []float64 `json:"p"`
}

type scipyRequest struct {
	T        []tCase        `json:"t"`
	Perm     []permCase     `json:"perm"`
	Boot     []bootCase     `json:"boot"`
	Quantile []quantileCase `json:"quantile"`
}

type scipyReply struct {
	Scipy, Numpy string
	T            []struct{ Mean, Std, Lo, Hi float64 }
	Perm         []float64
	Boot         []struct{ Lo, Hi, SE float64 }
	Quantile     [][]float64
}

// scipyRef runs testdata/scipy_ref.py on req.
func scipyRef(t *testing.T, req scipyRequest) scipyReply {
	t.Helper()
	py := backendstest.Python(t, requireScipy, "scipy", "numpy")
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "testdata/scipy_ref.py")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scipy_ref.py: %v\n%s", err, stderr.String())
	}
	var rep scipyReply
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("scipy_ref.py output: %v\n%s", err, out)
	}
	t.Logf("reference: scipy %s, numpy %s", rep.Scipy, rep.Numpy)
	if rep.Scipy != "1.17.1" {
		t.Logf("note: the reference values were validated against scipy 1.17.1, this is %s", rep.Scipy)
	}
	return rep
}

// normals returns n values mean + sd·N(0,1) from a fixed stream.
func normals(seed uint64, n int, mean, sd float64) []float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	x := make([]float64, n)
	for i := range x {
		x[i] = mean + sd*r.NormFloat64()
	}
	return x
}

// exponentials returns n skewed values scale·Exp(1) + shift.
func exponentials(seed uint64, n int, scale, shift float64) []float64 {
	r := rand.New(rand.NewPCG(seed, 2))
	x := make([]float64, n)
	for i := range x {
		x[i] = scale*r.ExpFloat64() + shift
	}
	return x
}

func sub(a, b []float64) []float64 {
	d := make([]float64, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	return d
}

// permCases are paired inputs for the exact permutation p-value: several n,
// ties, negative differences, and cases with p exactly 1.
func permCases() []permCase {
	cs := []permCase{
		{A: []float64{1, 2}, B: []float64{0, 0}},                                                                                     // n = 2, p = 0.5
		{A: []float64{3, 1, 4}, B: []float64{1, 1, 1}},                                                                               // a tie (d = 0)
		{A: []float64{0, 0, 0, 0}, B: []float64{1, 2, 1, 1}},                                                                         // negative, repeated |d|: ties in the null
		{A: []float64{1, 2, 3, 4, 5}, B: []float64{0, 1, 2, 3, 4}},                                                                   // constant d: p = 2/2^5
		{A: []float64{0.1, 0.2, 0}, B: []float64{0, 0, 0.3}},                                                                         // d sums to 0 up to rounding: p = 1
		{A: []float64{1, 2, 3, 4}, B: []float64{1, 2, 3, 4}},                                                                         // all d = 0: p = 1
		{A: []float64{1, -1, 2, -2, 0.5, -0.5}, B: []float64{0, 0, 0, 0, 0, 0}},                                                      // symmetric d: p = 1
		{A: []float64{2, 1, 3, 2, 1, 0, 2}, B: []float64{1, 1, 1, 1, 1, 1, 1}},                                                       // integer d with ties
		{A: []float64{0.71, 0.69, 0.74, 0.70, 0.73, 0.72, 0.68, 0.75}, B: []float64{0.70, 0.70, 0.71, 0.69, 0.70, 0.71, 0.70, 0.71}}, // decimal scores
	}
	for i, n := range []int{5, 9, 10, 11, 12} {
		a := normals(uint64(10+i), n, 0.3*float64(i%3-1), 1)
		b := normals(uint64(20+i), n, 0, 1)
		cs = append(cs, permCase{A: a, B: b})
	}
	return cs
}

// tCases are inputs for MeanInterval: n from 2 to 12 (and one large n) at
// levels 0.9, 0.95, 0.99.
func tCases() []tCase {
	var cs []tCase
	for i, n := range []int{2, 3, 4, 5, 7, 10, 12, 200} {
		x := normals(uint64(100+i), n, float64(i)-3, 0.5+float64(i)/4)
		for _, level := range []float64{0.9, 0.95, 0.99} {
			cs = append(cs, tCase{X: x, Level: level})
		}
	}
	cs = append(cs, tCase{X: []float64{-1, -1, -2}, Level: 0.95}) // ties, negative
	return cs
}

// Bootstrap: ours with bootRounds resamples against scipy's with
// bootScipyRounds. The difference of two independent estimates of a
// p-quantile has standard error σ·√(p(1-p))/φ(z_p)·√(1/B1 + 1/B2), σ the
// standard error of the mean (the bootstrap distribution, nearly normal at
// these n) — the asymptotic variance of a sample quantile, p(1-p)/(B·f(q)²),
// with f the normal density. bootSigmas of these are allowed.
const (
	bootRounds      = 20000
	bootScipyRounds = 100000
	bootSigmas      = 5
)

func bootCases() []bootCase {
	var cs []bootCase
	ds := [][]float64{
		normals(300, 20, 0.1, 1),
		sub(normals(301, 40, 0.5, 1), normals(302, 40, 0.45, 1)),
		exponentials(303, 60, 1, -0.9), // skewed
		normals(304, 100, -0.02, 0.05),
	}
	for i, d := range ds {
		for _, level := range []float64{0.9, 0.95, 0.99} {
			cs = append(cs, bootCase{D: d, Level: level, Rounds: bootScipyRounds, Seed: uint64(i)})
		}
	}
	return cs
}

// mcData is n = 16 paired data whose exact p-value is moderate (~0.1–0.4),
// where the Monte Carlo estimate has the largest variance.
func mcData() (a, b []float64) {
	return normals(400, 16, 0.25, 1), normals(401, 16, 0, 1)
}

// TestAgainstScipy compares with scipy 1.17.1: the t interval to 1e-9, the
// exact permutation p-value to 1e-12, the bootstrap interval within
// sampling error, and the Monte Carlo p-value (n = 16, 2^16 > rounds) with
// the exact one within sampling error.
func TestAgainstScipy(t *testing.T) {
	req := scipyRequest{T: tCases(), Perm: permCases(), Boot: bootCases()}
	ma, mb := mcData()
	req.Perm = append(req.Perm, permCase{A: ma, B: mb})
	qx := normals(500, 101, 0, 1)
	qx2 := []float64{3, 1, 2, 2, 5}
	ps := []float64{0, 0.005, 0.025, 0.05, 0.1, 0.5, 0.9, 0.95, 0.975, 0.995, 1}
	req.Quantile = []quantileCase{{X: qx, P: ps}, {X: qx2, P: ps}}
	rep := scipyRef(t, req)
	if len(rep.T) != len(req.T) || len(rep.Perm) != len(req.Perm) || len(rep.Boot) != len(req.Boot) || len(rep.Quantile) != len(req.Quantile) {
		t.Fatalf("scipy_ref.py answered %d/%d/%d/%d cases for %d/%d/%d/%d", len(rep.T), len(rep.Perm), len(rep.Boot), len(rep.Quantile), len(req.T), len(req.Perm), len(req.Boot), len(req.Quantile))
	}

	t.Run("t interval", func(t *testing.T) {
		const tol = 1e-9
		var maxErr float64
		for i, c := range req.T {
			want := rep.T[i]
			iv := MeanInterval(c.X, c.Level)
			if iv.Reason != "" {
				t.Errorf("case %d (n = %d, level %g): %s", i, len(c.X), c.Level, iv.Reason)
				continue
			}
			// Relative to the O(1) scale of the interval, absolute below 1.
			scale := max(1, math.Abs(want.Lo), math.Abs(want.Hi))
			for _, q := range []struct {
				name      string
				got, want float64
			}{{"mean", iv.Mean, want.Mean}, {"std", iv.Std, want.Std}, {"lo", iv.Lo, want.Lo}, {"hi", iv.Hi, want.Hi}} {
				err := math.Abs(q.got-q.want) / scale
				maxErr = max(maxErr, err)
				if !(err <= tol) {
					t.Errorf("case %d (n = %d, level %g): %s = %.17g, scipy %.17g (error %.3g)", i, len(c.X), c.Level, q.name, q.got, q.want, err)
				}
			}
			mean, lo, hi := MeanCI(c.X, c.Level)
			if mean != iv.Mean || lo != iv.Lo || hi != iv.Hi {
				t.Errorf("case %d: MeanCI = %v, %v, %v, MeanInterval %+v", i, mean, lo, hi, iv)
			}
		}
		t.Logf("t interval: max error vs scipy %.3g (tolerance %g) over %d cases", maxErr, tol, len(req.T))
	})

	t.Run("t interval of paired differences", func(t *testing.T) {
		// Compare's StudentT interval is the t interval of d = a-b.
		var maxErr float64
		for i, c := range req.Perm {
			d := sub(c.A, c.B)
			iv := MeanInterval(d, 0.95)
			cmp := Compare(c.A, c.B, CompareOptions{})
			if iv.Std == 0 {
				if cmp.Lo != cmp.Diff || cmp.Hi != cmp.Diff {
					t.Errorf("case %d: constant differences %v: interval [%v, %v], want [%v, %v]", i, d, cmp.Lo, cmp.Hi, cmp.Diff, cmp.Diff)
				}
				continue
			}
			for _, e := range []float64{cmp.Diff - iv.Mean, cmp.Lo - iv.Lo, cmp.Hi - iv.Hi} {
				maxErr = max(maxErr, math.Abs(e))
			}
			if !(math.Abs(cmp.Lo-iv.Lo) <= 1e-12) || !(math.Abs(cmp.Hi-iv.Hi) <= 1e-12) {
				t.Errorf("case %d: Compare interval [%v, %v], t interval of differences [%v, %v]", i, cmp.Lo, cmp.Hi, iv.Lo, iv.Hi)
			}
		}
		t.Logf("paired t interval vs MeanInterval of the differences: max difference %.3g", maxErr)
	})

	t.Run("exact permutation p", func(t *testing.T) {
		const tol = 1e-12
		var maxErr float64
		for i, c := range req.Perm {
			n := len(c.A)
			want := rep.Perm[i]
			got := PairedPermutation(c.A, c.B, 1<<n, 7) // 2^n ≤ rounds: exact
			err := math.Abs(got - want)
			maxErr = max(maxErr, err)
			if !(err <= tol) {
				t.Errorf("case %d (n = %d, d = %.4g): p = %.17g, scipy %.17g", i, n, sub(c.A, c.B), got, want)
			}
			if n <= 13 { // the default 10000 rounds enumerate exactly up to n = 13
				if cp := Compare(c.A, c.B, CompareOptions{Seed: 99}).P; cp != got {
					t.Errorf("case %d: Compare's P = %v, PairedPermutation %v", i, cp, got)
				}
			}
		}
		t.Logf("exact permutation p: max error vs scipy %.3g (tolerance %g) over %d cases", maxErr, tol, len(req.Perm))
	})

	t.Run("Monte Carlo permutation p", func(t *testing.T) {
		exact := rep.Perm[len(rep.Perm)-1]
		if got := PairedPermutation(ma, mb, 1<<16, 0); !(math.Abs(got-exact) <= 1e-12) {
			t.Fatalf("exact p for n = 16 = %v, scipy %v", got, exact)
		}
		if !(exact >= 0.05 && exact <= 0.6) {
			t.Fatalf("mcData's exact p = %v is not moderate: the test would be weak", exact)
		}
		const rounds = 10000 // < 2^16: Monte Carlo
		// (1+count)/(1+rounds) has mean p + (1-p)/(1+rounds) and standard
		// error √(p(1-p)/rounds); allow 4.5 of them (one false failure in
		// ~150000 per seed) plus the bias.
		se := math.Sqrt(exact * (1 - exact) / rounds)
		tol := 4.5*se + 1.0/rounds
		var maxErr float64
		seen := map[float64]bool{}
		for seed := range uint64(8) {
			got := PairedPermutation(ma, mb, rounds, seed)
			seen[got] = true
			err := math.Abs(got - exact)
			maxErr = max(maxErr, err)
			if !(err <= tol) {
				t.Errorf("seed %d: Monte Carlo p = %v, exact %v (|error| %.3g > %.3g = 4.5 standard errors)", seed, got, exact, err, tol)
			}
			if again := PairedPermutation(ma, mb, rounds, seed); again != got {
				t.Errorf("seed %d: p = %v then %v: not reproducible", seed, got, again)
			}
		}
		if len(seen) < 2 {
			t.Errorf("8 seeds gave the same Monte Carlo p %v: is the seed used?", seen)
		}
		t.Logf("Monte Carlo p (n = 16, %d rounds): exact %.6f, max |error| %.3g = %.2f standard errors", rounds, exact, maxErr, maxErr/se)
	})

	t.Run("bootstrap interval", func(t *testing.T) {
		var maxSigmas, maxErr float64
		for i, c := range req.Boot {
			want := rep.Boot[i]
			zeros := make([]float64, len(c.D))
			lo, hi := PairedBootstrapCI(c.D, zeros, c.Level, bootRounds, c.Seed+1000)
			p := (1 - c.Level) / 2
			z := normalQuantile(1 - p)
			phi := math.Exp(-z*z/2) / math.Sqrt(2*math.Pi)
			se := want.SE * math.Sqrt(p*(1-p)) / phi * math.Sqrt(1.0/bootRounds+1.0/float64(c.Rounds))
			for _, q := range []struct {
				name      string
				got, want float64
			}{{"lo", lo, want.Lo}, {"hi", hi, want.Hi}} {
				err := math.Abs(q.got - q.want)
				maxErr = max(maxErr, err)
				maxSigmas = max(maxSigmas, err/se)
				if !(err <= bootSigmas*se) {
					t.Errorf("case %d (n = %d, level %g): %s = %.6g, scipy %.6g: %.2f standard errors (%.3g) apart", i, len(c.D), c.Level, q.name, q.got, q.want, err/se, se)
				}
			}
			cmp := Compare(c.D, zeros, CompareOptions{Level: c.Level, Interval: Bootstrap, Rounds: bootRounds, Seed: c.Seed + 1000})
			if cmp.Lo != lo || cmp.Hi != hi || cmp.Interval != Bootstrap {
				t.Errorf("case %d: Compare bootstrap [%v, %v], PairedBootstrapCI [%v, %v]", i, cmp.Lo, cmp.Hi, lo, hi)
			}
		}
		t.Logf("bootstrap interval (%d vs scipy's %d rounds): max |error| %.3g, max %.2f standard errors of the quantiles' difference (tolerance %d)", bootRounds, bootScipyRounds, maxErr, maxSigmas, bootSigmas)
	})

	t.Run("quantile convention", func(t *testing.T) {
		var maxErr float64
		for i, c := range req.Quantile {
			x := append([]float64(nil), c.X...)
			slices.Sort(x)
			for j, p := range c.P {
				got, want := quantileSorted(x, p), rep.Quantile[i][j]
				err := math.Abs(got - want)
				maxErr = max(maxErr, err)
				if !(err <= 1e-12) {
					t.Errorf("case %d: quantile(%g) = %.17g, scipy %.17g", i, p, got, want)
				}
			}
		}
		t.Logf("quantile (linear interpolation): max error vs scipy.stats.quantile %.3g", maxErr)
	})
}

// normalQuantile is the standard normal quantile (Φ⁻¹) for the tolerance.
func normalQuantile(p float64) float64 { return -math.Sqrt2 * math.Erfcinv(2*p) }

// TestExactCountMeetInTheMiddle checks the split enumeration (n > 20) against
// summing every sign vector directly.
func TestExactCountMeetInTheMiddle(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    []float64
	}{
		{"integers with ties", func() []float64 {
			r := rand.New(rand.NewPCG(5, 5))
			d := make([]float64, 22)
			for i := range d {
				d[i] = float64(r.IntN(7) - 2)
			}
			return d
		}()},
		{"decimals", normals(6, 21, 0.3, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.d
			var obs, scale float64
			for _, v := range d {
				obs += v
				scale += math.Abs(v)
			}
			thr := math.Abs(obs) - TieTolerance*scale
			var want uint64
			for mask := uint64(0); mask < 1<<len(d); mask++ {
				var s float64
				for i, v := range d {
					if mask>>i&1 == 1 {
						s -= v
					} else {
						s += v
					}
				}
				if math.Abs(s) >= thr {
					want++
				}
			}
			if got := exactCount(d, thr); got != want {
				t.Errorf("exactCount = %d, direct enumeration %d (of %d)", got, want, uint64(1)<<len(d))
			}
			p := PairedPermutation(d, make([]float64, len(d)), 1<<len(d), 0)
			if wantP := float64(want) / float64(uint64(1)<<len(d)); p != wantP {
				t.Errorf("p = %v, want %v", p, wantP)
			}
		})
	}
}

func isNaN(vs ...float64) bool {
	for _, v := range vs {
		if !math.IsNaN(v) {
			return false
		}
	}
	return true
}

// TestMeanIntervalEdgeCases: NaN with a reason, never a panic.
func TestMeanIntervalEdgeCases(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, tc := range []struct {
		name     string
		x        []float64
		level    float64
		mean     float64 // NaN when it must be NaN
		std      bool    // Std must be a number
		reason   string
		interval bool // Lo, Hi must be numbers
	}{
		{name: "n = 0", x: nil, level: 0.95, mean: nan, reason: "n = 0"},
		{name: "empty", x: []float64{}, level: 0.95, mean: nan, reason: "n = 0"},
		{name: "n = 1", x: []float64{2.5}, level: 0.95, mean: 2.5, reason: "n = 1 < 2"},
		{name: "NaN", x: []float64{1, 2, 3, nan, 5}, level: 0.95, mean: nan, reason: "NaN in the values (unit 3)"},
		{name: "+Inf", x: []float64{inf, 2, 3}, level: 0.95, mean: nan, reason: "+Inf in the values (unit 0)"},
		{name: "-Inf", x: []float64{1, -inf}, level: 0.95, mean: nan, reason: "-Inf in the values (unit 1)"},
		{name: "two bad units", x: []float64{1, nan, inf}, level: 0.95, mean: nan, reason: "unit 1; 2 non-finite units"},
		{name: "level 0", x: []float64{1, 2, 3}, level: 0, mean: 2, std: true, reason: "level 0 outside (0, 1)"},
		{name: "level 1", x: []float64{1, 2, 3}, level: 1, mean: 2, std: true, reason: "level 1 outside (0, 1)"},
		{name: "level 95", x: []float64{1, 2, 3}, level: 95, mean: 2, std: true, reason: "level 95 outside"},
		{name: "level -0.5", x: []float64{1, 2, 3}, level: -0.5, mean: 2, std: true, reason: "level -0.5 outside"},
		{name: "level NaN", x: []float64{1, 2, 3}, level: nan, mean: 2, std: true, reason: "level NaN outside"},
		{name: "n = 1 and bad level", x: []float64{4}, level: 2, mean: 4, reason: "n = 1 < 2: no interval; level 2 outside"},
		{name: "constant", x: []float64{0.1, 0.1, 0.1}, level: 0.95, mean: 0.1, std: true, interval: true},
		{name: "huge", x: []float64{1e308, -1e308, 1e308}, level: 0.95, mean: 1e308 / 3, std: true, reason: "overflow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iv := MeanInterval(tc.x, tc.level)
			if iv.N != len(tc.x) || !(iv.Level == tc.level || isNaN(iv.Level, tc.level)) {
				t.Errorf("N, Level = %d, %v; want %d, %v", iv.N, iv.Level, len(tc.x), tc.level)
			}
			if math.IsNaN(tc.mean) != math.IsNaN(iv.Mean) || (!math.IsNaN(tc.mean) && !(math.Abs(iv.Mean-tc.mean) <= 1e-12*math.Abs(tc.mean))) {
				t.Errorf("Mean = %v, want %v", iv.Mean, tc.mean)
			}
			if tc.std == math.IsNaN(iv.Std) || math.IsInf(iv.Std, 0) {
				t.Errorf("Std = %v, want a number: %v", iv.Std, tc.std)
			}
			if tc.interval {
				if !isFinite(iv.Lo) || !isFinite(iv.Hi) || iv.Reason != "" {
					t.Errorf("interval [%v, %v] (%q), want numbers", iv.Lo, iv.Hi, iv.Reason)
				}
			} else if !isNaN(iv.Lo, iv.Hi) {
				t.Errorf("interval [%v, %v], want NaN", iv.Lo, iv.Hi)
			}
			if !strings.Contains(iv.Reason, tc.reason) || (tc.reason == "") != (iv.Reason == "") {
				t.Errorf("Reason %q, want it to mention %q", iv.Reason, tc.reason)
			}
			if strings.Contains(iv.Reason, "\n") {
				t.Errorf("Reason %q is not one line", iv.Reason)
			}
			mean, lo, hi := MeanCI(tc.x, tc.level)
			if !(mean == iv.Mean || isNaN(mean, iv.Mean)) || !(lo == iv.Lo || isNaN(lo, iv.Lo)) || !(hi == iv.Hi || isNaN(hi, iv.Hi)) {
				t.Errorf("MeanCI = %v, %v, %v; MeanInterval %+v", mean, lo, hi, iv)
			}
		})
	}
	// Constant values: std 0, interval [mean, mean].
	iv := MeanInterval([]float64{0.1, 0.1, 0.1}, 0.95)
	if iv.Std != 0 || iv.Lo != 0.1 || iv.Hi != 0.1 || iv.Mean != 0.1 {
		t.Errorf("constant values: %+v, want mean 0.1, std 0, [0.1, 0.1]", iv)
	}
}

// TestCompareEdgeCases: NaN with a reason, never a panic, in Compare and in
// the exact-signature wrappers.
func TestCompareEdgeCases(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	ok := []float64{1, 2, 3, 4}
	okB := []float64{0.5, 2.5, 2, 3}
	type want struct {
		meanA, meanB, diff bool // numbers
		interval, p        bool // numbers
		reason             string
	}
	for _, tc := range []struct {
		name string
		a, b []float64
		opts CompareOptions
		want want
	}{
		{"lengths", []float64{1, 2, 3}, []float64{1, 2}, CompareOptions{}, want{reason: "len(a) = 3 != len(b) = 2"}},
		{"lengths bootstrap", []float64{1}, []float64{}, CompareOptions{Interval: Bootstrap}, want{reason: "len(a) = 1 != len(b) = 0"}},
		{"n = 0", nil, nil, CompareOptions{}, want{reason: "n = 0"}},
		{"n = 1", []float64{3}, []float64{1}, CompareOptions{}, want{meanA: true, meanB: true, diff: true, reason: "n = 1 < 2"}},
		{"n = 1 bootstrap", []float64{3}, []float64{1}, CompareOptions{Interval: Bootstrap}, want{meanA: true, meanB: true, diff: true, reason: "n = 1 < 2"}},
		{"NaN in a", []float64{1, 2, nan, 4}, okB, CompareOptions{}, want{meanB: true, reason: "NaN in a (unit 2)"}},
		{"+Inf in b", ok, []float64{1, inf, 2, 3}, CompareOptions{Interval: Bootstrap}, want{meanA: true, reason: "+Inf in b (unit 1)"}},
		{"-Inf in a and NaN in b", []float64{-inf, 1, 2, 3}, []float64{1, 1, 1, nan}, CompareOptions{}, want{reason: "-Inf in a (unit 0); NaN in b (unit 3)"}},
		{"difference overflows", []float64{1e308, 0}, []float64{-1e308, 0}, CompareOptions{}, want{meanA: true, meanB: true, reason: "overflow"}},
		{"level 1.5", ok, okB, CompareOptions{Level: 1.5}, want{meanA: true, meanB: true, diff: true, p: true, reason: "level 1.5 outside (0, 1)"}},
		{"level -1 bootstrap", ok, okB, CompareOptions{Level: -1, Interval: Bootstrap}, want{meanA: true, meanB: true, diff: true, p: true, reason: "level -1 outside (0, 1)"}},
		{"level NaN", ok, okB, CompareOptions{Level: nan}, want{meanA: true, meanB: true, diff: true, p: true, reason: "level NaN outside"}},
		{"rounds -1", ok, okB, CompareOptions{Rounds: -1}, want{meanA: true, meanB: true, diff: true, interval: true, reason: "rounds = -1 < 1"}},
		{"rounds -5 bootstrap", ok, okB, CompareOptions{Rounds: -5, Interval: Bootstrap}, want{meanA: true, meanB: true, diff: true, reason: "rounds = -5 < 1"}},
		{"unknown kind", ok, okB, CompareOptions{Interval: "bca"}, want{meanA: true, meanB: true, diff: true, p: true, reason: `unknown interval kind "bca"`}},
		{"fine", ok, okB, CompareOptions{}, want{meanA: true, meanB: true, diff: true, interval: true, p: true}},
		{"fine bootstrap", ok, okB, CompareOptions{Interval: Bootstrap, Rounds: 500}, want{meanA: true, meanB: true, diff: true, interval: true, p: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Compare(tc.a, tc.b, tc.opts)
			for _, q := range []struct {
				name string
				v    float64
				num  bool
			}{{"MeanA", c.MeanA, tc.want.meanA}, {"MeanB", c.MeanB, tc.want.meanB}, {"Diff", c.Diff, tc.want.diff},
				{"Lo", c.Lo, tc.want.interval}, {"Hi", c.Hi, tc.want.interval}, {"P", c.P, tc.want.p}} {
				if q.num == math.IsNaN(q.v) || math.IsInf(q.v, 0) {
					t.Errorf("%s = %v, want a number: %v (Reason %q)", q.name, q.v, q.num, c.Reason)
				}
			}
			if !strings.Contains(c.Reason, tc.want.reason) || (tc.want.reason == "") != (c.Reason == "") {
				t.Errorf("Reason %q, want it to mention %q", c.Reason, tc.want.reason)
			}
			if len(tc.a) != len(tc.b) && (c.N != 0 || c.Wins+c.Losses+c.Ties != 0) {
				t.Errorf("lengths differ: N = %d, counts %d/%d/%d, want 0", c.N, c.Wins, c.Losses, c.Ties)
			}
			// The exact-signature forms: NaN exactly where Compare's are.
			rounds := tc.opts.Rounds
			if rounds == 0 {
				rounds = DefaultRounds
			}
			p := PairedPermutation(tc.a, tc.b, rounds, tc.opts.Seed)
			if math.IsNaN(p) != math.IsNaN(c.P) {
				t.Errorf("PairedPermutation = %v, Compare's P %v", p, c.P)
			}
			level := tc.opts.Level
			if level == 0 {
				level = DefaultLevel
			}
			lo, hi := PairedBootstrapCI(tc.a, tc.b, level, rounds, tc.opts.Seed)
			bc := Compare(tc.a, tc.b, CompareOptions{Level: level, Interval: Bootstrap, Rounds: rounds, Seed: tc.opts.Seed})
			if !(lo == bc.Lo || isNaN(lo, bc.Lo)) || !(hi == bc.Hi || isNaN(hi, bc.Hi)) {
				t.Errorf("PairedBootstrapCI = [%v, %v], Compare bootstrap [%v, %v]", lo, hi, bc.Lo, bc.Hi)
			}
		})
	}

	// rounds 0 and level 0 are NaN in the exact-signature forms (they are
	// the defaults only in CompareOptions).
	if p := PairedPermutation(ok, okB, 0, 1); !math.IsNaN(p) {
		t.Errorf("PairedPermutation rounds 0 = %v, want NaN", p)
	}
	if p := PairedPermutation(ok, okB, -3, 1); !math.IsNaN(p) {
		t.Errorf("PairedPermutation rounds -3 = %v, want NaN", p)
	}
	for _, lv := range []float64{0, 1, -0.1, 1.1, nan} {
		if lo, hi := PairedBootstrapCI(ok, okB, lv, 100, 1); !isNaN(lo, hi) {
			t.Errorf("PairedBootstrapCI level %v = [%v, %v], want NaN", lv, lo, hi)
		}
	}
	if lo, hi := PairedBootstrapCI(ok, okB, 0.95, 0, 1); !isNaN(lo, hi) {
		t.Errorf("PairedBootstrapCI rounds 0 = [%v, %v], want NaN", lo, hi)
	}
	for _, x := range [][]float64{nil, {1}, {1, nan}, {inf, 1}} {
		if m, lo, hi := MeanCI(x, 0.95); !isNaN(lo, hi) || (len(x) == 1) == math.IsNaN(m) || math.IsInf(m, 0) {
			t.Errorf("MeanCI(%v) = %v, %v, %v", x, m, lo, hi)
		}
		if p := PairedPermutation(x, x, 100, 0); !math.IsNaN(p) {
			t.Errorf("PairedPermutation(%v) = %v, want NaN", x, p)
		}
		if lo, hi := PairedBootstrapCI(x, x, 0.9, 100, 0); !isNaN(lo, hi) {
			t.Errorf("PairedBootstrapCI(%v) = [%v, %v], want NaN", x, lo, hi)
		}
	}
	if p := PairedPermutation([]float64{1, 2}, []float64{1}, 100, 0); !math.IsNaN(p) {
		t.Errorf("PairedPermutation with lengths 2, 1 = %v, want NaN", p)
	}
}

// TestAllZeroAndConstantDifferences: all differences zero give [0, 0] and
// p = 1 (exact and Monte Carlo, both intervals); constant differences c give
// [c, c] and p = 2/2^n.
func TestAllZeroAndConstantDifferences(t *testing.T) {
	for _, n := range []int{2, 5, 20} {
		a := normals(uint64(n), n, 0, 1)
		for _, kind := range []IntervalKind{StudentT, Bootstrap} {
			for _, rounds := range []int{100, 1 << 20} { // Monte Carlo, exact
				c := Compare(a, a, CompareOptions{Interval: kind, Rounds: rounds, Seed: 3})
				if c.Lo != 0 || c.Hi != 0 || c.Diff != 0 || c.P != 1 || c.Reason != "" || c.Ties != n {
					t.Errorf("n = %d, %s, rounds %d: a vs a = %+v, want [0, 0], p = 1", n, kind, rounds, c)
				}
			}
		}
		if p := PairedPermutation(a, a, 10, 0); p != 1 {
			t.Errorf("PairedPermutation(a, a) = %v, want 1", p)
		}
		if lo, hi := PairedBootstrapCI(a, a, 0.95, 10, 0); lo != 0 || hi != 0 {
			t.Errorf("PairedBootstrapCI(a, a) = [%v, %v], want [0, 0]", lo, hi)
		}
	}
	a := []float64{1.5, 2.5, 3.5, 4.5, 5.5}
	b := []float64{1, 2, 3, 4, 5}
	d := sub(a, b) // exactly 0.5 each
	for _, kind := range []IntervalKind{StudentT, Bootstrap} {
		c := Compare(a, b, CompareOptions{Interval: kind, Rounds: 64})
		if c.Lo != d[0] || c.Hi != d[0] || c.Diff != d[0] || c.P != 2.0/32 || c.Wins != 5 {
			t.Errorf("%s: constant difference %v: %+v, want [%v, %v], p = 1/16", kind, d[0], c, d[0], d[0])
		}
	}
}

// TestCompareFields checks means, wins/losses/ties and the defaults.
func TestCompareFields(t *testing.T) {
	a := []float64{1, 2, 3, 4, 5}
	b := []float64{0, 2, 4, 1, 1}
	c := Compare(a, b, CompareOptions{})
	if c.N != 5 || c.MeanA != 3 || c.MeanB != 1.6 || !(math.Abs(c.Diff-1.4) <= 1e-15) || c.Level != DefaultLevel || c.Interval != StudentT {
		t.Errorf("Compare = %+v", c)
	}
	if c.Wins != 3 || c.Losses != 1 || c.Ties != 1 {
		t.Errorf("wins/losses/ties = %d/%d/%d, want 3/1/1", c.Wins, c.Losses, c.Ties)
	}
	if !(c.Lo < c.Diff && c.Diff < c.Hi) || !(c.P > 0 && c.P <= 1) {
		t.Errorf("interval [%v, %v] around %v, p %v", c.Lo, c.Hi, c.Diff, c.P)
	}
	// d = 1, 0, -1, 3, 4: the signed sums are ±(±1 ±1 +3 +4) (the 0 doubles
	// each), and |sum| ≥ 7 for 9, 7, 7 and their negatives: p = 12/32.
	if c.P != 12.0/32 {
		t.Errorf("p = %v, want 12/32", c.P)
	}
	if w, l, ti := Wins(a, b); w != 3 || l != 1 || ti != 1 {
		t.Errorf("Wins = %d, %d, %d", w, l, ti)
	}
	if w, l, ti := Wins([]float64{math.NaN(), 1, math.Inf(1)}, []float64{1, 1, 2}); w != 1 || l != 0 || ti != 1 {
		t.Errorf("Wins with NaN = %d, %d, %d, want 1, 0, 1", w, l, ti)
	}
	if w, l, ti := Wins(a, b[:2]); w != -1 || l != -1 || ti != -1 {
		t.Errorf("Wins with lengths 5, 2 = %d, %d, %d, want -1s", w, l, ti)
	}
	// Seeds: the bootstrap is reproducible and depends on the seed.
	x, y := normals(1, 30, 0.2, 1), normals(2, 30, 0, 1)
	l1, h1 := PairedBootstrapCI(x, y, 0.9, 2000, 1)
	l2, h2 := PairedBootstrapCI(x, y, 0.9, 2000, 1)
	l3, h3 := PairedBootstrapCI(x, y, 0.9, 2000, 2)
	if l1 != l2 || h1 != h2 || (l1 == l3 && h1 == h3) {
		t.Errorf("bootstrap seeds: [%v, %v], [%v, %v] (same seed), [%v, %v] (other seed)", l1, h1, l2, h2, l3, h3)
	}
}

func TestMeanStd(t *testing.T) {
	for _, tc := range []struct {
		x         []float64
		mean, std float64
	}{
		{nil, math.NaN(), math.NaN()},
		{[]float64{2}, 2, math.NaN()},
		{[]float64{1, 2, 3, 4}, 2.5, math.Sqrt(5.0 / 3)},
		{[]float64{0.3, 0.3}, 0.3, 0},
		{[]float64{1, math.NaN()}, math.NaN(), math.NaN()},
		{[]float64{1, math.Inf(-1)}, math.NaN(), math.NaN()},
	} {
		m, s := MeanStd(tc.x)
		if !(m == tc.mean || isNaN(m, tc.mean)) || !(math.Abs(s-tc.std) < 1e-15 || isNaN(s, tc.std)) {
			t.Errorf("MeanStd(%v) = %v, %v; want %v, %v", tc.x, m, s, tc.mean, tc.std)
		}
	}
}

func TestSeedTable(t *testing.T) {
	header, rows := SeedTable(0.95, []string{"acc", "loss", "one", "empty"}, [][]float64{
		{0.9, 0.92, 0.91},
		{1.5, math.NaN(), 1.25},
		{0.123456},
	})
	wantHeader := []string{"name", "n", "mean ± std", "95% CI", "unit 0", "unit 1", "unit 2"}
	if fmt.Sprint(header) != fmt.Sprint(wantHeader) {
		t.Errorf("header %q, want %q", header, wantHeader)
	}
	lo, hi := tInterval(0.91, 0.01, 3, 0.95)
	want := [][]string{
		{"acc", "3", "0.91 ± 0.01", fmt.Sprintf("[%.4g, %.4g]", lo, hi), "0.9", "0.92", "0.91"},
		{"loss", "3", "NaN ± NaN", "[NaN, NaN]", "1.5", "NaN", "1.25"},
		{"one", "1", "0.1235 ± NaN", "[NaN, NaN]", "0.1235", "", ""},
		{"empty", "0", "NaN ± NaN", "[NaN, NaN]", "", "", ""},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %q", len(rows), len(want), rows)
	}
	for i := range want {
		if fmt.Sprintf("%q", rows[i]) != fmt.Sprintf("%q", want[i]) {
			t.Errorf("row %d = %q, want %q", i, rows[i], want[i])
		}
	}
	// 0.91 ∓ t(0.975, 2)·0.01/√3 = 0.91 ∓ 4.3027·0.005774.
	if !(math.Abs(lo-0.885159) <= 1e-6) || !(math.Abs(hi-0.934841) <= 1e-6) {
		t.Errorf("t interval of 0.9, 0.92, 0.91 = [%v, %v], want ≈ [0.885, 0.935]", lo, hi)
	}
	rs := SeedRows(0.9, []string{"a"}, [][]float64{{1, 2}, {3, 4}})
	if len(rs) != 2 || rs[1].Name != "row 1" || rs[1].Interval.Mean != 3.5 || rs[0].Interval.Level != 0.9 {
		t.Errorf("SeedRows = %+v", rs)
	}
}
