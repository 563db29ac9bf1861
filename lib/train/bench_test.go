package train

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/gorepro/gorepro/lib/backends"
)

// peakRSS resets the process's peak resident set (Linux: clear_refs 5) or
// reads it (VmHWM), in bytes; -1 where /proc does not tell.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func peakRSS() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return -1
}

// BenchmarkDonation trains a model whose state is 192 MiB (four 2048×2048
// float32 matrices, with Adam's two moments) on xla:cpu, donating the state
// to each call (the default) or not, and reports the peak resident memory
// of the process during the steps (peak-MiB) beside the time per step:
//
//	go test -run XXX -bench Donation -benchtime 20x ./lib/train
func BenchmarkDonation(b *testing.B) {
	backend, _, err := backends.New(backends.XLACPU)
	if err != nil {
		b.Skipf("xla:cpu: %v", err)
	}
	const n = 2048
	model := func() Model {
		var ps []*tensors.Tensor
		for i := range 4 {
			w := make([]float32, n*n)
			for j := range w {
				w[j] = float32((j+i)%7-3) * 1e-3
			}
			ps = append(ps, tensors.FromFlatDataAndDimensions(w, n, n))
		}
		return Model{
			Params: ps,
			Forward: func(p []*graph.Node, x *graph.Node) *graph.Node {
				h := x
				for _, w := range p {
					h = graph.MatMul(h, w)
				}
				return graph.ReduceSum(h, -1)
			},
			Loss: func(pred, y *graph.Node) *graph.Node { return graph.Square(graph.Sub(pred, y)) },
		}
	}
	xs := make([][]float32, 8)
	for i := range xs {
		xs[i] = make([]float32, n)
		xs[i][i] = 1
	}
	ys := make([]float32, 8)
	for _, donate := range []bool{true, false} {
		name := "donate"
		if !donate {
			name = "keep-inputs"
		}
		b.Run(name, func(b *testing.B) {
			tr, err := New(backend, model(), Optimizer{LearningRate: 1e-3}, 1, tensors.FromValue(xs), tensors.FromValue(ys))
			if err != nil {
				b.Fatal(err)
			}
			tr.noDonate = !donate
			if err := tr.Run(2); err != nil { // compile, and own the state
				b.Fatal(err)
			}
			runtime.GC()
			resetPeakRSS()
			b.ResetTimer()
			if err := tr.Run(b.N); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(peakRSS()/(1<<20), "peak-MiB")
		})
	}
}
