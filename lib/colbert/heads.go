package colbert

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Head kinds.
const (
	Linear     = "linear"      // ColBERT's baseline: one linear map D → k, no bias
	DeepLinear = "deep-linear" // Depth linear maps D → αD → … → k without activations: a purely linear control
	FFN        = "ffn"         // D → αD, activation (→ αD, activation for depth 2) → k
	GLU        = "glu"         // D → two αD halves, activation(gate) ⊙ value, → k (per block; SwiGLU with "silu")
)

// Head is a projection from encoder token vectors (D) to the MaxSim space
// (k): the paper's variants. The zero value is not valid; see the kinds.
type Head struct {
	Kind       string
	Depth      int     // blocks (1–2) for ffn, glu and deep-linear; ignored by linear
	Upscale    float64 // α: hidden width round(α·D)
	Activation string  // "gelu", "relu" or "silu" (swish); glu with "silu" is SwiGLU
	// Residual adds a shortcut: f(h) = shortcut(h) + block(h), the shortcut
	// linear D → k (the identity when D = k). Not for linear.
	Residual bool
}

// Name is a short label, e.g. "ffn×4 gelu d2 +res".
func (h Head) Name() string {
	if h.Kind == Linear {
		return "linear"
	}
	s := fmt.Sprintf("%s×%g", h.Kind, h.Upscale)
	if h.Kind != DeepLinear {
		s += " " + h.Activation
	}
	if h.Depth > 1 {
		s += fmt.Sprintf(" d%d", h.Depth)
	}
	if h.Residual {
		s += " +res"
	}
	return s
}

// Check reports what makes h unusable.
func (h Head) Check() error {
	switch h.Kind {
	case Linear:
		if h.Residual {
			return fmt.Errorf("colbert: a residual linear head is linear: use kind %q", Linear)
		}
		return nil
	case DeepLinear, FFN, GLU:
	default:
		return fmt.Errorf("colbert: head kind %q (linear, deep-linear, ffn, glu)", h.Kind)
	}
	if h.Depth < 1 || h.Depth > 2 {
		return fmt.Errorf("colbert: head %s: depth %d, want 1 or 2", h.Kind, h.Depth)
	}
	if !(h.Upscale > 0) || math.IsInf(h.Upscale, 0) {
		return fmt.Errorf("colbert: head %s: upscale factor %g must be positive", h.Kind, h.Upscale)
	}
	if h.Kind != DeepLinear {
		if _, err := activationFor(h.Activation); err != nil {
			return err
		}
	}
	return nil
}

func activationFor(name string) (func(*graph.Node) *graph.Node, error) {
	switch name {
	case "gelu":
		return activation.Gelu, nil
	case "relu":
		return activation.Relu, nil
	case "silu", "swish":
		return activation.Swish, nil
	}
	return nil, fmt.Errorf("colbert: activation %q (gelu, relu, silu)", name)
}

// Apply projects x [..., D] to [..., k] with variables under scope.
func (h Head) Apply(scope *model.Scope, x *graph.Node, k int) *graph.Node {
	if err := h.Check(); err != nil {
		exceptions.Panicf("%v", err)
	}
	if k < 1 || x.Rank() < 1 {
		exceptions.Panicf("colbert: head %s: want x [..., D] and k ≥ 1, got %s, %d", h.Name(), x.Shape(), k)
	}
	d := x.Shape().Dimensions[x.Rank()-1]
	if h.Kind == Linear {
		return layers.Dense(scope.In("linear"), x, false, k)
	}
	hidden := max(1, int(math.Round(h.Upscale*float64(d))))
	act, _ := activationFor(h.Activation)
	z := x
	for i := range h.Depth {
		s := scope.In("block%d", i)
		switch h.Kind {
		case DeepLinear:
			z = layers.Dense(s, z, false, hidden)
		case FFN:
			z = act(layers.Dense(s, z, true, hidden))
		case GLU:
			both := layers.Dense(s, z, true, 2*hidden)
			gate := graph.SliceAxis(both, -1, graph.AxisRange(0, hidden))
			value := graph.SliceAxis(both, -1, graph.AxisRange(hidden, 2*hidden))
			z = graph.Mul(act(gate), value)
		}
	}
	out := layers.Dense(scope.In("out"), z, h.Kind != DeepLinear, k)
	if h.Residual {
		shortcut := x
		if d != k {
			shortcut = layers.Dense(scope.In("shortcut"), x, false, k)
		}
		out = graph.Add(out, shortcut)
	}
	return out
}

// Normalize L2-normalises the last axis (token vectors on the unit sphere,
// as ColBERT's MaxSim expects); a zero vector stays zero, with a finite
// gradient (the squared norm is floored at 1e-24 before the square root,
// so no Sqrt is differentiated at 0).
func Normalize(x *graph.Node) *graph.Node {
	sumsq := graph.ReduceAndKeep(graph.Mul(x, x), graph.ReduceSum, -1)
	return graph.Div(x, graph.Sqrt(graph.Max(sumsq, graph.Scalar(x.Graph(), x.DType(), 1e-24))))
}
