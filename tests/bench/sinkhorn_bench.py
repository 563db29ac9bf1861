"""Log-domain Sinkhorn and SNS on the CPU: lib/ot against POT and JAX, in one run.

Problems: n points uniform in [0,1]^2 on each side, random weights, squared
Euclidean cost normalised to max 1, float64; eps = BENCH_EPS (default 1e-3),
tolerance BENCH_TOL on ||P1-a||_1 + ||P^T 1-b||_1 (default 1e-6), n in
BENCH_SIZES (default 200,500,1000,2000).

- ours: tests/bench/sinkhorn (lib/ot's Solver, graphs compiled first with
  Solver.Prepare, 10 iterations per device call, the error checked after each
  call) on xla:cpu for every n and on the pure-Go backend for n <= GO_MAX_N
  (default 500), Sinkhorn and SinkhornNewtonSparse to the tolerance;
- JAX (jax 0.10.2, x64): the same log-domain iteration, 10 iterations per
  jitted call (lax.fori_loop) and the same error check, compiled first;
- POT (0.9.7.post1) ot.bregman.sinkhorn_log: the same algorithm, run for
  exactly the number of iterations our Sinkhorn needed (stopThr 0), so that
  both reach the same iterate; its error check every 10 iterations is its own.

Ratios (ours over the reference; < 1 = ours faster) are printed and all
numbers written to build/bench/sinkhorn_bench.json. Run it through
`make bench-sinkhorn` (a venv of its own under build/ with the pinned JAX and POT).
"""

import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
EPS = float(os.environ.get("BENCH_EPS", "1e-3"))
TOL = float(os.environ.get("BENCH_TOL", "1e-6"))
SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "200,500,1000,2000").split(",")]
GO_MAX_N = int(os.environ.get("GO_MAX_N", "500"))
MAX_ITERS = 200_000


def problem(n, seed=1):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, 2)), rng.random((n, 2))
    a, b = 0.2 + rng.random(n), 0.2 + rng.random(n)
    a, b = a / a.sum(), b / b.sum()
    c = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    return a, b, c / c.max()


def ours(binary, backend, a, b, c, skip_sns=False):
    req = {"A": a.tolist(), "B": b.tolist(), "Cost": c.ravel().tolist(), "Epsilon": EPS, "Tol": TOL,
           "MaxIters": MAX_ITERS, "SkipSNS": skip_sns}
    out = subprocess.run([binary, "-backend", backend], input=json.dumps(req), capture_output=True, text=True,
                         env={**os.environ, "GOREPRO_ROOT": str(ROOT)})
    if out.returncode != 0:
        raise SystemExit(f"{binary} -backend {backend}: {out.stderr.strip()}")
    return json.loads(out.stdout)


def jax_sinkhorn(a, b, c):
    import jax
    import jax.numpy as jnp
    from jax.scipy.special import logsumexp

    jax.config.update("jax_platforms", "cpu")
    jax.config.update("jax_enable_x64", True)
    loga, logb, C = jnp.log(jnp.asarray(a)), jnp.log(jnp.asarray(b)), jnp.asarray(c)
    A, B = jnp.asarray(a), jnp.asarray(b)

    @jax.jit
    def ten(f, g):
        def body(_, fg):
            f, g = fg
            f = EPS * loga - EPS * logsumexp((g[None, :] - C) / EPS, axis=1)
            g = EPS * logb - EPS * logsumexp((f[:, None] - C) / EPS, axis=0)
            return f, g
        f, g = jax.lax.fori_loop(0, 10, body, (f, g))
        p = jnp.exp((f[:, None] + g[None, :] - C) / EPS)
        return f, g, jnp.abs(p.sum(1) - A).sum() + jnp.abs(p.sum(0) - B).sum()

    f, g = jnp.zeros_like(A), jnp.zeros_like(B)
    jax.block_until_ready(ten(f, g))  # compile
    t0 = time.perf_counter()
    it, err = 0, float("inf")
    while err > TOL and it < MAX_ITERS:
        f, g, e = ten(f, g)
        err, it = float(e), it + 10
    return {"iterations": it, "seconds": time.perf_counter() - t0, "marginal_error": err}


def pot_sinkhorn(a, b, c, iterations):
    import ot

    t0 = time.perf_counter()
    p = ot.bregman.sinkhorn_log(a, b, c, EPS, numItermax=iterations, stopThr=0, warn=False)
    secs = time.perf_counter() - t0
    err = np.abs(p.sum(1) - a).sum() + np.abs(p.sum(0) - b).sum()
    return {"iterations": iterations, "seconds": secs, "marginal_error": float(err), "cost": float((p * c).sum()),
            "version": ot.__version__}


def main():
    binary = ROOT / "build" / "bench" / "sinkhorn-bench"
    subprocess.run(["go", "build", "-o", str(binary), "./tests/bench/sinkhorn"], cwd=ROOT, check=True)
    rows = []
    for n in SIZES:
        a, b, c = problem(n)
        print(f"n = {n}: ours (xla:cpu) ...", flush=True)
        x = ours(str(binary), "xla:cpu", a, b, c)
        row = {"n": n, "xla": x}
        if n <= GO_MAX_N:
            print(f"n = {n}: ours (go) ...", flush=True)
            row["go"] = ours(str(binary), "go", a, b, c)
        print(f"n = {n}: JAX ...", flush=True)
        row["jax"] = jax_sinkhorn(a, b, c)
        print(f"n = {n}: POT ...", flush=True)
        row["pot"] = pot_sinkhorn(a, b, c, x["sinkhorn"]["iterations"])
        rows.append(row)

    def ms(s):
        return 1000 * s["seconds"] / max(s["iterations"], 1)

    print(f"\nlog-domain Sinkhorn, float64, eps = {EPS}, tol = {TOL} (L1 of both marginals); times after compilation")
    head = ("n", "ours it", "ours ms/it", "JAX ms/it", "POT ms/it", "ours/JAX", "ours/POT",
            "Sinkhorn s", "JAX s", "POT s", "SNS it", "SNS s", "SNS/Sinkhorn s", "go ms/it", "go SNS s")
    print(("{:>8} " * len(head)).format(*head))
    for r in rows:
        x, j, p = r["xla"]["sinkhorn"], r["jax"], r["pot"]
        s = r["xla"]["sns"]
        g = r.get("go")
        r["ratios"] = {"ours_over_jax_per_iter": ms(x) / ms(j), "ours_over_pot_per_iter": ms(x) / ms(p),
                       "ours_over_jax_to_tol": x["seconds"] / j["seconds"], "sns_over_sinkhorn_to_tol": s["seconds"] / x["seconds"]}
        print(("{:>8} " * len(head)).format(
            r["n"], x["iterations"], f"{ms(x):.3f}", f"{ms(j):.3f}", f"{ms(p):.3f}",
            f"{r['ratios']['ours_over_jax_per_iter']:.2f}", f"{r['ratios']['ours_over_pot_per_iter']:.2f}",
            f"{x['seconds']:.2f}", f"{j['seconds']:.2f}", f"{p['seconds']:.2f}", s["iterations"], f"{s['seconds']:.3f}",
            f"{r['ratios']['sns_over_sinkhorn_to_tol']:.3f}",
            f"{ms(g['sinkhorn']):.2f}" if g else "-", f"{g['sns']['seconds']:.2f}" if g else "-"))
    out = ROOT / "build" / "bench" / "sinkhorn_bench.json"
    out.write_text(json.dumps({"eps": EPS, "tol": TOL, "cpu_count": os.cpu_count(), "rows": rows}, indent=1))
    print(f"\nnumbers in {out}")


if __name__ == "__main__":
    sys.exit(main())
