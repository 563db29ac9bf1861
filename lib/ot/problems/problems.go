// Package problems builds the optimal-transport problems of the SNS paper's
// experiments: the random assignment problem (uniform histograms, costs
// uniform on [0,1]), random empirical distributions in low dimension (squared
// Euclidean cost), W1 between images on their pixel grid (L1 cost), and W2
// between discretised densities (squared Euclidean cost on a grid). Costs are
// normalised to max 1 (the assignment problem's are uniform on [0,1], as the
// paper draws them); histograms sum to 1.
package problems

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Problem is one transport problem.
type Problem struct {
	// Name says what it is, for tables and plots.
	Name string
	// A and B are the source and target histograms (each sums to 1).
	A, B []float64
	// Cost is the ground cost [len(A)][len(B)], max 1.
	Cost [][]float64
}

// Random is the transport between two random empirical distributions of n
// points each, uniform in [0,1]^dim, with random weights (uniform in
// [0.2, 1.2] before normalisation) and the squared Euclidean cost.
func Random(seed uint64, n, dim int) (Problem, error) {
	if n < 1 || dim < 1 {
		return Problem{}, fmt.Errorf("problems: Random(n = %d, dim = %d): both must be positive", n, dim)
	}
	r := rand.New(rand.NewPCG(seed, 0x726e64))
	pts := func() [][]float64 {
		p := make([][]float64, n)
		for i := range p {
			p[i] = make([]float64, dim)
			for d := range p[i] {
				p[i][d] = r.Float64()
			}
		}
		return p
	}
	weights := func() []float64 {
		w := make([]float64, n)
		for i := range w {
			w[i] = 0.2 + r.Float64()
		}
		return normalise(w)
	}
	x, y := pts(), pts()
	a, b := weights(), weights()
	return Problem{Name: fmt.Sprintf("random n=%d d=%d", n, dim), A: a, B: b, Cost: pairCost(x, y, 2)}, nil
}

// Assignment is the SNS paper's random assignment problem: uniform
// histograms of n bins on each side and a cost matrix whose entries are
// independent and uniform on [0, 1] (the paper's cost scale: the costs are
// not rescaled, so the largest is just below 1). The optimal plan of the
// unregularised problem is a permutation, so the entropic plan at small ε
// is close to n entries: the regime where the paper's O(n)-entry Hessian
// sparsification should hold.
func Assignment(seed uint64, n int) (Problem, error) {
	if n < 1 {
		return Problem{}, fmt.Errorf("problems: Assignment(n = %d): n must be positive", n)
	}
	r := rand.New(rand.NewPCG(seed, 0x617373))
	c := make([][]float64, n)
	for i := range c {
		c[i] = make([]float64, n)
		for j := range c[i] {
			c[i][j] = r.Float64()
		}
	}
	u := make([]float64, n)
	for i := range u {
		u[i] = 1 / float64(n)
	}
	return Problem{Name: fmt.Sprintf("random assignment n=%d", n), A: u, B: append([]float64(nil), u...), Cost: c}, nil
}

// Images is W_p between two grey-level images of rows×cols pixels (p = 1: L1
// ground cost between pixel centres, as for the paper's MNIST W1; p = 2:
// squared Euclidean). Each histogram is the image plus a floor of 1e-4 of
// its maximum (so that no bin is empty), normalised to 1.
func Images(name string, a, b []uint8, rows, cols, p int) (Problem, error) {
	if rows < 1 || cols < 1 || len(a) != rows*cols || len(b) != rows*cols {
		return Problem{}, fmt.Errorf("problems: Images: %d and %d pixels for a %d×%d grid", len(a), len(b), rows, cols)
	}
	if p != 1 && p != 2 {
		return Problem{}, fmt.Errorf("problems: Images: p = %d, want 1 or 2", p)
	}
	hist := func(img []uint8) ([]float64, error) {
		mx := 0.0
		for _, v := range img {
			mx = math.Max(mx, float64(v))
		}
		if mx == 0 {
			return nil, fmt.Errorf("problems: Images %q: an image is blank", name)
		}
		h := make([]float64, len(img))
		for i, v := range img {
			h[i] = float64(v) + 1e-4*mx
		}
		return normalise(h), nil
	}
	ha, err := hist(a)
	if err != nil {
		return Problem{}, err
	}
	hb, err := hist(b)
	if err != nil {
		return Problem{}, err
	}
	g := grid(rows, cols)
	return Problem{Name: name, A: ha, B: hb, Cost: pairCost(g, g, p)}, nil
}

// Gaussians is W2 between two discretised densities on a side×side grid of
// [0,1]²: each a mixture of two Gaussians with random centres in
// [0.2, 0.8]² and widths in [0.05, 0.15], evaluated at the cell centres
// and normalised; squared Euclidean cost.
func Gaussians(seed uint64, side int) (Problem, error) {
	if side < 2 || side > 100 {
		return Problem{}, fmt.Errorf("problems: Gaussians(side = %d): want 2..100", side)
	}
	r := rand.New(rand.NewPCG(seed, 0x67617573))
	g := grid(side, side)
	density := func() []float64 {
		h := make([]float64, len(g))
		for range 2 {
			cx, cy := 0.2+0.6*r.Float64(), 0.2+0.6*r.Float64()
			s := 0.05 + 0.1*r.Float64()
			for i, p := range g {
				x, y := p[0]/float64(side), p[1]/float64(side)
				h[i] += math.Exp(-((x-cx)*(x-cx) + (y-cy)*(y-cy)) / (2 * s * s))
			}
		}
		return normalise(h)
	}
	a, b := density(), density()
	return Problem{Name: fmt.Sprintf("W2 densities %d×%d", side, side), A: a, B: b, Cost: pairCost(g, g, 2)}, nil
}

// grid is the pixel centres (column, row) of a rows×cols image, row-major.
func grid(rows, cols int) [][]float64 {
	g := make([][]float64, 0, rows*cols)
	for y := range rows {
		for x := range cols {
			g = append(g, []float64{float64(x) + 0.5, float64(y) + 0.5})
		}
	}
	return g
}

// pairCost is Σ_d |x_d − y_d| (p = 1) or Σ_d (x_d − y_d)² (p = 2), normalised to max 1.
func pairCost(x, y [][]float64, p int) [][]float64 {
	c, mx := make([][]float64, len(x)), 0.0
	for i := range x {
		c[i] = make([]float64, len(y))
		for j := range y {
			s := 0.0
			for d := range x[i] {
				diff := math.Abs(x[i][d] - y[j][d])
				if p == 2 {
					diff *= diff
				}
				s += diff
			}
			c[i][j] = s
			mx = math.Max(mx, s)
		}
	}
	if mx > 0 {
		for i := range c {
			for j := range c[i] {
				c[i][j] /= mx
			}
		}
	}
	return c
}

func normalise(h []float64) []float64 {
	s := 0.0
	for _, v := range h {
		s += v
	}
	for i := range h {
		h[i] /= s
	}
	return h
}
