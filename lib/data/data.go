// Package data makes the synthetic datasets of the reproduced papers, in
// memory and deterministic by seed: modular arithmetic (grokking) and sparse
// parity. Inputs are float32 feature matrices, labels int32 class ids.
package data

import (
	"fmt"
	"math/rand/v2"
)

// Split is a train/test split of a classification dataset.
type Split struct {
	// XTrain and XTest are [n, features] row-major feature matrices.
	XTrain, XTest [][]float32
	// YTrain and YTest are class ids in [0, Classes).
	YTrain, YTest []int32
	// Classes is the number of classes.
	Classes int
}

// Op is a modular arithmetic operation.
type Op string

// The operations of the grokking experiments.
const (
	Add      Op = "add"      // (a + b) mod p
	Subtract Op = "subtract" // (a − b) mod p
	Multiply Op = "multiply" // (a · b) mod p
)

// ModularArithmetic returns all p² pairs (a, b), a, b ∈ [0, p), labelled with
// (a op b) mod p, encoded as the concatenated one-hot vectors of a and b (2p
// features), shuffled by seed and split so that ⌊trainFraction·p²⌋ pairs
// train and the rest test — the official code's int(fraction·p²): 5 107 of
// 12 769 pairs at p = 113, fraction 0.4.
func ModularArithmetic(op Op, p int, trainFraction float64, seed uint64) (*Split, error) {
	if p < 2 || p > 4096 {
		return nil, fmt.Errorf("data: modulus p = %d out of range [2, 4096]", p)
	}
	if !(trainFraction > 0 && trainFraction < 1) { // NaN too
		return nil, fmt.Errorf("data: train fraction %g must be in (0, 1)", trainFraction)
	}
	var f func(a, b int) int
	switch op {
	case Add:
		f = func(a, b int) int { return (a + b) % p }
	case Subtract:
		f = func(a, b int) int { return ((a-b)%p + p) % p }
	case Multiply:
		f = func(a, b int) int { return (a * b) % p }
	default:
		return nil, fmt.Errorf("data: unknown operation %q (add, subtract, multiply)", op)
	}
	n := p * p
	order := rand.New(rand.NewPCG(seed, 0x6d6f64)).Perm(n)
	nTrain := int(float64(n) * trainFraction)
	if nTrain == 0 || nTrain == n {
		return nil, fmt.Errorf("data: train fraction %g of %d pairs leaves an empty split", trainFraction, n)
	}
	s := &Split{Classes: p}
	for i, idx := range order {
		a, b := idx/p, idx%p
		x := make([]float32, 2*p)
		x[a], x[p+b] = 1, 1
		y := int32(f(a, b))
		if i < nTrain {
			s.XTrain, s.YTrain = append(s.XTrain, x), append(s.YTrain, y)
		} else {
			s.XTest, s.YTest = append(s.XTest, x), append(s.YTest, y)
		}
	}
	return s, nil
}

// SparseParity returns n random bit strings of parityBits+noiseBits bits
// (as ±1 features), labelled with the parity of the first parityBits bits
// (class 1 when their XOR is 1), split with trainFraction.
func SparseParity(parityBits, noiseBits, n int, trainFraction float64, seed uint64) (*Split, error) {
	if parityBits < 1 || noiseBits < 0 || n < 2 {
		return nil, fmt.Errorf("data: sparse parity needs parity bits ≥ 1, noise bits ≥ 0 and n ≥ 2 (got %d, %d, %d)", parityBits, noiseBits, n)
	}
	if !(trainFraction > 0 && trainFraction < 1) { // NaN too
		return nil, fmt.Errorf("data: train fraction %g must be in (0, 1)", trainFraction)
	}
	rng := rand.New(rand.NewPCG(seed, 0x706172))
	nTrain := int(float64(n) * trainFraction)
	s := &Split{Classes: 2}
	for i := range n {
		x := make([]float32, parityBits+noiseBits)
		parity := 0
		for j := range x {
			bit := rng.IntN(2)
			x[j] = float32(2*bit - 1)
			if j < parityBits {
				parity ^= bit
			}
		}
		if i < nTrain {
			s.XTrain, s.YTrain = append(s.XTrain, x), append(s.YTrain, int32(parity))
		} else {
			s.XTest, s.YTest = append(s.XTest, x), append(s.YTest, int32(parity))
		}
	}
	return s, nil
}
