package stats

// The resampling behind the paired tests: the sign-flip permutation test
// (exact enumeration or Monte Carlo) and the percentile bootstrap.

import (
	"math"
	"math/rand/v2"
	"sort"
)

// permutationP is the two-sided sign-flip p-value of finite d, n ≥ 2,
// rounds ≥ 1: exact when 2^n ≤ rounds, else Monte Carlo.
func permutationP(d []float64, rounds int, seed uint64) float64 {
	n := len(d)
	var obs, scale float64
	for _, v := range d {
		obs += v
		scale += math.Abs(v)
	}
	thr := math.Abs(obs) - TieTolerance*scale
	if thr <= 0 {
		return 1 // every sign vector is at least as extreme as a zero sum
	}
	if n < 63 && uint64(1)<<n <= uint64(rounds) {
		return float64(exactCount(d, thr)) / float64(uint64(1)<<n)
	}
	rng := rand.New(rand.NewPCG(seed, streamPermutation))
	count := 0
	for range rounds {
		var s float64
		var bits uint64
		for i, v := range d {
			if i%64 == 0 {
				bits = rng.Uint64()
			}
			if bits&1 == 1 {
				s -= v
			} else {
				s += v
			}
			bits >>= 1
		}
		if math.Abs(s) >= thr {
			count++
		}
	}
	return float64(1+count) / float64(1+rounds)
}

// exactCount counts the sign vectors s ∈ {±1}^n with |Σ s[i]·d[i]| ≥ thr
// (thr > 0) by meeting in the middle: the 2^k signed sums of the first
// k = min(n, 20) differences are sorted once, and for each signed sum r of
// the others the sums r+h ≥ thr and r+h ≤ -thr are counted by binary search
// (floating-point addition is monotone in h, so the searches are exact for
// the computed sums). Each sum has at most n-1 rounded additions, the same
// accuracy as summing directly; the cost is O(2^n) at worst and
// O(2^k log 2^k) for n ≤ 20.
func exactCount(d []float64, thr float64) uint64 {
	k := min(len(d), 20)
	hi := signedSums(d[:k])
	sort.Float64s(hi)
	rest := d[k:]
	var count uint64
	for mask := uint64(0); mask < uint64(1)<<len(rest); mask++ {
		var r float64
		for j, v := range rest {
			if mask>>j&1 == 1 {
				r -= v
			} else {
				r += v
			}
		}
		ge := sort.Search(len(hi), func(i int) bool { return r+hi[i] >= thr })
		le := sort.Search(len(hi), func(i int) bool { return r+hi[i] > -thr })
		count += uint64(len(hi)-ge) + uint64(le)
	}
	return count
}

// signedSums returns the 2^len(d) sums Σ ±d[i], each summed in order.
func signedSums(d []float64) []float64 {
	sums := make([]float64, 1, 1<<len(d))
	for _, v := range d {
		m := len(sums)
		sums = sums[:2*m]
		for i := m - 1; i >= 0; i-- {
			s := sums[i]
			sums[2*i], sums[2*i+1] = s+v, s-v
		}
	}
	return sums
}

// bootstrapCI is the percentile bootstrap interval of mean(d) for finite,
// non-constant d, level in (0, 1), rounds ≥ 1.
func bootstrapCI(d []float64, level float64, rounds int, seed uint64) (lo, hi float64) {
	rng := rand.New(rand.NewPCG(seed, streamBootstrap))
	n := len(d)
	means := make([]float64, rounds)
	for r := range means {
		var s float64
		for range n {
			s += d[rng.IntN(n)]
		}
		means[r] = s / float64(n)
	}
	sort.Float64s(means)
	alpha := (1 - level) / 2
	return quantileSorted(means, alpha), quantileSorted(means, 1-alpha)
}

// quantileSorted is the p-quantile of sorted x by linear interpolation
// between order statistics: x[⌊h⌋] + (h-⌊h⌋)·(x[⌊h⌋+1]-x[⌊h⌋]) with
// h = (len(x)-1)·p (numpy's default "linear" method, type 7).
func quantileSorted(x []float64, p float64) float64 {
	h := float64(len(x)-1) * p
	i := int(math.Floor(h))
	if i >= len(x)-1 {
		return x[len(x)-1]
	}
	if i < 0 {
		return x[0]
	}
	return x[i] + (h-float64(i))*(x[i+1]-x[i])
}
