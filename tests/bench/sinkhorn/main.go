// Command sinkhorn is the Go side of `make bench-sinkhorn`: it reads one
// problem (JSON on stdin: a, b, the cost matrix row-major, ε, tol), solves it
// with lib/ot's Sinkhorn and SinkhornNewtonSparse on the named backend after
// compiling (Solver.Prepare), and writes their iterations and seconds as JSON
// on stdout. tests/bench/sinkhorn_bench.py runs it beside POT and JAX.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/gorepro/gorepro/lib/backends"
	"github.com/gorepro/gorepro/lib/ot"
)

type request struct {
	A, B     []float64
	Cost     []float64
	Epsilon  float64
	Tol      float64
	MaxIters int
	SkipSNS  bool
}

type solve struct {
	Converged     bool    `json:"converged"`
	Iterations    int     `json:"iterations"`
	NewtonSteps   int     `json:"newton_steps"`
	CGIterations  int     `json:"cg_iterations"`
	Seconds       float64 `json:"seconds"`
	Cost          float64 `json:"cost"`
	MarginalError float64 `json:"marginal_error"`
}

func summarise(res *ot.Result, err error) (solve, error) {
	var nc *ot.NotConvergedError
	ok := true
	if errors.As(err, &nc) {
		res, ok = nc.Last, false
	} else if err != nil {
		return solve{}, err
	}
	return solve{ok, res.Iterations, res.NewtonSteps, res.CGIterations, res.Seconds, res.Cost, res.MarginalError}, nil
}

func main() {
	backend := flag.String("backend", "xla:cpu", "backend")
	flag.Parse()
	if err := run(*backend); err != nil {
		fmt.Fprintln(os.Stderr, "sinkhorn bench:", err)
		os.Exit(1)
	}
}

func run(backend string) error {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		return err
	}
	n, m := len(req.A), len(req.B)
	if len(req.Cost) != n*m {
		return fmt.Errorf("cost has %d entries, want %d", len(req.Cost), n*m)
	}
	cost := make([][]float64, n)
	for i := range cost {
		cost[i] = req.Cost[i*m : (i+1)*m]
	}
	b, spec, err := backends.New(backend)
	if err != nil {
		return err
	}
	defer b.Finalize()
	s, err := ot.NewSolver(b, ot.Options{Epsilon: req.Epsilon, Tol: req.Tol, MaxIters: req.MaxIters})
	if err != nil {
		return err
	}
	if err := s.Prepare(n, m); err != nil {
		return err
	}
	out := map[string]any{"backend": spec.String()}
	if out["sinkhorn"], err = summarise(s.Sinkhorn(req.A, req.B, cost)); err != nil {
		return err
	}
	if !req.SkipSNS {
		if out["sns"], err = summarise(s.SinkhornNewtonSparse(req.A, req.B, cost)); err != nil {
			return err
		}
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}
