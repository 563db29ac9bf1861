// Command tract is the Go side of `make bench-tract`: it times a CIFAR
// ResNet-18 (lib/resnet) training step — forward, backward, plain SGD
// update, through GoMLX's train.Trainer — with the plain first convolution
// and with TrAct's (tract.Conv2D, λ = 0.1), on random images, and prints one
// JSON line per (batch, method): median, min and max step milliseconds
// after the warm-up steps (the first compiles). Every step gets a fresh
// batch from the host, as a training loop does, and waits for the loss.
// tests/bench/tract_bench.py runs it beside PyTorch with torch-tract.
//
// For the CPU step-time study (docs/benchmarks.md, "CPU step time"):
// -methods picks the steps timed; -serve runs one step per line of stdin,
// so that the driver can alternate it with PyTorch's step; -ops times each
// operation of the step alone (ops.go).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/gomlx/compute"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"

	"github.com/gorepro/gorepro/lib/backends"
	"github.com/gorepro/gorepro/lib/resnet"
	"github.com/gorepro/gorepro/lib/tract"
)

type result struct {
	Backend  string  `json:"backend"`
	Method   string  `json:"method"`
	Batch    int     `json:"batch"`
	Width    int     `json:"width"`
	Side     int     `json:"side"`
	Steps    int     `json:"steps"`
	MedianMs float64 `json:"median_ms"`
	MinMs    float64 `json:"min_ms"`
	MaxMs    float64 `json:"max_ms"`
	FirstMs  float64 `json:"first_ms"` // the first step, compilation included
}

func main() {
	backend := flag.String("backend", "", "backend (\"\" = default)")
	batches := flag.String("batch", "128,512", "batch sizes, comma-separated")
	width := flag.Int("width", 64, "ResNet width (the paper's is 64)")
	side := flag.Int("side", 32, "image side (CIFAR: 32)")
	steps := flag.Int("steps", 10, "timed steps")
	warmup := flag.Int("warmup", 3, "untimed steps first (the first compiles)")
	methods := flag.String("methods", "baseline,tract", "which steps to time: baseline (the plain first convolution), tract, or both")
	serveMode := flag.Bool("serve", false, "instead: warm up the first of -methods at the first of -batch, print \"ready\", then run one step per \"step\" line on stdin and print its milliseconds")
	ops := flag.Bool("ops", false, "instead: time each operation of the step alone (convolution forward, input and kernel gradients per shape; batch normalisation + ReLU per stage) at the first of -batch, -steps repetitions each")
	probe := flag.Bool("probe", false, "instead: the relative error of a float32 3×3 convolution and matrix product against float64 on the backend (full float32 ≈ 1e-6, TF32 ≈ 1e-3)")
	flag.Parse()
	if *probe {
		if err := precisionProbe(*backend); err != nil {
			fmt.Fprintln(os.Stderr, "tract bench:", err)
			os.Exit(1)
		}
		return
	}
	if *ops {
		batch, err := strconv.Atoi(strings.Split(*batches, ",")[0])
		if err == nil {
			err = timeOps(*backend, batch, *width, *side, *steps)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "tract bench:", err)
			os.Exit(1)
		}
		return
	}
	if *serveMode {
		batch, err := strconv.Atoi(strings.Split(*batches, ",")[0])
		if err == nil {
			err = serve(*backend, strings.Split(*methods, ",")[0], batch, *width, *side, *warmup)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "tract bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*backend, *batches, *methods, *width, *side, *steps, *warmup); err != nil {
		fmt.Fprintln(os.Stderr, "tract bench:", err)
		os.Exit(1)
	}
}

func run(backend, batches, methods string, width, side, steps, warmup int) error {
	if width < 1 || side < 4 || steps < 1 || warmup < 1 {
		return fmt.Errorf("want width ≥ 1, side ≥ 4, steps ≥ 1, warmup ≥ 1")
	}
	b, spec, err := backends.New(backend)
	if err != nil {
		return err
	}
	defer b.Finalize()
	enc := json.NewEncoder(os.Stdout)
	for _, f := range strings.Split(batches, ",") {
		batch, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || batch < 1 {
			return fmt.Errorf("batch %q", f)
		}
		for _, method := range strings.Split(methods, ",") {
			if method != "baseline" && method != "tract" {
				return fmt.Errorf("method %q: want baseline or tract", method)
			}
			fmt.Fprintf(os.Stderr, "tract bench: %s, batch %d, width %d, %d×%d images: %d warm-up + %d timed steps …\n", method, batch, width, side, side, warmup, steps)
			r, err := time1(b, method, batch, width, side, steps, warmup)
			if err != nil {
				return fmt.Errorf("%s at batch %d: %w", method, batch, err)
			}
			r.Backend = spec.String()
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
	}
	return nil
}

func time1(b compute.Backend, method string, batch, width, side, steps, warmup int) (res result, err error) {
	step, err := newStep(b, method, batch, width, side)
	if err != nil {
		return res, err
	}
	var ms []float64
	for i := range warmup + steps {
		elapsed, err := step()
		if err != nil {
			return res, fmt.Errorf("step %d: %w", i, err)
		}
		if i == 0 {
			res.FirstMs = elapsed
		}
		if i >= warmup {
			ms = append(ms, elapsed)
		}
	}
	slices.Sort(ms)
	res.Method, res.Batch, res.Width, res.Side, res.Steps = method, batch, width, side, steps
	res.MedianMs, res.MinMs, res.MaxMs = ms[len(ms)/2], ms[0], ms[len(ms)-1]
	if len(ms)%2 == 0 {
		res.MedianMs = (ms[len(ms)/2-1] + ms[len(ms)/2]) / 2
	}
	return res, nil
}

// newStep builds the model and trainer and returns one training step on a
// fresh host batch, timed in milliseconds up to the loss read back.
func newStep(b compute.Backend, method string, batch, width, side int) (func() (float64, error), error) {
	first := resnet.PlainFirstLayer
	if method == "tract" {
		first = func(scope *model.Scope, x *graph.Node, width int) *graph.Node {
			return tract.Conv2D(scope, x, width, 3, 1, 1, false, tract.DefaultLambda)
		}
	}
	modelFn := func(scope *model.Scope, _ any, inputs []*graph.Node) []*graph.Node {
		return []*graph.Node{resnet.ResNet18(scope, inputs[0], 10, width, first)}
	}
	store := model.NewStore()
	if err := store.SetRNGStateFromSeed(1); err != nil {
		return nil, err
	}
	trainer := train.NewTrainer(b, store, modelFn, loss.SparseCategoricalCrossEntropyLogits,
		optimizer.StochasticGradientDescent().WithDecay(false).WithLearningRate(0.01).Done(), nil, nil)
	r := rand.New(rand.NewSource(2))
	pixels := make([]float32, batch*side*side*3)
	for i := range pixels {
		pixels[i] = float32(r.NormFloat64())
	}
	labels := make([]int32, batch)
	for i := range labels {
		labels[i] = int32(r.Intn(10))
	}
	return func() (float64, error) {
		x := tensors.FromFlatDataAndDimensions(pixels, batch, side, side, 3)
		y := tensors.FromFlatDataAndDimensions(labels, batch, 1)
		start := time.Now()
		metrics, err := trainer.TrainStep(train.Batch{Inputs: []*tensors.Tensor{x}, Labels: []*tensors.Tensor{y}})
		if err != nil {
			return 0, err
		}
		lossValue := tensors.ToScalar[float32](metrics[0]) // waits for the step
		elapsed := float64(time.Since(start).Microseconds()) / 1000
		if lossValue != lossValue {
			return 0, fmt.Errorf("loss is NaN")
		}
		return elapsed, nil
	}, nil
}

// serve runs one method's step on request, for a driver that alternates it
// with another framework's step (tests/bench/tract_bench.py --sweep): it
// prints "ready <first step ms>" after warm-up, then for each "step" line on
// stdin one line with the step's milliseconds, until "quit" or end of input.
func serve(backend, method string, batch, width, side, warmup int) error {
	b, _, err := backends.New(backend)
	if err != nil {
		return err
	}
	defer b.Finalize()
	step, err := newStep(b, method, batch, width, side)
	if err != nil {
		return err
	}
	var first float64
	for i := range warmup {
		ms, err := step()
		if err != nil {
			return fmt.Errorf("warm-up step %d: %w", i, err)
		}
		if i == 0 {
			first = ms
		}
	}
	fmt.Printf("ready %.3f\n", first)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch strings.TrimSpace(in.Text()) {
		case "step":
			ms, err := step()
			if err != nil {
				return err
			}
			fmt.Printf("%.3f\n", ms)
		case "quit":
			return nil
		default:
			return fmt.Errorf("serve: want \"step\" or \"quit\", got %q", in.Text())
		}
	}
	return in.Err()
}

// precisionProbe prints the relative error of float32 convolution and
// matrix product results against the same computation in float64.
func precisionProbe(backend string) error {
	b, spec, err := backends.New(backend)
	if err != nil {
		return err
	}
	defer b.Finalize()
	r := rand.New(rand.NewSource(3))
	randT := func(dims ...int) *tensors.Tensor { return randTensor(r, dims...) }
	relErr := func(lo, hi *graph.Node) *graph.Node {
		hi = graph.ConvertDType(hi, lo.DType())
		return graph.Div(graph.ReduceAllMax(graph.Abs(graph.Sub(lo, hi))), graph.ReduceAllMax(graph.Abs(hi)))
	}
	out, err := graph.CallOnce(b, func(x, k, a, m *graph.Node) *graph.Node {
		conv := func(x, k *graph.Node) *graph.Node { return graph.Convolve(x, k).PadSame().Done() }
		x64, k64 := graph.ConvertDType(x, dtypes.Float64), graph.ConvertDType(k, dtypes.Float64)
		a64, m64 := graph.ConvertDType(a, dtypes.Float64), graph.ConvertDType(m, dtypes.Float64)
		return graph.Concatenate([]*graph.Node{graph.Reshape(relErr(conv(x, k), conv(x64, k64)), 1),
			graph.Reshape(relErr(graph.MatMul(a, m), graph.MatMul(a64, m64)), 1)}, 0)
	}, randT(32, 32, 32, 64), randT(3, 3, 64, 64), randT(512, 512), randT(512, 512))
	if err != nil {
		return err
	}
	errs := out.Value().([]float32)
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"backend": spec.String(), "precision": spec.Precision(),
		"conv3x3_float32_rel_err": errs[0], "matmul_float32_rel_err": errs[1]})
}

// randTensor is a float32 tensor of the given dimensions with standard
// normal entries drawn from r.
func randTensor(r *rand.Rand, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}
