package tract

import (
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers/regularizer"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Patches unfolds x [b, H, W, C] (channels last) into the k×k patches a
// convolution with that stride and zero padding sees: [b, H', W', k·k·C],
// each patch flattened in the order of a GoMLX kernel [k, k, C, ·] (row,
// column, channel), so that Patches(x)·reshape(kernel, k·k·C, ·) is the
// convolution (im2col). H' = (H + 2·padding − k)/stride + 1, likewise W'.
func Patches(x *graph.Node, k, stride, padding int) *graph.Node {
	if x.Rank() != 4 || k < 1 || stride < 1 || padding < 0 {
		exceptions.Panicf("tract.Patches: want x [b, H, W, C], k ≥ 1, stride ≥ 1, padding ≥ 0; got %s, %d, %d, %d", x.Shape(), k, stride, padding)
	}
	if padding > 0 {
		zero := graph.ScalarZero(x.Graph(), x.DType())
		x = graph.Pad(x, zero, compute.PadAxis{}, compute.PadAxis{Start: padding, End: padding},
			compute.PadAxis{Start: padding, End: padding}, compute.PadAxis{})
	}
	dims := x.Shape().Dimensions
	h, w := (dims[1]-k)/stride+1, (dims[2]-k)/stride+1
	if h < 1 || w < 1 {
		exceptions.Panicf("tract.Patches: a %d×%d kernel does not fit the padded %d×%d input", k, k, dims[1], dims[2])
	}
	var parts []*graph.Node
	for i := range k {
		for j := range k {
			parts = append(parts, graph.Slice(x, graph.AxisRange(),
				graph.AxisRange(i, i+stride*(h-1)+1).Stride(stride),
				graph.AxisRange(j, j+stride*(w-1)+1).Stride(stride), graph.AxisRange()))
		}
	}
	p := graph.Stack(parts, 3) // [b, h, w, k·k, C]
	return graph.Reshape(p, dims[0], h, w, k*k*dims[3])
}

// Conv2D is a first-layer 2-D convolution (channels last, x [b, H, W, C]) with
// filters k×k kernels, stride and zero padding, trained with TrAct: the
// forward pass and the input and bias gradients are GoMLX's Convolve's; the
// kernel's gradient is TrAct's over the unfolded patches (b·H'·W' rows of
// d = k·k·C; the d×d system, or the b×b Woodbury form when b·H'·W' < d, as
// in MatMul). With k = stride and no padding it is a ViT patch embedding.
// Variables: "conv/weights" [k, k, C, filters] and "conv/biases" [filters].
// The kernel (not the biases) is regularised as layers.Convolution does it
// in GoMLX v0.28.8: regularizer.FromScope(scope), and then L2 once more
// when the "l2_regularization" param is set (so L2 weight decay counts
// twice, there and here), keeping a comparison with layers.Convolution fair.
func Conv2D(scope *model.Scope, x *graph.Node, filters, k, stride, padding int, useBias bool, lambda float64) *graph.Node {
	checkFloat("tract.Conv2D", "x", x)
	if x.Rank() != 4 || filters < 1 || k < 1 || stride < 1 || padding < 0 {
		exceptions.Panicf("tract.Conv2D: want x [b, H, W, C], filters ≥ 1, k ≥ 1, stride ≥ 1, padding ≥ 0; got %s, %d, %d, %d, %d", x.Shape(), filters, k, stride, padding)
	}
	checkLambda("tract.Conv2D", lambda)
	reg := regularizer.FromScope(scope)
	scope = scope.In("conv")
	g := x.Graph()
	c := x.Shape().Dimensions[3]
	kernelVar := scope.VariableWithShape("weights", shapes.Make(x.DType(), k, k, c, filters))
	if reg != nil {
		reg(g, kernelVar)
	}
	out := convolve(x, kernelVar.NodeValue(g), stride, padding, lambda)
	if useBias {
		bias := scope.VariableWithShape("biases", shapes.Make(x.DType(), filters)).NodeValue(g)
		out = graph.Add(out, graph.Reshape(bias, 1, 1, 1, filters))
	}
	if l2 := model.GetParamOr(scope, regularizer.ParamL2, 0.0); l2 > 0 {
		regularizer.L2(l2)(g, kernelVar)
	}
	return out
}

// convolve is Convolve(x, kernel) with TrAct's kernel gradient; kernel is
// [k, k, C, filters].
func convolve(x, kernel *graph.Node, stride, padding int, lambda float64) *graph.Node {
	kd := kernel.Shape().Dimensions
	k, c, filters := kd[0], kd[2], kd[3]
	d := k * k * c
	rows := graph.Reshape(Patches(x, k, stride, padding), -1, d)
	return firstLayer(rows, graph.Reshape(kernel, d, filters), lambda, func(flat *graph.Node) *graph.Node {
		return graph.Convolve(x, graph.Reshape(flat, k, k, c, filters)).Strides(stride).
			PaddingPerDim([][2]int{{padding, padding}, {padding, padding}}).Done()
	})
}
