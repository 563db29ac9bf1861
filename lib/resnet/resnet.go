// Package resnet is the CIFAR ResNet-18 (He et al. 2016, the variant with a
// 3×3 stride-1 first convolution and no max-pool, as in TrAct's CIFAR
// experiments) built from GoMLX's layers: BasicBlock (two 3×3 convolutions
// with batch normalisation and a projection shortcut when the shape
// changes) and the network with a pluggable first layer, so that a
// first-layer method (TrAct) replaces only that layer. GoMLX has no ResNet
// block; this one is written once here for every notebook.
package resnet

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/norm"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// FirstLayer maps images x [b, H, W, C] to [b, H, W, width] (a 3×3, stride
// 1, padding 1 convolution without bias in the standard network).
type FirstLayer func(scope *model.Scope, x *graph.Node, width int) *graph.Node

// PlainFirstLayer is GoMLX's 3×3 convolution, no bias.
func PlainFirstLayer(scope *model.Scope, x *graph.Node, width int) *graph.Node {
	return layers.Convolution(scope, x).Channels(width).KernelSize(3).PadSame().UseBias(false).Done()
}

// batchNorm normalises over the channels (last axis); the manual inference
// path keeps it differentiable and working on the pure-Go backend.
func batchNorm(scope *model.Scope, x *graph.Node) *graph.Node {
	return norm.BatchNorm(scope, x, -1).UseBackendInference(false).Done()
}

func conv(scope *model.Scope, x *graph.Node, channels, k, stride int) *graph.Node {
	return layers.Convolution(scope, x).Channels(channels).KernelSize(k).Strides(stride).PadSame().UseBias(false).Done()
}

// BasicBlock is x → conv3×3(stride)–BN–ReLU–conv3×3–BN, plus the shortcut
// (x itself, or conv1×1(stride)–BN when the stride or channels change),
// then ReLU.
func BasicBlock(scope *model.Scope, x *graph.Node, channels, stride int) *graph.Node {
	h := graph.MaxScalar(batchNorm(scope.In("bn1"), conv(scope.In("conv1"), x, channels, 3, stride)), 0)
	h = batchNorm(scope.In("bn2"), conv(scope.In("conv2"), h, channels, 3, 1))
	shortcut := x
	if stride != 1 || x.Shape().Dimensions[x.Rank()-1] != channels {
		shortcut = batchNorm(scope.In("shortcut_bn"), conv(scope.In("shortcut"), x, channels, 1, stride))
	}
	return graph.MaxScalar(graph.Add(h, shortcut), 0)
}

// ResNet18 returns the logits [b, classes] for images x [b, H, W, C]: the
// first layer (width channels) – BN – ReLU, four stages of two BasicBlocks
// with width, 2·width, 4·width, 8·width channels (stride 2 from the second
// stage on), global average pooling, a dense layer. The paper's width is 64.
func ResNet18(scope *model.Scope, x *graph.Node, classes, width int, first FirstLayer) *graph.Node {
	if x.Rank() != 4 || classes < 1 || width < 1 {
		exceptions.Panicf("resnet.ResNet18: want x [b, H, W, C], classes ≥ 1, width ≥ 1; got %s, %d, %d", x.Shape(), classes, width)
	}
	if first == nil {
		first = PlainFirstLayer
	}
	h := graph.MaxScalar(batchNorm(scope.In("bn0"), first(scope.In("first"), x, width)), 0)
	for stage := range 4 {
		channels := width << stage
		for block := range 2 {
			stride := 1
			if stage > 0 && block == 0 {
				stride = 2
			}
			h = BasicBlock(scope.In("stage%d_block%d", stage+1, block+1), h, channels, stride)
		}
	}
	h = graph.ReduceMean(h, 1, 2) // global average pooling → [b, 8·width]
	return layers.Dense(scope.In("head"), h, true, classes)
}
