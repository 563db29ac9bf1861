// Command sinkhorn is the Go side of `make bench-sinkhorn`. It reads a
// stream of JSON requests on stdin and answers each with one JSON line on
// stdout, so that tests/bench/sinkhorn_bench.py can interleave our timings
// with JAX's and POT's in one run while the compiled graphs stay loaded:
//
//	{"Op": "load", "A": [...], "B": [...], "Cost": [row-major], "Epsilon": ε, "Tol": tol, "MaxIters": N}
//	    makes the Solver for this problem and compiles its graphs (Solver.Prepare);
//	    answers the backend, its PJRT plugin and SNS's sparsity rule.
//	{"Op": "sinkhorn"} and {"Op": "sns"}
//	    solve the loaded problem with Sinkhorn (the device-resident loop) or
//	    SinkhornNewtonSparse; answer the iterations, Newton steps, CG
//	    iterations, seconds (Result.Seconds), cost and marginal error.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/gomlx/compute"

	"github.com/gorepro/gorepro/lib/backends"
	"github.com/gorepro/gorepro/lib/ot"
)

type request struct {
	Op       string
	A, B     []float64
	Cost     []float64
	Epsilon  float64
	Tol      float64
	MaxIters int
}

type solve struct {
	Converged     bool    `json:"converged"`
	Iterations    int     `json:"iterations"`
	NewtonSteps   int     `json:"newton_steps"`
	CGIterations  int     `json:"cg_iterations"`
	Fallbacks     int     `json:"fallbacks"`
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
	return solve{ok, res.Iterations, res.NewtonSteps, res.CGIterations, len(res.Fallbacks), res.Seconds, res.Cost, res.MarginalError}, nil
}

// sparsity sets SNS's Hessian selection rule in opts for an n×m problem and
// names it for the JAX peer, which applies the same rule: the paper's global
// top-k, KeepTotal = 2·n (given explicitly, not left to the default).
func sparsity(opts *ot.Options, n int) (rule string, keep int) {
	opts.KeepTotal = 2 * n
	return "total", opts.KeepTotal
}

func main() {
	backend := flag.String("backend", "xla:cpu", "backend")
	flag.Parse()
	if err := run(*backend, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sinkhorn bench:", err)
		os.Exit(1)
	}
}

// server holds the backend and the loaded problem.
type server struct {
	backend compute.Backend
	spec    backends.Spec
	solver  *ot.Solver
	a, b    []float64
	cost    [][]float64
}

func run(backend string, in io.Reader, out io.Writer) error {
	b, spec, err := backends.New(backend)
	if err != nil {
		return fmt.Errorf("backend %q: %w", backend, err)
	}
	defer b.Finalize()
	srv := &server{backend: b, spec: spec}
	dec, w := json.NewDecoder(bufio.NewReader(in)), bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	for {
		var req request
		if err := dec.Decode(&req); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading a request: %w", err)
		}
		reply, err := srv.handle(&req)
		if err != nil {
			return fmt.Errorf("%s: %w", req.Op, err)
		}
		if err := enc.Encode(reply); err != nil {
			return fmt.Errorf("writing the reply to %s: %w", req.Op, err)
		}
		if err := w.Flush(); err != nil {
			return fmt.Errorf("writing the reply to %s: %w", req.Op, err)
		}
	}
}

func (srv *server) handle(req *request) (any, error) {
	switch req.Op {
	case "load":
		return srv.load(req)
	case "sinkhorn", "sns":
		if srv.solver == nil {
			return nil, fmt.Errorf("no problem loaded")
		}
		if req.Op == "sinkhorn" {
			return summarise(srv.solver.Sinkhorn(srv.a, srv.b, srv.cost))
		}
		return summarise(srv.solver.SinkhornNewtonSparse(srv.a, srv.b, srv.cost))
	}
	return nil, fmt.Errorf("unknown op %q (want load, sinkhorn or sns)", req.Op)
}

func (srv *server) load(req *request) (any, error) {
	n, m := len(req.A), len(req.B)
	if n == 0 || m == 0 || len(req.Cost) != n*m {
		return nil, fmt.Errorf("cost has %d entries, want len(A)·len(B) = %d·%d", len(req.Cost), n, m)
	}
	cost := make([][]float64, n)
	for i := range cost {
		cost[i] = req.Cost[i*m : (i+1)*m]
	}
	opts := ot.Options{Epsilon: req.Epsilon, Tol: req.Tol, MaxIters: req.MaxIters}
	rule, keep := sparsity(&opts, n)
	s, err := ot.NewSolver(srv.backend, opts)
	if err != nil {
		return nil, err
	}
	if err := s.Prepare(n, m); err != nil {
		return nil, err
	}
	srv.solver, srv.a, srv.b, srv.cost = s, req.A, req.B, cost
	return map[string]any{"backend": srv.spec.String(), "plugin": srv.spec.PluginPath, "keep_rule": rule, "keep": keep,
		"iters_per_check": s.Options().ItersPerCall}, nil
}
