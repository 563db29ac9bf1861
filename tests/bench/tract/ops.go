package main

// The -ops mode: the CIFAR ResNet-18 step taken apart into its operations —
// each convolution shape's forward pass, input gradient (dx) and kernel
// gradient (dw), and batch normalisation + ReLU forward and backward per
// stage — each compiled alone and timed on the backend, with how many times
// the step runs it. tests/bench/tract_bench.py --ops times PyTorch's same
// operations beside them.

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gorepro/gorepro/lib/backends"
)

// opShape is one convolution of the network: a side×side×cin input (NHWC),
// a k×k kernel to cout channels, and the stride; count is how often the
// step runs it (dx is not needed for the first layer: the images take no
// gradient).
type opShape struct {
	Name              string
	Side, Cin, Cout   int
	K, Stride, Count  int
	NoInputGrad       bool
	BatchNormChannels int // for "bn" ops: the channels (Cin/Cout unused)
}

// resnetOps lists the operations of lib/resnet's ResNet18 (no stem
// max-pool) at this width on side×side images.
func resnetOps(width, side int) []opShape {
	ops := []opShape{{Name: "first", Side: side, Cin: 3, Cout: width, K: 3, Stride: 1, Count: 1, NoInputGrad: true},
		{Name: "s1", Side: side, Cin: width, Cout: width, K: 3, Stride: 1, Count: 4}}
	s, c := side, width
	for stage := 2; stage <= 4; stage++ {
		ops = append(ops,
			opShape{Name: fmt.Sprintf("s%d-down", stage), Side: s, Cin: c, Cout: 2 * c, K: 3, Stride: 2, Count: 1},
			opShape{Name: fmt.Sprintf("s%d-shortcut", stage), Side: s, Cin: c, Cout: 2 * c, K: 1, Stride: 2, Count: 1},
			opShape{Name: fmt.Sprintf("s%d", stage), Side: s / 2, Cin: 2 * c, Cout: 2 * c, K: 3, Stride: 1, Count: 3})
		s, c = s/2, 2*c
	}
	s, c = side, width
	for stage := 1; stage <= 4; stage++ {
		ops = append(ops, opShape{Name: fmt.Sprintf("bn-s%d", stage), Side: s, BatchNormChannels: c, Count: 5})
		s, c = s/2, 2*c
	}
	return ops
}

type opResult struct {
	Backend  string  `json:"backend"`
	Op       string  `json:"op"`
	Kind     string  `json:"kind"` // fwd, dx, dw, or fwdbwd (batch normalisation + ReLU)
	Count    int     `json:"count"`
	Batch    int     `json:"batch"`
	Side     int     `json:"side"`
	Cin      int     `json:"cin"`
	Cout     int     `json:"cout"`
	K        int     `json:"k"`
	Stride   int     `json:"stride"`
	MedianMs float64 `json:"median_ms"`
	MinMs    float64 `json:"min_ms"`
}

// timeOps prints one JSON line per operation and kind.
func timeOps(backend string, batch, width, side, reps int) error {
	b, spec, err := backends.New(backend)
	if err != nil {
		return err
	}
	defer b.Finalize()
	r := rand.New(rand.NewSource(4))
	randT := func(dims ...int) *tensors.Tensor { return randTensor(r, dims...) }
	enc := json.NewEncoder(os.Stdout)
	for _, op := range resnetOps(width, side) {
		if op.BatchNormChannels > 0 {
			c := op.BatchNormChannels
			ms, err := timeGraph(b, reps, batchNormReLUGrads, randT(batch, op.Side, op.Side, c), randT(c), randT(c), randT(batch, op.Side, op.Side, c))
			if err != nil {
				return fmt.Errorf("%s: %w", op.Name, err)
			}
			res := opResult{Backend: spec.String(), Op: op.Name, Kind: "fwdbwd", Count: op.Count, Batch: batch, Side: op.Side, Cin: c, Cout: c}
			res.MedianMs, res.MinMs = ms[len(ms)/2], ms[0]
			if err := enc.Encode(res); err != nil {
				return err
			}
			continue
		}
		conv := func(x, k *graph.Node) *graph.Node {
			return graph.Convolve(x, k).Strides(op.Stride).PadSame().Done()
		}
		outSide := (op.Side + op.Stride - 1) / op.Stride
		x, k := randT(batch, op.Side, op.Side, op.Cin), randT(op.K, op.K, op.Cin, op.Cout)
		g := randT(batch, outSide, outSide, op.Cout)
		kinds := map[string]func(x, k, g *graph.Node) *graph.Node{
			// Each returns a scalar that depends on every output element, so that reading it waits for the op.
			"fwd": func(x, k, _ *graph.Node) *graph.Node { return graph.ReduceAllSum(conv(x, k)) },
			"dx": func(x, k, g *graph.Node) *graph.Node {
				return graph.ReduceAllSum(graph.Gradient(graph.ReduceAllSum(graph.Mul(conv(x, k), g)), x)[0])
			},
			"dw": func(x, k, g *graph.Node) *graph.Node {
				return graph.ReduceAllSum(graph.Gradient(graph.ReduceAllSum(graph.Mul(conv(x, k), g)), k)[0])
			},
		}
		// The kernel gradient computed another way, as a prototype of what a different VJP would cost:
		// "dw-im2col" stacks the k·k shifted (strided) windows of x along the channels, one DotGeneral
		// contracting batch and space; "dw-dots" takes one DotGeneral per window position.
		kinds["dw-im2col"] = func(x, _, g *graph.Node) *graph.Node {
			return graph.ReduceAllSum(kernelGradByDots(x, g, op.K, op.Stride, true))
		}
		kinds["dw-dots"] = func(x, _, g *graph.Node) *graph.Node {
			return graph.ReduceAllSum(kernelGradByDots(x, g, op.K, op.Stride, false))
		}
		kinds["dw-batched"] = func(x, _, g *graph.Node) *graph.Node {
			return graph.ReduceAllSum(kernelGradBatched(x, g, op.K, op.Stride))
		}
		if err := checkKernelGrad(b, conv, op, x, k, g); err != nil {
			return fmt.Errorf("%s: %w", op.Name, err)
		}
		for _, kind := range []string{"fwd", "dx", "dw", "dw-im2col", "dw-dots", "dw-batched"} {
			if kind == "dx" && op.NoInputGrad {
				continue
			}
			ms, err := timeGraph(b, reps, kinds[kind], x, k, g)
			if err != nil {
				return fmt.Errorf("%s %s: %w", op.Name, kind, err)
			}
			res := opResult{Backend: spec.String(), Op: op.Name, Kind: kind, Count: op.Count, Batch: batch, Side: op.Side,
				Cin: op.Cin, Cout: op.Cout, K: op.K, Stride: op.Stride}
			res.MedianMs, res.MinMs = ms[len(ms)/2], ms[0]
			if err := enc.Encode(res); err != nil {
				return err
			}
		}
	}
	return nil
}

// kernelGradByDots is the gradient of sum(conv(x, kernel)·g) with respect
// to a k×k kernel [k, k, cin, cout] (x NHWC, padding as PadSame, stride s)
// written as matrix products: the window of x each kernel position sees,
// contracted with g over batch and space.
func kernelGradByDots(x, g *graph.Node, k, stride int, im2col bool) *graph.Node {
	dims := x.Shape().Dimensions
	cin, cout := dims[3], g.Shape().Dimensions[3]
	ho, wo := g.Shape().Dimensions[1], g.Shape().Dimensions[2]
	windows := kernelWindows(x, k, stride, ho, wo)
	if im2col {
		patches := graph.Concatenate(windows, 3) // [b, ho, wo, k·k·cin]
		return graph.Reshape(graph.DotGeneral(patches, []int{0, 1, 2}, nil, g, []int{0, 1, 2}, nil), k, k, cin, cout)
	}
	parts := make([]*graph.Node, len(windows))
	for i, w := range windows {
		parts[i] = graph.DotGeneral(w, []int{0, 1, 2}, nil, g, []int{0, 1, 2}, nil) // [cin, cout]
	}
	return graph.Reshape(graph.Stack(parts, 0), k, k, cin, cout)
}

// kernelWindows are the k·k shifted views of x [b, H, W, cin] (padded as
// a "same" convolution) that the kernel's entries multiply: window (i, j)
// is [b, ho, wo, cin].
func kernelWindows(x *graph.Node, k, stride, ho, wo int) []*graph.Node {
	zero := graph.ScalarZero(x.Graph(), x.DType())
	xp := graph.Pad(x, zero, compute.PadAxis{}, compute.PadAxis{Start: (k - 1) / 2, End: k / 2},
		compute.PadAxis{Start: (k - 1) / 2, End: k / 2}, compute.PadAxis{})
	var windows []*graph.Node
	for i := range k {
		for j := range k {
			windows = append(windows, graph.Slice(xp, graph.AxisRange(),
				graph.AxisRange(i, i+(ho-1)*stride+1).Stride(stride), graph.AxisRange(j, j+(wo-1)*stride+1).Stride(stride), graph.AxisRange()))
		}
	}
	return windows
}

// kernelGradBatched is kernelGradByDots's im2col with the images as the
// product's batch axis: one [k·k·cin, ho·wo]·[ho·wo, cout] product per
// image, summed over the images.
func kernelGradBatched(x, g *graph.Node, k, stride int) *graph.Node {
	dims := x.Shape().Dimensions
	b, cin, cout := dims[0], dims[3], g.Shape().Dimensions[3]
	ho, wo := g.Shape().Dimensions[1], g.Shape().Dimensions[2]
	windows := kernelWindows(x, k, stride, ho, wo)
	patches := graph.Reshape(graph.Concatenate(windows, 3), b, ho*wo, k*k*cin)
	perImage := graph.DotGeneral(patches, []int{1}, []int{0}, graph.Reshape(g, b, ho*wo, cout), []int{1}, []int{0}) // [b, k·k·cin, cout]
	return graph.Reshape(graph.ReduceSum(perImage, 0), k, k, cin, cout)
}

// checkKernelGrad compares kernelGradByDots with the autodiff kernel
// gradient (relative max difference ≤ 1e-4).
func checkKernelGrad(b compute.Backend, conv func(x, k *graph.Node) *graph.Node, op opShape, x, k, g *tensors.Tensor) error {
	out, err := graph.CallOnce(b, func(x, k, g *graph.Node) *graph.Node {
		ref := graph.Gradient(graph.ReduceAllSum(graph.Mul(conv(x, k), g)), k)[0]
		scale := graph.ReduceAllMax(graph.Abs(ref))
		a := graph.ReduceAllMax(graph.Abs(graph.Sub(kernelGradByDots(x, g, op.K, op.Stride, true), ref)))
		d := graph.ReduceAllMax(graph.Abs(graph.Sub(kernelGradByDots(x, g, op.K, op.Stride, false), ref)))
		c := graph.ReduceAllMax(graph.Abs(graph.Sub(kernelGradBatched(x, g, op.K, op.Stride), ref)))
		return graph.Div(graph.Max(graph.Max(a, d), c), scale)
	}, x, k, g)
	if err != nil {
		return err
	}
	if rel := out.Value().(float32); !(rel <= 1e-4) {
		return fmt.Errorf("the kernel gradient by matrix products differs from autodiff's by %g (relative)", rel)
	}
	return nil
}

// batchNormReLUGrads is training-mode batch normalisation over the last
// axis (batch statistics, as norm.BatchNorm computes them) and ReLU,
// forward and backward (to x, scale and offset) for the upstream gradient g.
func batchNormReLUGrads(x, scale, offset, g *graph.Node) *graph.Node {
	mean := graph.ReduceAndKeep(x, graph.ReduceMean, 0, 1, 2)
	centred := graph.Sub(x, mean)
	variance := graph.ReduceAndKeep(graph.Square(centred), graph.ReduceMean, 0, 1, 2)
	scale, offset = graph.ExpandLeftToRank(scale, 4), graph.ExpandLeftToRank(offset, 4)
	y := graph.Add(graph.Mul(graph.Div(centred, graph.Sqrt(graph.AddScalar(variance, 1e-3))), scale), offset)
	y = graph.MaxScalar(y, 0)
	grads := graph.Gradient(graph.ReduceAllSum(graph.Mul(y, g)), x, scale, offset)
	return graph.Add(graph.ReduceAllSum(grads[0]), graph.Add(graph.ReduceAllSum(grads[1]), graph.ReduceAllSum(grads[2])))
}

// timeGraph compiles fn, runs it once to compile and place the inputs on
// the device, then reps times; the sorted milliseconds.
func timeGraph[F graph.ExecGraphFn](b compute.Backend, reps int, fn F, args ...*tensors.Tensor) ([]float64, error) {
	exec, err := graph.NewExec(b, fn)
	if err != nil {
		return nil, err
	}
	defer exec.Finalize()
	in := make([]any, len(args))
	for i, a := range args {
		in[i] = a
	}
	var ms []float64
	for i := range reps + 2 {
		start := time.Now()
		out, err := exec.Call(in...)
		if err != nil {
			return nil, err
		}
		_ = out[0].Value() // waits for the result
		elapsed := float64(time.Since(start).Microseconds()) / 1000
		for _, t := range out {
			t.FinalizeAll()
		}
		if i >= 2 {
			ms = append(ms, elapsed)
		}
	}
	slices.Sort(ms)
	return ms, nil
}
