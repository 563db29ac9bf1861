package experiment

import (
	"fmt"
	"iter"
	"math/rand/v2"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/train"
)

// hostDataset is a train.Dataset of images held on the host (a Task's
// split): batches of batch images [batch, H·W·C] float32 and their labels
// [batch, 1] int32, built on the host for each step. With order set it
// shuffles every epoch (Iter) with it; with augment set it augments each
// image of each epoch (augmentImage). The last incomplete batch is dropped
// when dropLast is set (training) and yielded otherwise (evaluation).
type hostDataset struct {
	name     string
	x        [][]float32
	y        []int32
	shape    [3]int
	batch    int
	dropLast bool
	order    *rand.Rand // nil: in order
	augment  *rand.Rand // nil: no augmentation
	pad      int
}

// Name implements train.Dataset.
func (d *hostDataset) Name() string { return d.name }

// batches is the number of batches of an epoch.
func (d *hostDataset) batches() int {
	if d.dropLast {
		return len(d.x) / d.batch
	}
	return (len(d.x) + d.batch - 1) / d.batch
}

// Iter implements train.Dataset: one epoch.
func (d *hostDataset) Iter() iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		n := len(d.x)
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		if d.order != nil {
			d.order.Shuffle(n, func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		}
		size := d.shape[0] * d.shape[1] * d.shape[2]
		for start := 0; start < n; start += d.batch {
			end := min(start+d.batch, n)
			if end-start < d.batch && d.dropLast {
				return
			}
			flat, labels := make([]float32, (end-start)*size), make([]int32, end-start)
			for i, j := range idx[start:end] {
				dst := flat[i*size : (i+1)*size]
				if len(d.x[j]) != size {
					yield(train.Batch{}, fmt.Errorf("experiment: %s: image %d has %d values, want %d", d.name, j, len(d.x[j]), size))
					return
				}
				if d.augment != nil {
					augmentImage(dst, d.x[j], d.shape, d.pad, d.augment)
				} else {
					copy(dst, d.x[j])
				}
				labels[i] = d.y[j]
			}
			b := train.Batch{
				Inputs: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(flat, end-start, size)},
				Labels: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(labels, end-start, 1)},
			}
			if !yield(b, nil) {
				return
			}
		}
	}
}

// augmentImage writes into dst (H·W·C values, channels last) src after
// torchvision's RandomCrop(H×W, padding=pad) and RandomHorizontalFlip():
// src padded by pad pixels of 0 on every side, an H×W window at a
// uniformly drawn offset (0 … 2·pad in each direction) cut from it, and
// flipped left–right with probability ½, all drawn from r. The images are
// already standardised, so the padding is the training mean's colour
// (torchvision pads the raw image, with black, before normalising).
func augmentImage(dst, src []float32, shape [3]int, pad int, r *rand.Rand) {
	h, w, c := shape[0], shape[1], shape[2]
	dy, dx := r.IntN(2*pad+1)-pad, r.IntN(2*pad+1)-pad
	flip := r.IntN(2) == 1
	for y := range h {
		sy := y + dy
		for x := range w {
			sx := x + dx
			if flip {
				sx = w - 1 - x + dx
			}
			out := dst[(y*w+x)*c : (y*w+x+1)*c]
			if sy < 0 || sy >= h || sx < 0 || sx >= w {
				clear(out)
				continue
			}
			copy(out, src[(sy*w+sx)*c:(sy*w+sx+1)*c])
		}
	}
}
