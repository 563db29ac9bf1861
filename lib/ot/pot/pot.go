// Package pot runs POT (Python Optimal Transport, PyPI `pot`, pinned in the
// project's requirements.txt) from Go, as the independent reference that
// lib/ot's tests, notebook and benchmark compare against. It needs the
// project's Python environment ($GOREPRO_VENV or the checkout's .venv);
// Available says whether it is there.
package pot

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/gorepro/gorepro/lib/backends"
)

//go:embed pot.py
var script string

// Result is what POT returned.
type Result struct {
	// Plan is the transport plan.
	Plan [][]float64
	// Cost is ⟨C, Plan⟩.
	Cost float64
	// Iterations is the number of Sinkhorn iterations POT ran (0 for EMD).
	Iterations int
	// Seconds is POT's own wall time for the solve (not Python's start-up).
	Seconds float64
	// Version is POT's version.
	Version string
	// Warnings are the Python warnings POT raised (e.g. non-convergence).
	Warnings []string
}

// Python returns the Python interpreter of the project's environment, or an
// error saying which environments were searched.
func Python() (string, error) {
	venvs := backends.DefaultLocator().Venvs()
	for _, v := range venvs {
		p := filepath.Join(v, "bin", "python")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("pot: no project Python environment found (searched %q; set $%s or run make setup)", venvs, backends.EnvVenv)
}

// Available reports whether POT can be run, and why not.
func Available() error {
	py, err := Python()
	if err != nil {
		return err
	}
	out, err := exec.Command(py, "-c", "import ot; print(ot.__version__)").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pot: %s cannot import POT (run make setup): %s", py, lastLine(string(out)))
	}
	return nil
}

// SinkhornLog runs POT's ot.bregman.sinkhorn_log(a, b, cost, reg=eps,
// numItermax=maxIter, stopThr=tol). POT stops when the L2 norm of the column
// marginal's violation, checked every 10 iterations, is below tol.
func SinkhornLog(a, b []float64, cost [][]float64, eps, tol float64, maxIter int) (*Result, error) {
	if !(eps > 0) || !(tol > 0) || maxIter <= 0 {
		return nil, fmt.Errorf("pot: SinkhornLog needs eps > 0, tol > 0, maxIter > 0 (got %g, %g, %d)", eps, tol, maxIter)
	}
	return run(map[string]any{"method": "sinkhorn_log", "reg": eps, "tol": tol, "max_iter": maxIter}, a, b, cost)
}

// EMD runs POT's exact (unregularised) solver ot.emd: the ε → 0 limit.
func EMD(a, b []float64, cost [][]float64) (*Result, error) {
	return run(map[string]any{"method": "emd"}, a, b, cost)
}

func run(req map[string]any, a, b []float64, cost [][]float64) (*Result, error) {
	n, m := len(a), len(b)
	if n == 0 || m == 0 || len(cost) != n {
		return nil, fmt.Errorf("pot: shapes: a %d, b %d, cost %d rows", n, m, len(cost))
	}
	flat := make([]float64, 0, n*m)
	for i, row := range cost {
		if len(row) != m {
			return nil, fmt.Errorf("pot: cost row %d has %d entries, b has %d", i, len(row), m)
		}
		flat = append(flat, row...)
	}
	req["n"], req["m"] = n, m
	req["a"], req["b"], req["cost"] = encode(a), encode(b), encode(flat)
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("pot: %w", err)
	}
	py, err := Python()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = bytes.NewReader(body)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("pot: %s failed: %w: %s", req["method"], err, lastLine(stderr.String()))
	}
	var out struct {
		Plan       string   `json:"plan"`
		Cost       float64  `json:"cost"`
		Iterations int      `json:"iterations"`
		Seconds    float64  `json:"seconds"`
		Version    string   `json:"version"`
		Warnings   []string `json:"warnings"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("pot: reading POT's answer: %w", err)
	}
	plan, err := decode(out.Plan, n*m)
	if err != nil {
		return nil, err
	}
	res := &Result{Cost: out.Cost, Iterations: out.Iterations, Seconds: out.Seconds, Version: out.Version, Warnings: out.Warnings}
	for i := range n {
		res.Plan = append(res.Plan, plan[i*m:(i+1)*m])
	}
	return res, nil
}

func encode(x []float64) string {
	buf := make([]byte, 8*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint64(buf[8*i:], math.Float64bits(v))
	}
	return base64.StdEncoding.EncodeToString(buf)
}

func decode(s string, count int) ([]float64, error) {
	buf, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("pot: decoding the plan: %w", err)
	}
	if len(buf) != 8*count {
		return nil, errors.New("pot: the plan POT returned has the wrong size")
	}
	x := make([]float64, count)
	for i := range x {
		x[i] = math.Float64frombits(binary.LittleEndian.Uint64(buf[8*i:]))
	}
	return x, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
