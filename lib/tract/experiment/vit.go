package experiment

import (
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/layers/attention"
	"github.com/gomlx/gomlx/ml/layers/norm"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/gorepro/gorepro/lib/tract"
)

// vit is the ViT of the paper's CIFAR-10 experiments (ViT-CIFAR, as in the
// official code) on images x [b, H, W, C]:
//
//   - patch embedding: a Patch×Patch convolution of stride Patch to Width
//     channels with bias, no padding — TrAct's tract.Conv2D or GoMLX's
//     layers.Convolution, both with variables "patch/conv/weights"
//     [Patch, Patch, C, Width] and "patch/conv/biases" [Width] — giving
//     N = (H/Patch)·(W/Patch) tokens;
//   - a learned CLS token [1, 1, Width] before them and learned position
//     embeddings [1, N+1, Width] added (both initialised N(0, 1), as
//     ViT-CIFAR's torch.randn);
//   - Depth pre-LN blocks: z += MHA(LN(z)) (GoMLX's attention.SelfAttention,
//     Heads heads of Width/Heads, projections with biases) and z +=
//     GELU(Dense(GELU(Dense(LN(z), MLPWidth)), Width)) — GELU after both
//     linears, as ViT-CIFAR;
//   - LayerNorm of the CLS token's output, then a dense head to classes.
//
// LayerNorms use torch's ε = 1e-5 with learned gain and offset. There is
// no dropout.
func vit(scope *model.Scope, c Config, x *graph.Node, classes int) *graph.Node {
	b := x.Shape().Dimensions[0]
	dtype := x.DType()
	g := x.Graph()
	var z *graph.Node
	if c.Method == TrAct {
		z = tract.Conv2D(scope.In("patch"), x, c.Width, c.Patch, c.Patch, 0, true, c.Lambda)
	} else {
		z = layers.Convolution(scope.In("patch"), x).Channels(c.Width).KernelSize(c.Patch).Strides(c.Patch).NoPadding().UseBias(true).Done()
	}
	d := z.Shape().Dimensions
	n := d[1] * d[2]
	z = graph.Reshape(z, b, n, c.Width)
	normal := scope.WithInitializer(func(g *graph.Graph, shape shapes.Shape) *graph.Node { return scope.RandomNormal(g, shape) })
	cls := normal.In("cls").VariableWithShape("token", shapes.Make(dtype, 1, 1, c.Width)).NodeValue(g)
	z = graph.Concatenate([]*graph.Node{graph.BroadcastToDims(cls, b, 1, c.Width), z}, 1)
	pos := normal.In("position").VariableWithShape("embedding", shapes.Make(dtype, 1, n+1, c.Width)).NodeValue(g)
	z = graph.Add(z, pos)
	for i := range c.Depth {
		blk := scope.In("block_%d", i)
		h := layerNorm(blk.In("norm1"), z)
		h = attention.SelfAttention(blk.In("attention"), h, c.Heads, c.Width/c.Heads).Done()
		z = graph.Add(z, h)
		h = layerNorm(blk.In("norm2"), z)
		h = activation.Gelu(layers.Dense(blk.In("mlp1"), h, true, c.MLPWidth))
		h = activation.Gelu(layers.Dense(blk.In("mlp2"), h, true, c.Width))
		z = graph.Add(z, h)
	}
	first := graph.Reshape(graph.Slice(z, graph.AxisRange(), graph.AxisElem(0), graph.AxisRange()), b, c.Width)
	return layers.Dense(scope.In("head"), layerNorm(scope.In("final_norm"), first), true, classes)
}

// layerNorm normalises the last axis (torch's nn.LayerNorm defaults).
func layerNorm(scope *model.Scope, x *graph.Node) *graph.Node {
	return norm.LayerNorm(scope, x, -1).Epsilon(1e-5).Done()
}

// vitParams is the number of trainable values of cfg's ViT on images of
// shape with classes classes.
func vitParams(c Config, shape [3]int, classes int) int {
	w, m := c.Width, c.MLPWidth
	n := (shape[0] / c.Patch) * (shape[1] / c.Patch)
	block := 2*w + 4*(w*w+w) + 2*w + (w*m + m) + (m*w + w)
	return c.Patch*c.Patch*shape[2]*w + w + w + (n+1)*w + c.Depth*block + 2*w + w*classes + classes
}
