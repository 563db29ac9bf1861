// Package resnet is the CIFAR ResNet-18 (He et al. 2016) built from GoMLX's
// layers: BasicBlock (two 3×3 convolutions with batch normalisation and a
// projection shortcut when the shape changes) and the network with a
// pluggable first layer, so that a first-layer method (TrAct) replaces only
// that layer. GoMLX has no ResNet block; this one is written once here for
// every notebook.
//
// # TrAct's network
//
// TrAct's official code (github.com/Felix-Petersen/tract,
// examples/resnet_cifar10.py, an adaptation of torchvision's resnet.py,
// trained by examples/train_cifar.py on CIFAR-10 and CIFAR-100) changes
// only torchvision's first convolution:
//
//	# self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
//	# CIFAR10: kernel_size 7 -> 3, stride 2 -> 1, padding 3->1
//	self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=3, stride=1, padding=1, bias=False)
//
// The stem max-pool stays: forward runs conv1 → bn1 → relu →
// nn.MaxPool2d(kernel_size=3, stride=2, padding=1) → layer1, so on 32×32
// images the first stage runs at 16×16 and the last at 2×2. Every
// convolution is initialised kaiming_normal_(mode='fan_out',
// nonlinearity='relu'), batch normalisation with scale 1 and offset 0, the
// final nn.Linear with PyTorch's default; TrAct then wraps the initialised
// conv1. ResNet18With(…, Official()) builds that network.
//
// ResNet18 (the zero Options) is the other common CIFAR variant, without
// the max-pool (the first stage at 32×32: about four times the compute)
// and with GoMLX's default He fan-in initialisation; earlier gorepro runs
// used it.
package resnet

import (
	"math"

	"github.com/gomlx/compute/shapes"
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

// Options are the choices between the CIFAR variants of ResNet-18; the
// zero value is ResNet18's.
type Options struct {
	// MaxPoolStem adds the stem max-pool after the first layer, its batch
	// normalisation and ReLU: a 3×3 window, stride 2, one pixel of padding
	// on each side (PyTorch's nn.MaxPool2d(3, 2, 1): windows centred on the
	// even rows and columns; sides 32 → 16, 8 → 4, 9 → 5).
	MaxPoolStem bool
	// TorchInit initialises as the official code does: every convolution
	// kernel [k, k, in, out] from N(0, 2/(k·k·out)) (kaiming_normal_ with
	// mode='fan_out'; the first layer's too when it takes the scope's
	// initialiser, as PlainFirstLayer and tract.Conv2D do), and the dense
	// head as nn.Linear: weights and biases uniform in ±1/√in. Otherwise
	// GoMLX's default applies (He fan-in normal, zero biases). Batch
	// normalisation starts at scale 1, offset 0 either way.
	TorchInit bool
}

// Official returns the options of TrAct's official ResNet-18: the stem
// max-pool kept and PyTorch's initialisation.
func Official() Options {
	return Options{MaxPoolStem: true, TorchInit: true}
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
// then ReLU. The 3×3 convolutions pad one pixel on each side, as PyTorch's
// padding=1, so a stride-2 one samples the even rows and columns, like the
// 1×1 shortcut.
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
// stage on), global average pooling, a dense layer. The paper's width is
// 64. It is ResNet18With with the zero Options: no stem max-pool, GoMLX's
// initialisation.
func ResNet18(scope *model.Scope, x *graph.Node, classes, width int, first FirstLayer) *graph.Node {
	return ResNet18With(scope, x, classes, width, first, Options{})
}

// ResNet18With is ResNet18 with the variant's options; with Official() it
// is the network of TrAct's code (the package documentation quotes it).
func ResNet18With(scope *model.Scope, x *graph.Node, classes, width int, first FirstLayer, opts Options) *graph.Node {
	if x.Rank() != 4 || classes < 1 || width < 1 {
		exceptions.Panicf("resnet.ResNet18: want x [b, H, W, C], classes ≥ 1, width ≥ 1; got %s, %d, %d", x.Shape(), classes, width)
	}
	if opts.TorchInit {
		scope = scope.WithInitializer(fanOutNormal(scope.Store()))
	}
	h := features(scope, x, width, first, opts)
	h = graph.ReduceMean(h, 1, 2) // global average pooling → [b, 8·width]
	head := scope.In("head")
	if opts.TorchInit {
		head = head.WithInitializer(linearUniform(scope.Store(), h.Shape().Dimensions[1]))
	}
	return layers.Dense(head, h, true, classes)
}

// features is the network up to the global average pooling: [b, h, w,
// 8·width].
func features(scope *model.Scope, x *graph.Node, width int, first FirstLayer, opts Options) *graph.Node {
	if first == nil {
		first = PlainFirstLayer
	}
	h := graph.MaxScalar(batchNorm(scope.In("bn0"), first(scope.In("first"), x, width)), 0)
	if opts.MaxPoolStem {
		h = maxPoolStem(h)
	}
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
	return h
}

// maxPoolStem is nn.MaxPool2d(kernel_size=3, stride=2, padding=1) on
// channels-last x. Its input follows a ReLU, so padding with zeros (or
// −∞, as PyTorch does) gives the same maxima.
func maxPoolStem(x *graph.Node) *graph.Node {
	return graph.MaxPool(x).Window(3).Strides(2).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
}

// fanOutNormal initialises float variables of rank ≥ 2 from N(0, 2/fan_out)
// — fan_out is the last axis times the product of the axes before the last
// two (k·k·out for a kernel [k, k, in, out]) — and the others with zeros.
func fanOutNormal(store *model.Store) model.VariableInitializer {
	return func(g *graph.Graph, shape shapes.Shape) *graph.Node {
		if shape.Rank() < 2 || !shape.DType.IsFloat() {
			return graph.Zeros(g, shape)
		}
		fanOut := shape.Dimensions[shape.Rank()-1]
		for _, d := range shape.Dimensions[:shape.Rank()-2] {
			fanOut *= d
		}
		return graph.MulScalar(store.RandomNormal(g, shape), math.Sqrt(2/float64(fanOut)))
	}
}

// linearUniform initialises float variables uniformly in ±1/√fanIn (PyTorch's
// nn.Linear, weights and biases alike).
func linearUniform(store *model.Store, fanIn int) model.VariableInitializer {
	return func(g *graph.Graph, shape shapes.Shape) *graph.Node {
		if !shape.DType.IsFloat() {
			return graph.Zeros(g, shape)
		}
		bound := 1 / math.Sqrt(float64(fanIn))
		return graph.AddScalar(graph.MulScalar(store.RandomUniform(g, shape), 2*bound), -bound)
	}
}
